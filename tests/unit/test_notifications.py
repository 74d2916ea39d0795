"""services/notifications.py: inbox rows, the live bell and rows (after commit only), mark read.

Live events are captured on this run's real bus (in-process, or Redis): a sentinel sent with
`publish_now` proves what had (not) been published before it, without sleeping.
"""

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Message, Notification, OutboxMail
from app.services import notifications, realtime
from tests.conftest import make_contact, make_user

SENTINEL = "<i>sentinel</i>"


@pytest.fixture(autouse=True)
def request_context(app):
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        yield


@pytest.fixture
def thread(app):
    thread = make_contact("Ada Customer").ensure_thread()
    db.session.commit()
    return thread


def next_event(sub, timeout: float = 5.0) -> str:
    event = sub.get(timeout=timeout)
    assert event is not None, "no event arrived"
    return event


def add_message(thread, author, body_html="<p>Hello</p>", kind="comment"):
    message = Message(thread_id=thread.id, kind=kind, author_user_id=author.id, body_html=body_html)
    db.session.add(message)
    db.session.commit()
    return message


def test_notify_adds_a_row_not_committed(thread):
    user = make_user()
    message = add_message(thread, make_user())
    notification = notifications.notify(user, "mention", "Bob mentioned you", thread=thread, message=message)
    assert (notification.user_id, notification.kind, notification.thread_id, notification.message_id) == \
        (user.id, "mention", thread.id, message.id)
    assert notification.read_at is None
    db.session.rollback()
    assert db.session.scalars(select(Notification)).all() == []


def test_bell_and_row_are_pushed_after_commit_only(thread):
    user = make_user()
    message = add_message(thread, make_user(name="Bob Agent"), "<p>Can you <b>call</b> Ada?</p>")
    with realtime.subscribe([f"user:{user.id}"]) as sub:
        notification = notifications.notify(user, "mention", "Bob Agent mentioned you on Ada Customer",
                                            thread=thread, message=message)
        realtime.publish_now(f"user:{user.id}", SENTINEL)
        assert next_event(sub) == SENTINEL  # nothing went out before the commit
        db.session.commit()
        bell, row = next_event(sub), next_event(sub)

    assert 'id="bell"' in bell and 'data-count="1"' in bell and 'hx-swap-oob="true"' in bell
    assert 'id="inbox-count"' in bell
    # The row is a placeholder that loads itself (GET inbox.row): pushing it renders nothing
    # per user, and it carries no text, so nothing typed can travel in it.
    assert 'hx-swap-oob="afterbegin:#inbox-list"' in row
    assert f'id="notification-{notification.id}"' in row
    assert f'hx-get="/inbox/{notification.id}/row"' in row and 'hx-trigger="load"' in row
    assert "Bob Agent" not in row and 'name="csrf_token"' not in row


def test_nothing_is_pushed_after_a_rollback(thread):
    user = make_user()
    with realtime.subscribe([f"user:{user.id}"]) as sub:
        notifications.notify(user, "system", "Rolled back")
        db.session.rollback()
        db.session.commit()
        realtime.publish_now(f"user:{user.id}", SENTINEL)
        assert next_event(sub) == SENTINEL


def test_events_go_to_the_notified_user_only(thread):
    alice, bob = make_user(), make_user()
    with realtime.subscribe([f"user:{bob.id}"]) as bobs, realtime.subscribe([f"user:{alice.id}"]) as alices:
        notifications.notify(alice, "system", "For Alice")
        db.session.commit()
        realtime.publish_now(f"user:{bob.id}", SENTINEL)
        assert next_event(bobs) == SENTINEL
        assert 'data-count="1"' in next_event(alices)
        assert 'hx-get="/inbox/' in next_event(alices)


def test_mark_read_one_or_all_and_the_bell_follows(thread):
    user, other = make_user(), make_user()
    first = notifications.notify(user, "system", "one")
    second = notifications.notify(user, "system", "two")
    notifications.notify(user, "system", "three")
    theirs = notifications.notify(other, "system", "not yours")
    db.session.commit()
    assert notifications.unread_count(user.id) == 3

    with realtime.subscribe([f"user:{user.id}"]) as sub:
        assert notifications.mark_read(user, [first.id, theirs.id]) == 1
        db.session.commit()
        assert 'data-count="2"' in next_event(sub)
        assert notifications.mark_read(user, [first.id]) == 0  # already read: no event
        assert notifications.mark_read(user) == 2
        db.session.commit()
        realtime.publish_now(f"user:{user.id}", SENTINEL)
        assert 'data-count="0"' in next_event(sub)
        assert next_event(sub) == SENTINEL

    assert db.session.get(Notification, second.id).read_at is not None
    assert db.session.get(Notification, theirs.id).read_at is None
    assert notifications.unread_count(user.id) == 0 and notifications.unread_count(other.id) == 1


def test_users_who_chose_email_also_get_a_mail_with_the_open_link(thread):
    user = make_user(notify_by="email")
    quiet = make_user()
    notification = notifications.notify(user, "activity", "Alice assigned you a call", thread=thread)
    notifications.notify(quiet, "activity", "Alice assigned you a call", thread=thread)
    db.session.commit()
    [mail] = db.session.scalars(select(OutboxMail)).all()
    assert mail.to == user.email and mail.subject == "Alice assigned you a call"
    assert f"http://localhost/inbox/{notification.id}/open" in mail.body_text


def test_inbox_page_is_newest_first_with_keyset_pages(thread):
    user = make_user()
    made = [notifications.notify(user, "system", f"n{i}") for i in range(5)]
    notifications.notify(make_user(), "system", "someone else's")
    notifications.mark_read(user, [made[3].id])
    db.session.commit()

    rows, more = notifications.inbox_page(user, limit=2)
    assert [r.notification.summary for r in rows] == ["n4", "n3"] and more
    rows, more = notifications.inbox_page(user, limit=2, before_id=rows[-1].notification.id)
    assert [r.notification.summary for r in rows] == ["n2", "n1"] and more
    rows, more = notifications.inbox_page(user, limit=2, before_id=rows[-1].notification.id)
    assert [r.notification.summary for r in rows] == ["n0"] and not more
    rows, _ = notifications.inbox_page(user, unread_only=True)
    assert [r.notification.summary for r in rows] == ["n4", "n2", "n1", "n0"]


def test_rows_show_the_record_and_a_text_excerpt_the_user_may_see(thread):
    agent = make_user()
    contact = make_contact("Portal Person")
    portal = make_user("portal", contact_id=contact.id)
    long_body = "<p>" + "word " * 100 + "</p>"
    comment = add_message(thread, agent, long_body)
    note = add_message(thread, agent, "<p>internal <script>x</script>only</p>", kind="note")

    [row] = notifications.inbox_rows(agent, [notifications.notify(agent, "message", "m", thread=thread, message=comment)])
    assert row.record.name == "Ada Customer" and row.kind_label == "Message"
    assert len(row.excerpt) == notifications.EXCERPT_CHARS and row.excerpt.endswith("…")
    [row] = notifications.inbox_rows(agent, [notifications.notify(agent, "mention", "n", thread=thread, message=note)])
    assert row.excerpt == "internal only"
    # A portal user may not read this thread at all, let alone its note.
    [row] = notifications.inbox_rows(portal, [notifications.notify(portal, "mention", "n", thread=thread, message=note)])
    assert row.excerpt == ""


def test_target_url_leads_to_the_record_at_the_message(thread):
    agent = make_user()
    message = add_message(thread, agent)
    with_message = notifications.notify(agent, "message", "m", thread=thread, message=message)
    without = notifications.notify(agent, "activity", "a", thread=thread)
    system = notifications.notify(agent, "system", "s")
    db.session.commit()
    record_url = f"/contacts/{thread.res_id}"
    assert notifications.target_url(agent, with_message) == f"{record_url}#message-{message.id}"
    assert notifications.target_url(agent, without) == record_url
    assert notifications.target_url(agent, system) is None


def test_get_own_refuses_another_users_notification(thread):
    alice, bob = make_user(), make_user()
    mine = notifications.notify(alice, "system", "mine")
    db.session.commit()
    assert notifications.get_own(alice, mine.id).id == mine.id
    assert notifications.get_own(bob, mine.id) is None
    assert notifications.get_own(alice, 999_999) is None


def test_unread_counts_stop_at_the_cap_and_the_bell_says_99_plus(thread):
    from flask import render_template

    from app.models import Notification

    busy, quiet, idle = make_user(), make_user(), make_user()
    db.session.add_all([Notification(user_id=busy.id, kind="system", summary=f"n{i}")
                        for i in range(notifications.UNREAD_CAP + 5)])
    db.session.add(Notification(user_id=quiet.id, kind="system", summary="one"))
    db.session.commit()
    counts = notifications.unread_counts([busy.id, quiet.id, idle.id])
    assert counts == {busy.id: notifications.UNREAD_CAP, quiet.id: 1, idle.id: 0}
    bell = render_template("inbox/_bell.html", count=counts[busy.id], oob=True)
    side = render_template("inbox/_count.html", count=counts[busy.id], oob=True)
    assert ">99+<" in bell and ">99+<" in side
