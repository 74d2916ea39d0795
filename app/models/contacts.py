"""Contacts: the people and companies a team talks to."""
from datetime import datetime

from sqlalchemy import Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import utcnow
from app.models.threads import ThreadMixin


class Contact(ThreadMixin, db.Model):
    __tablename__ = "contacts"
    thread_model = "contact"
    thread_endpoint = "contacts.show"
    thread_endpoint_arg = "contact_id"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(160))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    company: Mapped[str | None] = mapped_column(String(160))
    job_title: Mapped[str | None] = mapped_column(String(120))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # lower(email): finding the contact of an address (every inbound mail) is case-insensitive.
    __table_args__ = (Index("ix_contacts_name", "name"), Index("ix_contacts_email_lower", func.lower(email)))

    # Fields whose changes are logged in the thread (SPEC §1.6).
    tracked_fields = {"name": "Name", "email": "Email", "phone": "Phone", "company": "Company"}

    @property
    def display_name(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Contact {self.name}>"
