"""Inbound mail for admins (SPEC §3.3–3.5): the aliases that take mail in, and the log of what came.

The gateway (`mailgate`) decides where a mail goes; this module manages aliases and tells admins,
in plain words, what happened to each mail. Nothing here commits: views and the CLI do.
"""
import re
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import InboundMail, MailAlias, Message, OutboxMail, Team, Thread
from app.models.base import contains_pattern
from app.services import mailgate, mailparse, messaging
from app.services.sanitize import clean_html, html_to_text

# Addresses that must reach the people who run the mail server (RFC 2142, RFC 5321) or that
# robots send from: mail to them stays in the catch-all, for admins, instead of making contacts.
RESERVED_LOCAL_PARTS = ("postmaster", "abuse", "mailer-daemon", "hostmaster", "noreply", "no-reply")
# RFC 5321 dot-atom, narrowed: lower-case ASCII letters, digits, "." "_" "-" ("+" is for reply tokens).
LOCAL_PART = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
MAX_LOCAL_PART = 64
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# What an alias target creates, for people; a target registered without a label shows its key.
TARGET_LABELS = {
    "contact": ("Contact conversation", "Mail from someone new creates their contact; their mail and your replies "
                                        "go into the contact's conversation."),
    "ticket": ("Helpdesk ticket", "Each new conversation opens a ticket for the team."),
}

STATUS_LABELS = {
    "catchall": "Catch-all", "unparseable": "Unparseable", "routed": "Routed",
    "created": "New conversation", "dsn": "Bounce report", "bounced": "Refused",
}
# The tabs of the inbound list, in order; the first two are the ones an admin has to look at.
STATUS_FILTERS = ("catchall", "unparseable", "routed", "created", "dsn")

# mailgate's reasons (`_route`, `ingest`) in plain words. The ones carrying a value are below.
REASONS = {
    "unknown-recipient": "No alias for this address",
    "bad-token": "Reply token did not verify",
    "loop": "Sent from one of our own addresses (a mail loop)",
    "rate limit": "Too many mails from this sender in a short time",
    "auto": "Automatic or bulk mail to an alias: no conversation is started for it",
    "bounce": "Bounce about a mail Hilo did not send",
    "no sender": "No usable sender address",
    "no recipient of ours": "Not addressed to any address of ours",
    "in-reply-to": "Reply to a mail of the conversation",
    "references": "Refers to a mail of the conversation",
    "token": "Sent to the conversation's reply address",
    "marker": "Found the conversation's marker in the text",
    "subject": "Found the conversation's reference in the subject",
    "empty message": "The message is empty",
    "no mail header found": "No mail header found: this is not a mail",
}


class AliasError(ValueError):
    """A refused alias change; the message is meant for the admin. `field` names the form field."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass
class AliasRow:
    alias: MailAlias
    mails: int  # inbound mails that name this alias (the conversations it started)


# ---- aliases ---------------------------------------------------------------------------------

def domain() -> str:
    """MAIL_DOMAIN, lower-cased as the gateway compares it."""
    return current_app.config["MAIL_DOMAIN"].lower()


def address_of(alias: MailAlias) -> str:
    """The alias's full address, `local@MAIL_DOMAIN`."""
    return f"{alias.local_part}@{domain()}"


def target_label(key: str) -> str:
    return TARGET_LABELS.get(key, (key.replace("_", " ").capitalize(), ""))[0]


def target_hint(key: str) -> str:
    return TARGET_LABELS.get(key, ("", ""))[1]


def target_choices() -> list[tuple[str, str]]:
    """(value, label) of what an alias may create: the targets registered with the gateway; a
    ticket target once per active team (`ticket:<team id>`)."""
    choices = []
    for key in mailgate.TARGETS:
        if key == "ticket":
            choices += [(f"ticket:{team.id}", f"Ticket for {team.name}")
                        for team in db.session.scalars(select(Team).where(Team.active.is_(True)).order_by(Team.name))]
        else:
            choices.append((key, target_label(key)))
    return choices


def choice_of(alias: MailAlias) -> str:
    """The alias's value among `target_choices`."""
    return f"ticket:{alias.team_id}" if alias.target == "ticket" and alias.team_id else alias.target


def alias_label(alias: MailAlias) -> str:
    """What the alias creates, in words (the team's name for tickets)."""
    if alias.target == "ticket":
        team = db.session.get(Team, alias.team_id) if alias.team_id else None
        return f"Ticket for {team.name}" if team else "Ticket (no team: mail goes to the sender's contact)"
    return target_label(alias.target)


def reserved_local_parts() -> set[str]:
    config = current_app.config
    return {*RESERVED_LOCAL_PARTS, config["MAIL_REPLY_LOCALPART"].lower(),
            config["MAIL_FROM"].rpartition("@")[0].lower()}


def check_local_part(value: str, *, field: str = "local_part") -> str:
    """The local part lower-cased, or AliasError saying what is wrong with it."""
    local = (value or "").strip().lower()
    if not local:
        raise AliasError("Enter the part of the address before the @.", field=field)
    if "@" in local:
        raise AliasError(f"Enter only the part before the @: the domain is always {domain()}.", field=field)
    if len(local) > MAX_LOCAL_PART:
        raise AliasError(f"At most {MAX_LOCAL_PART} characters.", field=field)
    if "+" in local:
        raise AliasError("“+” is kept for reply addresses: choose a name without it.", field=field)
    if not LOCAL_PART.fullmatch(local):
        raise AliasError("Use letters, digits, dots, hyphens and underscores only, "
                         "with no dot at the start, at the end or twice in a row.", field=field)
    if local in reserved_local_parts():
        raise AliasError(f"{local}@{domain()} is reserved: Hilo or your mail server uses it.", field=field)
    return local


def check_target(value: str, *, field: str = "target") -> tuple[str, int | None]:
    """(target, team id) from a choice of `target_choices`, or AliasError."""
    target, _, team_id = (value or "").partition(":")
    if target not in mailgate.TARGETS or (target == "ticket") != bool(team_id):
        raise AliasError("Choose what the alias creates from the list.", field=field)
    if not team_id:
        return target, None
    team = db.session.get(Team, int(team_id)) if team_id.isdigit() else None
    if team is None or not team.active:
        raise AliasError("Choose an active team from the list.", field=field)
    return target, team.id


def create_alias(local_part: str, target: str) -> MailAlias:
    """A new active alias (flushed); AliasError for a bad, reserved or taken name, or an unknown target."""
    local = check_local_part(local_part)
    target, team_id = check_target(target)
    if db.session.scalar(select(MailAlias.id).where(MailAlias.local_part == local)) is not None:
        raise AliasError(f"{local}@{domain()} is already an alias.", field="local_part")
    alias = MailAlias(local_part=local, target=target, team_id=team_id, active=True)
    try:
        with db.session.begin_nested():  # another admin's request may have taken it meanwhile
            db.session.add(alias)
    except IntegrityError:
        raise AliasError(f"{local}@{domain()} is already an alias.", field="local_part") from None
    return alias


def update_alias(alias: MailAlias, target: str, active: bool) -> MailAlias:
    """Change what an alias creates, or stop it taking mail in (its mail then goes to the catch-all)."""
    alias.target, alias.team_id = check_target(target)
    alias.active = bool(active)
    return alias


def mail_count(alias: MailAlias) -> int:
    return db.session.scalar(select(func.count(InboundMail.id)).where(InboundMail.alias_id == alias.id)) or 0


def delete_alias(alias: MailAlias) -> None:
    """Delete an alias that no mail names yet. One that started conversations is deactivated instead:
    the gateway reads which alias started a thread (to tell a forward from a reply)."""
    used = mail_count(alias)
    if used:
        raise AliasError(f"{address_of(alias)} has started {used} conversation{'s' if used != 1 else ''}: "
                         "deactivate it instead (Hilo uses it to know where those conversations started).")
    db.session.delete(alias)
    db.session.flush()


def list_aliases() -> list[AliasRow]:
    """Every alias by address, with how many mails name it."""
    counts = (select(InboundMail.alias_id, func.count(InboundMail.id).label("mails"))
              .where(InboundMail.alias_id.is_not(None)).group_by(InboundMail.alias_id).subquery())
    rows = db.session.execute(select(MailAlias, func.coalesce(counts.c.mails, 0))
                              .outerjoin(counts, counts.c.alias_id == MailAlias.id)
                              .order_by(MailAlias.local_part))
    return [AliasRow(alias, mails) for alias, mails in rows]


def alias_row(alias: MailAlias) -> AliasRow:
    return AliasRow(alias, mail_count(alias))


# ---- the inbound log --------------------------------------------------------------------------

def _matching(query: str):
    stmt = select(InboundMail)
    query = (query or "").strip()
    if query:
        pattern = contains_pattern(query.lower())
        stmt = stmt.where(or_(func.lower(InboundMail.sender).like(pattern, escape="\\"),
                              func.lower(InboundMail.subject).like(pattern, escape="\\")))
    return stmt


def search_mail(status: str = "", query: str = "", page: int = 1, per_page: int | None = None):
    """One page of inbound mail, newest first, of one status (all: ""), sender or subject matching."""
    stmt = _matching(query)
    if status:
        stmt = stmt.where(InboundMail.status == status)
    stmt = stmt.order_by(InboundMail.received_at.desc(), InboundMail.id.desc())
    return db.paginate(stmt, page=max(page, 1), per_page=per_page or current_app.config["LIST_PAGE_SIZE"],
                       error_out=False)


def status_counts(query: str = "") -> dict[str, int]:
    """Mails per status (and "" for all) among those matching `query`."""
    matching = _matching(query).subquery()
    counts = dict(db.session.execute(select(matching.c.status, func.count()).group_by(matching.c.status)).all())
    return {"": sum(counts.values()), **{status: counts.get(status, 0) for status in STATUS_FILTERS}}


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status.capitalize())


def reason_text(status: str, reason: str | None) -> str:
    """What happened to a mail, in plain words, from the gateway's status and reason."""
    reason = (reason or "").strip()
    if reason in REASONS:
        return REASONS[reason]
    if reason.startswith("alias "):
        return f"New conversation from mail to {reason[6:]}@{domain()}"
    if reason.startswith("forward to "):
        return f"Forwarded to {reason[11:]}@{domain()}: a new conversation there"
    if reason.startswith("report on "):
        return "Delivery report about a mail Hilo sent"
    if reason.startswith("larger than "):
        return f"Too large to read ({reason})"
    if status == "unparseable":
        return f"Could not be read as mail ({reason})" if reason else "Could not be read as mail"
    return reason or ("Refused" if status == "bounced" else "")


def conversations(mails) -> dict[int, tuple[str, str]]:
    """mail id -> (title, URL) of the conversation each mail went to, for those that went to one.
    The URL opens the record at the mail's message when it has one."""
    thread_ids = {m.thread_id for m in mails if m.thread_id}
    if not thread_ids:
        return {}
    threads = {t.id: t for t in db.session.scalars(select(Thread).where(Thread.id.in_(thread_ids)))}
    message_ids = [m.chatter_message_id for m in mails if m.chatter_message_id]
    messages = {m.id: m for m in db.session.scalars(select(Message).where(Message.id.in_(message_ids)))} \
        if message_ids else {}
    links = {}
    for mail in mails:
        thread = threads.get(mail.thread_id)
        record = thread.record if thread is not None else None
        if record is None:
            continue
        message = messages.get(mail.chatter_message_id)
        url = messaging.message_url(message, thread) if message is not None else messaging.record_url(record)
        links[mail.id] = (record.display_name, url)
    return links


def read(mail: InboundMail) -> mailparse.ParsedMail | None:
    """The mail parsed for display, or None when it cannot be read (not mail, or kept unread as too large)."""
    if mail.status == "unparseable" or mail.size > current_app.config["MAIL_MAX_BYTES"]:
        return None
    try:
        return mailparse.parse(mail.raw, reply_localpart=current_app.config["MAIL_REPLY_LOCALPART"])
    except mailparse.MailParseError:
        return None


def display_text(parsed: mailparse.ParsedMail) -> str | None:
    """The text to show of a parsed mail: its text part, else its HTML part sanitised down to text."""
    if parsed.text is not None:
        return parsed.text
    if parsed.html:
        return html_to_text(clean_html(parsed.html))
    return None


def reported_mail(mail: InboundMail) -> OutboxMail | None:
    """For a delivery report: the mail of ours it is about."""
    if mail.status != "dsn" or not (mail.reason or "").startswith("report on "):
        return None
    return db.session.scalar(select(OutboxMail).where(OutboxMail.message_id == mail.reason[10:]))


def raw_preview(mail: InboundMail, limit: int = 4096) -> str:
    """The beginning of the raw bytes as text, for a mail that cannot be read: control characters
    (binary data, NULs) shown as U+FFFD, so that what is odd about it is visible and the page stays text."""
    return CONTROL.sub("\ufffd", mailparse.decode_text(bytes(mail.raw[:limit])))
