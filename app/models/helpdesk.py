"""Helpdesk (SPEC §4): teams, their stages, ticket types, tags, and tickets.

A ticket is a threaded record: its conversation with the customer, its notes and its tracked
changes are the chatter's. Agents read the tickets of the teams they belong to (admins every
ticket); a portal user reads the tickets whose customer is their contact.
"""
from datetime import datetime

from sqlalchemy import (Boolean, CheckConstraint, Column, ForeignKey, Index, Integer, String, Table, Text,
                        UniqueConstraint, exists, select, text, true)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import utcnow
from app.models.threads import ThreadMixin

ASSIGNMENT_METHODS = ("manual", "random", "balanced")
PRIORITIES = {0: "Low", 1: "Medium", 2: "High", 3: "Urgent"}

stage_teams = Table(
    "helpdesk_stage_teams", db.metadata,
    Column("stage_id", ForeignKey("helpdesk_stages.id", ondelete="CASCADE"), primary_key=True),
    Column("team_id", ForeignKey("helpdesk_teams.id", ondelete="CASCADE"), primary_key=True, index=True),
)

ticket_tags = Table(
    "helpdesk_ticket_tags", db.metadata,
    Column("ticket_id", ForeignKey("helpdesk_tickets.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("helpdesk_tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Team(db.Model):
    """A helpdesk team: who answers, how tickets are assigned, which channels feed it."""

    __tablename__ = "helpdesk_teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)  # /support/<slug> (the web form)
    description: Mapped[str] = mapped_column(Text, default="")
    assignment: Mapped[str] = mapped_column(String(10), default="manual")
    use_email: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    use_website_form: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    use_livechat: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    use_sla: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    use_ratings: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    customers_may_close: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    members = relationship("TeamMember", back_populates="team", cascade="all, delete-orphan",
                           order_by="TeamMember.id")
    stages = relationship("Stage", secondary=stage_teams, back_populates="teams",
                          order_by="(Stage.sequence, Stage.id)")

    __table_args__ = (CheckConstraint("assignment in ('manual', 'random', 'balanced')", name="assignment"),)

    def has_member(self, user) -> bool:
        return user is not None and db.session.scalar(select(TeamMember.id).where(
            TeamMember.team_id == self.id, TeamMember.user_id == user.id)) is not None

    def __repr__(self) -> str:
        return f"<Team {self.name}>"


class TeamMember(db.Model):
    __tablename__ = "helpdesk_team_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("helpdesk_teams.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    is_lead: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))

    team = relationship("Team", back_populates="members")
    user = relationship("User", lazy="joined")  # a member is always shown (or picked) by their user

    __table_args__ = (UniqueConstraint("team_id", "user_id", name="uq_helpdesk_team_members_team_user"),)


class Stage(db.Model):
    """A column of the kanban. Closing stages close the ticket; folded ones start collapsed;
    `pauses_sla` ("waiting on customer") stops the SLA clocks while a ticket is there."""

    __tablename__ = "helpdesk_stages"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    sequence: Mapped[int] = mapped_column(Integer, default=10)
    is_closing: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    is_folded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    pauses_sla: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # Sent to the customer when a ticket enters the stage (empty: nothing is sent).
    mail_subject: Mapped[str] = mapped_column(String(200), default="")
    mail_body: Mapped[str] = mapped_column(Text, default="")

    teams = relationship("Team", secondary=stage_teams, back_populates="stages")

    def __repr__(self) -> str:
        return f"<Stage {self.name}>"


class TicketType(db.Model):
    __tablename__ = "helpdesk_ticket_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)


class Tag(db.Model):
    __tablename__ = "helpdesk_tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    color: Mapped[int] = mapped_column(Integer, default=0)  # an index into the palette of app.css


class Ticket(ThreadMixin, db.Model):
    """A customer's request, referenced as #<id>."""

    __tablename__ = "helpdesk_tickets"
    thread_model = "ticket"
    thread_endpoint = "helpdesk.ticket"
    thread_endpoint_arg = "ticket_id"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[int] = mapped_column(ForeignKey("helpdesk_teams.id", ondelete="RESTRICT"))
    stage_id: Mapped[int] = mapped_column(ForeignKey("helpdesk_stages.id", ondelete="RESTRICT"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    type_id: Mapped[int | None] = mapped_column(ForeignKey("helpdesk_ticket_types.id", ondelete="SET NULL"))
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")  # sanitised HTML
    source: Mapped[str] = mapped_column(String(10), default="manual")  # manual | email | web | livechat
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    stage_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]

    team = relationship("Team")
    stage = relationship("Stage")
    assignee = relationship("User")
    type = relationship("TicketType")
    customer = relationship("Contact")
    tags = relationship("Tag", secondary=ticket_tags, order_by="Tag.name")

    __table_args__ = (
        CheckConstraint("priority between 0 and 3", name="priority"),
        Index("ix_helpdesk_tickets_team_stage", "team_id", "stage_id"),
    )

    tracked_fields = {"title": "Title", "team": "Team", "stage": "Stage", "assignee": "Assigned to",
                      "priority_label": "Priority", "type": "Type", "customer": "Customer"}

    @property
    def ref(self) -> str:
        return f"#{self.id}"

    @property
    def display_name(self) -> str:
        return f"{self.title} ({self.ref})"

    @property
    def priority_label(self) -> str:
        return PRIORITIES[self.priority or 0]

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    # ---- who may read it (services/access.py) ----

    def staff_can_read(self, user) -> bool:
        return user.is_admin or self.team.has_member(user)

    @classmethod
    def staff_read_filter(cls, user):
        if user.is_admin:
            return true()
        return exists().where(TeamMember.team_id == cls.team_id, TeamMember.user_id == user.id)

    def portal_can_read(self, user) -> bool:
        return user.contact_id is not None and user.contact_id == self.customer_id

    def __repr__(self) -> str:
        return f"<Ticket {self.ref}>"
