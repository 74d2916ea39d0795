"""Who may see what: the one place every page, fragment, socket, search and download asks.

Principals are users (staff or portal) or nobody (anonymous). Staff read every
thread unless its record says otherwise; portal users read a thread only if its
record grants it (`portal_can_read(user)`), and never an internal message.
"""
from sqlalchemy import and_, or_, select

from app.extensions import db
from app.models import Attachment, Message, Thread, ThreadMixin

STAFF_ONLY_KINDS = ("note", "tracking")


def is_staff(user) -> bool:
    return bool(user and getattr(user, "is_authenticated", False) and user.is_staff)


def can_read_thread(user, thread: Thread | None) -> bool:
    """May `user` open this thread at all?"""
    if thread is None or user is None or not getattr(user, "is_authenticated", False):
        return False
    record = thread.record
    if record is None:
        return False
    if is_staff(user):
        staff_check = getattr(record, "staff_can_read", None)
        return staff_check(user) if staff_check else True
    portal_check = getattr(record, "portal_can_read", None)
    return bool(portal_check and portal_check(user))


def visible_kinds(user) -> tuple[str, ...]:
    """Message kinds this user may see in a thread they can read."""
    if is_staff(user):
        return ("comment", "note", "notification", "tracking")
    return ("comment", "notification")


def can_see_message(user, message: Message | None) -> bool:
    if message is None:
        return False
    return message.kind in visible_kinds(user) and can_read_thread(user, db_thread(message))


def can_post(user, thread: Thread, kind: str) -> bool:
    """Staff post messages and notes; portal users may only reply where they can read."""
    if not can_read_thread(user, thread):
        return False
    return kind in ("comment", "note") if is_staff(user) else kind == "comment"


def can_edit_message(user, message: Message) -> bool:
    """Notes, and messages in a chat: their author or an admin (SPEC §1.8, §2). Sent messages on
    a record never (they were emailed); nothing in a read-only record."""
    if not is_staff(user) or message.kind not in ("note", "comment"):
        return False
    if not (user.is_admin or message.author_user_id == user.id):
        return False
    from app.services.messaging import editable

    return editable(message)


def can_download(user, attachment: Attachment | None) -> bool:
    if attachment is None:
        return False
    if attachment.message is not None:
        return can_see_message(user, attachment.message)
    return is_staff(user) and can_read_thread(user, db.session.get(Thread, attachment.thread_id))


def can_manage_followers(user, thread: Thread) -> bool:
    return is_staff(user) and can_read_thread(user, thread)


def staff_read_condition(user, thread_id):
    """`can_read_thread` in SQL, for search and anything else that filters and pages in the
    database: a condition that the thread whose id is `thread_id` (a column, e.g.
    `Message.thread_id`) is one this staff member may read; None for anyone else.

    Staff read every record's thread unless its model restricts them with `staff_can_read(user)`;
    such a model must also give the rule as a condition on its own table, the classmethod
    `staff_read_filter(user)` (e.g. `Channel`). A model with the first and not the second is
    left out entirely: closed, never open. A thread whose record is gone is left out too.
    The condition is correlated (a few primary-key probes per row), so a query that stops after
    a page pays for the rows it reads, not for every thread in the database.
    """
    if not is_staff(user):
        return None
    readable = []
    for name, model in ThreadMixin.registry.items():
        record = select(model.id).where(model.id == Thread.res_id)
        if hasattr(model, "staff_can_read"):
            read_filter = getattr(model, "staff_read_filter", None)
            if read_filter is None:
                continue
            record = record.where(read_filter(user))
        readable.append(and_(Thread.res_model == name, record.exists()))
    if not readable:
        return None
    return select(Thread.id).where(Thread.id == thread_id, or_(*readable)).exists()


def db_thread(message: Message) -> Thread | None:
    return db.session.get(Thread, message.thread_id)


def can_subscribe(user, topic: str) -> bool:
    """May this user's socket receive events of `topic`? Checked when a socket subscribes."""
    if not is_staff(user):
        return False
    if topic == "presence":  # who is online: every colleague may know
        return True
    kind, _, ident = topic.partition(":")
    if not ident.isdigit():
        return False
    if kind == "user":
        return int(ident) == user.id
    if kind == "thread":
        return can_read_thread(user, db.session.get(Thread, int(ident)))
    if kind == "helpdesk-team":  # a team's board: its members and admins, while the team is active
        from app.models import Team

        team = db.session.get(Team, int(ident))
        return team is not None and team.active and (user.is_admin or team.has_member(user))
    return False


__all__ = [
    "can_read_thread", "visible_kinds", "can_see_message", "can_post", "can_edit_message",
    "can_download", "can_manage_followers", "can_subscribe", "is_staff", "staff_read_condition",
]
