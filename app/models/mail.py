"""Outbound mail: every mail Hilo sends, with its delivery state; inbound mail and its intakes.

Without `SMTP_URL` the outbox is the delivery (admins read it; a mail is "sent" once written).
With it, a job sends each mail over SMTP: queued -> sending -> sent, or back to queued with a
later attempt on a temporary failure, or failed (permanent, or out of attempts).
"""
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import utcnow


class OutboxMail(db.Model):
    __tablename__ = "outbox_mails"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)  # RFC 5322 Message-ID
    sender: Mapped[str] = mapped_column(String(254))
    to: Mapped[str] = mapped_column(Text)  # comma-separated addresses
    subject: Mapped[str] = mapped_column(String(255))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32), default="message")  # message|invite|reset|notification
    chatter_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # Headers beyond the basics (values are single lines, checked by the mailer).
    from_name: Mapped[str | None] = mapped_column(String(120))
    reply_to: Mapped[str | None] = mapped_column(String(254))
    in_reply_to: Mapped[str | None] = mapped_column(String(255))
    references: Mapped[str | None] = mapped_column(Text)  # space-separated Message-IDs
    auto_submitted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # Delivery.
    status: Mapped[str] = mapped_column(String(16), default="sent", server_default="sent")  # queued|sending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    claimed_at: Mapped[datetime | None] = mapped_column()  # when a worker took it (sending)
    sent_at: Mapped[datetime | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_outbox_mails_status_next", "status", "next_attempt_at"),)


class MailAlias(db.Model):
    """An address of MAIL_DOMAIN that takes mail in: `support` creates a record of `target`
    (a contact's thread now, a team's ticket later) for each new conversation."""

    __tablename__ = "mail_aliases"

    id: Mapped[int] = mapped_column(primary_key=True)
    local_part: Mapped[str] = mapped_column(String(64), unique=True)  # lower-case, before the @
    target: Mapped[str] = mapped_column(String(32), default="contact")  # a key of mailgate.TARGETS
    # For target "ticket": the team whose tickets it opens.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("helpdesk_teams.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InboundMail(db.Model):
    """Every mail that came in, kept raw, with where it went (or why it went nowhere)."""

    __tablename__ = "inbound_mails"

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)  # Message-ID, else sha256 of the bytes
    message_id: Mapped[str | None] = mapped_column(String(255))
    sender: Mapped[str | None] = mapped_column(String(254))
    recipients: Mapped[str] = mapped_column(Text, default="")  # the addresses of ours it came to
    subject: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(16), index=True)  # routed|created|catchall|dsn|bounced|unparseable
    reason: Mapped[str | None] = mapped_column(String(255))  # how it was routed, or why not
    alias_id: Mapped[int | None] = mapped_column(ForeignKey("mail_aliases.id", ondelete="SET NULL"))
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("threads.id", ondelete="SET NULL"), index=True)
    chatter_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    size: Mapped[int] = mapped_column(Integer, default=0)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    __table_args__ = (Index("ix_inbound_mails_sender_received", "sender", "received_at"),)  # rate per sender


class ImapCursor(db.Model):
    """How far IMAP polling has read one mailbox (`user@host:port/Folder`), and who polls it now.

    UIDs only grow within one UIDVALIDITY; when the server changes it, every UID is new and
    reading starts over (the gateway drops what it already has). `locked_until` is a lease: one
    poller at a time per mailbox, freed when it finishes, or when a dead one's lease runs out.
    """

    __tablename__ = "imap_cursors"

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(512), unique=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)  # IMAP numbers are unsigned 32-bit
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")  # the last one ingested
    locked_until: Mapped[datetime | None] = mapped_column()
    locked_by: Mapped[str | None] = mapped_column(String(32))  # the poller holding the lease
    polled_at: Mapped[datetime | None] = mapped_column()

