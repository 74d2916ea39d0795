"""What people do to chat messages: edit their own, react, star, find them again in context."""
import pytest

from app.extensions import db
from app.models import MessageReaction, MessageStar
from app.services import discuss
from tests.conftest import login, make_user
from tests.web.conftest import count, sign_in

HX = {"HX-Request": "true"}


@pytest.fixture
def world(app, users):
    """A private channel of Bob (agent) and Dan with one of Bob's messages; a public channel."""
    dan = make_user(name="Dan Member")
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        private = discuss.create_channel(users.agent, "secret", private=True, members=[dan])
        public = discuss.create_channel(users.agent, "general")
        db.session.commit()
        said = discuss.post(private, users.agent, "The secret plan")
        shout = discuss.post(public, users.agent, "Hello all")
        db.session.commit()
    return dan, private, public, said, shout


# ---- editing one's own chat messages ---------------------------------------------------------------

def test_the_author_edits_and_deletes_a_chat_message(client, users, world):
    _, private, _, said, _ = world
    token = sign_in(client, users.agent)
    thread = private.ensure_thread()
    page = client.get(f"/discuss/c/{private.id}").get_data(as_text=True)
    assert f"/chatter/{thread.id}/messages/{said.id}/edit" in page and "Edit message" in page
    form = client.get(f"/chatter/{thread.id}/messages/{said.id}/edit", headers=HX).get_data(as_text=True)
    assert "The secret plan" in form and "Editing a message" in form
    saved = client.post(f"/chatter/{thread.id}/messages/{said.id}/edit", headers={**HX, "X-CSRFToken": token},
                        data={"body": "The *new* plan"})
    assert saved.status_code == 200 and "The *new* plan" in saved.get_data(as_text=True) and "edited" in saved.get_data(as_text=True)
    empty = client.post(f"/chatter/{thread.id}/messages/{said.id}/edit", headers={**HX, "X-CSRFToken": token},
                        data={"body": "  "})
    assert empty.status_code == 422 and "Write a message" in empty.get_data(as_text=True)
    gone = client.post(f"/chatter/{thread.id}/messages/{said.id}/delete", headers={**HX, "X-CSRFToken": token})
    assert gone.status_code == 200
    assert "The *new* plan" not in client.get(f"/discuss/c/{private.id}").get_data(as_text=True)


@pytest.mark.parametrize("who, status", [("member", 403), ("outsider", 404), ("admin", 404), ("portal", 404)])
def test_nobody_else_edits_a_chat_message(client, users, world, who, status):
    dan, private, _, said, _ = world
    user = {"member": dan, "outsider": users.agent2, "admin": users.admin, "portal": users.portal}[who]
    token = sign_in(client, user)
    thread = private.ensure_thread()
    assert client.get(f"/chatter/{thread.id}/messages/{said.id}/edit").status_code == status
    response = client.post(f"/chatter/{thread.id}/messages/{said.id}/edit", headers={"X-CSRFToken": token},
                           data={"body": "hijacked"})
    assert response.status_code == status
    assert client.post(f"/chatter/{thread.id}/messages/{said.id}/delete",
                       headers={"X-CSRFToken": token}).status_code == status
    db.session.expire_all()
    assert "secret plan" in said.body_html


def test_an_archived_channel_is_read_only(client, users, world):
    _, _, public, _, shout = world
    token = sign_in(client, users.agent)
    client.post(f"/discuss/c/{public.id}/archive", headers={"X-CSRFToken": token})
    thread = public.ensure_thread()
    assert client.post(f"/chatter/{thread.id}/messages/{shout.id}/edit", headers={"X-CSRFToken": token},
                       data={"body": "rewritten"}).status_code == 403
    assert "Edit message" not in client.get(f"/discuss/c/{public.id}").get_data(as_text=True)


# ---- reactions and stars -------------------------------------------------------------------------

def test_react_take_back_and_refuse_text(client, users, world):
    dan, private, _, said, _ = world
    token = sign_in(client, dan)
    url = f"/chatter/{private.ensure_thread().id}/messages/{said.id}/reactions"
    added = client.post(url, headers={**HX, "X-CSRFToken": token}, data={"emoji": "👍🏽"})
    html = added.get_data(as_text=True)
    assert added.status_code == 200 and "👍🏽" in html and 'aria-pressed="true"' in html and "Dan Member reacted" in html
    assert count(MessageReaction) == 1
    again = client.post(url, headers={**HX, "X-CSRFToken": token}, data={"emoji": "👍🏽"})
    assert again.status_code == 200 and "👍🏽" not in again.get_data(as_text=True)
    for bad in ("", "ok", "<script>alert(1)</script>", "👍 nice", "👍" * 20):
        refused = client.post(url, headers={**HX, "X-CSRFToken": token}, data={"emoji": bad})
        assert refused.status_code == 422, bad
        assert "<script>" not in refused.get_data(as_text=True)
    assert count(MessageReaction) == 0
    # Without JavaScript: a plain form post comes back to the conversation.
    plain = client.post(url, data={"emoji": "🎉", "csrf_token": token})
    assert plain.status_code == 302 and f"#message-{said.id}" in plain.headers["Location"]


def test_stars_are_private_and_listed_in_starred(client, make_client, users, world):
    dan, private, public, said, shout = world
    token = sign_in(client, dan)
    assert "No starred messages yet" in client.get("/discuss/starred").get_data(as_text=True)
    for message, channel in ((said, private), (shout, public)):
        star = client.post(f"/chatter/{channel.ensure_thread().id}/messages/{message.id}/star",
                           headers={**HX, "X-CSRFToken": token})
        assert star.status_code == 200 and 'aria-pressed="true"' in star.get_data(as_text=True)
    page = client.get("/discuss/starred").get_data(as_text=True)
    assert "The secret plan" in page and "Hello all" in page
    assert f"/discuss/c/{private.id}?around={said.id}#message-{said.id}" in page
    assert "is-starred" in client.get(f"/discuss/c/{public.id}").get_data(as_text=True)
    # Nobody else sees Dan's stars.
    other = make_client()
    login(other, users.agent)
    assert "is-starred" not in other.get(f"/discuss/c/{public.id}").get_data(as_text=True)
    assert "Hello all" not in other.get("/discuss/starred").get_data(as_text=True)
    # Once Dan leaves the private channel its starred message is no longer shown to him.
    client.post(f"/discuss/c/{private.id}/leave", headers={"X-CSRFToken": token})
    page = client.get("/discuss/starred").get_data(as_text=True)
    assert "The secret plan" not in page and "Hello all" in page
    # Unstar.
    client.post(f"/chatter/{public.ensure_thread().id}/messages/{shout.id}/star", headers={**HX, "X-CSRFToken": token})
    assert "Hello all" not in client.get("/discuss/starred").get_data(as_text=True)
    assert count(MessageStar) == 1  # the hidden one stays


WHO = ("member", "outsider", "admin", "portal", "anonymous")


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("what", ("react", "star", "around"))
def test_a_private_channel_s_reactions_stars_and_context_are_for_members(client, users, world, who, what):
    dan, private, _, said, _ = world
    user = {"member": dan, "outsider": users.agent2, "admin": users.admin, "portal": users.portal,
            "anonymous": None}[who]
    token = sign_in(client, user)
    base = f"/chatter/{private.ensure_thread().id}/messages/{said.id}"
    response = {
        "react": lambda: client.post(f"{base}/reactions", headers={**HX, "X-CSRFToken": token}, data={"emoji": "👍"}),
        "star": lambda: client.post(f"{base}/star", headers={**HX, "X-CSRFToken": token}),
        "around": lambda: client.get(f"/discuss/c/{private.id}?around={said.id}"),
    }[what]()
    body = response.get_data(as_text=True)
    if who == "member":
        assert response.status_code == 200
    elif who == "anonymous":
        assert response.status_code in (302, 401)
    elif who == "portal":  # staff pages refuse, chatter routes hide
        assert response.status_code in (403, 404)
    else:
        assert response.status_code == 404
    assert ("secret plan" in body) == (who == "member" and what == "around")
    assert count(MessageReaction) == (1 if who == "member" and what == "react" else 0)
    assert count(MessageStar) == (1 if who == "member" and what == "star" else 0)


# ---- opening a conversation at one message ---------------------------------------------------------

def test_a_conversation_opens_around_a_message_with_a_way_back_to_the_newest(app, client, users, world):
    dan, private, _, said, _ = world
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        for n in range(discuss.CATCH_UP_LIMIT + 5):
            discuss.post(private, users.agent, f"later message {n}")
        db.session.commit()
    sign_in(client, dan)
    page = client.get(f"/discuss/c/{private.id}?around={said.id}").get_data(as_text=True)
    assert "The secret plan" in page and "Jump to the newest messages" in page
    assert f'id="thread-{private.ensure_thread().id}-messages"' not in page  # live rows would leave a gap
    assert f"later message {discuss.CATCH_UP_LIMIT + 4}" not in page
    # Only what was on screen is read: the newest messages still count as unread.
    assert discuss.unread_for(private.member(dan)) > 0
    newest = client.get(f"/discuss/c/{private.id}").get_data(as_text=True)
    assert f"later message {discuss.CATCH_UP_LIMIT + 4}" in newest and "Jump to the newest" not in newest
    # An id from elsewhere is ignored: the conversation opens as usual.
    assert "Jump to the newest" not in client.get(f"/discuss/c/{private.id}?around=999999").get_data(as_text=True)


def test_a_record_s_chatter_opens_at_a_message_too(app, client, users):
    from app.services import messaging
    from tests.conftest import make_contact

    with app.test_request_context(base_url=app.config["BASE_URL"]):
        thread = make_contact("Ada", "ada@example.com").ensure_thread()
        old = messaging.post_message(thread, users.agent, "the old note", kind="note", notify=False)
        for n in range(40):
            messaging.post_message(thread, users.agent, f"newer note {n}", kind="note", notify=False)
        db.session.commit()
        url = messaging.message_url(old)
    sign_in(client, users.agent)
    assert url.endswith(f"?around={old.id}#message-{old.id}")
    page = client.get(url.split("#")[0]).get_data(as_text=True)
    assert "the old note" in page and "Back to the newest messages" in page and "newer note 39" not in page
