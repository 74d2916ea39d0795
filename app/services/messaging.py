"""Posting to threads: messages, notes, tracked changes, followers (SPEC §1).

`check_*` validate and raise `MessageError` (a user-facing reason), `post_*`
change data, and live events go out after commit through the realtime bus.
Nothing here commits: the caller (view, job, CLI) does.
"""
import html
import re
from datetime import timedelta
from urllib.parse import unquote

from flask import current_app, render_template, url_for
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from app.extensions import db
from app.models import (
    Attachment, Follower, Message, MessageRecipient, Thread, TrackingValue, User,
)
from app.models.base import contains_pattern, utcnow
from app.services import access, contacts, jobs, mailer, notifications, realtime
from app.services import attachments as attachment_store
from app.services.sanitize import clean_html, html_to_text, text_to_html
from app.services.transaction import on_commit

POSTABLE_KINDS = ("comment", "note", "notification")
STAFF_ROLES = ("admin", "agent")


class MessageError(ValueError):
    """Why a message cannot be posted or changed, in words for the user."""


# ---- mentions ------------------------------------------------------------------------------

def mentionable_users(query: str = "", limit: int = 8) -> list[User]:
    """Active staff whose name or email contains `query`, names starting with it first."""
    stmt = select(User).where(User.active.is_(True), User.role.in_(STAFF_ROLES))
    query = (query or "").strip().lower()
    if query:
        like = contains_pattern(query)
        stmt = stmt.where(or_(db.func.lower(User.name).like(like, escape="\\"),
                              db.func.lower(User.email).like(like, escape="\\")))
    users = list(db.session.scalars(stmt.order_by(User.name).limit(limit * 3)))
    users.sort(key=lambda u: (not u.name.lower().startswith(query), u.name.lower()))
    return users[:limit]


def _mention_pattern(names) -> re.Pattern | None:
    """`@Name` for any of `names`, longest first so "@Ann Lee" wins over "@Ann"."""
    names = sorted({n for n in names if n}, key=len, reverse=True)
    if not names:
        return None
    return re.compile(r"(?<![\w@])@(" + "|".join(re.escape(n) for n in names) + r")(?!\w)",
                      re.IGNORECASE)


def find_mentions(text: str) -> list[User]:
    """Staff users written as `@Full Name` in plain `text` (case-insensitive)."""
    if "@" not in (text or ""):
        return []
    staff = list(db.session.scalars(
        select(User).where(User.active.is_(True), User.role.in_(STAFF_ROLES))
    ))
    pattern = _mention_pattern(u.name for u in staff)
    if pattern is None:
        return []
    by_name = {}
    for user in staff:
        by_name.setdefault(user.name.lower(), user)
    found, seen = [], set()
    for match in pattern.finditer(text):
        user = by_name.get(match.group(1).lower())
        if user is not None and user.id not in seen:
            seen.add(user.id)
            found.append(user)
    return found


_TAG = re.compile(r"(<[^>]*>)")


def _render_mentions(body_html: str, users: list[User]) -> str:
    """Wrap `@Name` in text nodes (never inside tags or links) in a mention span."""
    pattern = _mention_pattern(html.escape(u.name, quote=False) for u in users)
    if pattern is None:
        return body_html
    out, in_link = [], 0
    for part in _TAG.split(body_html):
        if part.startswith("<"):
            if re.match(r"<a[\s>]", part, re.IGNORECASE):
                in_link += 1
            elif re.match(r"</a\s*>", part, re.IGNORECASE):
                in_link = max(0, in_link - 1)
            out.append(part)
        elif in_link or "@" not in part:
            out.append(part)
        else:
            out.append(pattern.sub(lambda m: f'<span class="mention">@{m.group(1)}</span>', part))
    return "".join(out)


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
    """Remove a follower; True if one was removed."""
    column, target = (Follower.user_id, user) if user is not None else (Follower.contact_id, contact)
    if target is None:
        raise MessageError("Nobody to remove.")
    result = db.session.execute(delete(Follower).where(Follower.thread_id == thread.id, column == target.id))
    return result.rowcount > 0


def followers(thread: Thread) -> list[Follower]:
    """The thread's followers, oldest first."""
    return list(db.session.scalars(select(Follower).where(Follower.thread_id == thread.id).order_by(Follower.id)))


def is_following(thread: Thread, user: User) -> bool:
    return db.session.scalar(
        select(Follower.id).where(Follower.thread_id == thread.id, Follower.user_id == user.id)
    ) is not None


# ---- posting -------------------------------------------------------------------------------

def check_body(body: str, has_files: bool) -> str:
    """The stripped text, or MessageError when empty (without files) or too long."""
    body = (body or "").strip()
    if not body and not has_files:
        raise MessageError("Write a message or attach a file.")
    limit = current_app.config["MAX_MESSAGE_CHARS"]
    if len(body) > limit:
        raise MessageError(f"The message is too long (at most {limit:,} characters).")
    return body


def post_message(thread: Thread, author: User | None, body: str, *, kind: str = "comment",
                 is_html: bool = False, subject: str | None = None, files=(), author_contact=None,
                 notify: bool = True, cc: str = "", message_id: str | None = None,
                 author_visitor=None) -> Message:
    """Add a message or note to `thread`, with attachments, mentions and notifications.

    - comment: followers are notified (users in their inbox, contacts by email);
    - note: internal, only the @mentioned users are notified;
    - notification: a system line (e.g. "Activity done"), nobody is notified.
    Notifying happens in a background job once the post is committed (`deliver`).
    `cc` (comments only): addresses that get this message too and follow the record from now
    on, as contacts (created when new); a bad address refuses the message (AddressError).
    Every file is checked before anything is written: one bad file refuses the whole
    message (AttachmentError). The author follows the thread from now on.
    Not committed; events go out on commit.
    """
    if kind not in POSTABLE_KINDS:
        raise MessageError(f"Unknown message kind {kind!r}.")
    files = [f for f in files if f and getattr(f, "filename", "")]
    if len(files) > current_app.config["MAX_ATTACHMENTS_PER_MESSAGE"]:
        raise MessageError(f"Attach at most {current_app.config['MAX_ATTACHMENTS_PER_MESSAGE']} files.")
    body = check_body(body, bool(files))
    attachment_store.check_uploads(files)
    copied = contacts.parse_addresses(cc)
    if copied and kind != "comment":
        raise MessageError("Only a sent message can be copied to other addresses; a note stays internal.")
    mentioned = find_mentions(html_to_text(body) if is_html else body) if author is not None else []
    mentioned = [u for u in mentioned if access.can_read_thread(u, thread)]
    body_html = _render_mentions(clean_html(body) if is_html else text_to_html(body), mentioned)

    message = Message(thread_id=thread.id, kind=kind, author_user_id=author.id if author else None,
                      author_contact_id=author_contact.id if author_contact else None,
                      author_visitor_id=author_visitor.id if author_visitor else None,
                      subject=subject, body_html=body_html, message_id=message_id, notify_pending=notify)
    db.session.add(message)
    db.session.flush()
    stored = []
    try:
        for upload in files:
            stored.append(attachment_store.save(thread.id, message.id, upload, author.id if author else None))
    except BaseException:
        attachment_store.delete_files(stored)
        raise
    inline = {upload.content_id.lower(): attachment for upload, attachment in zip(files, stored)
              if getattr(upload, "content_id", None)}
    if inline and is_html:
        db.session.flush()  # the attachments' ids
        message.body_html = link_inline_images(message.body_html, inline)
    if author is not None and thread.model.follow_on_post:
        follow(thread, user=author)
    for name, address in copied:
        follow(thread, contact=contacts.for_address(name, address))
    db.session.flush()
    # A new message's collections are known: the live fragment below need not load them.
    set_committed_value(message, "attachments", sorted(stored, key=lambda a: a.id))
    set_committed_value(message, "recipients", [])
    set_committed_value(message, "reactions", [])

    on_posted = getattr(thread.model, "on_message_posted", None)
    if on_posted is not None:  # the record reacts to its thread (a ticket's SLA clocks)
        on_posted(thread.record, message)
    if notify:
        # The audience is notified by a job after commit: the post itself writes one message,
        # however many follow the record (see `deliver`).
        from app.jobs.messages import deliver_message_job

        jobs.enqueue(deliver_message_job, message.id)
    publish_message(message, thread)
    # Last: the UPDATE locks the thread's row until commit, so concurrent posts on one busy
    # record wait only for each other's commit, not for each other's notifications.
    thread.last_message_at = message.created_at
    return message


_CID_SRC = re.compile(r'src="cid:([^"]+)"', re.I)


def link_inline_images(body_html: str, inline: dict) -> str:
    """Point a mail's `<img src="cid:…">` at the stored images (`inline`: Content-ID -> attachment).

    A cid: URL may be percent-encoded (RFC 2392); one that names no stored part is left alone.
    """
    def link(match):
        found = inline.get(unquote(html.unescape(match.group(1))).strip("<>").lower())
        if found is None:
            return match.group(0)
        return f'src="{url_for("chatter.download", attachment_id=found.id)}"'

    return _CID_SRC.sub(link, body_html)


PENDING_GRACE = timedelta(minutes=2)

# res_model -> what else a delivered message of that model's threads sets off (in the same job).
_after_delivery = {}


def after_delivery(res_model: str):
    """Register `fn(thread, message)` to run when a message of `res_model` is delivered
    (Discuss pushes its members' unread counts: one job per post, not two)."""
    def register(fn):
        _after_delivery[res_model] = fn
        return fn
    return register


def deliver(message_id: int) -> bool:
    """Notify a posted message's audience, exactly once: mentioned users, following users
    (inbox, bell, email by preference) and following contacts (email).

    Claiming the message (clearing `notify_pending` with a conditional UPDATE) makes a job and
    the sweep, or two workers, unable to both deliver it; a failure rolls the claim back with the
    rest, so the sweep tries again. False when there was nothing (left) to do.
    """
    claimed = db.session.execute(
        update(Message).where(Message.id == message_id, Message.notify_pending.is_(True))
        .values(notify_pending=False).execution_options(synchronize_session=False, unseen=True)  # no page shows it
    ).rowcount
    if not claimed:
        return False
    message = db.session.get(Message, message_id)
    thread = db.session.get(Thread, message.thread_id)
    author = message.author_user
    mentioned = []
    if author is not None:
        mentioned = [u for u in find_mentions(html_to_text(message.body_html))
                     if access.can_read_thread(u, thread)]
    _notify(thread, message, author, mentioned)
    hook = _after_delivery.get(thread.res_model)
    if hook is not None:
        hook(thread, message)
    if message.recipients:
        db.session.flush()
        publish_message(message, thread, replace=True)
    return True


def undelivered(limit: int = 500) -> list[int]:
    """Ids of messages still waiting for their audience well after posting (a lost job)."""
    return list(db.session.scalars(
        select(Message.id).where(Message.notify_pending.is_(True),
                                 Message.created_at < utcnow() - PENDING_GRACE)
        .order_by(Message.id).limit(limit)
    ))


def _notify(thread: Thread, message: Message, author: User | None, mentioned: list[User]) -> None:
    record = thread.record
    title = getattr(record, "display_name", "a record")
    who = message.author_name
    mentioned = [u for u in mentioned if author is None or u.id != author.id]
    notifications.notify_many(mentioned, "mention", f"{who} mentioned you on {title}",
                              thread=thread, message=message)
    if message.kind != "comment":
        return
    skip = {u.id for u in mentioned} | ({author.id} if author else set())
    users, contacts = [], []
    for follower in followers(thread):
        if follower.user is not None:
            if follower.user_id not in skip and follower.user.active \
                    and access.can_see_message(follower.user, message):
                users.append(follower.user)
        elif follower.contact is not None and follower.contact.email:
            if follower.contact_id != message.author_contact_id:  # never mail customers their own words
                contacts.append(follower.contact)
    notifications.notify_many(users, "message", f"{who} on {title}", thread=thread, message=message)
    if contacts:
        _send_to_contacts(message, author, title, contacts)


def _send_to_contacts(message: Message, author: User | None, title: str, contacts) -> None:
    """One mail per contact: customers never see each other's addresses."""
    text = html_to_text(message.body_html)
    html_body = message.body_html
    if author is not None and author.signature:
        text += "\n\n-- \n" + author.signature
        html_body += "<p>-- <br>" + html.escape(author.signature).replace("\n", "<br>") + "</p>"
    if message.attachments:
        names = ", ".join(a.filename for a in message.attachments)
        text += f"\n\n[Attachments: {names}]"
    subject = message.subject or (f"Re: {title}" if title else "Message")
    references = thread_message_ids(message.thread_id, before_id=message.id)
    automatic = author is None and message.author_contact_id is None  # written by the system (a stage's mail)
    customer_link = getattr(db.session.get(Thread, message.thread_id).record, "customer_link", None)
    for contact in contacts:
        link = customer_link(contact) if customer_link else None
        text_part, html_part = text, html_body
        if link:  # the record's own page for this contact, without an account (a ticket's access link)
            text_part += f"\n\nView the conversation online: {link}"
            html_part += f'<p><a href="{html.escape(link)}">View the conversation online</a></p>'
        mail = mailer.send_mail(contact.email, subject, text_part, html_part, chatter_message_id=message.id,
                                thread_id=message.thread_id, from_name=author.name if author else None,
                                in_reply_to=references[-1] if references else None, references=references,
                                auto=automatic)
        # The recipient follows its mail: sent at once with the outbox, queued until SMTP answers.
        db.session.add(MessageRecipient(message_id=message.id, address=contact.email, contact_id=contact.id,
                                        status=mail.status, outbox_mail_id=mail.id))
        message.message_id = message.message_id or mail.message_id


def thread_message_ids(thread_id: int, before_id: int, limit: int = 10) -> list[str]:
    """The Message-IDs of a thread's latest mails, oldest first (In-Reply-To and References of
    the next one, so the customer's mail client threads the conversation)."""
    ids = db.session.scalars(
        select(Message.message_id).where(Message.thread_id == thread_id, Message.id < before_id,
                                         Message.message_id.is_not(None))
        .order_by(Message.id.desc()).limit(limit)).all()
    return list(reversed(ids))


def check_editable(message: Message, thread: Thread, verb: str = "edited") -> None:
    """MessageError unless the message may still change: notes always; sent messages only in
    threads whose record allows it (a chat, where nothing was emailed); nothing in a read-only
    record (an archived channel)."""
    model = thread.model
    if message.kind not in ("note", "comment"):
        raise MessageError(f"This line cannot be {verb}.")
    if message.kind == "comment" and not (model and model.comments_editable):
        raise MessageError(f"Only internal notes can be {verb}: this message was sent.")
    if getattr(thread.record, "read_only", False):
        raise MessageError(f"This conversation is read-only: nothing in it can be {verb}.")


def editable(message: Message, thread: Thread | None = None) -> bool:
    try:
        check_editable(message, thread or db.session.get(Thread, message.thread_id))
    except MessageError:
        return False
    return True


def edit_message(message: Message, body: str) -> Message:
    """Change a note's (or a chat message's) text; permission is the caller's check.

    Users mentioned for the first time by the edit are notified; the others were already.
    """
    thread = db.session.get(Thread, message.thread_id)
    check_editable(message, thread, "edited")
    body = check_body(body, bool(message.attachments))
    before = {u.id for u in find_mentions(html_to_text(message.body_html))}
    mentioned = [u for u in find_mentions(body) if access.can_read_thread(u, thread)]
    message.body_html = _render_mentions(text_to_html(body), mentioned)
    message.edited_at = utcnow()
    db.session.flush()
    title = getattr(thread.record, "display_name", "a record")
    for user in mentioned:
        if user.id not in before and user.id != message.author_user_id:
            notifications.notify(user, "mention", f"{message.author_name} mentioned you on {title}",
                                 thread=thread, message=message)
    publish_message(message, thread, replace=True)
    return message


def editable_text(message: Message) -> str:
    """A message's body as the plain text its author typed (for the edit form)."""
    return html_to_text(message.body_html)


def delete_message(message: Message) -> None:
    """Delete a note (or a chat message) and its attachments; permission is the caller's check."""
    thread = db.session.get(Thread, message.thread_id)
    check_editable(message, thread, "deleted")
    files = list(message.attachments)
    message_id = message.id
    for attachment in files:
        db.session.delete(attachment)
    db.session.delete(message)
    db.session.flush()
    realtime.publish(f"thread:{thread.id}",
                     f'<div id="message-{message_id}" hx-swap-oob="delete"></div>')
    if files:
        realtime.publish(f"thread:{thread.id}", render_template(
            "chatter/_files_live.html", thread=thread, files=thread_files(thread)))
    on_commit(lambda: attachment_store.delete_files(files))


def publish_message(message: Message, thread: Thread, *, replace: bool = False) -> None:
    """Push the message fragment to everyone viewing the thread (rendered once, for all viewers).

    Thread topics are staff-only (access.can_subscribe), so notes and tracking lines may go there.
    Nobody viewing it (most threads, most of the time): nothing is rendered.
    """
    topic = f"thread:{thread.id}"
    if not realtime.watched(topic):
        return
    files = thread_files(thread) if message.attachments else None
    html_fragment = render_template("chatter/_message_live.html", message=message, thread=thread,
                                    replace=replace, files=files, position=thread.model.live_position)
    realtime.publish(topic, html_fragment)


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
        (field, before.get(field), getattr(record, field)) for field in record.tracked_fields
        if _display(before.get(field)) != _display(getattr(record, field))
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

def with_parts(stmt):
    """Load what a message row shows in three queries per page, not three per row."""
    return stmt.options(selectinload(Message.attachments), selectinload(Message.tracking_values),
                        selectinload(Message.recipients), selectinload(Message.reactions))


def messages_after(thread: Thread, after_id: int, kinds, limit: int) -> list[Message]:
    """The thread's messages of `kinds` newer than `after_id`, oldest first (a reconnecting
    socket catching up)."""
    stmt = (select(Message).where(Message.thread_id == thread.id, Message.id > after_id, Message.kind.in_(kinds))
            .order_by(Message.id).limit(limit))
    return list(db.session.scalars(with_parts(stmt)).unique())


def thread_page(thread: Thread, kinds, before_id: int | None = None, limit: int | None = None):
    """Newest-first page of messages of the given kinds; returns (messages, has_more).

    Keyset pagination on (thread_id, id): opening a 5,000-message thread costs one page.
    """
    limit = limit or current_app.config["THREAD_PAGE_SIZE"]
    stmt = select(Message).where(Message.thread_id == thread.id, Message.kind.in_(kinds))
    if before_id:
        stmt = stmt.where(Message.id < before_id)
    rows = list(db.session.scalars(with_parts(stmt.order_by(Message.id.desc()).limit(limit + 1))).unique())
    return rows[:limit], len(rows) > limit


def thread_files(thread: Thread, kinds=None) -> list[Attachment]:
    """Every attachment of the thread whose message is of one of `kinds` (all kinds by default)."""
    stmt = (select(Attachment).outerjoin(Message, Attachment.message_id == Message.id)
            .where(Attachment.thread_id == thread.id))
    if kinds:
        stmt = stmt.where(or_(Attachment.message_id.is_(None), Message.kind.in_(kinds)))
    return list(db.session.scalars(stmt.order_by(Attachment.id.desc())))


def message_url(message: Message, thread: Thread | None = None) -> str:
    """Where a message is read in context: its record's page, opened around it (`around`)."""
    record = (thread or db.session.get(Thread, message.thread_id)).record
    return url_for(record.thread_endpoint, **{record.thread_endpoint_arg: record.id},
                   around=message.id) + f"#message-{message.id}"


def record_title(user, record) -> str:
    """What `user` calls the record: "#general", a colleague's name, a contact's name."""
    title_for = getattr(record, "title_for", None)
    return title_for(user) if title_for else record.display_name


def record_url(record) -> str:
    """The page of a threaded record (each model names its endpoint in `thread_endpoint`)."""
    return url_for(record.thread_endpoint, **{record.thread_endpoint_arg: record.id})
