"""Live chat (SPEC §7): visitors, sessions, operators, the bot, and what both sides see live.

A visitor is known by a signed token (`visitor_token`) their browser keeps; a site that knows its
user may vouch for them with an HMAC of its own user id (`identify`). A session starts when a
visitor writes (or when a rule's chatbot greets them); an operator is picked among the
channel's available operators under their limit: the visitor's previous operator first, then one
speaking their language, then the one with the fewest live chats.

Messages are the session thread's messages (`messaging.post_message`): the operator's page gets
them on the thread's topic as every chatter does; the visitor's socket listens on
`visitor:<id>`, which gets comments and system lines only, rendered for the widget. Notes stay
with the operators. Nothing here commits: the caller does.
"""
import hashlib
import hmac
import re
import secrets
from datetime import timedelta
from typing import NamedTuple

from flask import current_app, render_template, url_for
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import (
    ChannelOperator, LivechatChannel, LivechatSession, Message, OperatorSettings, Thread, User, Visitor,
    VisitorMessageKey,
)
from app.models.base import utcnow
from app.models.customers import RATINGS
from app.services import accounts, chatbot, contacts, helpdesk, mailer, messaging, presence, realtime
from app.services.ratings import FACES
from app.services.sanitize import html_to_text

VISIBLE_KINDS = ("comment", "notification")  # what the widget shows; notes are the operators'
MAX_PAGES = 20  # pages kept per visitor
WAITING_BATCH = 50  # waiting chats handed out per channel at a time
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
COMMANDS = {
    "/helpdesk": "Turn this chat into a ticket (the transcript becomes its description). "
                 "Add a title after the command: /helpdesk Refund for order 1042",
    "/history": "The visitor's earlier chats.",
    "/help": "This list.",
}
RATING_LABELS = {"satisfied": "Satisfied", "okay": "Okay", "dissatisfied": "Dissatisfied"}


class LivechatError(ValueError):
    """Why a chat action cannot be done, in words for whoever tried it."""


def visitor_topic(visitor_id: int) -> str:
    return f"visitor:{visitor_id}"


# ---- channels and rules ----------------------------------------------------------------------

def channel_by_key(key: str) -> LivechatChannel | None:
    """The active channel with this public key."""
    if not key or len(key) > 32:
        return None
    return db.session.scalar(select(LivechatChannel).where(LivechatChannel.key == key,
                                                           LivechatChannel.active.is_(True)))


def _pattern_matches(pattern: str, url: str) -> bool:
    if not pattern:
        return True
    try:
        return re.search(pattern, url or "") is not None
    except re.error:  # a pattern saved before it was checked: it matches nothing
        return False


def matching_rule(channel: LivechatChannel, url: str, country: str):
    """The first rule (in order) whose page pattern and countries fit, or None."""
    url, country = (url or "")[:2000], (country or "").upper()
    for rule in channel.rules:
        countries = rule.country_list
        if countries and country not in countries:
            continue
        if _pattern_matches(rule.url_pattern, url):
            return rule
    return None


def widget_settings(channel: LivechatChannel, url: str, country: str) -> dict:
    """What the loader needs for this page: show the button, open it after N seconds, or hide."""
    rule = matching_rule(channel, url, country)
    action = rule.action if rule is not None else "show"
    return {"action": action, "open_after": rule.auto_open_seconds if rule is not None and action == "auto" else 0,
            "button_text": channel.button_text, "button_color": channel.button_color,
            "header_color": channel.header_color}


# ---- visitors ----------------------------------------------------------------------------------

def visitor_token(visitor: Visitor) -> str:
    return accounts.signer("livechat-visitor").dumps([visitor.id, visitor.nonce])


def visitor_from_token(channel: LivechatChannel, token: str | None) -> Visitor | None:
    """The channel's visitor this token names, or None (forged, another channel's, or revoked)."""
    if not token or len(token) > 200:
        return None
    try:
        data = accounts.signer("livechat-visitor").loads(token)
    except Exception:  # BadSignature and malformed payloads alike
        return None
    if not (isinstance(data, list) and len(data) == 2 and isinstance(data[0], int) and isinstance(data[1], str)):
        return None
    visitor = db.session.get(Visitor, data[0])
    if visitor is None or visitor.channel_id != channel.id or not hmac.compare_digest(visitor.nonce, data[1]):
        return None
    return visitor


def new_visitor(channel: LivechatChannel, *, country: str = "", language: str = "") -> Visitor:
    visitor = Visitor(channel_id=channel.id, nonce=secrets.token_hex(8), country=(country or "")[:2].upper(),
                      language=(language or "")[:8].lower(), pages=[])
    db.session.add(visitor)
    db.session.flush()
    return visitor


def identity_hash(channel: LivechatChannel, identifier: str) -> str:
    """What the company's site signs a user id with (HMAC-SHA256, hex), as its docs say."""
    return hmac.new(channel.identity_secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()


def identify(channel: LivechatChannel, visitor: Visitor, identifier: str, signature: str, *,
             name: str = "", email: str = "") -> Visitor:
    """A site vouches for its signed-in user: with a valid signature, the visitor becomes (or
    joins) that user's visitor record, with the name and email the site gave. Without one,
    nothing changes: an unsigned identity is never trusted."""
    identifier = (identifier or "").strip()[:120]
    if not identifier or not signature or not hmac.compare_digest(identity_hash(channel, identifier),
                                                                   str(signature).lower()):
        return visitor
    known = db.session.scalar(select(Visitor).where(Visitor.channel_id == channel.id,
                                                    Visitor.identifier == identifier))
    if known is None:
        if visitor.identifier and visitor.identifier != identifier:
            # Another person signed in on this browser: a record of their own, never the last one's.
            visitor = new_visitor(channel, country=visitor.country, language=visitor.language)
        visitor.identifier = identifier
        known = visitor
    if name:
        known.name = " ".join(name.split())[:120]
    if email:
        try:
            known.email = contacts.normalize_address(email)
        except contacts.AddressError:
            pass
    db.session.flush()
    return known


def record_page(visitor: Visitor, url: str, title: str = "") -> None:
    """Keep the page the visitor is on (the last MAX_PAGES, no repeats in a row)."""
    url = (url or "").strip()[:500]
    if not url.startswith(("http://", "https://")):
        return
    pages = list(visitor.pages or [])
    if pages and pages[-1].get("url") == url:
        return
    pages.append({"url": url, "title": " ".join((title or "").split())[:200], "at": utcnow().isoformat()})
    visitor.pages = pages[-MAX_PAGES:]
    visitor.last_seen_at = utcnow()


def country_from(headers) -> str:
    """The visitor's country as the proxy in front tells it (LIVECHAT_COUNTRY_HEADERS)."""
    for name in current_app.config["LIVECHAT_COUNTRY_HEADERS"]:
        value = (headers.get(name) or "").strip().upper()
        if re.fullmatch(r"[A-Z]{2}", value) and value not in ("XX", "T1"):
            return value
    return ""


def language_from(accept_language: str) -> str:
    """The first language of an Accept-Language header ("fr-BE,fr;q=0.9" -> "fr")."""
    first = (accept_language or "").split(",")[0].split(";")[0].strip().lower()
    return first.split("-")[0][:8] if re.fullmatch(r"[a-z]{2,3}(-[a-z0-9]{2,8})*", first) else ""


def set_details(visitor: Visitor, name: str, email: str) -> None:
    """The name and email a visitor typed (an email is checked)."""
    name = " ".join((name or "").split())[:120]
    email = (email or "").strip()
    if email:
        try:
            email = contacts.normalize_address(email)
        except contacts.AddressError:
            raise LivechatError("That does not look like an email address.")
    if name:
        visitor.name = name
    if email:
        visitor.email = email
    db.session.flush()


# ---- operators ---------------------------------------------------------------------------------

def settings_for(user: User) -> OperatorSettings:
    found = db.session.scalar(select(OperatorSettings).where(OperatorSettings.user_id == user.id))
    if found is None:
        found = OperatorSettings(user_id=user.id)
        db.session.add(found)
        db.session.flush()
    return found


def set_available(user: User, available: bool) -> OperatorSettings:
    """The operator's switch; switched on, the chats waiting in their channels come to them."""
    found = settings_for(user)
    found.available = bool(available)
    db.session.flush()
    refresh_operator(user.id)
    if found.available:
        hand_out_waiting(operated_channels(user))
    return found


def operated_channels(user: User) -> list[LivechatChannel]:
    return list(db.session.scalars(
        select(LivechatChannel).join(ChannelOperator, ChannelOperator.channel_id == LivechatChannel.id)
        .where(ChannelOperator.user_id == user.id).order_by(LivechatChannel.name)))


def join_channel(channel: LivechatChannel, user: User) -> None:
    """An operator joins a channel themselves (staff only)."""
    if not user.is_staff or not user.active:
        raise LivechatError("Only colleagues can answer chats.")
    if not channel.has_operator(user):
        db.session.add(ChannelOperator(channel_id=channel.id, user_id=user.id))
        db.session.flush()
    refresh_operator(user.id)


def leave_channel(channel: LivechatChannel, user: User) -> None:
    row = db.session.scalar(select(ChannelOperator).where(ChannelOperator.channel_id == channel.id,
                                                          ChannelOperator.user_id == user.id))
    if row is not None:
        db.session.delete(row)
        db.session.flush()
    refresh_operator(user.id)


def live_counts(user_ids) -> dict[int, int]:
    """operator id -> chats they hold that are not over."""
    ids = list(user_ids)
    if not ids:
        return {}
    return dict(db.session.execute(
        select(LivechatSession.operator_id, func.count(LivechatSession.id))
        .where(LivechatSession.operator_id.in_(ids), LivechatSession.state == "open")
        .group_by(LivechatSession.operator_id)).all())


class Available(NamedTuple):
    user: User
    settings: OperatorSettings
    live: int  # chats they hold now


def available_operators(channel: LivechatChannel, *, lock: bool = False) -> list[Available]:
    """The channel's operators who can take one more chat now: active, marked available, with a
    Hilo page open (not offline), under their limit. With `lock` (PostgreSQL), their settings
    rows are locked until commit, so two visitors cannot both take an operator's last place."""
    rows = list(db.session.execute(
        select(User, ChannelOperator.id).join(ChannelOperator, ChannelOperator.user_id == User.id)
        .where(ChannelOperator.channel_id == channel.id, User.active.is_(True), User.role.in_(("admin", "agent")))
        .order_by(User.id)))
    users = [user for user, _ in rows]
    if not users:
        return []
    ids = [u.id for u in users]
    known = set(db.session.scalars(select(OperatorSettings.user_id).where(OperatorSettings.user_id.in_(ids))))
    if len(known) < len(ids):  # first chat of these operators: their defaults, in one flush
        db.session.add_all([OperatorSettings(user_id=i) for i in ids if i not in known])
        db.session.flush()
    query = select(OperatorSettings).where(OperatorSettings.user_id.in_([u.id for u in users])).order_by(
        OperatorSettings.user_id)
    if lock:
        query = query.with_for_update()
    settings = {s.user_id: s for s in db.session.scalars(query)}
    online = presence.statuses([u.id for u in users])
    counts = live_counts([u.id for u in users])
    return [Available(u, settings[u.id], counts.get(u.id, 0)) for u in users
            if settings[u.id].available and online.get(u.id, "offline") != "offline"
            and counts.get(u.id, 0) < settings[u.id].max_sessions]


def pick_operator(channel: LivechatChannel, visitor: Visitor, *, exclude=()) -> User | None:
    """Who takes this visitor: their previous operator if free, then one speaking their language,
    then whoever holds the fewest live chats (then the longest-standing account)."""
    candidates = [c for c in available_operators(channel, lock=True) if c.user.id not in set(exclude)]
    if not candidates:
        return None
    previous = db.session.scalar(
        select(LivechatSession.operator_id).where(LivechatSession.visitor_id == visitor.id,
                                                  LivechatSession.operator_id.is_not(None))
        .order_by(LivechatSession.id.desc()).limit(1))
    language = (visitor.language or "").lower()

    def rank(c: Available):
        return (c.user.id != previous, not (language and language in c.settings.language_list), c.live, c.user.id)

    return min(candidates, key=rank).user


def anyone_available(channel: LivechatChannel) -> bool:
    return bool(available_operators(channel))


# ---- sessions ------------------------------------------------------------------------------------

def live_session(visitor: Visitor) -> LivechatSession | None:
    """The visitor's chat that is not over (a reload or another tab finds it again)."""
    return db.session.scalar(select(LivechatSession).where(
        LivechatSession.visitor_id == visitor.id, LivechatSession.state != "ended")
        .order_by(LivechatSession.id.desc()).limit(1))


def latest_session(visitor: Visitor) -> LivechatSession | None:
    return db.session.scalar(select(LivechatSession).where(LivechatSession.visitor_id == visitor.id)
                             .order_by(LivechatSession.id.desc()).limit(1))


def script_for(channel: LivechatChannel, url: str, country: str):
    """The chatbot script a rule starts chats with on this page, if any (and if its "only when
    no operator is available" holds)."""
    rule = matching_rule(channel, url, country)
    if rule is None or rule.script is None or not rule.script.steps:
        return None
    if rule.bot_only_when_offline and anyone_available(channel):
        return None
    return rule.script


def start(channel: LivechatChannel, visitor: Visitor, *, page_url: str = "") -> LivechatSession | None:
    """The visitor's live chat, or a new one: greeted by the bot when a rule says so, else given
    to an operator. None when there is neither (the widget offers the offline form)."""
    found = live_session(visitor)
    if found is not None:
        return found
    script = script_for(channel, page_url, visitor.country)
    operator = None if script is not None else pick_operator(channel, visitor)
    if script is None and operator is None:
        return None
    session = LivechatSession(channel_id=channel.id, visitor_id=visitor.id, page_url=(page_url or "")[:500],
                              state="bot" if script is not None else "waiting",
                              script_id=script.id if script is not None else None, bot_answers={})
    db.session.add(session)
    db.session.flush()
    thread = session.ensure_thread()
    if channel.welcome_message:
        messaging.post_message(thread, None, channel.welcome_message, kind="comment", notify=False)
    if script is not None:
        run_bot(session)
    else:
        assign(session, operator)
    return session


def assign(session: LivechatSession, operator: User, *, by: User | None = None) -> None:
    """Give the chat to `operator`: a line says so to both sides; their sidebar rings."""
    previous = session.operator_id
    session.operator_id, session.state = operator.id, "open"
    session.bot_step = None
    db.session.flush()
    if by is not None and previous and previous != operator.id:
        line = f"{by.name} handed the chat to {operator.name}."
    else:
        line = f"{operator.name} joined the chat."
    messaging.post_message(session.ensure_thread(), None, line, kind="notification", notify=False)
    push_state(session)
    refresh_operator(operator.id, ring=session)
    if previous and previous != operator.id:
        refresh_operator(previous)
        realtime.publish(f"user:{previous}", realtime.REVOKE + f"thread:{session.ensure_thread().id}")


def forward(session: LivechatSession) -> bool:
    """Hand a bot's or waiting chat to an operator; False (and waiting) when none is free."""
    operator = pick_operator(session.channel, session.visitor)
    if operator is None:
        if session.state != "waiting":
            session.state = "waiting"
            session.bot_step = None
            messaging.post_message(session.ensure_thread(), None,
                                   "All our operators are busy right now. Stay here: the first one free will "
                                   "answer, or leave us your email and we will write to you.",
                                   kind="comment", notify=False)
            for user in session.channel.operators:
                refresh_operator(user.id, ring=session)
            push_state(session)
        return False
    assign(session, operator)
    return True


def take(session: LivechatSession, user: User) -> None:
    """An operator of the channel picks up a waiting chat."""
    if session.state == "ended":
        raise LivechatError("This chat has ended.")
    if session.state == "open" and session.operator_id != user.id:
        raise LivechatError(f"{session.operator.name} already answers this chat.")
    if not (user.is_admin or session.channel.has_operator(user)):
        raise LivechatError("Join this channel's operators to answer its chats.")
    if session.operator_id != user.id:
        assign(session, user)


def transfer(session: LivechatSession, by: User, to: User | None) -> None:
    """The operator hands the chat to a colleague of the channel who is free."""
    if session.state == "ended":
        raise LivechatError("This chat has ended.")
    if to is None or to.id == by.id:
        raise LivechatError("Choose a colleague to hand the chat to.")
    if to.id not in {c.user.id for c in available_operators(session.channel, lock=True)}:
        raise LivechatError(f"{to.name} cannot take a chat now (away, at their limit, or not an operator here).")
    assign(session, to, by=by)


def end(session: LivechatSession, by: str, user: User | None = None) -> None:
    """Close the chat (visitor, operator or system); the visitor is offered the rating."""
    if session.state == "ended":
        return
    session.state, session.ended_at, session.ended_by = "ended", utcnow(), by
    session.bot_step = None
    who = "The visitor" if by == "visitor" else (user.name if user is not None else "Hilo")
    messaging.post_message(session.ensure_thread(), None, f"{who} ended the chat.", kind="notification",
                           notify=False)
    push_state(session)
    if session.operator_id:
        refresh_operator(session.operator_id)
        db.session.flush()
        hand_out_waiting([session.channel])  # their place is free again


def hand_out_waiting(channels=None) -> int:
    """Give the chats waiting for an operator, oldest first, to operators free now (when one
    becomes available, a chat ends, and every few minutes: every channel with a waiting chat).
    Returns how many were given."""
    if channels is None:
        channels = db.session.scalars(select(LivechatChannel).where(
            LivechatChannel.active.is_(True), LivechatChannel.id.in_(
                select(LivechatSession.channel_id).where(LivechatSession.state == "waiting"))))
    handed = 0
    for channel in channels:
        waiting = db.session.scalars(select(LivechatSession).where(
            LivechatSession.channel_id == channel.id, LivechatSession.state == "waiting",
            LivechatSession.operator_id.is_(None)).order_by(LivechatSession.id).limit(WAITING_BATCH))
        for session in list(waiting):
            if not forward(session):
                break  # nobody is free in this channel: the rest wait too
            handed += 1
    return handed


def check_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise LivechatError("Write a message first.")
    limit = current_app.config["LIVECHAT_MAX_MESSAGE_CHARS"]
    if len(body) > limit:
        raise LivechatError(f"That message is too long (at most {limit:,} characters).")
    return body


def visitor_says(channel: LivechatChannel, visitor: Visitor, body: str, key: str, *,
                 page_url: str = "", live=...) -> tuple[LivechatSession | None, Message | None]:
    """A visitor's message, exactly once per `key` (a resend after a lost answer is the same
    message). Starts the chat when there is none; (None, None) when nobody can take it.
    `live` is the visitor's `live_session`, when the caller has just read it."""
    body = check_body(body)
    if not KEY_PATTERN.match(key or ""):
        raise LivechatError("This message could not be sent. Reload the chat and try again.")
    session = live_session(visitor) if live is ... else live
    if session is not None:
        known = db.session.scalar(select(VisitorMessageKey.message_id).where(
            VisitorMessageKey.session_id == session.id, VisitorMessageKey.key == key))
        if known is not None:
            return session, db.session.get(Message, known)
    else:
        session = start(channel, visitor, page_url=page_url)
        if session is None:
            return None, None
    thread = session.ensure_thread()
    try:
        with db.session.begin_nested():
            message = messaging.post_message(thread, None, body, kind="comment", notify=False,
                                             author_visitor=visitor)
            db.session.add(VisitorMessageKey(session_id=session.id, key=key, message_id=message.id))
            db.session.flush()
    except IntegrityError:  # the same key raced in from another tab: that one stands
        known = db.session.scalar(select(VisitorMessageKey.message_id).where(
            VisitorMessageKey.session_id == session.id, VisitorMessageKey.key == key))
        return session, db.session.get(Message, known)
    visitor.last_seen_at = utcnow()
    if session.state == "bot":
        answer_bot(session, body)
    elif session.state == "waiting" and session.operator_id is None:
        forward(session)
    return session, message


def operator_says(session: LivechatSession, user: User, body: str, *, note: bool = False, files=()) -> Message:
    """An operator's message (or, with `note`, a note only operators see); commands are run."""
    if session.state == "ended":
        raise LivechatError("This chat has ended.")
    if session.operator_id != user.id:
        raise LivechatError("Take the chat before you answer it.")
    text = (body or "").strip()
    if text.startswith("/") and not files:
        command, _, rest = text.partition(" ")
        if command in COMMANDS:
            return run_command(session, user, command, rest.strip())
    message = messaging.post_message(session.ensure_thread(), user, body, kind="note" if note else "comment",
                                     files=files, notify=False)
    if not note and session.answered_at is None:
        session.answered_at = message.created_at
    session.operator_seen_message_id = message.id
    return message


def run_command(session: LivechatSession, user: User, command: str, argument: str) -> Message:
    """`/helpdesk [title]`, `/history`, `/help`: the answer is a note (operators only), except
    the ticket's line, which the visitor sees too."""
    thread = session.ensure_thread()
    if command == "/help":
        lines = "\n".join(f"{name} — {text}" for name, text in COMMANDS.items())
        return messaging.post_message(thread, user, f"Commands:\n{lines}", kind="note", notify=False)
    if command == "/history":
        earlier = history(session.visitor, exclude=session.id)
        if not earlier:
            text = f"{session.visitor.display_name} has no earlier chats."
        else:
            rows = [f"{s.started_at:%Y-%m-%d %H:%M} · {s.operator.name if s.operator else 'no operator'} · "
                    f"{s.message_count} messages" + (f" · {RATING_LABELS[s.rating]}" if s.rating else "")
                    + (f" · {s.ticket.ref}" if s.ticket else "") for s in earlier]
            text = f"Earlier chats of {session.visitor.display_name}:\n" + "\n".join(rows)
        return messaging.post_message(thread, user, text, kind="note", notify=False)
    ticket = create_ticket(session, user, argument)
    link = url_for("helpdesk.ticket", ticket_id=ticket.id)
    return messaging.post_message(thread, user, f'Ticket <a href="{link}">{ticket.ref}</a> created from this chat.',
                                  kind="note", is_html=True, notify=False)


def create_ticket(session: LivechatSession, user: User | None, title: str = ""):
    """A ticket of the channel's team with the transcript as its description; the visitor is
    told its reference."""
    if session.ticket_id is not None:
        raise LivechatError(f"This chat is already ticket {session.ticket.ref}.")
    team = session.channel.team
    if team is None or not team.active:
        raise LivechatError("This live chat channel has no helpdesk team to open tickets in (Settings › Live chat).")
    visitor = session.visitor
    customer = helpdesk.customer_for(visitor.email, visitor.name) if visitor.email else visitor.contact
    if customer is not None and visitor.contact_id is None:
        visitor.contact_id = customer.id
    title = " ".join((title or "").split()) or _first_words(session) or f"Chat with {visitor.display_name}"
    ticket = helpdesk.create_ticket(team, title, author=user, description=transcript_html(session),
                                    description_is_html=True, customer=customer, source="livechat",
                                    assignee=user if user is not None and team.has_member(user) else None)
    session.ticket_id = ticket.id
    db.session.flush()
    messaging.post_message(session.ensure_thread(), None,
                           f"We opened ticket {ticket.ref} for this conversation; we will follow up there.",
                           kind="notification", notify=False)
    return ticket


def _first_words(session: LivechatSession) -> str:
    first = db.session.scalar(select(Message.body_html).where(
        Message.thread_id == session.ensure_thread().id, Message.author_visitor_id.is_not(None))
        .order_by(Message.id).limit(1))
    text = " ".join(html_to_text(first or "").split())
    return text[:80] + ("…" if len(text) > 80 else "")


def visible_messages(session: LivechatSession, after_id: int = 0, limit: int = 500) -> list[Message]:
    """What the visitor sees of the chat, oldest first (after `after_id`, to catch up)."""
    return list(db.session.scalars(messaging.with_parts(
        select(Message).where(Message.thread_id == session.ensure_thread().id, Message.id > after_id,
                              Message.kind.in_(VISIBLE_KINDS)).order_by(Message.id).limit(limit))).unique())


def speaker(message: Message) -> str:
    """Who said it, for the widget: visitor, operator, bot (a comment of nobody) or system."""
    if message.author_visitor_id is not None:
        return "visitor"
    if message.author_user_id is not None:
        return "operator"
    return "bot" if message.kind == "comment" else "system"


def transcript_lines(session: LivechatSession) -> list[tuple[str, str, str]]:
    """(time, who, text) for each message the visitor saw."""
    lines = []
    for message in visible_messages(session):
        role = speaker(message)
        who = {"visitor": session.visitor.display_name, "bot": session.channel.bot_name,
               "system": ""}.get(role) or message.author_name
        lines.append((f"{message.created_at:%Y-%m-%d %H:%M}", who, html_to_text(message.body_html).strip()))
    return lines


def transcript_html(session: LivechatSession) -> str:
    return render_template("livechat/mail/transcript_body.html", lines=transcript_lines(session), session=session)


def send_transcript(session: LivechatSession, email: str):
    """Mail the conversation to the visitor (once per chat and address)."""
    try:
        email = contacts.normalize_address(email)
    except contacts.AddressError:
        raise LivechatError("That does not look like an email address.")
    if session.transcript_sent_to == email:
        return None
    session.transcript_sent_to = email
    if not session.visitor.email:
        session.visitor.email = email
    context = {"session": session, "lines": transcript_lines(session), "company": current_app.config["COMPANY_NAME"]}
    return mailer.send_mail(email, f"Your chat with {current_app.config['COMPANY_NAME']}",
                            render_template("livechat/mail/transcript.txt", **context),
                            render_template("livechat/mail/transcript.html", **context),
                            kind="transcript", thread_id=session.ensure_thread().id, auto=True)


def rate(session: LivechatSession, value: str, comment: str = "") -> None:
    """The visitor's rating of an ended chat (changeable); a line tells the operators."""
    if value not in RATINGS:
        raise LivechatError("Pick one of the three faces.")
    if session.state != "ended":
        raise LivechatError("You can rate the chat once it has ended.")
    comment = (comment or "").replace("\r\n", "\n").strip()
    limit = current_app.config["RATING_COMMENT_MAX_CHARS"]
    if len(comment) > limit:
        raise LivechatError(f"Keep the comment under {limit:,} characters.")
    changed = session.rating is not None
    session.rating, session.rating_comment, session.rated_at = value, comment, utcnow()
    line = (f"{FACES[value]} The visitor {'changed their rating to' if changed else 'rated the chat'} "
            f"“{RATING_LABELS[value]}”.")
    if comment:
        line += f"\n\n“{comment}”"
    messaging.post_message(session.ensure_thread(), None, line, kind="note", notify=False)


def offline_ticket(channel: LivechatChannel, visitor: Visitor, name: str, email: str, body: str):
    """No operator and no bot: the visitor's message becomes a ticket of the channel's team."""
    errors = {}
    name = " ".join((name or "").split())[:120]
    try:
        email = contacts.normalize_address(email or "")
    except contacts.AddressError:
        errors["email"] = "Enter your email address so we can answer you."
    try:
        body = check_body(body)
    except LivechatError as err:
        errors["body"] = str(err)
    if errors:
        raise OfflineErrors(errors)
    team = channel.team
    if team is None or not team.active:
        raise OfflineErrors({"body": "Messages cannot be left here right now. Please write to us by email."})
    visitor.name, visitor.email = name or visitor.name, email
    customer = helpdesk.customer_for(email, name)
    visitor.contact_id = customer.id if customer is not None else None
    text = " ".join(body.split())
    ticket = helpdesk.create_ticket(team, text[:80] + ("…" if len(text) > 80 else ""), description=body,
                                    customer=customer, source="livechat")
    db.session.flush()
    return ticket


class OfflineErrors(ValueError):
    def __init__(self, errors: dict):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def history(visitor: Visitor, exclude: int | None = None, limit: int = 10) -> list[LivechatSession]:
    query = select(LivechatSession).where(LivechatSession.visitor_id == visitor.id)
    if exclude is not None:
        query = query.where(LivechatSession.id != exclude)
    return list(db.session.scalars(query.order_by(LivechatSession.id.desc()).limit(limit)))


# ---- the bot -------------------------------------------------------------------------------------

def _script_steps(session: LivechatSession):
    from app.models import ChatbotScript

    script = db.session.get(ChatbotScript, session.script_id) if session.script_id else None
    return list(script.steps) if script is not None else []


def run_bot(session: LivechatSession, after_id: int | None = None) -> None:
    """Play the script from the step after `after_id` until a step waits for the visitor, the
    chat is forwarded, or the script ends (then: forwarded)."""
    steps = _script_steps(session)
    answers = dict(session.bot_answers or {})
    thread = session.ensure_thread()
    step = chatbot.next_step(steps, after_id, answers)
    while step is not None:
        if step.kind == "forward":
            forward(session)
            return
        if step.kind == "ticket":
            if session.ticket_id is None and session.channel.team is not None:
                create_ticket(session, None)
        elif step.message:
            messaging.post_message(thread, None, step.message, kind="comment", notify=False)
        if step.waits:
            session.bot_step = step
            db.session.flush()
            push_state(session)
            return
        step = chatbot.next_step(steps, step.id, answers)
    session.bot_step = None
    forward(session)


def answer_bot(session: LivechatSession, text: str) -> None:
    """The visitor answered the step the bot waits on: keep it and go on, or ask again."""
    step = session.bot_step
    if step is None:
        forward(session)
        return
    try:
        value = chatbot.check_answer(step, text)
    except chatbot.AnswerError as err:
        messaging.post_message(session.ensure_thread(), None, str(err), kind="comment", notify=False)
        push_state(session)
        return
    session.bot_answers = {**(session.bot_answers or {}), str(step.id): value}
    if step.kind == "email":
        session.visitor.email = value
    run_bot(session, step.id)


# ---- live ------------------------------------------------------------------------------------------

def on_message_posted(session: LivechatSession, message: Message) -> None:
    """Every message of a chat (LivechatSession's thread hook): counted, and sent to the visitor's
    widget unless it is a note; a visitor's message makes the operator's sidebar count."""
    if message.kind not in VISIBLE_KINDS:
        return
    if message.kind == "comment":
        session.message_count = (session.message_count or 0) + 1
    realtime.publish(visitor_topic(session.visitor_id), render_template(
        "livechat/_live_message.html", message=message, session=session))
    if message.author_visitor_id is not None and session.operator_id:
        push_unread(session)


def push_state(session: LivechatSession) -> None:
    """The widget's footer (bot buttons, composer, rating) follows the chat's state."""
    realtime.publish(visitor_topic(session.visitor_id), render_template(
        "livechat/_live_state.html", session=session))


def push_unread(session: LivechatSession) -> None:
    """The operator's sidebar count of this chat (one small fragment, not the whole list)."""
    count = unread_for_operator([session]).get(session.id, 0)
    realtime.publish(f"user:{session.operator_id}", render_template(
        "livechat/operator/_unread.html", session_id=session.id, count=count, oob=True))


def refresh_operator(user_id: int, ring: LivechatSession | None = None) -> None:
    """Reload the operator's sidebar lists; with `ring`, a new chat also sounds and notifies."""
    from app.services import discuss

    discuss.refresh_sidebar(user_id)
    if ring is not None:
        realtime.publish(f"user:{user_id}", render_template("livechat/_ring.html", session=ring))


def visitor_topics(topics) -> dict[int, str]:
    """thread id -> the visitor's topic, for the live chats among a staff socket's `thread:` topics
    (where the operator's typing goes besides the thread)."""
    ids = [int(t.partition(":")[2]) for t in topics if t.startswith("thread:") and t.partition(":")[2].isdigit()]
    if not ids:
        return {}
    rows = db.session.execute(
        select(Thread.id, LivechatSession.visitor_id).join(
            LivechatSession, (Thread.res_model == LivechatSession.thread_model) & (Thread.res_id == LivechatSession.id))
        .where(Thread.id.in_(ids)))
    return {thread_id: visitor_topic(visitor_id) for thread_id, visitor_id in rows}


# ---- the operator's lists --------------------------------------------------------------------

def operator_sessions(user: User) -> dict[str, list[LivechatSession]]:
    """The sidebar: the operator's live chats, and chats waiting in their channels."""
    mine = list(db.session.scalars(select(LivechatSession).where(
        LivechatSession.operator_id == user.id, LivechatSession.state == "open").order_by(LivechatSession.id)))
    waiting = list(db.session.scalars(select(LivechatSession).join(
        ChannelOperator, ChannelOperator.channel_id == LivechatSession.channel_id)
        .where(ChannelOperator.user_id == user.id, LivechatSession.state == "waiting",
               LivechatSession.operator_id.is_(None)).order_by(LivechatSession.id)))
    return {"mine": mine, "waiting": waiting}


def unread_for_operator(sessions) -> dict[int, int]:
    """session id -> visitor messages after the operator's last seen one."""
    sessions = list(sessions)
    if not sessions:
        return {}
    counted = dict(db.session.execute(
        select(LivechatSession.id, func.count(Message.id))
        .join(Thread, (Thread.res_model == LivechatSession.thread_model) & (Thread.res_id == LivechatSession.id))
        .join(Message, (Message.thread_id == Thread.id) & Message.author_visitor_id.is_not(None)
              & (Message.id > LivechatSession.operator_seen_message_id))
        .where(LivechatSession.id.in_([s.id for s in sessions])).group_by(LivechatSession.id)).all())
    return {s.id: counted.get(s.id, 0) for s in sessions}


def mark_seen(session: LivechatSession, user: User) -> None:
    if session.operator_id != user.id:
        return
    newest = db.session.scalar(select(func.max(Message.id)).where(Message.thread_id == session.ensure_thread().id))
    if newest and newest > session.operator_seen_message_id:
        session.operator_seen_message_id = newest
        db.session.flush()
        push_unread(session)


def expire_idle(idle: timedelta | None = None) -> int:
    """End chats nobody wrote in for LIVECHAT_IDLE_MINUTES (the periodic job). Returns how many."""
    idle = idle or timedelta(minutes=current_app.config["LIVECHAT_IDLE_MINUTES"])
    cutoff = utcnow() - idle
    stale = list(db.session.scalars(select(LivechatSession).join(
        Thread, (Thread.res_model == "livechat") & (Thread.res_id == LivechatSession.id))
        .where(LivechatSession.state != "ended", func.coalesce(Thread.last_message_at, LivechatSession.started_at)
               < cutoff).limit(500)))
    for session in stale:
        end(session, "system")
    return len(stale)
