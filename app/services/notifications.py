"""The notification inbox (SPEC §2.6): one row per user and event, a live bell, optional email."""
from flask import current_app, render_template, url_for
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import Notification, User
from app.models.base import utcnow
from app.services import mailer, realtime

EMAILED_KINDS = ("mention", "message", "activity", "failure")


def unread_count(user_id: int) -> int:
    return db.session.scalar(
        select(func.count(Notification.id)).where(
            Notification.user_id == user_id, Notification.read_at.is_(None)
        )
    ) or 0


def push_bell(user_id: int) -> None:
    """Send the user's bell with its current count to their sockets (after commit)."""
    db.session.flush()
    html = render_template("inbox/_bell.html", count=unread_count(user_id), oob=True)
    realtime.publish(f"user:{user_id}", html)


def notify(user: User, kind: str, summary: str, *, thread=None, message=None, activity=None) -> Notification:
    """Add a line to `user`'s inbox, update their bell live, and email them if they chose email.

    kind: mention | message | activity | failure | system. Not committed.
    """
    notification = Notification(
        user_id=user.id, kind=kind, summary=summary[:255],
        thread_id=thread.id if thread is not None else None,
        message_id=message.id if message is not None else None,
        activity_id=activity.id if activity is not None else None,
    )
    db.session.add(notification)
    db.session.flush()
    push_bell(user.id)
    if user.notify_by == "email" and kind in EMAILED_KINDS and user.active:
        link = current_app.config["BASE_URL"].rstrip("/") + url_for("inbox.open", notification_id=notification.id)
        body = render_template("inbox/notification_mail.txt", user=user, notification=notification,
                               message=message, link=link)
        mailer.send_mail(user.email, summary, body, kind="notification")
    return notification


def mark_read(user: User, notification_ids=None) -> int:
    """Mark some (or all, when None) of `user`'s notifications read; returns how many changed."""
    stmt = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if notification_ids is not None:
        stmt = stmt.where(Notification.id.in_(list(notification_ids)))
    changed = db.session.execute(stmt.values(read_at=utcnow())).rowcount
    if changed:
        push_bell(user.id)
    return changed
