"""The visitor's socket against a live server: a visitor hears their own chat only, never notes;
typing goes both ways; a forged token is refused."""
import json
import secrets

import pytest
from simple_websocket import Client

from app.extensions import db
from app.models import LivechatChannel, LivechatSession
from app.services import livechat, presence
from tests.conftest import csrf_token, login, make_team
from tests.web.test_ws import assert_refused, connect, receive_matching, session_cookie, wait_until_subscribed


@pytest.fixture
def desk(users):
    team = make_team("Web Support", members=[users.agent])
    channel = LivechatChannel(name="Website", key="ws" + secrets.token_hex(4), identity_secret="s" * 64, team=team)
    channel.operators = [users.agent]
    db.session.add(channel)
    db.session.commit()
    conn = presence.connect(users.agent.id)
    yield channel
    presence.disconnect(users.agent.id, conn)


def visitor_socket(live_server, channel, token: str) -> Client:
    url = live_server.url.replace("http://", "ws://") + f"/livechat/{channel.key}/ws?v={token}"
    return Client.connect(url)


def frames_until(ws, needle: str, timeout: float = 5.0) -> list[str]:
    """Every frame received up to and including the first one containing `needle`."""
    frames = []
    while True:
        frame = ws.receive(timeout=timeout)
        assert frame is not None, f"no frame with {needle!r} arrived"
        frames.append(frame)
        if needle in frame:
            return frames


def open_visitor(app, desk, first_words: str):
    """A visitor who wrote `first_words`: their token and their chat."""
    with app.test_request_context():
        visitor = livechat.new_visitor(desk)
        session, _ = livechat.visitor_says(desk, visitor, first_words, secrets.token_hex(8))
        db.session.commit()
        return livechat.visitor_token(visitor), session


def test_a_visitor_hears_their_chat_and_never_a_note_or_another_chat(app, live_server, make_client, users, desk):
    token, session = open_visitor(app, desk, "Hello from Ann")
    other_token, other = open_visitor(app, desk, "Hello from Ben")
    ann = visitor_socket(live_server, desk, token)
    ben = visitor_socket(live_server, desk, other_token)
    try:
        wait_until_subscribed(app, ann, f"visitor:{session.visitor_id}")
        wait_until_subscribed(app, ben, f"visitor:{other.visitor_id}")
        operator = make_client()
        login(operator, users.agent)
        csrf = csrf_token(operator, "/login")
        post = lambda body, **extra: operator.post(  # noqa: E731
            f"/discuss/livechat/{session.id}/messages", headers={"HX-Request": "true"},
            data={"body": body, "csrf_token": csrf, **extra})
        assert post("Only for operators", note="1").status_code == 200
        assert post("Hi Ann, how can I help?").status_code == 200
        # The bus keeps order: a note sent to this socket would have come before the answer.
        frames = frames_until(ann, "Hi Ann, how can I help?")
        assert 'data-lc="append"' in frames[-1] and "lc-operator" in frames[-1] and "csrf" not in frames[-1]
        assert not [f for f in frames if "Only for operators" in f]
        assert post("A second answer").status_code == 200
        frames_until(ann, "A second answer")
        heard = []
        while (frame := ben.receive(timeout=0.3)) is not None:
            heard.append(frame)
        assert not [f for f in heard if "Hi Ann" in f or "second answer" in f]
    finally:
        ann.close()
        ben.close()


def test_typing_goes_from_visitor_to_operator_and_back(app, live_server, make_client, users, desk):
    token, session = open_visitor(app, desk, "Hello")
    thread_id = session.ensure_thread().id
    visitor = visitor_socket(live_server, desk, token)
    operator = connect(live_server, session_cookie(make_client, users.agent), f"thread:{thread_id}")
    try:
        wait_until_subscribed(app, visitor, f"visitor:{session.visitor_id}")
        wait_until_subscribed(app, operator, f"thread:{thread_id}")
        visitor.send(json.dumps({"typing": True}))
        frame = receive_matching(operator, "typing-entry")
        assert f"#typing-{thread_id}" in frame and "Visitor #" in frame
        operator.send(json.dumps({"typing": thread_id}))
        frame = receive_matching(visitor, "lc-typing")
        assert "Bob Agent is typing" in frame
    finally:
        visitor.close()
        operator.close()


@pytest.mark.parametrize("token", ["", "forged", "WzEsImFiYyJd.bad.sig"])
def test_a_forged_visitor_token_is_refused(live_server, desk, token):
    assert_refused(visitor_socket(live_server, desk, token))


def test_a_visitor_token_of_another_channel_is_refused(app, live_server, desk):
    other = LivechatChannel(name="Other", key="wo" + secrets.token_hex(4), identity_secret="o" * 64)
    db.session.add(other)
    db.session.commit()
    token, _ = open_visitor(app, desk, "Hi")
    assert_refused(visitor_socket(live_server, other, token))
    assert db.session.query(LivechatSession).count() == 1
