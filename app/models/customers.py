"""The customer-facing web (SPEC §6): a team's website form fields, its FAQ, and ratings.

A team's form is published when `Team.use_website_form` is on; its extra fields are `FormField`
rows, each mapped to a ticket field or kept in `Ticket.extra_data`. FAQ articles are Markdown,
rendered safely on the help center. A closed ticket gets at most one `Rating` from its customer.
"""
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import utcnow

FIELD_KINDS = ("text", "email", "phone", "url", "select")
# Where a field's answer goes: the ticket's extra data (shown on the ticket), or a ticket field.
FIELD_TARGETS = ("extra", "priority", "type", "tags", "customer_phone", "customer_company")
RATINGS = ("satisfied", "okay", "dissatisfied")


class FormField(db.Model):
    """One admin-configured field of a team's website form, shown in `sequence` order."""

    __tablename__ = "helpdesk_form_fields"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("helpdesk_teams.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(40))  # the form's input name and the extra data key
    label: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(10), default="text")
    placeholder: Mapped[str] = mapped_column(String(120), default="")
    help_text: Mapped[str] = mapped_column(String(300), default="")
    default: Mapped[str] = mapped_column(String(200), default="")
    choices: Mapped[str] = mapped_column(Text, default="")  # select: one choice a line
    required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    visible: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    sequence: Mapped[int] = mapped_column(Integer, default=10)
    target: Mapped[str] = mapped_column(String(20), default="extra", server_default=text("'extra'"))

    team = relationship("Team", back_populates="form_fields")

    __table_args__ = (
        UniqueConstraint("team_id", "key", name="uq_helpdesk_form_fields_team_key"),
        CheckConstraint("kind in ('text', 'email', 'phone', 'url', 'select')", name="kind"),
        CheckConstraint("target in ('extra', 'priority', 'type', 'tags', 'customer_phone', 'customer_company')",
                        name="target"),
    )

    @property
    def choice_list(self) -> list[str]:
        return [line.strip() for line in (self.choices or "").splitlines() if line.strip()]

    def __repr__(self) -> str:
        return f"<FormField {self.key}>"


class FaqArticle(db.Model):
    """A help center answer of a team; `body` is Markdown (rendered without raw HTML)."""

    __tablename__ = "helpdesk_faq_articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("helpdesk_teams.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    sequence: Mapped[int] = mapped_column(Integer, default=10)
    published: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    team = relationship("Team")

    def __repr__(self) -> str:
        return f"<FaqArticle {self.title}>"


class Rating(db.Model):
    """How the customer found a closed ticket: one per ticket, the agent and team as they were."""

    __tablename__ = "helpdesk_ratings"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("helpdesk_tickets.id", ondelete="CASCADE"), unique=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("helpdesk_teams.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    value: Mapped[str] = mapped_column(String(12))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    ticket = relationship("Ticket", back_populates="rating")
    team = relationship("Team")
    agent = relationship("User")
    contact = relationship("Contact")

    __table_args__ = (CheckConstraint("value in ('satisfied', 'okay', 'dissatisfied')", name="value"),)

    @property
    def label(self) -> str:
        return {"satisfied": "Satisfied", "okay": "Okay", "dissatisfied": "Dissatisfied"}[self.value]

    def __repr__(self) -> str:
        return f"<Rating {self.value} on ticket {self.ticket_id}>"
