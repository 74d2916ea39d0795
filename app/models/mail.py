"""The outbox: outbound mail kept for admins to read (the embedded default for delivery)."""
from datetime import datetime

from sqlalchemy import String, Text, ForeignKey
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
