"""The notification inbox (SPEC §2.6): one row per user and event, a live bell, optional email.

Live: `notify` pushes the bell and a placeholder row (prepended to `#inbox-list`, it loads
itself from `inbox.row`) to the user's topic; marking read pushes the bell. Both go out after
commit, never before.
"""
import functools
from dataclasses import dataclass

from flask import current_app, g, render_template, url_for
from sqlalchemy import bindparam, func, literal, select, text, update

from app.extensions import db
from app.models import Message, Notification, Thread, User
from app.models.base import utcnow
from app.services import access, mailer, realtime
from app.services.sanitize import html_to_text

EMAILED_KINDS = ("mention", "message", "activity", "failure")
KIND_LABELS = {
    "mention": "Mention", "message": "Message", "activity": "Activity",
    "failure": "Delivery failure", "system": "System",
}
EXCERPT_CHARS = 180


def unread_count(user_id: int) -> int:
    return unread_counts([user_id]).get(user_id, 0)


# Counting stops at the cap (the bell shows "99+"): a user with thousands of unread
# notifications costs an index probe of UNREAD_CAP rows, not a scan of all of them.
UNREAD_CAP = 100
_CAPPED_COUNTS = text(
    "SELECT u.id, (SELECT count(*) FROM (SELECT 1 FROM notifications n"
    " WHERE n.user_id = u.id AND n.read_at IS NULL LIMIT :cap) AS unread)"
    " FROM users u WHERE u.id IN :ids"
).bindparams(bindparam("ids", expanding=True))


@functools.cache
def unread_column():
    """The capped count as a column of a query on users: the user loader reads the bell's count
    with the signed-in user, in the same round trip (`remember_unread`, `bell_count`)."""
    unread = (select(literal(1)).where(Notification.user_id == User.id, Notification.read_at.is_(None))
              .limit(UNREAD_CAP).correlate(User).subquery())
    return select(func.count()).select_from(unread).scalar_subquery()


_KNOWN = "hilo_unread"  # (user id, count) read this request, until it changes a notification


def remember_unread(user_id: int, count: int) -> None:
    setattr(g, _KNOWN, (user_id, count))


def bell_count(user_id: int) -> int:
    """The bell's count: the one read with the user this request, if nothing changed since."""
    known = g.get(_KNOWN)
    return known[1] if known is not None and known[0] == user_id else unread_count(user_id)


def _forget_unread() -> None:
    g.pop(_KNOWN, None)


def unread_counts(user_ids) -> dict[int, int]:
    """user id -> unread notifications (at most UNREAD_CAP), in one query."""
    ids = list(user_ids)
    if not ids:
        return {}
    return dict(db.session.execute(_CAPPED_COUNTS, {"ids": ids, "cap": UNREAD_CAP}).all())


def _bell_html(count: int) -> str:
    return render_template("inbox/_bell.html", count=count, oob=True) + \
        render_template("inbox/_count.html", count=count, oob=True)


def push_bell(user_id: int) -> None:
    """Send the user's bell with its current count to their sockets (after commit)."""
    db.session.flush()
    realtime.publish(f"user:{user_id}", _bell_html(unread_count(user_id)))


def notify(user: User, kind: str, summary: str, *, thread=None, message=None, activity=None) -> Notification:
    """Add a line to `user`'s inbox, update their bell live, and email them if they chose email.

    kind: mention | message | activity | failure | system. Not committed.
    """
    return notify_many([user], kind, summary, thread=thread, message=message, activity=activity)[0]


def _row_stub(notification_id: int) -> str:
    """A placeholder row for open inbox pages: it fetches itself, so a post to many followers
    renders nothing per follower, and only users looking at their inbox pay for the row."""
    url = url_for("inbox.row", notification_id=notification_id)
    return (f'<div hx-swap-oob="afterbegin:#inbox-list"><li id="notification-{notification_id}" '
            f'class="inbox-row is-loading" hx-get="{url}" hx-trigger="load" hx-swap="outerHTML">'
            f'</li></div>')


def notify_many(users, kind: str, summary: str, *, thread=None, message=None,
                activity=None) -> list[Notification]:
    """`notify` for several users at once: one INSERT, one count query, one render per row.

    Posting to a thread with many followers costs a handful of statements, not a few per follower.
    """
    users = list(users)
    if not users:
        return []
    created = [
        Notification(
            user_id=user.id, kind=kind, summary=summary[:255],
            thread_id=thread.id if thread is not None else None,
            message_id=message.id if message is not None else None,
            activity_id=activity.id if activity is not None else None,
        )
        for user in users
    ]
    db.session.add_all(created)
    db.session.flush()
    _forget_unread()
    counts = unread_counts(user.id for user in users)
    bells: dict[int, str] = {}  # rendered once per distinct count
    base = current_app.config["BASE_URL"].rstrip("/")
    for user, notification in zip(users, created):
        count = counts.get(user.id, 0)
        if count not in bells:
            bells[count] = _bell_html(count)
        realtime.publish(f"user:{user.id}", bells[count])
        realtime.publish(f"user:{user.id}", _row_stub(notification.id))
        if user.notify_by == "email" and kind in EMAILED_KINDS and user.active:
            link = base + url_for("inbox.open", notification_id=notification.id)
            body = render_template("inbox/notification_mail.txt", user=user, notification=notification,
                                   message=message, link=link)
            mailer.send_mail(user.email, summary, body, kind="notification", auto=True,
                             thread_id=thread.id if thread is not None else None)
    return created


def mark_read(user: User, notification_ids=None) -> int:
    """Mark some (or all, when None) of `user`'s notifications read; returns how many changed."""
    stmt = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if notification_ids is not None:
        stmt = stmt.where(Notification.id.in_(list(notification_ids)))
    changed = db.session.execute(stmt.values(read_at=utcnow())).rowcount
    if changed:
        _forget_unread()
        push_bell(user.id)
    return changed


# ---- the inbox page ------------------------------------------------------------------------

@dataclass
class InboxRow:
    """A notification as the inbox shows it: the record it is about and a safe text excerpt."""

    notification: Notification
    record: object | None
    excerpt: str

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.notification.kind, self.notification.kind.title())


def _excerpt(user: User, message: Message | None) -> str:
    """Plain text of the message, only if the user may still see it (access can change)."""
    if message is None or not access.can_see_message(user, message):
        return ""
    text = " ".join(html_to_text(message.body_html).split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS - 1].rstrip() + "…"


def inbox_rows(user: User, notifications) -> list[InboxRow]:
    """Rows for these notifications as `user` may see them (records loaded in one query per model)."""
    from app.services.activities import records_of

    notifications = list(notifications)
    records = records_of([n.thread for n in notifications if n.thread is not None])
    return [InboxRow(n, records.get(n.thread_id), _excerpt(user, n.message)) for n in notifications]


def inbox_page(user: User, *, unread_only: bool = False, before_id: int | None = None,
               limit: int | None = None) -> tuple[list[InboxRow], bool]:
    """Newest-first page of `user`'s notifications; returns (rows, has_more). Keyset on id."""
    limit = limit or current_app.config["LIST_PAGE_SIZE"]
    stmt = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    if before_id:
        stmt = stmt.where(Notification.id < before_id)
    found = list(db.session.scalars(stmt.order_by(Notification.id.desc()).limit(limit + 1)).unique())
    return inbox_rows(user, found[:limit]), len(found) > limit


def get_own(user: User, notification_id: int) -> Notification | None:
    """The user's notification with this id; None for a missing one or another user's."""
    notification = db.session.get(Notification, notification_id)
    return notification if notification is not None and notification.user_id == user.id else None


def target_url(user: User, notification: Notification) -> str | None:
    """Where opening the notification leads: its record (at its message), or None if unreachable."""
    from app.services import messaging

    thread = notification.thread or (db.session.get(Thread, notification.thread_id) if notification.thread_id else None)
    if thread is None or not access.can_read_thread(user, thread):
        return None
    record = thread.record
    if record is None:
        return None
    url = messaging.record_url(record)
    message = notification.message
    if message is not None and access.can_see_message(user, message):
        url += f"#message-{message.id}"
    return url
