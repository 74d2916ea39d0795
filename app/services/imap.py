"""IMAP polling (SPEC §3.3): the job worker fetches a mailbox's new mail into the gateway.

Which mails are new is decided by UID, not by the \\Seen flag (a person reading the mailbox in
a mail client sets it too): per mailbox, an `ImapCursor` keeps the server's UIDVALIDITY and the
last UID ingested. A poll fetches the UIDs above it in order, hands each mail to
`mailgate.ingest`, then advances the cursor (a commit) and only then flags the mail \\Seen.

Nothing is lost and nothing is stored twice:
- a crash (or a database error) after a mail was ingested but before the cursor moved past it
  fetches that mail again next time, and the gateway's dedupe (Message-ID, else the bytes)
  finds it already received;
- a crash before ingest leaves the cursor where it was: the mail is fetched next time;
- when the server renumbers the mailbox (UIDVALIDITY changed) every mail is fetched again from
  UID 1, and dedupe drops those already received.

One poller at a time per mailbox: the cursor row carries a lease (`locked_until`), taken with a
conditional UPDATE, renewed at each mail and freed at the end. It holds across processes and
hosts on SQLite and PostgreSQL alike, with or without Redis; a poller that died frees the
mailbox when its lease runs out.
"""
import imaplib
import logging
import secrets
import ssl
from dataclasses import dataclass, field
from datetime import timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from urllib.parse import parse_qs, unquote, urlsplit

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from app.extensions import db
from app.models import ImapCursor
from app.models.base import utcnow
from app.services import mailgate

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)  # longer than one mail takes; a dead poller's mailbox is free after it
ADDRESS_HEADERS = ("to", "cc", "delivered-to", "x-original-to", "envelope-to")  # as the gateway reads them
IMAP_ERRORS = (imaplib.IMAP4.error, OSError)  # protocol refusals, network and TLS failures


class ImapError(ValueError):
    """IMAP_URL is not a usable address (a setting to fix, not a passing failure)."""


class LeaseLost(Exception):
    """This poller held the mailbox longer than LEASE and another one has it now: this one stops
    (the cursor is where its last mail left it) and the other carries on."""


@dataclass(frozen=True)
class Mailbox:
    """`IMAP_URL`: imap://user:password@host:143/Folder (STARTTLS when the server offers it),
    imap+starttls://… (STARTTLS required), imaps://…:993/Folder (TLS from the start); user and
    password percent-encoded; the folder defaults to INBOX; `?timeout=30`."""

    scheme: str
    host: str
    port: int
    user: str
    password: str
    folder: str
    timeout: float

    @classmethod
    def from_url(cls, url: str | None) -> "Mailbox":
        parts = urlsplit(url or "")
        if parts.scheme not in ("imap", "imap+starttls", "imaps") or not parts.hostname or not parts.username:
            raise ImapError("IMAP_URL must look like imap://user:password@host:143/INBOX")
        try:
            return cls(scheme=parts.scheme, host=parts.hostname,
                       port=parts.port or (993 if parts.scheme == "imaps" else 143),
                       user=unquote(parts.username), password=unquote(parts.password or ""),
                       folder=unquote(parts.path.strip("/")) or "INBOX",
                       timeout=float(parse_qs(parts.query).get("timeout", ["30"])[0]))
        except ValueError as err:  # a port or timeout that is not a number
            raise ImapError(f"IMAP_URL: {err}") from None

    @property
    def key(self) -> str:
        """What identifies the mailbox's cursor: server, user and folder (never the password)."""
        return f"{self.user}@{self.host}:{self.port}/{self.folder}"

    def connect(self) -> imaplib.IMAP4:
        """An open connection, TLS as the scheme asks; not logged in yet."""
        context = ssl.create_default_context()
        if self.scheme == "imaps":
            return imaplib.IMAP4_SSL(self.host, self.port, ssl_context=context, timeout=self.timeout)
        conn = imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
        if self.scheme == "imap+starttls" or "STARTTLS" in conn.capabilities:
            conn.starttls(context)
        return conn


@dataclass
class PollResult:
    """What one poll did: the gateway's outcome for each mail fetched (by UID), and why it
    stopped early, if it did (already logged)."""

    fetched: dict[int, mailgate.Outcome] = field(default_factory=dict)
    error: str | None = None
    busy: bool = False  # another poller holds the mailbox: nothing was fetched


def poll(url: str | None = None) -> PollResult:
    """Fetch the new mails of `url` (default IMAP_URL), at most IMAP_BATCH, into the gateway.

    Needs an app and a request context (the gateway renders what the mail makes). Commits.
    An IMAP or database failure is logged and ends the poll; the next one starts where this
    one stopped. Raises ImapError only for an IMAP_URL that cannot work.
    """
    mailbox = Mailbox.from_url(url or current_app.config["IMAP_URL"])
    result = PollResult()
    try:
        lease = _take_lease(mailbox.key)
    except OperationalError as err:
        db.session.rollback()
        result.error = _logged(mailbox, "the database is unreachable", err)
        return result
    if lease is None:
        log.info("IMAP %s: another poller is reading it now", mailbox.key)
        result.busy = True
        return result
    try:
        _fetch_new(mailbox, lease, result)
    except IMAP_ERRORS as err:
        result.error = _logged(mailbox, "the IMAP server failed", err)
    except LeaseLost as err:
        result.error = _logged(mailbox, "stopped", err)
    except OperationalError as err:
        result.error = _logged(mailbox, "the database is unreachable", err)
    finally:
        _free_lease(mailbox.key, lease)
    return result


def _logged(mailbox: Mailbox, what: str, err: Exception) -> str:
    """Log why the poll stopped and return it in words (the key names no password)."""
    if isinstance(err, imaplib.IMAP4.error):  # the server's words, which imaplib hands over as bytes
        detail = err.args[0] if err.args else ""
        detail = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    else:
        detail = f"{err.__class__.__name__}: {err}"
    message = f"{what}: {detail}"[:300]
    log.error("IMAP %s: %s; the next poll tries again", mailbox.key, message)
    return message


# ---- the lease and the cursor ----------------------------------------------------------------

def _take_lease(key: str) -> str | None:
    """The lease of `key`'s cursor (a token), or None while another poller holds it. Commits."""
    if db.session.scalar(select(ImapCursor.id).where(ImapCursor.mailbox == key)) is None:
        try:
            with db.session.begin_nested():  # another poller may be creating it at the same moment
                db.session.add(ImapCursor(mailbox=key))
        except IntegrityError:
            pass
    token, now = secrets.token_hex(8), utcnow()
    taken = db.session.execute(
        update(ImapCursor)
        .where(ImapCursor.mailbox == key, or_(ImapCursor.locked_until.is_(None), ImapCursor.locked_until < now))
        .values(locked_until=now + LEASE, locked_by=token)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return token if taken else None


def _move_cursor(key: str, lease: str, **values) -> None:
    """Set the cursor's `values` and renew the lease, and commit; LeaseLost if it was taken over."""
    moved = db.session.execute(
        update(ImapCursor).where(ImapCursor.mailbox == key, ImapCursor.locked_by == lease)
        .values(locked_until=utcnow() + LEASE, **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if not moved:
        raise LeaseLost(f"another poller took {key} over (a mail took longer than {LEASE})")


def _free_lease(key: str, lease: str) -> None:
    """Free the mailbox for the next poll. What a failure left half-done is dropped first:
    every mail ingested was committed with its cursor already."""
    db.session.rollback()
    try:
        db.session.execute(
            update(ImapCursor).where(ImapCursor.mailbox == key, ImapCursor.locked_by == lease)
            .values(locked_until=None, locked_by=None, polled_at=utcnow())
            .execution_options(synchronize_session=False))
        db.session.commit()
    except OperationalError:  # the database is away: the lease runs out by itself
        db.session.rollback()


# ---- fetching --------------------------------------------------------------------------------

def _fetch_new(mailbox: Mailbox, lease: str, result: PollResult) -> None:
    """Ingest the mails above the cursor, oldest first, each followed by the cursor and \\Seen."""
    with mailbox.connect() as conn:
        conn.login(mailbox.user, mailbox.password)
        uidvalidity = _select(conn, mailbox.folder)
        last_uid = _cursor_for(mailbox.key, lease, uidvalidity)
        for uid in _uids_after(conn, last_uid)[:current_app.config["IMAP_BATCH"]]:
            raw = _fetch(conn, uid)
            if raw is not None:  # None: deleted since the search, nothing to take
                result.fetched[uid] = mailgate.ingest(raw, _envelope(raw), can_refuse=False)
            _move_cursor(mailbox.key, lease, last_uid=uid)
            _check(conn.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Seen)"))


def _select(conn: imaplib.IMAP4, folder: str) -> int:
    """Open `folder` read-write (to set \\Seen) and return its UIDVALIDITY."""
    quoted = '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
    _check(conn.select(quoted))
    _, values = conn.response("UIDVALIDITY")
    if not values or values[0] is None:
        raise imaplib.IMAP4.error(f"{folder}: the server gave no UIDVALIDITY")
    return int(values[0])


def _cursor_for(key: str, lease: str, uidvalidity: int) -> int:
    """The last UID ingested; 0 (start over) when the server has renumbered the mailbox."""
    cursor = db.session.scalar(select(ImapCursor).where(ImapCursor.mailbox == key))
    if cursor.uidvalidity == uidvalidity:
        return cursor.last_uid
    if cursor.uidvalidity is not None:
        log.warning("IMAP %s: UIDVALIDITY changed (%s -> %s); fetching every mail again, duplicates are dropped",
                    key, cursor.uidvalidity, uidvalidity)
    _move_cursor(key, lease, uidvalidity=uidvalidity, last_uid=0)
    return 0


def _uids_after(conn: imaplib.IMAP4, last_uid: int) -> list[int]:
    """The UIDs above `last_uid`, ascending. `n:*` always matches the highest UID, even one
    below n (RFC 3501 §6.4.8): that one is filtered out."""
    data = _check(conn.uid("SEARCH", "UID", f"{last_uid + 1}:*"))
    return sorted(uid for uid in map(int, b" ".join(d for d in data if d).split()) if uid > last_uid)


def _fetch(conn: imaplib.IMAP4, uid: int) -> bytes | None:
    """The raw mail of `uid`, without setting \\Seen (that waits for the cursor)."""
    for item in _check(conn.uid("FETCH", str(uid), "(BODY.PEEK[])")):
        if isinstance(item, tuple) and b"BODY[]" in item[0]:
            return item[1]
    return None


def _check(answer):
    """The data of an imaplib answer; an IMAP4.error when the server said NO or BAD."""
    status, data = answer
    if status != "OK":
        raise imaplib.IMAP4.error(b" ".join(d for d in data if isinstance(d, bytes)) or status)
    return data


def _envelope(raw: bytes) -> list[str]:
    """IMAP_ALIAS@MAIL_DOMAIN as the envelope recipient of a mail that names no address of ours
    (the mailbox belongs to another domain: its mail becomes the alias's conversations, as an
    MTA's delivery to that alias would); none for a mail that does, so that a reply or a mail to
    another alias is routed as the gateway routes it from anywhere else."""
    config = current_app.config
    if not config["IMAP_ALIAS"]:
        return []
    domain = "@" + config["MAIL_DOMAIN"].lower()
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    named = getaddresses([str(value) for name in ADDRESS_HEADERS for value in headers.get_all(name, [])])
    if any(address.lower().endswith(domain) for _, address in named):
        return []
    return [f"{config['IMAP_ALIAS']}@{config['MAIL_DOMAIN']}"]
