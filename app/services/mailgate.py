"""The inbound mail gateway (SPEC §3.3–3.5): one raw mail in, stored, and routed.

Every intake (the `flask mail ingest` pipe now; the SMTP listener, IMAP polling and the HTTP
endpoint use the same `ingest`) hands over the raw bytes and, when it knows them, the envelope
recipients. The mail is kept raw (`InboundMail`) whatever happens to it, then routed, first match:

1. not mail at all -> stored, flagged `unparseable` for an admin;
2. already received (same Message-ID, or the same bytes) -> nothing more (a duplicate);
3. a delivery report (DSN) about a mail we sent -> that mail's recipients are `bounced`;
   a bounce about anything else -> the catch-all;
4. from one of our own addresses -> the catch-all (a loop); a sender over MAIL_SENDER_LIMIT
   mails in MAIL_SENDER_WINDOW -> the catch-all (a flood, or a loop with another robot);
5. In-Reply-To, then References, naming a mail of ours or one we received -> that thread
   (unless it is addressed to an alias other than the one that started the thread: a forward,
   which starts a conversation there);
6. a reply token `reply+t<thread>-<signature>@` among the recipients -> that thread;
   a token whose signature is wrong -> the catch-all (nobody writes into a thread by guessing);
7. the token as the marker in the body (providers that rewrite our Message-ID) -> that thread;
8. `[#ref]` in the subject, resolved by a registered resolver (tickets) -> that thread;
9. addressed to an alias -> a new conversation of the alias's target (a contact's thread now);
   never for automatic or bulk mail, which goes to the catch-all;
10. anything else of our domain -> the catch-all; nothing of ours at all -> bounced (refused:
    the sender's server is told, and nothing is kept).

A mail added to a thread is a message from its sender (a contact, created when new); Cc'd
addresses follow the thread. Automatic mail is kept in its thread but notifies nobody.
"""
import functools
import hashlib
import io
import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import Integer, String, bindparam, func, literal, null, select, union_all
from werkzeug.datastructures import FileStorage

from app.extensions import db
from app.models import Follower, InboundMail, MailAlias, Message, MessageRecipient, OutboxMail, Thread
from app.models.base import utcnow
from app.services import contacts, mailer, mailparse, messaging
from app.services.attachments import AttachmentError
from app.services.sanitize import clean_html

log = logging.getLogger(__name__)

EX_OK, EX_NOUSER, EX_TEMPFAIL = 0, 67, 75
SUBJECT_REF = re.compile(r"\[#([A-Za-z]*\d{1,10})\]")
MAX_FOLLOWERS_ADDED = 50  # Cc'd addresses that may follow a thread from one mail

# alias target -> function(alias, mail, contact) -> Thread of the new conversation
TARGETS: dict = {}
# functions(ref, mail) -> Thread | None, asked in order for a `[#ref]` in the subject; a resolver
# names a thread only for a sender who belongs in it (a reference is easy to guess)
SUBJECT_RESOLVERS: list = []


def target(name: str):
    """Register what an alias of target `name` creates (helpdesk registers "ticket")."""
    def register(func):
        TARGETS[name] = func
        return func
    return register


@target("contact")
def _contact_thread(alias: MailAlias, mail, contact) -> Thread:
    return contact.ensure_thread()


@dataclass
class Outcome:
    status: str  # routed | created | catchall | dsn | bounced | unparseable | duplicate
    reason: str = ""
    thread_id: int | None = None
    inbound_id: int | None = None

    @property
    def exit_code(self) -> int:
        """What an MTA pipe should hear: stored (0), or bounce it (67, EX_NOUSER)."""
        return EX_NOUSER if self.status == "bounced" else EX_OK


def ingest(raw: bytes, recipients=(), *, can_refuse: bool = True) -> Outcome:
    """Store and route one mail; commits. `recipients`: the envelope's, when the intake knows them.

    An intake that cannot refuse a mail (IMAP: it is already in our mailbox, there is nobody to
    tell) passes `can_refuse=False`: what would bounce is kept in the catch-all instead.
    """
    config = current_app.config
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    if len(raw) > config["MAIL_MAX_BYTES"]:
        too_large = f"larger than {config['MAIL_MAX_BYTES'] // (1024 * 1024)} MB"
        if can_refuse:
            return Outcome("bounced", too_large)
        if _known(digest):
            return Outcome("duplicate", "the same bytes came before")
        inbound = _store(raw, digest, None, "catchall", too_large)  # kept raw, not read
        db.session.commit()
        return Outcome("catchall", too_large, None, inbound.id)
    try:
        mail = mailparse.parse(raw, reply_localpart=config["MAIL_REPLY_LOCALPART"])
    except mailparse.MailParseError as err:
        if _known(digest):
            return Outcome("duplicate", "the same bytes came before")
        inbound = _store(raw, digest, None, "unparseable", str(err))
        db.session.commit()
        return Outcome("unparseable", inbound.reason or "", None, inbound.id)
    key = mail.message_id or digest
    ours = _our_recipients(mail, recipients)
    seen = _facts(key, mail, _alias_candidates(mail, ours))
    if seen.received:
        return Outcome("duplicate", f"{key} came before")
    sender = _Sender(mail)
    status, reason, thread, alias = _route(mail, ours, seen, sender)
    if status == "bounced" and not can_refuse:
        status = "catchall"
    if status == "bounced":  # refused, and the sender is told: not received, so a retry is not a duplicate
        db.session.rollback()
        log.info("mail %s from %s refused: %s", key, mail.sender.address if mail.sender else None, reason)
        return Outcome(status, reason)
    message = None
    if status == "dsn":
        _bounced(mail)
    elif thread is not None:
        message = _append(thread, mail, sender.contact, None if seen.message_id_taken else mail.message_id)
    inbound = _store(raw, key, mail, status, reason, thread=thread, alias=alias, ours=ours, message=message)
    outcome = Outcome(status, reason, inbound.thread_id, inbound.id)
    db.session.commit()
    log.info("mail %s from %s: %s (%s)", key, mail.sender.address if mail.sender else None, status, reason)
    return outcome


def reprocess(inbound: InboundMail) -> Outcome:
    """Route a caught mail again, as an admin asks once the cause is fixed (an alias added for
    the address it came to, a sender let through): the same order as `ingest`, without the
    per-sender limit, and nothing refused (it is ours already). Updates `inbound`; not committed.
    """
    if inbound.status != "catchall":
        raise ValueError("only a mail in the catch-all can be processed again")
    try:
        mail = mailparse.parse(inbound.raw, reply_localpart=current_app.config["MAIL_REPLY_LOCALPART"])
    except mailparse.MailParseError:
        return Outcome("catchall", inbound.reason or "", None, inbound.id)
    ours = [a for a in (inbound.recipients or "").split(", ") if a]
    seen = _facts(inbound.dedupe_key, mail, _alias_candidates(mail, ours))
    seen.sender_recent = 0
    sender = _Sender(mail)
    status, reason, thread, alias = _route(mail, ours, seen, sender)
    if status in ("bounced", "catchall"):
        inbound.reason = reason[:255]
        return Outcome("catchall", reason, None, inbound.id)
    message = None
    if status == "dsn":
        _bounced(mail)
    elif thread is not None:
        message = _append(thread, mail, sender.contact, None if seen.message_id_taken else mail.message_id)
    inbound.status, inbound.reason = status, reason[:255]
    inbound.alias_id = alias.id if alias is not None else None
    inbound.thread_id = thread.id if thread is not None else None
    inbound.chatter_message_id = message.id if message is not None else None
    return Outcome(status, reason, inbound.thread_id, inbound.id)


# ---- deciding --------------------------------------------------------------------------------

def _known(key: str) -> bool:
    return db.session.scalar(select(InboundMail.id).where(InboundMail.dedupe_key == key)) is not None


@dataclass
class _Facts:
    received: bool  # this mail came before
    message_id_taken: bool  # a message of ours already has its Message-ID
    sender_recent: int  # its sender's mails in the last MAIL_SENDER_WINDOW seconds
    aliases: dict  # local part -> Alias, for the local parts asked about
    anchors: dict  # Message-ID -> thread id, for In-Reply-To / References naming a mail of ours


@functools.cache
def _facts_query():
    """The UNION behind `_facts`, built once: the same statement (and server-side prepared plan)
    for every mail; the lists go in as expanding parameters, empty ones included."""
    text_null = null().cast(String)
    past = select(
        literal("past").label("kind"),
        select(InboundMail.id).where(InboundMail.dedupe_key == bindparam("key")).exists().cast(Integer).label("a"),
        select(Message.id).where(Message.message_id == bindparam("message_id")).exists().cast(Integer).label("b"),
        select(func.count(InboundMail.id)).where(InboundMail.sender == bindparam("sender"),
                                                 InboundMail.received_at > bindparam("since")).scalar_subquery().label("c"),
        text_null.label("name"), text_null.label("target"))
    aliases = select(literal("alias"), MailAlias.id, MailAlias.active.cast(Integer), MailAlias.team_id,
                     MailAlias.local_part, MailAlias.target).where(
                         MailAlias.local_part.in_(bindparam("locals", expanding=True)))
    sent = (select(literal("anchor"), Message.thread_id, literal(0), literal(0), OutboxMail.message_id, text_null)
            .join(Message, Message.id == OutboxMail.chatter_message_id)
            .where(OutboxMail.message_id.in_(bindparam("anchors", expanding=True))))
    received = (select(literal("anchor"), Message.thread_id, literal(0), literal(0), Message.message_id, text_null)
                .where(Message.message_id.in_(bindparam("anchors", expanding=True))))
    return union_all(past, aliases, sent, received)


def _facts(key: str, mail, alias_locals=()) -> _Facts:
    """What the routing needs to know from the database, in one round trip: the mail's past,
    the aliases among `alias_locals`, and the threads of the mails it answers (its anchors: a
    mail we sent, in `outbox_mails`, or one we received, in `messages`)."""
    params = {
        "key": key[:255], "message_id": (mail.message_id or "")[:255],
        "sender": mail.sender.address[:254] if mail.sender else None,
        "since": utcnow() - timedelta(seconds=current_app.config["MAIL_SENDER_WINDOW"]),
        "locals": list(alias_locals),
        "anchors": [m for m in dict.fromkeys([*mail.in_reply_to, *mail.references]) if m][:50],
    }
    facts = _Facts(False, False, 0, {}, {})
    for kind, a, b, c, name, target in db.session.execute(_facts_query(), params):
        if kind == "past":
            facts.received, facts.message_id_taken, facts.sender_recent = bool(a), bool(mail.message_id) and bool(b), c or 0
        elif kind == "alias":
            facts.aliases[name] = Alias(a, name, target, bool(b), c)
        else:
            facts.anchors[name] = a
    return facts


class _Sender:
    """The mail's sender: its normalised address (None when unusable), and its contact, looked up
    (or created) once, when first needed."""

    def __init__(self, mail):
        self.mail = mail
        self.address = None
        if mail.sender is not None:
            try:
                self.address = contacts.normalize_address(mail.sender.address)
            except contacts.AddressError:
                pass
        self._contact = False

    @property
    def usable(self) -> bool:
        return self.address is not None

    @property
    def contact(self):
        if self._contact is False:
            self._contact = (contacts.for_address(self.mail.sender.name[:160], self.address)
                             if self.address else None)
        return self._contact


def _our_recipients(mail, envelope) -> list[str]:
    domain = current_app.config["MAIL_DOMAIN"].lower()
    found = [*envelope, *(a.address for a in mail.to + mail.cc), *mail.delivered_to]
    seen: dict[str, None] = {}
    for address in found:
        address = (address or "").strip().lower()
        if address.rpartition("@")[2] == domain:
            seen.setdefault(address)
    return list(seen)


def _local(address: str) -> str:
    return address.rpartition("@")[0]


@dataclass(frozen=True)
class Alias:
    """A mail alias as routing reads it (with the mail's other facts: `_facts`)."""
    id: int
    local_part: str
    target: str
    active: bool
    team_id: int | None = None  # target "ticket": the team whose tickets it opens


def _alias_candidates(mail, ours) -> list[str]:
    """The local parts the routing may ask about: our recipients' (not reply addresses), and the
    sender's when it writes from our domain (a loop)."""
    config = current_app.config
    reply_prefix = config["MAIL_REPLY_LOCALPART"].lower() + "+"
    found = [_local(a) for a in ours if not _local(a).startswith(reply_prefix)]
    if mail.sender is not None and mail.sender.address.lower().rpartition("@")[2] == config["MAIL_DOMAIN"].lower():
        found.append(_local(mail.sender.address.lower()))
    return list(dict.fromkeys(found))[:50]


def _aliases(ours, seen: "_Facts") -> list[Alias]:
    """The active aliases among our recipients, in the order they were addressed."""
    found = (seen.aliases.get(_local(a)) for a in ours)
    return list(dict.fromkeys(alias for alias in found if alias is not None and alias.active))


def _own_address(address: str, seen: "_Facts") -> bool:
    config = current_app.config
    address = (address or "").lower()
    if address == config["MAIL_FROM"].lower():
        return True
    if address.rpartition("@")[2] != config["MAIL_DOMAIN"].lower():
        return False
    local = _local(address)
    return local.startswith(config["MAIL_REPLY_LOCALPART"].lower() + "+") or local in seen.aliases


def _home_alias_id(thread: Thread) -> int | None:
    """The alias whose mail started the thread's conversation, if one did."""
    return db.session.scalar(select(InboundMail.alias_id).where(
        InboundMail.thread_id == thread.id, InboundMail.status == "created").order_by(InboundMail.id).limit(1))


def _route(mail, ours, seen: _Facts, sender: _Sender):
    """(status, reason, thread or None, alias or None) by the order in the module's docstring."""
    automatic = mail.auto_submitted or mail.bulk
    if mail.dsn is not None:
        original = mail.dsn.original_message_id
        if original and db.session.scalar(select(OutboxMail.id).where(OutboxMail.message_id == original)):
            return "dsn", f"report on {original}", None, None
        return "catchall", "bounce", None, None
    if mail.sender is not None and _own_address(mail.sender.address, seen):
        return "catchall", "loop", None, None
    if mail.sender is not None and seen.sender_recent >= current_app.config["MAIL_SENDER_LIMIT"]:
        return "catchall", "rate limit", None, None
    aliases = _aliases(ours, seen)
    anchors = seen.anchors
    for via, ids in (("in-reply-to", mail.in_reply_to), ("references", list(reversed(mail.references)))):
        for message_id in ids:
            if message_id not in anchors:
                continue
            thread = db.session.get(Thread, anchors[message_id])
            home = _home_alias_id(thread) if aliases else None
            other = [a for a in aliases if a.id != home]
            if other and not automatic:
                return "created", f"forward to {other[0].local_part}", _create(other[0], mail, sender), other[0]
            return "routed", via, thread, None
    reply_prefix = current_app.config["MAIL_REPLY_LOCALPART"].lower() + "+"
    address_tokens = [_local(a)[len(reply_prefix):] for a in ours if _local(a).startswith(reply_prefix)]
    for token in address_tokens:
        thread_id = _token_thread(token)
        if thread_id is None:
            return "catchall", "bad-token", None, None
        return "routed", "token", db.session.get(Thread, thread_id), None
    for token in mail.tokens:
        thread_id = _token_thread(token)
        if thread_id is not None and ours:
            return "routed", "marker", db.session.get(Thread, thread_id), None
    for ref in SUBJECT_REF.findall(mail.subject):
        for resolve in SUBJECT_RESOLVERS:
            thread = resolve(ref, mail)
            if thread is not None:
                return "routed", "subject", thread, None
    if aliases:
        if automatic:
            return "catchall", "auto", None, None
        if not sender.usable:
            return "catchall", "no sender", None, None
        return "created", f"alias {aliases[0].local_part}", _create(aliases[0], mail, sender), aliases[0]
    if ours:
        return "catchall", "unknown-recipient", None, None
    return "bounced", "no recipient of ours", None, None


def _token_thread(token: str) -> int | None:
    thread_id = mailer.token_thread_id(token)
    return thread_id if thread_id is not None and db.session.get(Thread, thread_id) is not None else None


def _create(alias, mail, sender: _Sender) -> Thread:
    return TARGETS[alias.target](alias, mail, sender.contact)


# ---- acting ----------------------------------------------------------------------------------

def _store(raw, key, mail, status, reason, *, thread=None, alias=None, ours=(), message=None) -> InboundMail:
    inbound = InboundMail(
        dedupe_key=key[:255], message_id=mail.message_id[:255] if mail and mail.message_id else None,
        sender=mail.sender.address[:254] if mail and mail.sender else None,
        recipients=", ".join(ours), subject=(mail.subject if mail else "")[:255], status=status,
        reason=reason[:255] if reason else None, alias_id=alias.id if alias else None,
        thread_id=thread.id if thread is not None else None, size=len(raw), raw=raw, received_at=utcnow(),
        chatter_message_id=message.id if message is not None else None)
    db.session.add(inbound)
    db.session.flush()
    return inbound


def _bounced(mail) -> None:
    """A DSN: the recipients it names, of the mail it is about, are bounced (delays are not)."""
    outbox = db.session.scalar(select(OutboxMail).where(OutboxMail.message_id == mail.dsn.original_message_id))
    failed = {(r.get("address") or "").lower(): r for r in mail.dsn.recipients if r.get("action") == "failed"}
    if outbox is None or not failed:
        return
    reason = "; ".join(f"{r.get('status') or ''} {r.get('diagnostic') or ''}".strip() for r in failed.values())[:300]
    recipients = db.session.scalars(select(MessageRecipient).where(
        MessageRecipient.outbox_mail_id == outbox.id,
        func.lower(MessageRecipient.address).in_(list(failed)))).all()
    for recipient in recipients:
        recipient.status, recipient.error = "bounced", reason or "bounced"
    outbox.error = reason or "bounced"
    if recipients and outbox.chatter_message_id is not None:
        outbox.status = "failed"
        mailer.tell_the_author(outbox)


def _upload(part) -> FileStorage:
    """A mail part as an upload; an inline image keeps its Content-ID, for the body to show it."""
    upload = FileStorage(io.BytesIO(part.data), filename=part.filename, content_type=part.content_type)
    upload.content_id = part.content_id if part.inline else None
    return upload


def _append(thread: Thread, mail, author, message_id: str | None) -> Message | None:
    """The mail as its sender's message in `thread`; Cc'd people follow the thread."""
    if author is None:
        return None
    text, html = mailparse.visible_part(mail.text, mail.html)
    body = clean_html(html) if html else (text or "")
    limit = current_app.config["MAX_MESSAGE_CHARS"]
    notes = []
    if len(body) > limit:
        body, notes = body[:limit], ["The mail was longer than a message may be; the whole mail is kept."]
    files = [_upload(part) for part in mail.attachments if part.data]
    post = {"kind": "comment", "is_html": bool(html), "subject": mail.subject[:255] or None,
            "author_contact": author, "notify": not (mail.auto_submitted or mail.bulk),
            "message_id": message_id[:255] if message_id else None}
    if not files:
        message = messaging.post_message(thread, None, body or "(empty mail)", **post)
    else:
        try:
            with db.session.begin_nested():  # a file refused half-way leaves no half-written message
                message = messaging.post_message(thread, None, body or "(empty mail)", files=files, **post)
        except AttachmentError as err:
            message = messaging.post_message(thread, None, body or "(empty mail)", **post)
            notes.append(f"Attachments not kept: {err}")
    if notes:
        messaging.post_message(thread, None, " ".join(notes), kind="notification", notify=False)
    domain = current_app.config["MAIL_DOMAIN"].lower()
    following = {author.id: author}
    for copied in (mail.cc + mail.to)[:MAX_FOLLOWERS_ADDED]:
        address = copied.address.lower()
        if address.rpartition("@")[2] == domain or address == mail.sender.address.lower():
            continue
        try:
            normalized = contacts.normalize_address(copied.address)
        except contacts.AddressError:
            continue
        contact = contacts.for_address(copied.name[:160], normalized)
        following.setdefault(contact.id, contact)
    already = set(db.session.scalars(select(Follower.contact_id).where(
        Follower.thread_id == thread.id, Follower.contact_id.in_(list(following)))))
    db.session.add_all(Follower(thread_id=thread.id, contact_id=contact_id)
                       for contact_id in following if contact_id not in already)
    return message
