"""services/messaging.py: who is notified, mentions, notes, tracked changes, pages, live events."""
import io
import re

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from app.extensions import db
from app.models import (
    Attachment, Contact, Message, MessageRecipient, Notification, OutboxMail, TrackingValue,
)
from app.models.base import utcnow
from app.services import access, messaging
from app.services.attachments import AttachmentError
from app.services.messaging import MessageError
from tests.conftest import make_contact, make_user

pytestmark = pytest.mark.usefixtures("request_ctx")

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def contact():
    return make_contact("Ada Customer", "ada@customer.test")


@pytest.fixture
def thread(contact):
    thread = contact.ensure_thread()
    db.session.commit()
    return thread


def notifications_of(user):
    return list(db.session.scalars(select(Notification).where(Notification.user_id == user.id)))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def upload(name: str, data: bytes) -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=name)


# ---- who is notified -------------------------------------------------------------------------

def test_a_note_notifies_only_the_mentioned_users(users, thread, contact, run_jobs):
    messaging.follow(thread, user=users.agent2)
    messaging.follow(thread, user=users.admin)
    messaging.follow(thread, contact=contact)
    message = messaging.post_message(thread, users.agent, "@Carol Agent please call them back", kind="note")
    db.session.commit()
    run_jobs()

    assert [(n.kind, n.message_id) for n in notifications_of(users.agent2)] == [("mention", message.id)]
    assert notifications_of(users.admin) == []
    assert notifications_of(users.agent) == []
    assert count(OutboxMail) == 0 and count(MessageRecipient) == 0


def test_a_comment_notifies_followers_except_its_author(users, thread, run_jobs):
    for user in (users.agent, users.agent2, users.admin):
        messaging.follow(thread, user=user)
    message = messaging.post_message(thread, users.agent, "Their order shipped today.")
    db.session.commit()
    run_jobs()

    assert [n.kind for n in notifications_of(users.agent2)] == ["message"]
    assert [n.kind for n in notifications_of(users.admin)] == ["message"]
    assert notifications_of(users.agent) == []
    assert notifications_of(users.agent2)[0].message_id == message.id


def test_a_mentioned_follower_gets_one_mention_not_two_notifications(users, thread, run_jobs):
    messaging.follow(thread, user=users.agent2)
    messaging.post_message(thread, users.agent, "Hello @Carol Agent")
    db.session.commit()
    run_jobs()
    assert [n.kind for n in notifications_of(users.agent2)] == ["mention"]


def test_mentioning_yourself_notifies_nobody(users, thread, run_jobs):
    messaging.post_message(thread, users.agent, "Reminder for @Bob Agent", kind="note")
    db.session.commit()
    run_jobs()
    assert notifications_of(users.agent) == []


def test_inactive_followers_are_not_notified(users, thread, run_jobs):
    messaging.follow(thread, user=users.agent2)
    users.agent2.active = False
    messaging.post_message(thread, users.agent, "Hello")
    db.session.commit()
    run_jobs()
    assert notifications_of(users.agent2) == []


def test_contact_followers_get_one_outbox_mail_each(users, thread, contact, run_jobs):
    other = make_contact("Ben Buyer", "ben@customer.test")
    messaging.follow(thread, contact=contact)
    messaging.follow(thread, contact=other)
    no_address = Contact(name="No Address")
    db.session.add(no_address)
    db.session.flush()
    messaging.follow(thread, contact=no_address)
    users.agent.signature = "Bob\nSupport team"
    message = messaging.post_message(thread, users.agent, "Your parcel is on its way.")
    db.session.commit()
    run_jobs()

    mails = list(db.session.scalars(select(OutboxMail).order_by(OutboxMail.id)))
    assert sorted(m.to for m in mails) == ["ada@customer.test", "ben@customer.test"]
    assert all("Your parcel is on its way." in m.body_text and "Support team" in m.body_text for m in mails)
    assert all(m.chatter_message_id == message.id and m.kind == "message" for m in mails)
    recipients = {r.address: r.status for r in db.session.get(Message, message.id).recipients}
    assert recipients == {"ada@customer.test": "sent", "ben@customer.test": "sent"}
    assert message.message_id == mails[0].message_id


def test_notes_and_system_lines_are_never_mailed(users, thread, contact, run_jobs):
    messaging.follow(thread, contact=contact)
    messaging.post_message(thread, users.agent, "Internal only", kind="note")
    messaging.post_message(thread, users.agent, "Contact created", kind="notification")
    db.session.commit()
    run_jobs()
    assert count(OutboxMail) == 0


def test_a_customer_is_not_mailed_their_own_reply(users, thread, contact, run_jobs):
    messaging.follow(thread, contact=contact)
    messaging.follow(thread, user=users.agent)
    messaging.post_message(thread, None, "Thanks!", author_contact=contact)
    db.session.commit()
    run_jobs()
    assert count(OutboxMail) == 0
    assert [n.kind for n in notifications_of(users.agent)] == ["message"]


def test_the_post_itself_notifies_nobody_a_job_does_after_commit(users, thread, contact, run_jobs):
    messaging.follow(thread, user=users.agent2)
    messaging.follow(thread, contact=contact)
    message = messaging.post_message(thread, users.agent, "Shipped, @Carol Agent")
    db.session.flush()
    assert message.notify_pending
    assert count(Notification) == 0 and count(OutboxMail) == 0 and count(MessageRecipient) == 0
    db.session.commit()
    run_jobs()
    assert [n.kind for n in notifications_of(users.agent2)] == ["mention"]
    assert count(OutboxMail) == 1 and not db.session.get(Message, message.id).notify_pending


def test_delivery_happens_once_however_often_it_is_asked(users, thread, contact, run_jobs):
    messaging.follow(thread, user=users.agent2)
    messaging.follow(thread, contact=contact)
    message = messaging.post_message(thread, users.agent, "Once only")
    db.session.commit()
    run_jobs()
    assert messaging.deliver(message.id) is False  # the job (or the sweep) already did it
    db.session.commit()
    assert count(Notification) == 1 and count(OutboxMail) == 1 and count(MessageRecipient) == 1


def test_the_sweep_delivers_a_message_whose_job_was_lost(users, thread, contact):
    from app.jobs.messages import sweep_undelivered_job

    messaging.follow(thread, user=users.agent2)
    messaging.follow(thread, contact=contact)
    lost = Message(thread_id=thread.id, kind="comment", author_user_id=users.agent.id,
                   body_html="<p>Lost in a Redis restart</p>", notify_pending=True,
                   created_at=utcnow() - messaging.PENDING_GRACE * 2)
    recent = Message(thread_id=thread.id, kind="comment", author_user_id=users.agent.id,
                     body_html="<p>Its job is still on its way</p>", notify_pending=True)
    db.session.add_all([lost, recent])
    db.session.commit()

    assert messaging.undelivered() == [lost.id]
    assert sweep_undelivered_job() == 1
    assert [n.message_id for n in notifications_of(users.agent2)] == [lost.id]
    assert [m.to for m in db.session.scalars(select(OutboxMail))] == ["ada@customer.test"]
    assert sweep_undelivered_job() == 0


def test_a_note_deleted_before_its_job_runs_notifies_nobody(users, thread):
    note = messaging.post_message(thread, users.agent, "@Carol Agent oops, wrong record", kind="note")
    note_id = note.id
    messaging.delete_message(note)
    db.session.commit()
    assert messaging.deliver(note_id) is False
    assert count(Notification) == 0


def test_the_author_follows_the_thread_after_posting(users, thread):
    assert not messaging.is_following(thread, users.agent)
    messaging.post_message(thread, users.agent, "First words")
    assert messaging.is_following(thread, users.agent)


def test_follow_is_idempotent_and_unfollow_reports_a_change(users, thread, contact):
    assert messaging.follow(thread, user=users.agent) is not None
    assert messaging.follow(thread, user=users.agent) is None
    assert messaging.follow(thread, contact=contact) is not None
    assert [f.name for f in messaging.followers(thread)] == ["Bob Agent", "Ada Customer"]
    assert messaging.unfollow(thread, user=users.agent) is True
    assert messaging.unfollow(thread, user=users.agent) is False
    with pytest.raises(MessageError):
        messaging.follow(thread)


# ---- checks ----------------------------------------------------------------------------------

@pytest.mark.parametrize("body", ["", "   \n  "])
def test_an_empty_message_is_refused(users, thread, body):
    with pytest.raises(MessageError, match="Write a message"):
        messaging.post_message(thread, users.agent, body)


def test_a_file_alone_is_a_message(users, thread):
    message = messaging.post_message(thread, users.agent, "", files=[upload("a.png", PNG)])
    assert [a.filename for a in message.attachments] == ["a.png"]


def test_too_long_and_unknown_kinds_are_refused(app, users, thread, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_MESSAGE_CHARS", 10)
    with pytest.raises(MessageError, match="too long"):
        messaging.post_message(thread, users.agent, "x" * 11)
    with pytest.raises(MessageError, match="Unknown"):
        messaging.post_message(thread, users.agent, "hi", kind="tracking")


def test_one_oversized_file_refuses_the_whole_message(app, users, thread):
    big = b"x" * (app.config["MAX_ATTACHMENT_BYTES"] + 1)
    with pytest.raises(AttachmentError, match="huge.bin"):
        messaging.post_message(thread, users.agent, "two files", files=[upload("ok.txt", b"fine"),
                                                                       upload("huge.bin", big)])
    db.session.rollback()
    assert count(Message) == 0 and count(Attachment) == 0


# ---- mentions --------------------------------------------------------------------------------

def test_mentions_are_found_by_full_name_longest_first():
    ann = make_user(name="Ann")
    ann_lee = make_user(name="Ann Lee")
    odd = make_user(name="Dr. (Who) Smith+")
    text = "Ping @ann lee and @Dr. (Who) Smith+ — mail ann@example.com, not @Annabel"
    assert [u.id for u in messaging.find_mentions(text)] == [ann_lee.id, odd.id]
    assert [u.id for u in messaging.find_mentions("cc @Ann, thanks")] == [ann.id]
    assert messaging.find_mentions("no mention here") == []


def test_only_active_staff_can_be_mentioned(users):
    make_user("agent", name="Gone Agent", active=False)
    assert messaging.find_mentions("@Portal Person @Gone Agent") == []
    assert [u.name for u in messaging.mentionable_users("agent")] == ["Bob Agent", "Carol Agent"]
    assert [u.name for u in messaging.mentionable_users("car")] == ["Carol Agent"]
    assert messaging.mentionable_users("%") == []


def test_mentions_render_as_spans_in_text_never_inside_links(users, thread, run_jobs):
    liam = make_user(name="Liam O'Brien")
    message = messaging.post_message(
        thread, users.agent, "@Liam O'Brien see https://example.com/@Liam and @carol agent <b>now</b>", kind="note")
    html = message.body_html
    assert '<span class="mention">@Liam O\'Brien</span>' in html
    assert '<span class="mention">@carol agent</span>' in html
    assert 'href="https://example.com/@Liam"' in html and "<b>" not in html
    db.session.commit()
    run_jobs()
    assert {n.user_id for n in db.session.scalars(select(Notification))} == {liam.id, users.agent2.id}


# ---- editing and deleting notes --------------------------------------------------------------

def test_edit_and_delete_permissions(users, thread):
    note = messaging.post_message(thread, users.agent, "mine", kind="note")
    comment = messaging.post_message(thread, users.agent, "sent")
    assert access.can_edit_message(users.agent, note)
    assert access.can_edit_message(users.admin, note)
    assert not access.can_edit_message(users.agent2, note)
    assert not access.can_edit_message(users.portal, note)
    assert not access.can_edit_message(users.agent, comment)
    with pytest.raises(MessageError, match="Only internal notes"):
        messaging.edit_message(comment, "changed")
    with pytest.raises(MessageError, match="Only internal notes"):
        messaging.delete_message(comment)


def test_editing_a_note_notifies_only_newly_mentioned_users(users, thread, events, run_jobs):
    note = messaging.post_message(thread, users.agent, "Hi @Carol Agent", kind="note")
    db.session.commit()
    run_jobs()
    events.clear()
    messaging.edit_message(note, "Hi @Carol Agent and @Alice Admin")
    db.session.commit()

    assert note.edited_at is not None and "Alice Admin" in note.body_html
    assert len(notifications_of(users.agent2)) == 1
    assert [n.kind for n in notifications_of(users.admin)] == ["mention"]
    row = [html for topic, html in events if topic == f"thread:{thread.id}"]
    assert len(row) == 1 and f'id="message-{note.id}"' in row[0] and 'hx-swap-oob="outerHTML"' in row[0]


def test_deleting_a_note_removes_its_files_after_commit(app, users, thread, events):
    note = messaging.post_message(thread, users.agent, "see file", kind="note", files=[upload("a.png", PNG)])
    db.session.commit()
    attachment = note.attachments[0]
    from app.services.attachments import _path
    stored = _path(attachment.storage_key)
    assert stored.exists()
    events.clear()
    messaging.delete_message(note)
    assert stored.exists()  # still there until the deletion commits
    db.session.commit()
    assert not stored.exists()
    assert count(Message) == 0 and count(Attachment) == 0
    assert (f"thread:{thread.id}", f'<div id="message-{note.id}" hx-swap-oob="delete"></div>') in events


# ---- tracked changes -------------------------------------------------------------------------

def test_track_changes_logs_each_changed_field(users, contact, events):
    before = messaging.snapshot(contact)
    contact.email = "ada@new.test"
    contact.phone = "+1 555 0100"
    contact.notes = "untracked"
    message = messaging.track_changes(contact, before, users.agent)
    db.session.commit()

    assert message.kind == "tracking" and message.author_user_id == users.agent.id
    values = [(t.field, t.field_label, t.old_value, t.new_value) for t in message.tracking_values]
    assert values == [("email", "Email", "ada@customer.test", "ada@new.test"), ("phone", "Phone", None, "+1 555 0100")]
    assert any(topic == f"thread:{contact.thread.id}" and "ada@new.test" in html for topic, html in events)


def test_track_changes_without_a_change_logs_nothing(users, contact):
    before = messaging.snapshot(contact)
    contact.notes = "only an untracked field"
    contact.phone = ""  # None -> "" is no change for a reader
    assert messaging.track_changes(contact, before, users.agent) is None
    assert count(TrackingValue) == 0


# ---- reading ---------------------------------------------------------------------------------

def test_thread_page_is_newest_first_with_a_keyset_cursor(users, thread):
    ids = [messaging.post_message(thread, users.agent, f"m{i}", kind="note" if i % 2 else "comment").id
           for i in range(7)]
    everything = ("comment", "note", "notification", "tracking")
    first, more = messaging.thread_page(thread, everything, limit=3)
    assert [m.id for m in first] == ids[::-1][:3] and more
    second, more = messaging.thread_page(thread, everything, before_id=first[-1].id, limit=3)
    assert [m.id for m in second] == ids[::-1][3:6] and more
    last, more = messaging.thread_page(thread, everything, before_id=second[-1].id, limit=3)
    assert [m.id for m in last] == [ids[0]] and not more
    public, _ = messaging.thread_page(thread, access.visible_kinds(users.portal), limit=10)
    assert {m.kind for m in public} == {"comment"}


def test_thread_files_lists_only_the_kinds_asked_for(users, thread):
    messaging.post_message(thread, users.agent, "public", files=[upload("pub.txt", b"p")])
    messaging.post_message(thread, users.agent, "internal", kind="note", files=[upload("int.txt", b"i")])
    assert [a.filename for a in messaging.thread_files(thread)] == ["int.txt", "pub.txt"]
    assert [a.filename for a in messaging.thread_files(thread, ("comment",))] == ["pub.txt"]


def test_record_url_points_at_the_record_page(contact):
    assert messaging.record_url(contact) == f"/contacts/{contact.id}"


# ---- live events -----------------------------------------------------------------------------

def test_a_new_message_is_pushed_after_commit_only(users, thread, events):
    message = messaging.post_message(thread, users.agent, "live!", kind="note")
    assert events == []
    db.session.commit()
    pushed = [html for topic, html in events if topic == f"thread:{thread.id}"]
    assert len(pushed) == 1
    assert f'hx-swap-oob="afterbegin:#thread-{thread.id}-messages"' in pushed[0]
    assert f'id="message-{message.id}"' in pushed[0]
    assert f'data-owner-only="{users.agent.id}"' in pushed[0]


def test_a_rolled_back_message_is_never_pushed(users, thread, events):
    messaging.post_message(thread, users.agent, "oops", kind="note")
    db.session.rollback()
    assert events == []


def test_the_live_fragment_is_the_same_for_every_viewer(app, users, thread):
    """Rendered once for all: no viewer's CSRF token, time zone or permissions inside."""
    message = messaging.post_message(thread, users.agent, "Same for all @Carol Agent", kind="note",
                                     files=[upload("a.png", PNG)])
    db.session.commit()
    from flask_login import login_user
    from flask import render_template

    renders = []
    for viewer in (users.agent, users.admin):
        viewer.timezone = "Asia/Tokyo" if viewer is users.admin else "America/Los_Angeles"
        with app.test_request_context(base_url=app.config["BASE_URL"]):
            login_user(viewer)
            renders.append(render_template("chatter/_message_live.html", message=message, thread=thread,
                                           replace=False, files=None))
    assert renders[0] == renders[1]
    assert "csrf" not in renders[0].lower()
    assert re.search(r'<span class="message-actions" data-owner-only="\d+" hidden>', renders[0])
