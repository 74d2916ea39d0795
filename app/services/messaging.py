"""Posting to threads: messages, notes, tracked changes, followers (SPEC §1).

`check_*` validate and raise `MessageError` (a user-facing reason), `post_*`
change data, and live events go out after commit through the realtime bus.
Nothing here commits: the caller (view, job, CLI) does.
"""
import html
import re

from flask import current_app, render_template, url_for
from sqlalchemy import delete, select

from app.extensions import db
from app.models import Follower, Message, MessageRecipient, Thread, TrackingValue, User
from app.models.base import utcnow
from app.services import attachments as attachment_store
from app.services import mailer, notifications, realtime
from app.services.sanitize import clean_html, html_to_text, text_to_html
from app.services.transaction import on_commit

POSTABLE_KINDS = ("comment", "note", "notification")


class MessageError(ValueError):
    """Why a message cannot be posted or changed, in words for the user."""


# ---- mentions ------------------------------------------------------------------------------

def mentionable_users(query: str = "", limit: int = 8) -> list[User]:
    """Active staff whose name or email starts with (or contains) `query`, for autocomplete."""
    stmt = select(User).where(User.active.is_(True), User.role.in_(("admin", "agent")))
    if query:
        like = f"%{query.lower()}%"
        stmt = stmt.where(db.func.lower(User.name).like(like) | db.func.lower(User.email).like(like))
    return list(db.session.scalars(stmt.order_by(User.name).limit(limit)))


def find_mentions(text: str) -> list[User]:
    """Staff users written as `@Full Name` in `text` (longest names first, case-insensitive)."""
    if "@" not in text:
        return []
    lowered = text.lower()
    staff = db.session.scalars(
        select(User).where(User.active.is_(True), User.role.in_(("admin", "agent")))
    )
    found = []
    for user in sorted(staff, key=lambda u: -len(u.name)):
        pattern = r"(?<![\w@])@" + re.escape(user.name.lower()) + r"(?!\w)"
        if re.search(pattern, lowered):
            found.append(user)
            lowered = re.sub(pattern, " ", lowered)
    return found


def _render_mentions(body_html: str, users: list[User]) -> str:
    for user in sorted(users, key=lambda u: -len(u.name)):
        escaped = html.escape(user.name, quote=True)
        body_html = re.sub(
            r"(?<![\w@])@" + re.escape(escaped) + r"(?!\w)",
            lambda _m, e=escaped: f'<span class="mention">@{e}</span>',
            body_html,
            flags=re.IGNORECASE,
        )
    return body_html


# ---- followers -----------------------------------------------------------------------------

def follow(thread: Thread, *, user: User | None = None, contact=None) -> Follower | None:
    """Add a follower (user or contact) unless already following; returns the new row or None."""
    column, target = (Follower.user_id, user) if user is not None else (Follower.contact_id, contact)
    if target is None:
        raise MessageError("Nobody to add as follower.")
    existing = db.session.scalar(select(Follower).where(Follower.thread_id == thread.id, column == target.id))
    if existing:
        return None
    follower = Follower(thread_id=thread.id, user_id=user.id if user else None,
                        contact_id=contact.id if contact else None)
    db.session.add(follower)
    db.session.flush()
    return follower


def unfollow(thread: Thread, *, user: User | None = None, contact=None) -> bool:
    column, target = (Follower.user_id, user) if user is not None else (Follower.contact_id, contact)
    result = db.session.execute(delete(Follower).where(Follower.thread_id == thread.id, column == target.id))
    return result.rowcount > 0


def followers(thread: Thread) -> list[Follower]:
    return list(db.session.scalars(select(Follower).where(Follower.thread_id == thread.id).order_by(Follower.id)))


def is_following(thread: Thread, user: User) -> bool:
    return db.session.scalar(
        select(Follower.id).where(Follower.thread_id == thread.id, Follower.user_id == user.id)
    ) is not None


# ---- posting -------------------------------------------------------------------------------

def check_body(body: str, has_files: bool) -> str:
    body = (body or "").strip()
    if not body and not has_files:
        raise MessageError("Write a message or attach a file.")
    if len(body) > current_app.config["MAX_MESSAGE_CHARS"]:
        raise MessageError(f"The message is too long (at most {current_app.config['MAX_MESSAGE_CHARS']:,} characters).")
    return body


def post_message(thread: Thread, author: User | None, body: str, *, kind: str = "comment",
                 is_html: bool = False, subject: str | None = None, files=(), author_contact=None,
                 notify: bool = True) -> Message:
    """Add a message or note to `thread`, with attachments, mentions and notifications.

    - comment: followers are notified (users in their inbox, contacts by email);
    - note: internal, only the @mentioned users are notified;
    - notification: a system line (e.g. "Activity done"), nobody is notified.
    The author follows the thread from now on. Not committed; events go out on commit.
    """
    if kind not in POSTABLE_KINDS:
        raise MessageError(f"Unknown message kind {kind!r}.")
    files = [f for f in files if f and getattr(f, "filename", "")]
    if len(files) > current_app.config["MAX_ATTACHMENTS_PER_MESSAGE"]:
        raise MessageError(f"Attach at most {current_app.config['MAX_ATTACHMENTS_PER_MESSAGE']} files.")
    body = check_body(body, bool(files))
    mentioned = find_mentions(html_to_text(body) if is_html else body) if author is not None else []
    body_html = clean_html(body) if is_html else text_to_html(body)
    body_html = _render_mentions(body_html, mentioned)

    message = Message(thread_id=thread.id, kind=kind, author_user_id=author.id if author else None,
                      author_contact_id=author_contact.id if author_contact else None,
                      subject=subject, body_html=body_html)
    db.session.add(message)
    db.session.flush()
    for upload in files:
        attachment_store.save(thread.id, message.id, upload, author.id if author else None)
    thread.last_message_at = message.created_at
    if author is not None:
        follow(thread, user=author)
    db.session.flush()
    db.session.refresh(message)

    if notify:
        _notify(thread, message, author, mentioned)
    publish_message(message, thread)
    return message


def _notify(thread: Thread, message: Message, author: User | None, mentioned: list[User]) -> None:
    record = thread.record
    title = getattr(record, "display_name", "a record")
    who = message.author_name
    mentioned_ids = set()
    for user in mentioned:
        if author is None or user.id != author.id:
            notifications.notify(user, "mention", f"{who} mentioned you on {title}",
                                 thread=thread, message=message)
            mentioned_ids.add(user.id)
    if message.kind != "comment":
        return
    recipients = []
    for follower in followers(thread):
        if follower.user is not None:
            if follower.user_id in mentioned_ids or (author and follower.user_id == author.id):
                continue
            if follower.user.active:
                notifications.notify(follower.user, "message", f"{who} on {title}",
                                     thread=thread, message=message)
        elif follower.contact is not None and follower.contact.email:
            recipients.append(follower.contact.email)
            # The outbox is the embedded delivery: written means sent (SMTP status comes with §3).
            db.session.add(MessageRecipient(message_id=message.id, address=follower.contact.email,
                                            contact_id=follower.contact_id, status="sent"))
    if recipients:
        text = html_to_text(message.body_html)
        if author is not None and author.signature:
            text += "\n\n-- \n" + author.signature
        mail = mailer.send_mail(recipients, message.subject or f"{title}", text,
                                html=message.body_html, chatter_message_id=message.id)
        message.message_id = message.message_id or mail.message_id


def edit_note(message: Message, body: str) -> Message:
    """Change an internal note's text (permission is the caller's check)."""
    if message.kind != "note":
        raise MessageError("Only internal notes can be edited.")
    body = check_body(body, bool(message.attachments))
    mentioned = find_mentions(body)
    message.body_html = _render_mentions(text_to_html(body), mentioned)
    message.edited_at = utcnow()
    db.session.flush()
    publish_message(message, db.session.get(Thread, message.thread_id), replace=True)
    return message


def delete_note(message: Message) -> None:
    """Delete an internal note and its attachments (permission is the caller's check)."""
    if message.kind != "note":
        raise MessageError("Only internal notes can be deleted.")
    files = list(message.attachments)
    thread_id, message_id = message.thread_id, message.id
    for attachment in files:
        db.session.delete(attachment)
    db.session.delete(message)
    db.session.flush()
    realtime.publish(f"thread:{thread_id}",
                     f'<div id="message-{message_id}" hx-swap-oob="delete"></div>')
    on_commit(lambda: attachment_store.delete_files(files))


def publish_message(message: Message, thread: Thread, *, replace: bool = False) -> None:
    """Push the message fragment to everyone viewing the thread (rendered once, for all viewers)."""
    html_fragment = render_template("chatter/_message_live.html", message=message, thread=thread,
                                    replace=replace)
    realtime.publish(f"thread:{thread.id}", html_fragment)


# ---- tracked changes -----------------------------------------------------------------------

def snapshot(record) -> dict:
    """The current values of the record's tracked fields, to pass to `track_changes` later."""
    return {field: getattr(record, field) for field in record.tracked_fields}


def _display(value) -> str | None:
    if value is None or value == "":
        return None
    return getattr(value, "display_name", None) or getattr(value, "name", None) or str(value)


def track_changes(record, before: dict, author: User | None) -> Message | None:
    """Log "Field: old → new" lines for tracked fields that changed since `before` (SPEC §1.6)."""
    changes = [
        (field, before[field], getattr(record, field)) for field in record.tracked_fields
        if before.get(field) != getattr(record, field)
    ]
    if not changes:
        return None
    thread = record.ensure_thread()
    message = Message(thread_id=thread.id, kind="tracking", author_user_id=author.id if author else None,
                      body_html="")
    db.session.add(message)
    db.session.flush()
    for field, old, new in changes:
        db.session.add(TrackingValue(message_id=message.id, field=field,
                                     field_label=record.tracked_fields[field],
                                     old_value=_display(old), new_value=_display(new)))
    thread.last_message_at = message.created_at
    db.session.flush()
    db.session.refresh(message)
    publish_message(message, thread)
    return message


# ---- reading -------------------------------------------------------------------------------

def thread_page(thread: Thread, kinds, before_id: int | None = None, limit: int | None = None):
    """Newest-first page of messages of the given kinds; returns (messages, has_more).

    Keyset pagination on (thread_id, id): opening a 5,000-message thread costs one page.
    """
    limit = limit or current_app.config["THREAD_PAGE_SIZE"]
    stmt = select(Message).where(Message.thread_id == thread.id, Message.kind.in_(kinds))
    if before_id:
        stmt = stmt.where(Message.id < before_id)
    rows = list(db.session.scalars(stmt.order_by(Message.id.desc()).limit(limit + 1)).unique())
    return rows[:limit], len(rows) > limit


def record_url(record) -> str:
    """The page of a threaded record (each model names its endpoint in `thread_endpoint`)."""
    return url_for(record.thread_endpoint, **{record.thread_endpoint_arg: record.id})
