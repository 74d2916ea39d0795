"""What colleagues do to a message once it is posted (SPEC §2): emoji reactions, and stars.

A reaction is public to everyone who reads the thread and goes out live (the message's
reaction bar is replaced for every viewer). A star is private: the person's own list of
messages to come back to (Discuss' Starred view), never pushed to anyone else.
Nothing here commits.
"""
import unicodedata

from flask import g, render_template
from sqlalchemy import delete, func, select

from app.extensions import db
from app.models import Message, MessageReaction, MessageStar, User
from app.services import access, messaging, realtime

QUICK_EMOJI = ("👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "✅", "👀", "🔥")
MAX_EMOJI_CHARS = 16  # code points: skin tones, joiners and flags make one emoji several
MAX_KINDS_PER_MESSAGE = 20
STARRED_PAGE = 30

# Characters an emoji is made of: symbols, modifiers, variation selectors, joiners, keycaps.
_EMOJI_CATEGORIES = {"So", "Sk", "Mn", "Me", "Cf"}


class ReactionError(ValueError):
    """Why a reaction is refused, in words for the user."""


def check_emoji(value: str) -> str:
    """One emoji (possibly several code points), else ReactionError. Text is not a reaction."""
    value = (value or "").strip()
    if not value:
        raise ReactionError("Choose an emoji.")
    if len(value) > MAX_EMOJI_CHARS:
        raise ReactionError("A reaction is a single emoji.")
    categories = [unicodedata.category(ch) for ch in value]
    symbols_only = all(cat in _EMOJI_CATEGORIES or ch in "#*0123456789" for ch, cat in zip(value, categories))
    if not symbols_only or ("So" not in categories and "\u20e3" not in value):
        raise ReactionError("A reaction is a single emoji.")
    return value


def toggle_reaction(message: Message, user: User, emoji: str) -> bool:
    """Add the user's `emoji` to the message, or take it back if it is there. True if added.

    Every viewer's reaction bar is replaced after commit."""
    emoji = check_emoji(emoji)
    existing = db.session.scalar(select(MessageReaction).where(
        MessageReaction.message_id == message.id, MessageReaction.user_id == user.id,
        MessageReaction.emoji == emoji))
    if existing is not None:
        db.session.delete(existing)
        added = False
    else:
        kinds = {r.emoji for r in message.reactions}
        if emoji not in kinds and len(kinds) >= MAX_KINDS_PER_MESSAGE:
            raise ReactionError(f"A message holds at most {MAX_KINDS_PER_MESSAGE} different reactions.")
        db.session.add(MessageReaction(message_id=message.id, user_id=user.id, emoji=emoji))
        added = True
    db.session.flush()
    db.session.expire(message, ["reactions"])
    realtime.publish(f"thread:{message.thread_id}", render_template(
        "chatter/_reactions.html", message=message, oob=True, live=True))
    return added


def groups(message: Message) -> list[tuple[str, list[User]]]:
    """(emoji, who) in the order each emoji first appeared."""
    found: dict[str, list[User]] = {}
    for reaction in message.reactions:
        found.setdefault(reaction.emoji, []).append(reaction.user)
    return list(found.items())


# ---- stars -----------------------------------------------------------------------------------

def toggle_star(message: Message, user: User) -> bool:
    """Star the message for `user`, or unstar it. True if it is starred now."""
    removed = db.session.execute(delete(MessageStar).where(
        MessageStar.user_id == user.id, MessageStar.message_id == message.id)).rowcount
    if not removed:
        db.session.add(MessageStar(user_id=user.id, message_id=message.id))
    db.session.flush()
    g.pop("hilo_starred", None)
    return not removed


def starred_ids(user) -> set[int]:
    """Ids of the messages `user` starred (looked up once per request: rows ask one by one)."""
    if not getattr(user, "is_authenticated", False):
        return set()
    if "hilo_starred" not in g:
        g.hilo_starred = set(db.session.scalars(select(MessageStar.message_id).where(MessageStar.user_id == user.id)))
    return g.hilo_starred


def star_count(user) -> int:
    return db.session.scalar(select(func.count(MessageStar.id)).where(MessageStar.user_id == user.id))


def starred(user, before: int | None = None, limit: int = STARRED_PAGE) -> tuple[list[Message], int | None]:
    """The user's starred messages they may still read, most recently starred first.

    Returns (messages, the cursor for the next page or None). Who may read what is the access
    service's SQL condition, so a page is full and costs the same queries however many stars
    point into conversations the user has left (those stay, hidden, until they can read again)."""
    readable = access.staff_read_condition(user, Message.thread_id)
    if readable is None:
        return [], None
    stmt = (select(MessageStar.id, Message).join(Message, Message.id == MessageStar.message_id)
            .where(MessageStar.user_id == user.id, Message.kind.in_(access.visible_kinds(user)), readable)
            .order_by(MessageStar.id.desc()).limit(limit + 1))
    if before:
        stmt = stmt.where(MessageStar.id < before)
    rows = db.session.execute(messaging.with_parts(stmt)).unique().all()
    page = rows[:limit]
    return [message for _, message in page], (page[-1][0] if len(rows) > limit else None)
