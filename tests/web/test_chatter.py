"""The chatter routes: thread, composer, notes, followers, files, and who may do what."""
import io
import re
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from app.extensions import db
from app.models import Attachment, Contact, Follower, Message, MessageRecipient, OutboxMail
from app.services import mailer, messaging
from tests.conftest import csrf_token, login, make_contact, make_user
from tests.web.conftest import png_bytes

HX = {"HX-Request": "true"}


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def upload(name: str, data: bytes) -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=name)


@pytest.fixture
def world(app, users, run_jobs):
    """A contact following its own thread, a sent message with an image and a note with a file."""
    contact = make_contact("Ada Customer", "ada@customer.test")
    thread = contact.ensure_thread()
    messaging.follow(thread, contact=contact)
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        comment = messaging.post_message(thread, users.agent, "Public words",
                                         files=[upload("photo.png", png_bytes())])
        note = messaging.post_message(thread, users.agent, "Internal words", kind="note",
                                      files=[upload("minutes.txt", b"secret minutes")])
    db.session.commit()
    run_jobs()
    return SimpleNamespace(contact=contact, thread=thread, comment=comment, note=note,
                           comment_file=comment.attachments[0], note_file=note.attachments[0])


def as_user(client, user):
    if user is not None:
        login(client, user)
    return csrf_token(client, "/login")


def post(client, thread, token, htmx=False, **data):
    data.setdefault("kind", "comment")
    data["csrf_token"] = token
    return client.post(f"/chatter/{thread.id}/messages", data=data, headers=HX if htmx else {},
                       content_type="multipart/form-data")


# ---- the access matrix -----------------------------------------------------------------------

def _actions(world):
    t, note = world.thread, world.note
    return {
        "contact page": ("get", f"/contacts/{world.contact.id}", None, {}),
        "thread fragment": ("get", f"/chatter/{t.id}", None, HX),
        "older page": ("get", f"/chatter/{t.id}/messages?before={note.id + 1}", None, HX),
        "post message": ("post", f"/chatter/{t.id}/messages", {"body": "Hello", "kind": "comment"}, {}),
        "post note": ("post", f"/chatter/{t.id}/messages", {"body": "Psst", "kind": "note"}, {}),
        "edit note": ("post", f"/chatter/{t.id}/messages/{note.id}/edit", {"body": "Changed"}, {}),
        "download note file": ("get", f"/attachments/{world.note_file.id}", None, {}),
        "download comment file": ("get", f"/attachments/{world.comment_file.id}", None, {}),
    }


ALLOWED = {  # what staff get; portal users get 403 on pages, 404 where the thread must not leak
    "contact page": (200, 403), "thread fragment": (200, 404), "older page": (200, 404),
    "post message": (302, 404), "post note": (302, 404), "edit note": (302, 404),
    "download note file": (200, 404), "download comment file": (200, 404),
}


@pytest.mark.parametrize("role", ["admin", "agent", "portal", "anonymous"])
@pytest.mark.parametrize("action", list(ALLOWED))
def test_access_matrix(client, users, world, role, action):
    user = None if role == "anonymous" else getattr(users, role)
    token = as_user(client, user)
    method, url, data, headers = _actions(world)[action]
    messages_before = count(Message)
    if method == "get":
        response = client.get(url, headers=headers)
    else:
        response = client.post(url, data={**data, "csrf_token": token}, headers=headers)

    staff_status, portal_status = ALLOWED[action]
    if role == "anonymous":
        if headers.get("HX-Request"):
            assert response.status_code == 401 and "/login" in response.headers["HX-Redirect"]
        else:
            assert response.status_code == 302 and "/login" in response.headers["Location"]
    elif role == "portal":
        assert response.status_code == portal_status
    else:
        assert response.status_code == staff_status, response.get_data(as_text=True)[:500]
    if not (role in ("admin", "agent") and action.startswith("post")):
        assert count(Message) == messages_before  # refused requests change nothing
    db.session.expire_all()
    edited = db.session.get(Message, world.note.id)
    assert ("Changed" in edited.body_html) == (action == "edit note" and role in ("admin", "agent"))


def test_another_agents_note_cannot_be_edited_or_deleted(client, users, world):
    token = as_user(client, users.agent2)
    base = f"/chatter/{world.thread.id}/messages/{world.note.id}"
    assert client.get(f"{base}/edit", headers=HX).status_code == 403
    assert client.post(f"{base}/edit", data={"body": "mine now", "csrf_token": token}).status_code == 403
    assert client.post(f"{base}/delete", data={"csrf_token": token}).status_code == 403
    db.session.expire_all()
    assert "Internal words" in db.session.get(Message, world.note.id).body_html


def test_sent_messages_cannot_be_edited_even_by_their_author(client, users, world):
    token = as_user(client, users.agent)
    base = f"/chatter/{world.thread.id}/messages/{world.comment.id}"
    assert client.post(f"{base}/edit", data={"body": "rewritten", "csrf_token": token}).status_code == 403
    assert client.post(f"{base}/delete", data={"csrf_token": token}).status_code == 403
    assert count(Message, Message.id == world.comment.id) == 1


# ---- reading ---------------------------------------------------------------------------------

def test_the_contact_page_shows_the_thread_and_subscribes_to_it(client, users, world):
    as_user(client, users.agent)
    page = client.get(f"/contacts/{world.contact.id}").get_data(as_text=True)
    assert f"topics=thread:{world.thread.id}" in page
    assert f'id="thread-{world.thread.id}-messages"' in page
    assert page.index("Internal words") < page.index("Public words")  # newest first
    assert 'class="message message-note"' in page and "Note</span>" in page
    assert f'src="/attachments/{world.comment_file.id}"' in page  # the image as a thumbnail
    assert "minutes.txt" in page and re.search(r"Emailed to\s*<span[^>]*>ada@customer.test<", page)
    assert "Send message" in page and "Log note" in page
    assert f'data-mentions-url="/chatter/{world.thread.id}/mentions"' in page
    # The author sees their note's controls; nothing inline for the CSP.
    assert f"/chatter/{world.thread.id}/messages/{world.note.id}/edit" in page
    assert "<script>" not in page and " style=" not in page and "onclick" not in page


def test_other_agents_do_not_get_edit_controls_on_the_page(client, users, world):
    as_user(client, users.agent2)
    page = client.get(f"/contacts/{world.contact.id}").get_data(as_text=True)
    assert f"/messages/{world.note.id}/edit" not in page


def test_older_messages_load_by_keyset_pages(client, app, users, world, monkeypatch):
    monkeypatch.setitem(app.config, "THREAD_PAGE_SIZE", 3)
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        ids = [messaging.post_message(world.thread, users.agent, f"Message number {i}").id for i in range(4)]
    db.session.commit()
    as_user(client, users.agent)
    page = client.get(f"/contacts/{world.contact.id}").get_data(as_text=True)
    assert "Message number 3" in page and "Message number 1" in page and "Message number 0" not in page
    sentinel = re.search(r'hx-get="(/chatter/\d+/messages\?before=(\d+))" hx-trigger="revealed"', page)
    assert sentinel and int(sentinel.group(2)) == ids[1]

    older = client.get(sentinel.group(1), headers=HX).get_data(as_text=True)
    assert "<html" not in older
    assert [int(i) for i in re.findall(r'<article id="message-(\d+)"', older)] == [
        ids[0], world.note.id, world.comment.id]
    assert 'hx-trigger="revealed"' not in older  # the oldest page has no sentinel

    # Without JavaScript the same page is the record page with ?before=.
    plain = client.get(sentinel.group(1))
    assert plain.status_code == 302 and f"/contacts/{world.contact.id}?before={ids[1]}" in plain.headers["Location"]
    no_js = client.get(f"/contacts/{world.contact.id}?before={ids[1]}").get_data(as_text=True)
    assert "Message number 0" in no_js and "Message number 3" not in no_js and "Back to the newest" in no_js


def test_the_thread_fragment_and_one_row(client, users, world):
    as_user(client, users.agent)
    fragment = client.get(f"/chatter/{world.thread.id}", headers=HX).get_data(as_text=True)
    assert "<html" not in fragment and f'id="chatter-{world.thread.id}"' in fragment
    row = client.get(f"/chatter/{world.thread.id}/messages/{world.note.id}", headers=HX).get_data(as_text=True)
    assert row.strip().startswith(f'<article id="message-{world.note.id}"')
    redirect = client.get(f"/chatter/{world.thread.id}")
    assert redirect.status_code == 302 and redirect.headers["Location"].startswith(f"/contacts/{world.contact.id}")


def test_unknown_threads_and_messages_are_404(client, users, world):
    token = as_user(client, users.admin)
    other = make_contact("Other Person").ensure_thread()
    db.session.commit()
    assert client.get("/chatter/999999", headers=HX).status_code == 404
    assert post(client, SimpleNamespace(id=999999), token, body="hi").status_code == 404
    assert client.get(f"/chatter/{world.thread.id}/messages/999999", headers=HX).status_code == 404
    # A message of another thread is not found through this one.
    assert client.get(f"/chatter/{other.id}/messages/{world.note.id}/edit", headers=HX).status_code == 404
    assert client.get("/attachments/999999").status_code == 404
    assert client.get("/contacts/999999").status_code == 404


# ---- posting ---------------------------------------------------------------------------------

def test_posting_a_message_with_htmx_returns_the_new_row(client, users, world, run_jobs):
    token = as_user(client, users.agent2)
    response = post(client, world.thread, token, htmx=True, body="Your order shipped, @Bob Agent knows more.")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    message = db.session.scalars(select(Message).order_by(Message.id.desc())).first()
    assert html.lstrip().startswith(f'<article id="message-{message.id}" class="message message-comment"')
    assert '<span class="mention">@Bob Agent</span>' in html
    assert message.kind == "comment" and message.author_user_id == users.agent2.id
    run_jobs()
    mail = db.session.scalars(select(OutboxMail).where(OutboxMail.chatter_message_id == message.id)).one()
    assert mail.to == "ada@customer.test" and "Your order shipped" in mail.body_text


def test_the_followers_box_comes_back_only_when_the_post_changed_the_followers(client, users, world):
    token = as_user(client, users.agent2)
    box = f'id="thread-{world.thread.id}-followers"'
    first = post(client, world.thread, token, htmx=True, body="My first words here").get_data(as_text=True)
    assert box in first and "Following" in first  # Carol follows from now on
    again = post(client, world.thread, token, htmx=True, body="And more").get_data(as_text=True)
    assert box not in again
    copied = post(client, world.thread, token, htmx=True, body="Copying Grace",
                  cc="grace@customer.test").get_data(as_text=True)
    assert box in copied and "grace@customer.test" in copied


def test_posting_a_note_without_javascript_redirects_back(client, users, world):
    token = as_user(client, users.agent)
    response = post(client, world.thread, token, body="Only for us", kind="note")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/contacts/{world.contact.id}#chatter-{world.thread.id}"
    note = db.session.scalars(select(Message).order_by(Message.id.desc())).first()
    assert note.kind == "note" and count(OutboxMail, OutboxMail.chatter_message_id == note.id) == 0
    assert "Note logged." in client.get(response.headers["Location"]).get_data(as_text=True)


def test_posting_files_lists_them_and_refreshes_the_files_panel(client, users, world):
    token = as_user(client, users.agent)
    response = post(client, world.thread, token, htmx=True, body="Two files", kind="note",
                    files=[(io.BytesIO(png_bytes(4, 4)), "chart.png"), (io.BytesIO(b"a,b\n1,2\n"), "data.csv")])
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    message = db.session.scalars(select(Message).order_by(Message.id.desc())).first()
    names = sorted(a.filename for a in message.attachments)
    assert names == ["chart.png", "data.csv"]
    chart = next(a for a in message.attachments if a.filename == "chart.png")
    assert f'<img src="/attachments/{chart.id}"' in html and "data.csv" in html
    assert f'hx-swap-oob="innerHTML:#thread-{world.thread.id}-files"' in html
    assert "minutes.txt" in html  # the panel lists every file of the record


@pytest.mark.parametrize("body", ["", "   "])
def test_an_empty_message_is_a_422_in_the_composer(client, users, world, body):
    token = as_user(client, users.agent)
    before = count(Message)
    response = post(client, world.thread, token, htmx=True, body=body)
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == f"#composer-{world.thread.id}-errors"
    assert "Write a message or attach a file." in response.get_data(as_text=True)
    assert count(Message) == before


def test_an_oversized_file_is_refused_by_name_and_nothing_is_saved(app, client, users, world):
    token = as_user(client, users.agent)
    before = (count(Message), count(Attachment))
    big = b"x" * (app.config["MAX_ATTACHMENT_BYTES"] + 1)
    response = post(client, world.thread, token, htmx=True, body="See attached",
                    files=[(io.BytesIO(b"small"), "ok.txt"), (io.BytesIO(big), "scan.tiff")])
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "“scan.tiff” is larger than 1 MB" in text and "ok.txt" not in text
    assert (count(Message), count(Attachment)) == before


def test_without_javascript_a_refused_post_keeps_the_text(app, client, users, world):
    token = as_user(client, users.agent)
    big = b"x" * (app.config["MAX_ATTACHMENT_BYTES"] + 1)
    response = post(client, world.thread, token, body="A long reply I typed", kind="note",
                    files=[(io.BytesIO(big), "big.bin")])
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "A long reply I typed</textarea>" in page and "“big.bin”" in page
    assert re.search(r'value="note" checked', page)


def test_a_request_over_the_total_size_is_413(app, client, users, world, monkeypatch):
    token = as_user(client, users.agent)
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4096)
    before = count(Message)
    response = post(client, world.thread, token, htmx=True, body="x",
                    files=[(io.BytesIO(b"y" * 10_000), "huge.bin")])
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)
    assert count(Message) == before


def test_an_unknown_kind_is_refused(client, users, world):
    token = as_user(client, users.admin)
    response = post(client, world.thread, token, htmx=True, body="hi", kind="tracking")
    assert response.status_code == 422 and count(Message, Message.kind == "tracking") == 0


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_posts_without_a_valid_csrf_token_are_400(client, users, world, token):
    as_user(client, users.agent)
    data = {"body": "hi", "kind": "comment"}
    if token:
        data["csrf_token"] = token
    before = count(Message)
    assert client.post(f"/chatter/{world.thread.id}/messages", data=data).status_code == 400
    headers = {**HX, "X-CSRFToken": token} if token else HX
    assert client.post(f"/chatter/{world.thread.id}/messages/{world.note.id}/delete",
                       headers=headers).status_code == 400
    assert count(Message) == before


def test_the_csrf_header_is_enough_for_htmx(client, users, world):
    token = as_user(client, users.agent)
    response = client.post(f"/chatter/{world.thread.id}/messages", data={"body": "via header", "kind": "note"},
                           headers={**HX, "X-CSRFToken": token})
    assert response.status_code == 200


# ---- editing and deleting notes --------------------------------------------------------------

def test_editing_a_note_in_place(client, users, world):
    token = as_user(client, users.agent)
    base = f"/chatter/{world.thread.id}/messages/{world.note.id}"
    form = client.get(f"{base}/edit", headers=HX).get_data(as_text=True)
    assert 'class="message message-note is-editing"' in form and "Internal words</textarea>" in form
    saved = client.post(f"{base}/edit", data={"body": "Better words", "csrf_token": token}, headers=HX)
    assert saved.status_code == 200
    html = saved.get_data(as_text=True)
    assert "Better words" in html and "edited" in html and "is-editing" not in html
    page = client.get(f"{base}/edit")  # without JavaScript: a page of its own
    assert page.status_code == 200 and "<html" in page.get_data(as_text=True)


def test_an_admin_can_edit_an_agents_note_but_not_empty_it(app, client, users, world):
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        note = messaging.post_message(world.thread, users.agent, "No file here", kind="note")
    db.session.commit()
    token = as_user(client, users.admin)
    base = f"/chatter/{world.thread.id}/messages/{note.id}"
    empty = client.post(f"{base}/edit", data={"body": "  ", "csrf_token": token}, headers=HX)
    assert empty.status_code == 422 and "Write a message" in empty.get_data(as_text=True)
    assert "is-editing" in empty.get_data(as_text=True)  # the form stays, with the error
    plain = client.post(f"{base}/edit", data={"body": "Fixed by admin", "csrf_token": token})
    assert plain.status_code == 302
    db.session.expire_all()
    assert "Fixed by admin" in db.session.get(Message, note.id).body_html


def test_deleting_a_note_removes_it_and_its_files(client, app, users, world):
    from app.services.attachments import _path

    token = as_user(client, users.admin)
    stored = _path(world.note_file.storage_key)
    assert stored.exists()
    response = client.post(f"/chatter/{world.thread.id}/messages/{world.note.id}/delete",
                           data={"csrf_token": token}, headers=HX)
    assert response.status_code == 200
    assert f'hx-swap-oob="innerHTML:#thread-{world.thread.id}-files"' in response.get_data(as_text=True)
    assert count(Message, Message.id == world.note.id) == 0
    assert count(Attachment, Attachment.id == world.note_file.id) == 0
    assert not stored.exists()
    plain = client.post(f"/chatter/{world.thread.id}/messages/{world.comment.id}/delete", data={"csrf_token": token})
    assert plain.status_code == 403


# ---- mentions --------------------------------------------------------------------------------

def test_mention_autocomplete_lists_matching_staff(client, users, world):
    make_user("agent", name="Carl Inactive", active=False)
    as_user(client, users.agent)
    data = client.get(f"/chatter/{world.thread.id}/mentions?q=car").get_json()
    assert [u["name"] for u in data["users"]] == ["Carol Agent"]
    assert data["users"][0]["initials"] == "CA" and data["users"][0]["email"] == "agent2@example.com"
    everyone = client.get(f"/chatter/{world.thread.id}/mentions").get_json()["users"]
    assert {u["name"] for u in everyone} == {"Alice Admin", "Bob Agent", "Carol Agent"}


def test_a_posted_mention_notifies_the_colleague(client, users, world, run_jobs):
    from app.models import Notification

    token = as_user(client, users.agent)
    post(client, world.thread, token, htmx=True, body="@Carol Agent can you check?", kind="note")
    run_jobs()
    notes = list(db.session.scalars(select(Notification).where(Notification.user_id == users.agent2.id)))
    assert [n.kind for n in notes] == ["mention"]


# ---- followers -------------------------------------------------------------------------------

def test_follow_and_unfollow_myself(client, users, world):
    token = as_user(client, users.agent2)
    response = client.post(f"/chatter/{world.thread.id}/follow", data={"csrf_token": token}, headers=HX)
    assert response.status_code == 200 and "Following" in response.get_data(as_text=True)
    assert messaging.is_following(world.thread, users.agent2)
    response = client.post(f"/chatter/{world.thread.id}/unfollow", data={"csrf_token": token}, headers=HX)
    assert "Following" not in response.get_data(as_text=True)
    assert not messaging.is_following(world.thread, users.agent2)
    plain = client.post(f"/chatter/{world.thread.id}/follow", data={"csrf_token": token})
    assert plain.status_code == 302


def test_adding_and_removing_followers(client, users, world):
    token = as_user(client, users.agent)
    ben = make_contact("Ben Buyer", "ben@buyer.test", company="Buyers Ltd")
    found = client.get(f"/chatter/{world.thread.id}/followers/candidates?q=b", headers=HX).get_data(as_text=True)
    assert "Ben Buyer" in found and "Buyers Ltd" in found
    assert "Bob Agent" not in found  # already follows (he posted)
    assert "Ada Customer" not in client.get(
        f"/chatter/{world.thread.id}/followers/candidates?q=ada", headers=HX).get_data(as_text=True)

    added = client.post(f"/chatter/{world.thread.id}/followers", headers=HX,
                        data={"contact_id": ben.id, "csrf_token": token})
    assert added.status_code == 200 and "Ben Buyer" in added.get_data(as_text=True)
    added = client.post(f"/chatter/{world.thread.id}/followers", headers=HX,
                        data={"user_id": users.agent2.id, "csrf_token": token})
    assert added.status_code == 200 and " open" in added.get_data(as_text=True)
    names = {f.name for f in messaging.followers(world.thread)}
    assert {"Ben Buyer", "Carol Agent", "Ada Customer", "Bob Agent"} <= names

    row = db.session.scalar(select(Follower).where(Follower.contact_id == ben.id))
    removed = client.post(f"/chatter/{world.thread.id}/followers/{row.id}/delete", headers=HX,
                          data={"csrf_token": token})
    assert removed.status_code == 200 and "Ben Buyer" not in removed.get_data(as_text=True)
    assert count(Follower, Follower.contact_id == ben.id) == 0


def test_followers_input_is_checked(client, users, world):
    token = as_user(client, users.agent)
    url = f"/chatter/{world.thread.id}/followers"
    assert client.post(url, headers=HX, data={"csrf_token": token}).status_code == 422
    assert client.post(url, headers=HX, data={"csrf_token": token, "user_id": 999999}).status_code == 404
    refused = client.post(url, headers=HX, data={"csrf_token": token, "user_id": users.portal.id})
    assert refused.status_code == 422 and "cannot see this record" in refused.get_data(as_text=True)
    other = make_contact("Elsewhere").ensure_thread()
    elsewhere = messaging.follow(other, user=users.agent2)
    db.session.commit()
    assert client.post(f"/chatter/{world.thread.id}/followers/{elsewhere.id}/delete", headers=HX,
                       data={"csrf_token": token}).status_code == 404


def test_portal_users_cannot_manage_followers(client, users, world):
    token = as_user(client, users.portal)
    assert client.get(f"/chatter/{world.thread.id}/followers/candidates?q=a", headers=HX).status_code == 404
    assert client.post(f"/chatter/{world.thread.id}/followers", headers=HX,
                       data={"csrf_token": token, "user_id": users.portal.id}).status_code == 404
    assert client.get(f"/chatter/{world.thread.id}/mentions?q=a").status_code == 404


# ---- downloads -------------------------------------------------------------------------------

def _attach(app, world, user, name: str, data: bytes, kind="comment"):
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        message = messaging.post_message(world.thread, user, "file", kind=kind, files=[upload(name, data)])
    db.session.commit()
    return message.attachments[0]


def test_a_real_image_is_shown_inline_with_its_sniffed_type(app, client, users, world):
    as_user(client, users.agent)
    response = client.get(f"/attachments/{world.comment_file.id}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Disposition"].startswith("inline")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.data == png_bytes()
    # Its length is said: sent chunked, gunicorn's sendfile would drop the chunk framing.
    assert response.headers["Content-Length"] == str(len(png_bytes()))
    ranged = client.get(f"/attachments/{world.comment_file.id}", headers={"Range": "bytes=0-7"})
    assert ranged.status_code == 206 and ranged.data == png_bytes()[:8]


@pytest.mark.parametrize("name, data", [
    ("page.html", b"<html><script>alert(document.cookie)</script></html>"),
    ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    ("app.js", b"alert(1)"),
    ("fake.png", b"<script>alert(1)</script>"),
])
def test_anything_else_is_a_sandboxed_download(app, client, users, world, name, data):
    attachment = _attach(app, world, users.agent, name, data)
    as_user(client, users.agent)
    response = client.get(f"/attachments/{attachment.id}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"] == f"attachment; filename={name}"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert response.data == data and response.headers["Content-Length"] == str(len(data))


def test_non_ascii_names_use_rfc_5987(app, client, users, world):
    attachment = _attach(app, world, users.agent, "Überweisung März.pdf", b"%PDF-1.4")
    as_user(client, users.agent)
    disposition = client.get(f"/attachments/{attachment.id}").headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%C3%9Cberweisung%20M%C3%A4rz.pdf" in disposition
    assert all(ord(ch) < 128 for ch in disposition)


def test_a_missing_stored_file_is_404_not_500(app, client, users, world):
    from app.services.attachments import _path

    _path(world.comment_file.storage_key).unlink()
    as_user(client, users.agent)
    assert client.get(f"/attachments/{world.comment_file.id}").status_code == 404


# ---- live ------------------------------------------------------------------------------------

def test_a_post_is_pushed_to_the_thread_topic_once_committed(app, client, users, world, monkeypatch):
    sent = []
    monkeypatch.setattr(app.extensions["hilo_bus"], "send_many", sent.extend)
    token = as_user(client, users.agent)
    post(client, world.thread, token, htmx=True, body="Nobody watching", kind="note")
    assert sent == []  # no socket on the thread: nothing rendered, nothing sent
    viewer = app.extensions["hilo_bus"].subscribe([f"thread:{world.thread.id}"])
    post(client, world.thread, token, htmx=True, body="Live one", kind="note")
    viewer.close()
    pushed = [html for topic, html in sent if topic == f"thread:{world.thread.id}"]
    assert len(pushed) == 1
    assert f'hx-swap-oob="afterbegin:#thread-{world.thread.id}-messages"' in pushed[0]
    assert "Live one" in pushed[0] and "csrf_token" not in pushed[0]
    refused = post(client, world.thread, token, htmx=True, body="")
    assert refused.status_code == 422
    assert len([1 for topic, _ in sent if topic == f"thread:{world.thread.id}"]) == 1


# ---- Cc on a sent message ----------------------------------------------------------------------

def test_cc_mails_the_message_and_the_copied_follow_the_record(client, users, world, run_jobs):
    known = make_contact("Grace Known", "Grace@Customer.test")
    token = as_user(client, users.agent)
    response = post(client, world.thread, token, htmx=True, body="Quote attached",
                    cc="grace@customer.test; Linus New <linus@newco.test>")
    assert response.status_code == 200
    run_jobs()
    message = db.session.scalars(select(Message).order_by(Message.id.desc())).first()
    mails = db.session.scalars(select(OutboxMail).where(OutboxMail.chatter_message_id == message.id)).all()
    assert sorted(m.to for m in mails) == ["Grace@Customer.test", "ada@customer.test", "linus@newco.test"]
    assert sorted(r.address for r in message.recipients) == sorted(m.to for m in mails)
    created = db.session.scalar(select(Contact).where(Contact.email == "linus@newco.test"))
    assert created.name == "Linus New"
    following = {f.contact_id for f in messaging.followers(world.thread)}
    assert {known.id, created.id, world.contact.id} <= following
    assert count(Contact, func.lower(Contact.email) == "grace@customer.test") == 1  # matched, not duplicated


@pytest.mark.parametrize("cc, reason", [
    ("not-an-address", "“not-an-address” is not an email address."),
    ("ok@customer.test, bad@", "“bad@” is not an email address."),
    (", ".join(f"p{i}@customer.test" for i in range(21)), "Copy at most 20 addresses."),
])
def test_a_bad_cc_is_a_422_and_nothing_is_saved_or_sent(client, users, world, cc, reason):
    token = as_user(client, users.agent)
    before = (count(Message), count(OutboxMail), count(Contact), count(Follower))
    response = post(client, world.thread, token, htmx=True, body="Hello", cc=cc)
    assert response.status_code == 422
    assert reason in response.get_data(as_text=True)
    assert (count(Message), count(OutboxMail), count(Contact), count(Follower)) == before


def test_without_javascript_a_refused_cc_keeps_body_and_addresses(client, users, world):
    token = as_user(client, users.agent)
    response = post(client, world.thread, token, body="Keep me", cc="ann@customer.test, nope")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Keep me</textarea>" in page and 'value="ann@customer.test, nope"' in page


def test_a_note_is_never_copied_out(client, users, world):
    """The Cc field is hidden for notes; a note posted with one anyway mails nobody."""
    token = as_user(client, users.agent)
    response = post(client, world.thread, token, htmx=True, body="Internal", kind="note", cc="x@customer.test")
    assert response.status_code == 200
    assert count(OutboxMail, OutboxMail.to == "x@customer.test") == 0
    assert count(Contact, Contact.email == "x@customer.test") == 0


def test_customers_cannot_copy_others(client, users, world, monkeypatch):
    world.contact.email = users.portal.email  # the portal customer's own record
    db.session.commit()
    monkeypatch.setattr(type(world.contact), "portal_can_read", lambda self, user: True, raising=False)
    token = as_user(client, users.portal)
    response = post(client, world.thread, token, body="Hi", cc="friend@customer.test")
    assert response.status_code == 403
    assert count(Contact, Contact.email == "friend@customer.test") == 0


def test_the_envelope_shows_sending_then_the_failure_and_its_reason(app, client, users, smtp_server, run_jobs):
    smtp_server.refuse["gone@customer.test"] = "550 5.1.1 Mailbox unavailable"
    contact = make_contact("Gone Customer", "gone@customer.test")
    thread = contact.ensure_thread()
    messaging.follow(thread, contact=contact)
    db.session.commit()
    token = as_user(client, users.agent)
    client.post(f"/chatter/{thread.id}/messages", data={"body": "Are you there?", "kind": "comment",
                                                        "csrf_token": token})
    run_jobs()  # the message's audience: its mail is written and tried at once
    # Back to before the attempt: the mail waits for the SMTP server.
    db.session.execute(OutboxMail.__table__.update().values(status="queued", attempts=0, error=None))
    db.session.execute(MessageRecipient.__table__.update().values(status="queued", error=None))
    db.session.commit()
    assert "Sending to gone@customer.test" in client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        assert mailer.deliver(db.session.scalar(select(OutboxMail.id))) == "failed"
    page = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert 'class="message-delivery is-failed"' in page
    assert "Not delivered to gone@customer.test (550 5.1.1 Mailbox unavailable)" in page
