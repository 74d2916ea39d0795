"""Helpdesk (SPEC §4): teams, their stages, ticket types, tags, and tickets.

A ticket is a threaded record: its conversation with the customer, its notes and its tracked
changes are the chatter's. Agents read the tickets of the teams they belong to (admins every
ticket); a portal user reads the tickets whose customer is their contact.
"""
from datetime import date, datetime

from sqlalchemy import (JSON, Boolean, CheckConstraint, Column, Float, ForeignKey, Index, Integer, String, Table,
                        Text, UniqueConstraint, exists, select, text, true)
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
    # A customer's reply to a closed ticket moves it back to the first open stage.
    reopen_on_reply: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # Markdown shown beside the website form (opening hours, what to include, …).
    form_side_text: Mapped[str] = mapped_column(Text, default="", server_default=text("''"))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # Working hours for SLA deadlines (none: around the clock).
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("helpdesk_calendars.id", ondelete="SET NULL"))
    # Tickets an agent of the team aims to close a day ("my performance" on the dashboard).
    daily_target: Mapped[int] = mapped_column(Integer, default=5, server_default=text("5"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    calendar = relationship("WorkingCalendar")
    members = relationship("TeamMember", back_populates="team", cascade="all, delete-orphan",
                           order_by="TeamMember.id")
    stages = relationship("Stage", secondary=stage_teams, back_populates="teams",
                          order_by="(Stage.sequence, Stage.id)")
    form_fields = relationship("FormField", back_populates="team", cascade="all, delete-orphan",
                               order_by="(FormField.sequence, FormField.id)")

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
    # Answers to the website form's extra fields kept as data: {label: value}, in form order.
    extra_data: Mapped[dict] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    stage_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    first_reply_at: Mapped[datetime | None]  # the first staff message to the customer
    # From the ticket's SLA targets (services/sla.py), for ordering and filtering boards and lists:
    # the nearest deadline of an ongoing target, and whether any target failed.
    sla_deadline: Mapped[datetime | None]
    sla_failed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))

    team = relationship("Team")
    stage = relationship("Stage")
    assignee = relationship("User")
    type = relationship("TicketType")
    customer = relationship("Contact")
    tags = relationship("Tag", secondary=ticket_tags, order_by="Tag.name")
    slas = relationship("TicketSla", back_populates="ticket", cascade="all, delete-orphan",
                        order_by="TicketSla.id")
    timesheets = relationship("Timesheet", back_populates="ticket", cascade="all, delete-orphan",
                              order_by="(Timesheet.day, Timesheet.id)")
    rating = relationship("Rating", back_populates="ticket", uselist=False, cascade="all, delete-orphan")

    __table_args__ = (
        CheckConstraint("priority between 0 and 3", name="priority"),
        Index("ix_helpdesk_tickets_team_stage", "team_id", "stage_id"),
        # The list: a team's open tickets, most urgent then nearest deadline first (its default order).
        Index("ix_helpdesk_tickets_open_order", "team_id", priority.column.desc(), "sla_deadline", id.column.desc(),
              postgresql_where=text("closed_at IS NULL"), sqlite_where=text("closed_at IS NULL")),
        # A board column's page in the board's order (services/board.py `_order`), read without a sort.
        Index("ix_helpdesk_tickets_board", "team_id", "stage_id", priority.column.desc(), "sla_deadline", "id"),
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

    def on_message_posted(self, message) -> None:
        """A customer's message reopens a closed ticket when the team says so; a message may
        reach or start SLA targets (services/sla.py)."""
        from app.services import helpdesk, sla

        if self.is_closed and self.team.reopen_on_reply and sla.author_side(message) == "customer":
            helpdesk.reopen(self)
        sla.message_posted(self, message)

    def customer_link(self, contact) -> str | None:
        """The access link put in mails to the ticket's customer (services/customer_links.py)."""
        from app.services import customer_links

        return customer_links.ticket_url(self) if contact is not None and contact.id == self.customer_id else None

    def __repr__(self) -> str:
        return f"<Ticket {self.ref}>"


# ---- working hours, SLA, timesheets, canned responses (SPEC §4–§5) -----------------------------

SLA_TARGETS = ("first_reply", "next_reply", "resolution")
SLA_STATUSES = ("ongoing", "reached", "failed")
ESCALATIONS = ("", "notify", "raise_priority")

sla_policy_types = Table(
    "helpdesk_sla_policy_types", db.metadata,
    Column("policy_id", ForeignKey("helpdesk_sla_policies.id", ondelete="CASCADE"), primary_key=True),
    Column("type_id", ForeignKey("helpdesk_ticket_types.id", ondelete="CASCADE"), primary_key=True),
)

sla_policy_tags = Table(
    "helpdesk_sla_policy_tags", db.metadata,
    Column("policy_id", ForeignKey("helpdesk_sla_policies.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("helpdesk_tags.id", ondelete="CASCADE"), primary_key=True),
)


class WorkingCalendar(db.Model):
    """When a team works (services/working_time.Calendar, as an admin typed it).

    `week` holds seven lines, Monday first, each like "09:00-13:00, 15:00-19:00" ("" closed);
    `holidays` one ISO date a line; `special_days` lines "2026-12-24 09:00-13:00" (a date alone
    closes it). Teams without a calendar work around the clock.
    """

    __tablename__ = "helpdesk_calendars"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    tz: Mapped[str] = mapped_column(String(64), default="UTC")
    week: Mapped[str] = mapped_column(Text, default="")
    holidays: Mapped[str] = mapped_column(Text, default="")
    special_days: Mapped[str] = mapped_column(Text, default="")

    def __repr__(self) -> str:
        return f"<WorkingCalendar {self.name}>"


class SlaPolicy(db.Model):
    """Targets a team promises for the tickets matching its conditions, in working hours.

    Conditions: priority at least `min_priority`, a type among `types` (none listed: any), every
    tag of `tags` on the ticket, and `customer` (none: any). Targets left empty do not apply.
    `escalate_hours` before a deadline the policy notifies the team leads or raises the priority.
    """

    __tablename__ = "helpdesk_sla_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("helpdesk_teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, default="")
    min_priority: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    first_reply_hours: Mapped[float | None] = mapped_column(Float)
    next_reply_hours: Mapped[float | None] = mapped_column(Float)
    resolution_hours: Mapped[float | None] = mapped_column(Float)
    # Resolution means reaching this stage (or a later one); none: any closing stage.
    resolution_stage_id: Mapped[int | None] = mapped_column(ForeignKey("helpdesk_stages.id", ondelete="SET NULL"))
    escalate_hours: Mapped[float | None] = mapped_column(Float)
    escalate_action: Mapped[str] = mapped_column(String(20), default="", server_default=text("''"))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    team = relationship("Team")
    customer = relationship("Contact")
    resolution_stage = relationship("Stage")
    types = relationship("TicketType", secondary=sla_policy_types, order_by="TicketType.name")
    tags = relationship("Tag", secondary=sla_policy_tags, order_by="Tag.name")

    __table_args__ = (
        CheckConstraint("min_priority between 0 and 3", name="min_priority"),
        CheckConstraint("escalate_action in ('', 'notify', 'raise_priority')", name="escalate_action"),
        CheckConstraint("coalesce(first_reply_hours, 0) >= 0 and coalesce(next_reply_hours, 0) >= 0 "
                        "and coalesce(resolution_hours, 0) >= 0", name="hours"),
    )

    def __repr__(self) -> str:
        return f"<SlaPolicy {self.name}>"


class TicketSla(db.Model):
    """One target of one policy on one ticket: its clock's start, deadline and outcome.

    `deadline` is None while an open-ended pause (waiting on the customer) holds the clock.
    `escalated_at` and `failure_notified_at` make escalation and the failure notice happen once.
    """

    __tablename__ = "helpdesk_ticket_slas"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("helpdesk_tickets.id", ondelete="CASCADE"))
    policy_id: Mapped[int] = mapped_column(ForeignKey("helpdesk_sla_policies.id", ondelete="CASCADE"), index=True)
    target: Mapped[str] = mapped_column(String(12))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    deadline: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(8), default="ongoing", server_default=text("'ongoing'"))
    reached_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    failure_notified_at: Mapped[datetime | None]

    ticket = relationship("Ticket", back_populates="slas")
    policy = relationship("SlaPolicy", lazy="joined")

    __table_args__ = (
        UniqueConstraint("ticket_id", "policy_id", "target", name="uq_helpdesk_ticket_slas_ticket_policy_target"),
        CheckConstraint("target in ('first_reply', 'next_reply', 'resolution')", name="target"),
        CheckConstraint("status in ('ongoing', 'reached', 'failed')", name="status"),
        # The sweep reads ongoing targets by deadline.
        Index("ix_helpdesk_ticket_slas_status_deadline", "status", "deadline"),
    )


class TicketPause(db.Model):
    """A span a ticket spent in a stage that pauses the SLA clocks (`ended_at` None: still there)."""

    __tablename__ = "helpdesk_ticket_pauses"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("helpdesk_tickets.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]


class Timesheet(db.Model):
    """Time spent on a ticket: who, which day, what, how long (minutes, more than zero)."""

    __tablename__ = "helpdesk_timesheets"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("helpdesk_tickets.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    day: Mapped[date]
    description: Mapped[str] = mapped_column(String(200), default="")
    minutes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket = relationship("Ticket", back_populates="timesheets")
    user = relationship("User")

    __table_args__ = (CheckConstraint("minutes > 0 and minutes <= 14400", name="minutes"),)


class CannedResponse(db.Model):
    """A saved answer an agent inserts in any composer with `/` or `::shortcut`.

    `team_id` None: every team's agents may use it. `body` is sanitised HTML.
    """

    __tablename__ = "helpdesk_canned_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    shortcut: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("helpdesk_teams.id", ondelete="CASCADE"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))

    team = relationship("Team")
    created_by = relationship("User")
