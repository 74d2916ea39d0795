"""The staff WebSocket against a live server: who may subscribe to what, and live chatter rows."""
import json
import socket
import threading
import time

import pytest
from simple_websocket import Client, ConnectionClosed

from app.extensions import db
from app.services import messaging
from tests.conftest import csrf_token, login, make_contact

POLICY_VIOLATION = 1008


@pytest.fixture
def thread(app):
    thread = make_contact("Ada Customer", "ada@customer.test").ensure_thread()
    db.session.commit()
    return thread


def session_cookie(make_client, user) -> str:
    """Sign in with a test client and hand its session cookie to a WebSocket client."""
    browser = make_client()
    if user is not None:
        login(browser, user)
    cookie = browser.get_cookie("session")
    return f"session={cookie.value}" if cookie else ""


def connect(live_server, cookie: str, topics: str) -> Client:
    url = live_server.url.replace("http://", "ws://") + f"/ws?topics={topics}"
    return Client.connect(url, headers={"Cookie": cookie} if cookie else {})


def wait_until_subscribed(app, ws, topic: str) -> None:
    """Publish probes until one arrives: the socket is then surely listening (no sleeps)."""
    bus = app.extensions["hilo_bus"]
    for _ in range(50):
        bus.send(topic, '<div id="probe" hx-swap-oob="true"></div>')
        if ws.receive(timeout=0.2) is not None:
            while ws.receive(timeout=0) is not None:  # drain the other probes
                pass
            return
    raise AssertionError(f"socket never received {topic}")


def receive_matching(ws, needle: str, timeout: float = 5.0) -> str:
    """The first frame containing `needle`; other frames (the bell, the inbox) are skipped."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        frame = ws.receive(timeout=remaining)
        if frame is not None and needle in frame:
            return frame
    raise AssertionError(f"no frame with {needle!r} arrived within {timeout}s")


def assert_refused(ws) -> None:
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(50):  # a refused socket is closed right after the handshake
            ws.receive(timeout=0.1)
    code = closed.value.reason
    if code == 1005:
        # The close frame came in the same read as the handshake's answer: the client library
        # left it in wsproto's buffer and saw only the end of the connection. Read it there.
        from wsproto.events import CloseConnection

        code = next((e.code for e in ws.ws.events() if isinstance(e, CloseConnection)), code)
    assert code == POLICY_VIOLATION


def test_a_staff_socket_receives_new_thread_messages(app, live_server, make_client, users, thread):
    ws = connect(live_server, session_cookie(make_client, users.agent2), f"thread:{thread.id}")
    try:
        wait_until_subscribed(app, ws, f"thread:{thread.id}")
        poster = make_client()
        login(poster, users.agent)
        token = csrf_token(poster, "/login")
        response = poster.post(f"/chatter/{thread.id}/messages", headers={"HX-Request": "true"},
                               data={"body": "Pushed to every viewer", "kind": "note", "csrf_token": token})
        assert response.status_code == 200
        fragment = receive_matching(ws, "Pushed to every viewer")
        assert f'hx-swap-oob="afterbegin:#thread-{thread.id}-messages"' in fragment
        assert "csrf_token" not in fragment  # rendered once for all viewers: nobody's token inside
    finally:
        ws.close()


def test_a_mention_reaches_the_colleagues_bell(app, live_server, make_client, users, thread, run_jobs):
    ws = connect(live_server, session_cookie(make_client, users.agent2), "")
    try:
        wait_until_subscribed(app, ws, f"user:{users.agent2.id}")
        with app.test_request_context(base_url=app.config["BASE_URL"]):
            messaging.post_message(thread, users.agent, "@Carol Agent have a look", kind="note")
        db.session.commit()
        run_jobs()
        bell = receive_matching(ws, 'data-count="1"')
        assert 'id="bell"' in bell
    finally:
        ws.close()


@pytest.mark.parametrize("who", ["portal", "anonymous"])
def test_non_staff_sockets_are_refused(live_server, make_client, users, thread, who):
    user = users.portal if who == "portal" else None
    ws = connect(live_server, session_cookie(make_client, user), f"thread:{thread.id}")
    assert_refused(ws)


def test_another_users_topic_is_refused(live_server, make_client, users):
    ws = connect(live_server, session_cookie(make_client, users.agent), f"user:{users.agent2.id}")
    assert_refused(ws)


@pytest.mark.parametrize("topic", ["thread:999999", "thread:abc", "livechat:1", "nonsense"])
def test_unknown_or_malformed_topics_are_refused(live_server, make_client, users, topic):
    ws = connect(live_server, session_cookie(make_client, users.admin), topic)
    assert_refused(ws)


# ---- Discuss: a private channel's socket events --------------------------------------------------

@pytest.fixture
def private_channel(app, users):
    from app.services import discuss

    with app.test_request_context(base_url=app.config["BASE_URL"]):
        channel = discuss.create_channel(users.agent, "secret", private=True, members=[users.agent2])
        db.session.commit()
    return channel


@pytest.mark.parametrize("who", ["admin", "outsider", "portal", "anonymous"])
def test_a_private_channel_socket_is_refused_to_non_members(live_server, make_client, users, private_channel, who):
    from tests.conftest import make_user

    user = {"admin": users.admin, "portal": users.portal, "anonymous": None,
            "outsider": make_user(name="Olga Outsider")}[who]
    ws = connect(live_server, session_cookie(make_client, user), f"thread:{private_channel.ensure_thread().id}")
    assert_refused(ws)


def test_leaving_a_channel_stops_its_live_events_at_once(app, live_server, make_client, users, private_channel):
    from app.services import discuss

    topic = f"thread:{private_channel.ensure_thread().id}"
    ws = connect(live_server, session_cookie(make_client, users.agent2), topic)
    try:
        wait_until_subscribed(app, ws, topic)
        with app.test_request_context(base_url=app.config["BASE_URL"]):
            discuss.post(private_channel, users.agent, "Before you go")
            db.session.commit()
            receive_matching(ws, "Before you go")
            discuss.leave(private_channel, users.agent2)
            db.session.commit()
            discuss.post(private_channel, users.agent, "After you left")
            db.session.commit()
            # A marker on the user's own topic, published after the post: once it arrives, the
            # post (published earlier, on the same bus) would have arrived before it.
            app.extensions["hilo_bus"].send(f"user:{users.agent2.id}", '<div id="marker"></div>')
        frames = []
        while not frames or 'id="marker"' not in frames[-1]:
            frame = ws.receive(timeout=5)
            assert frame is not None, "the marker never arrived"
            frames.append(frame)
        assert not any("After you left" in f for f in frames)
        assert not any(f.startswith("\x00") for f in frames)  # control lines never reach the browser
    finally:
        ws.close()


# ---- typing and presence: frames from the browser ------------------------------------------------

@pytest.fixture
def chat(app, users):
    from app.services import discuss

    with app.test_request_context():
        channel = discuss.create_channel(users.agent, "Typing room", private=True, members=[users.agent2])
        thread = channel.ensure_thread()
        other = discuss.create_channel(users.admin, "Elsewhere", private=True)
        db.session.commit()
    return thread, other.ensure_thread()


def test_typing_reaches_the_conversation_viewers_at_once(app, live_server, make_client, users, chat):
    thread, _ = chat
    typist = connect(live_server, session_cookie(make_client, users.agent), f"thread:{thread.id}")
    reader = connect(live_server, session_cookie(make_client, users.agent2), f"thread:{thread.id}")
    try:
        wait_until_subscribed(app, reader, f"thread:{thread.id}")
        wait_until_subscribed(app, typist, f"thread:{thread.id}")
        typist.send(json.dumps({"typing": thread.id}))
        frame = receive_matching(reader, "typing-entry")
        assert f'beforeend:#typing-{thread.id}' in frame and "Bob Agent" in frame and "data-stop" not in frame
        assert f'data-user="{users.agent.id}"' in frame
        typist.send(json.dumps({"typing": thread.id, "stop": True}))
        assert "data-stop" in receive_matching(reader, "typing-entry")
    finally:
        typist.close()
        reader.close()


def test_typing_is_refused_where_the_socket_may_not_read_and_junk_is_ignored(app, live_server, make_client,
                                                                             users, chat):
    thread, elsewhere = chat
    typist = connect(live_server, session_cookie(make_client, users.agent), f"thread:{thread.id}")
    member = connect(live_server, session_cookie(make_client, users.admin), f"thread:{elsewhere.id}")
    try:
        wait_until_subscribed(app, member, f"thread:{elsewhere.id}")
        wait_until_subscribed(app, typist, f"thread:{thread.id}")
        for junk in ("not json", "[1, 2]", json.dumps({"typing": "1"}), json.dumps({"typing": True}),
                     "x" * 5000, json.dumps({"presence": "<script>"}),
                     json.dumps({"typing": elsewhere.id})):  # a conversation this socket is not in
            typist.send(junk)
        typist.send(json.dumps({"typing": thread.id}))  # a frame after the junk is still handled
        assert "typing-entry" in receive_matching(typist, "typing-entry")
        # Nothing reached the other conversation: the first frame there is this probe.
        app.extensions["hilo_bus"].send(f"thread:{elsewhere.id}", '<div id="after-junk"></div>')
        assert "after-junk" in member.receive(timeout=5)
    finally:
        typist.close()
        member.close()


def test_presence_follows_sockets_and_idle_pages(app, live_server, make_client, users):
    watcher = connect(live_server, session_cookie(make_client, users.agent2), "presence")
    try:
        wait_until_subscribed(app, watcher, "presence")
        state = f"presence-u{users.agent.id} is-"
        page = connect(live_server, session_cookie(make_client, users.agent), "")
        receive_matching(watcher, state + "online")
        second = connect(live_server, session_cookie(make_client, users.agent), "")
        wait_until_subscribed(app, second, f"user:{users.agent.id}")  # its connection counts now
        page.send(json.dumps({"presence": "away"}))  # one idle page: the other is still active
        second.send(json.dumps({"presence": "away"}))
        receive_matching(watcher, state + "away")
        second.send(json.dumps({"presence": "online"}))
        receive_matching(watcher, state + "online")
        second.close()
        page.close()
        receive_matching(watcher, state + "offline")
        assert presence_of(app, users.agent.id) == "offline"
    finally:
        watcher.close()


def presence_of(app, user_id: int) -> str:
    from app.services import presence

    return presence.statuses([user_id])[user_id]


def test_the_presence_topic_is_for_staff_only(live_server, make_client, users):
    assert_refused(connect(live_server, session_cookie(make_client, users.portal), "presence"))
    assert_refused(connect(live_server, "", "presence"))


def open_raw_socket(live_server, cookie: str, topics: str) -> socket.socket:
    """A browser that completes the handshake and then never reads (a stalled tab or network)."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", live_server.server_port))
    raw.sendall((f"GET /ws?topics={topics} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 f"Sec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n").encode())
    raw.settimeout(10)
    assert raw.recv(4096).startswith(b"HTTP/1.1 101")
    return raw


FLOOD = 160


def test_a_stalled_reader_is_cut_off_without_holding_back_the_others(app, live_server, make_client,
                                                                     users, thread):
    other = make_contact("Bo Customer", "bo@customer.test").ensure_thread()
    db.session.commit()
    cookie = session_cookie(make_client, users.agent2)
    shared, flood = f"thread:{thread.id}", f"thread:{other.id}"
    stalled = open_raw_socket(live_server, cookie, f"{shared},{flood}")
    healthy = connect(live_server, cookie, shared)
    try:
        wait_until_subscribed(app, healthy, shared)
        bus = app.extensions["hilo_bus"]
        filler = "x" * 100_000

        def publish():
            # 16 MB for the stalled socket alone: more than the kernel's buffers may take (a send
            # buffer grows to tcp_wmem's 4 MB) plus the 1 MB it may fall behind.
            for n in range(FLOOD):
                bus.send(flood, f'<div id="flood-{n}">{filler}</div>')
            for n in range(5):
                bus.send(shared, f'<div id="shared-{n}"></div>')

        publisher = threading.Thread(target=publish)
        publisher.start()
        publisher.join(timeout=10)
        assert not publisher.is_alive(), "publishing waited for a reader"
        for n in range(5):
            receive_matching(healthy, f'id="shared-{n}"')
        received = 0
        # Its own thread may be inside a write that waits up to WRITE_TIMEOUT before it cuts.
        from app.blueprints.ws.outlet import WRITE_TIMEOUT

        stalled.settimeout(WRITE_TIMEOUT + 20)
        while chunk := stalled.recv(1 << 16):  # the buffers' worth, then the end of the connection
            received += len(chunk)
        assert received < FLOOD * len(filler)
    finally:
        healthy.close()
        stalled.close()
