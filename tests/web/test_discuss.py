"""The Discuss pages: conversations, posting, joining, leaving, and who may see what."""
import io
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from app.extensions import db
from app.models import Channel, Message
from app.services import discuss
from tests.conftest import csrf_token, login, make_user
from tests.web.conftest import count, sign_in

HX = {"HX-Request": "true"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def world(app, users):
    """A private channel (agent and Dan), a public one (agent), a DM (agent and Carol), with a file."""
    dan = make_user(name="Dan Member")
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        private = discuss.create_channel(users.agent, "secret", private=True, members=[dan])
        public = discuss.create_channel(users.agent, "general", description="Everyone")
        dm = discuss.direct_message(users.agent, users.agent2)
        db.session.commit()
        secret = discuss.post(private, users.agent, "The secret plan",
                              files=[FileStorage(io.BytesIO(PNG), filename="plan.png")])
        discuss.post(dm, users.agent, "Just between us")
        db.session.commit()
    return SimpleNamespace(dan=dan, private=private, public=public, dm=dm, secret=secret,
                           file=secret.attachments[0])


# ---- pages -----------------------------------------------------------------------------------

def test_a_conversation_page_shows_the_messages_the_sidebar_and_the_composer(client, users, world):
    sign_in(client, world.dan)
    page = client.get(f"/discuss/c/{world.private.id}").get_data(as_text=True)
    assert "#secret" in page and "The secret plan" in page and "plan.png" in page
    assert f'action="/discuss/c/{world.private.id}/messages"' in page and "data-enter-sends" in page
    assert f"thread:{world.private.ensure_thread().id}" in page  # the socket subscribes to it
    assert 'aria-current="page"' in page and "#general" not in page.split("discuss-conversations")[1].split("</nav>")[0]


def test_opening_a_conversation_marks_it_read_and_shows_the_separator_once(client, users, world):
    sign_in(client, world.dan)
    first = client.get(f"/discuss/c/{world.private.id}").get_data(as_text=True)
    assert "New messages" in first
    assert discuss.unread_for(world.private.member(world.dan)) == 0
    assert "New messages" not in client.get(f"/discuss/c/{world.private.id}").get_data(as_text=True)


def test_posting_returns_the_row_and_bad_input_is_422_with_nothing_saved(client, users, world):
    token = sign_in(client, world.dan)
    url = f"/discuss/c/{world.private.id}/messages"
    response = client.post(url, headers={**HX, "X-CSRFToken": token}, data={"body": "Count me in"})
    assert response.status_code == 200 and 'class="message message-comment"' in response.get_data(as_text=True)
    before = count(Message)
    empty = client.post(url, headers={**HX, "X-CSRFToken": token}, data={"body": "   "})
    assert empty.status_code == 422 and "Write a message" in empty.get_data(as_text=True)
    assert empty.headers["HX-Retarget"] == f"#composer-{world.private.ensure_thread().id}-errors"
    assert client.post(url, data={"body": "no token"}).status_code == 400
    assert count(Message) == before


def test_a_non_member_reads_a_public_channel_and_joins_it(client, users, world):
    token = sign_in(client, users.agent2)
    page = client.get(f"/discuss/c/{world.public.id}").get_data(as_text=True)
    assert "Join the channel" in page and 'name="body"' not in page
    refused = client.post(f"/discuss/c/{world.public.id}/messages", headers={**HX, "X-CSRFToken": token},
                          data={"body": "drive-by"})
    assert refused.status_code == 422 and "Join the channel" in refused.get_data(as_text=True)
    joined = client.post(f"/discuss/c/{world.public.id}/join", data={"csrf_token": token})
    assert joined.status_code == 302 and world.public.member(users.agent2) is not None


def test_create_a_channel_and_refuse_a_duplicate_inline(client, users, world):
    token = sign_in(client, users.agent2)
    response = client.post("/discuss/channels", data={"name": "Release notes", "private": "1", "csrf_token": token})
    channel = db.session.scalar(select(Channel).where(Channel.name == "Release notes"))
    assert response.status_code == 302 and response.headers["Location"] == f"/discuss/c/{channel.id}"
    assert channel.is_private and channel.member(users.agent2) is not None
    again = client.post("/discuss/channels", data={"name": "release NOTES", "description": "kept", "csrf_token": token})
    html = again.get_data(as_text=True)
    assert again.status_code == 422 and "already exists" in html and 'value="kept"' in html


def test_direct_and_group_conversations_from_the_picker(client, users, world):
    token = sign_in(client, users.agent2)
    response = client.post("/discuss/direct", data={"user_id": str(users.agent.id), "csrf_token": token})
    assert response.headers["Location"] == f"/discuss/c/{world.dm.id}"  # the existing DM, reused
    group = client.post("/discuss/direct", data={"user_id": [str(users.agent.id), str(users.admin.id)],
                                                 "csrf_token": token})
    created = db.session.scalar(select(Channel).where(Channel.kind == "group"))
    assert group.headers["Location"] == f"/discuss/c/{created.id}"
    nobody = client.post("/discuss/direct", headers=HX, data={"csrf_token": token})
    assert nobody.status_code == 422 and nobody.headers["HX-Retarget"] == "#discuss-errors"


def test_leave_rename_invite_mute_archive(client, users, world):
    token = sign_in(client, users.agent)
    base = f"/discuss/c/{world.private.id}"
    assert client.post(f"{base}/settings", data={"name": "plans", "description": "Q3", "csrf_token": token}).status_code == 302
    assert client.post(f"{base}/invite", data={"user_id": str(users.agent2.id), "csrf_token": token}).status_code == 302
    muted = client.post(f"{base}/mute", headers=HX, data={"muted": "1", "csrf_token": token})
    assert muted.status_code == 200 and "Unmute" in muted.get_data(as_text=True)
    db.session.expire_all()
    assert world.private.name == "plans" and world.private.member(users.agent2) is not None
    assert world.private.member(users.agent).muted
    assert client.post(f"/discuss/c/{world.dm.id}/leave", headers=HX, data={"csrf_token": token}).status_code == 422
    assert client.post(f"{base}/archive", data={"csrf_token": token}).status_code == 302
    assert db.session.get(Channel, world.private.id).archived_at is not None
    left = client.post(f"{base}/leave", data={"csrf_token": token})
    assert left.status_code == 302 and world.private.member(users.agent) is None
    assert client.get(base).status_code == 404  # private, and no longer a member


def test_older_messages_and_catching_up(client, users, world, app):
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        ids = [discuss.post(world.public, users.agent, f"number {i}").id for i in range(3)]
        db.session.commit()
    sign_in(client, users.agent)
    newer = client.get(f"/discuss/c/{world.public.id}/messages?after={ids[0]}").get_data(as_text=True)
    assert "number 0" not in newer and newer.index("number 1") < newer.index("number 2")
    older = client.get(f"/discuss/c/{world.public.id}/messages?before={ids[2]}").get_data(as_text=True)
    assert "number 0" in older and "number 2" not in older


def test_the_sidebar_fragment_keeps_the_open_conversation_highlighted(client, users, world):
    sign_in(client, users.agent)
    html = client.get("/discuss/sidebar", headers={**HX, "HX-Current-URL": f"http://x/discuss/c/{world.dm.id}"}).get_data(as_text=True)
    assert f'href="/discuss/c/{world.dm.id}"\n       aria-current="page"' in html
    assert "#secret" in html and "#general" in html and "Carol Agent" in html


# ---- who may see what ------------------------------------------------------------------------

WHO = ("member", "outsider", "admin", "portal", "anonymous")
WHAT = ("page", "older", "catch up", "post", "seen", "download")


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("what", WHAT)
def test_a_private_channel_reaches_members_only(client, users, world, who, what):
    user = {"member": world.dan, "outsider": users.agent2, "admin": users.admin, "portal": users.portal,
            "anonymous": None}[who]
    token = sign_in(client, user)
    base = f"/discuss/c/{world.private.id}"
    before = count(Message)
    response = {
        "page": lambda: client.get(base),
        "older": lambda: client.get(f"{base}/messages?before=999999", headers=HX),
        "catch up": lambda: client.get(f"{base}/messages?after=0", headers=HX),
        "post": lambda: client.post(f"{base}/messages", headers={**HX, "X-CSRFToken": token}, data={"body": "hi"}),
        "seen": lambda: client.post(f"{base}/seen", headers={"X-CSRFToken": token}),
        "download": lambda: client.get(f"/attachments/{world.file.id}"),
    }[what]()
    body = response.get_data().decode(errors="replace")
    if who == "member":
        assert response.status_code in (200, 204)
    elif who == "portal":
        assert response.status_code in (403, 404)
    elif who == "anonymous":
        assert response.status_code in (302, 401, 404) and "secret plan" not in body
    else:
        assert response.status_code == 404
    assert ("The secret plan" in body) == (who == "member" and what in ("page", "older", "catch up"))
    assert count(Message) == before + (1 if who == "member" and what == "post" else 0)


@pytest.mark.parametrize("who", ["outsider", "admin", "portal"])
def test_a_private_channel_is_absent_from_outsiders_lists(client, users, world, who):
    user = {"outsider": users.agent2, "admin": users.admin, "portal": users.portal}[who]
    sign_in(client, user)
    for path in ("/discuss/browse", "/inbox", "/discuss/sidebar"):
        response = client.get(path)
        assert "#secret" not in response.get_data(as_text=True)


def test_a_dm_is_for_its_two_people(client, make_client, users, world):
    sign_in(client, users.agent2)
    assert "Just between us" in client.get(f"/discuss/c/{world.dm.id}").get_data(as_text=True)
    other = make_client()
    login(other, world.dan)
    assert other.get(f"/discuss/c/{world.dm.id}").status_code == 404


def test_unknown_conversation_is_404(client, users):
    sign_in(client, users.agent)
    assert client.get("/discuss/c/999999").status_code == 404
    assert client.post("/discuss/c/999999/join", data={"csrf_token": csrf_token(client, "/login")}).status_code == 404


@pytest.mark.parametrize("who", WHO)
def test_a_private_channels_search_hits_reach_members_only(client, users, world, who):
    """The matrix above, for search (tests/web/test_search.py has the full one)."""
    user = {"member": world.dan, "outsider": users.agent2, "admin": users.admin, "portal": users.portal,
            "anonymous": None}[who]
    sign_in(client, user)
    response = client.get("/search?q=secret+plan")
    body = response.get_data(as_text=True)
    expected = {"member": 200, "outsider": 200, "admin": 200, "portal": 403, "anonymous": 302}[who]
    assert response.status_code == expected
    assert ("The <mark>secret</mark> <mark>plan</mark>" in body) == (who == "member")
