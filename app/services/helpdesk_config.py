"""Helpdesk configuration (SPEC §4.1–4.3, §5.1–5.2): teams, stages, ticket types, tags, working
calendars and SLA policies, as the Settings pages change them.

Each function validates what an admin typed and raises `HelpdeskError` (with `field` naming the
form field when there is one) for anything refused. The rules that keep tickets workable live
here: a team keeps at least one stage that is not closing, a stage holding tickets is not
deleted until they have somewhere to go, an SLA policy's resolution stage is one of its team's.
Nothing here commits.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import available_timezones

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import (ASSIGNMENT_METHODS, PRIORITIES, Contact, Stage, Tag, Team, TeamMember, Ticket, TicketType,
                        User)
from app.models.base import utcnow
from app.models.helpdesk import ESCALATIONS, SlaPolicy, TicketSla, WorkingCalendar, ticket_tags
from app.services import helpdesk, sla, stage_mail, working_time
from app.services.helpdesk import HelpdeskError

TAG_COLORS = 8  # .tag-color-0 … .tag-color-7 in app.css
MAX_DAILY_TARGET = 1000
MAX_TARGET_HOURS = 10_000  # more than a year of office hours: a typo, not a promise
MAX_MAIL_BODY = 10_000
PREVIEW_TARGET_HOURS = 4


def refuse(message: str, field: str | None = None) -> HelpdeskError:
    """A HelpdeskError shown on `field` of the form (above the form when None)."""
    err = HelpdeskError(message)
    err.field = field
    return err


def _name(text: str | None, what: str, limit: int, field: str = "name") -> str:
    name = " ".join((text or "").split())
    if not name:
        raise refuse(f"{what} needs a name.", field)
    if len(name) > limit:
        raise refuse(f"Keep the name under {limit} characters.", field)
    return name


def _taken(model, name: str, exclude_id: int | None, *where) -> bool:
    query = select(model.id).where(func.lower(model.name) == name.lower(), *where)
    if exclude_id is not None:
        query = query.where(model.id != exclude_id)
    return db.session.scalar(query.limit(1)) is not None


def _recompute(teams) -> None:
    """Deadlines follow a changed policy or calendar."""
    for team in teams:
        sla.recompute_team(team)


# ---- teams -------------------------------------------------------------------------------------

ASSIGNMENT_HINTS = {
    "manual": "Tickets arrive unassigned; agents take them or a lead assigns them.",
    "random": "Each new ticket goes to a member picked at random.",
    "balanced": "Each new ticket goes to the member with the fewest open tickets.",
}
TEAM_SWITCHES = ("use_email", "use_website_form", "use_livechat", "use_sla", "use_ratings", "customers_may_close",
                 "reopen_on_reply")


@dataclass
class TeamRow:
    team: Team
    members: int
    open_tickets: int


def team_rows() -> list[TeamRow]:
    """Every team, active ones first, with its member count and open tickets."""
    members = dict(db.session.execute(
        select(TeamMember.team_id, func.count(TeamMember.id)).group_by(TeamMember.team_id)).all())
    open_tickets = dict(db.session.execute(
        select(Ticket.team_id, func.count(Ticket.id)).where(Ticket.closed_at.is_(None))
        .group_by(Ticket.team_id)).all())
    teams = db.session.scalars(select(Team).order_by(Team.active.desc(), func.lower(Team.name)))
    return [TeamRow(t, members.get(t.id, 0), open_tickets.get(t.id, 0)) for t in teams]


def staff_users() -> list[User]:
    """Who may join a team: active admins and agents, by name."""
    return list(db.session.scalars(
        select(User).where(User.active.is_(True), User.role.in_(("admin", "agent"))).order_by(func.lower(User.name))))


def _check_team(name, assignment, daily_target, members, leads, exclude_id=None) -> str:
    name = _name(name, "A team", 80)
    if _taken(Team, name, exclude_id):
        raise refuse(f"There is already a team named “{name}”.", "name")
    if assignment not in ASSIGNMENT_METHODS:
        raise refuse("Pick how tickets are assigned.", "assignment")
    if daily_target is None or not 0 <= daily_target <= MAX_DAILY_TARGET:
        raise refuse(f"The daily target is a number of tickets from 0 to {MAX_DAILY_TARGET}.", "daily_target")
    for user in [*members, *leads]:
        if not user.active or not user.is_staff:
            raise refuse(f"{user.name} cannot join a team: only active staff can.", "members")
    return name


def create_team(name: str, *, description: str = "", members=(), leads=(), assignment: str = "manual",
                calendar: WorkingCalendar | None = None, daily_target: int = 5, **switches) -> Team:
    """A new team with the default stages; leads are members too."""
    name = _check_team(name, assignment, daily_target, members, leads)
    team = helpdesk.create_team(name, members=members, leads=leads, assignment=assignment,
                                **{k: bool(v) for k, v in switches.items() if k in TEAM_SWITCHES})
    team.description = (description or "").strip()
    team.calendar = calendar
    team.daily_target = daily_target
    db.session.flush()
    return team


def update_team(team: Team, *, name: str, description: str = "", members=(), leads=(), assignment: str = "manual",
                calendar: WorkingCalendar | None = None, daily_target: int = 5, **switches) -> None:
    """Change a team's settings and members (a lead is a member; people left out leave the team)."""
    team.name = _check_team(name, assignment, daily_target, members, leads, exclude_id=team.id)
    team.description = (description or "").strip()
    team.assignment = assignment
    calendar_changed = team.calendar_id != (calendar.id if calendar else None)
    team.calendar = calendar
    team.daily_target = daily_target
    for switch in TEAM_SWITCHES:
        setattr(team, switch, bool(switches.get(switch, False)))
    wanted = {user.id: user for user in [*members, *leads]}
    lead_ids = {user.id for user in leads}
    for member in list(team.members):
        if member.user_id not in wanted:
            team.members.remove(member)
        else:
            member.is_lead = member.user_id in lead_ids
    present = {member.user_id for member in team.members}
    for user_id, user in wanted.items():
        if user_id not in present:
            team.members.append(TeamMember(user=user, is_lead=user_id in lead_ids))
    db.session.flush()
    if calendar_changed:
        _recompute([team])


def set_team_active(team: Team, active: bool) -> None:
    """Archive a team (it takes no new tickets; its open ones stay workable) or bring it back."""
    team.active = active


# ---- stages ------------------------------------------------------------------------------------

@dataclass
class StageRow:
    stage: Stage
    tickets: int


def stage_rows() -> list[StageRow]:
    """Every stage in order, with its teams and how many tickets are in it."""
    counts = dict(db.session.execute(
        select(Ticket.stage_id, func.count(Ticket.id)).group_by(Ticket.stage_id)).all())
    return [StageRow(s, counts.get(s.id, 0)) for s in ordered_stages()]


def ordered_stages() -> list[Stage]:
    return list(db.session.scalars(select(Stage).order_by(Stage.sequence, Stage.id)))


def tickets_in(stage: Stage) -> int:
    return db.session.scalar(select(func.count(Ticket.id)).where(Ticket.stage_id == stage.id))


def _check_template(subject: str, body: str) -> tuple[str, str]:
    subject = " ".join((subject or "").split())
    body = (body or "").strip()
    if len(subject) > 200:
        raise refuse("Keep the subject under 200 characters.", "mail_subject")
    if len(body) > MAX_MAIL_BODY:
        raise refuse(f"Keep the email under {MAX_MAIL_BODY:,} characters.", "mail_body")
    for field, text in (("mail_subject", subject), ("mail_body", body)):
        unknown = stage_mail.unknown_placeholders(text)
        if unknown:
            known = ", ".join("{{" + p + "}}" for p in stage_mail.PLACEHOLDERS)
            raise refuse(f"Unknown placeholder {{{{{unknown[0]}}}}}; use one of {known}.", field)
    if subject and not body:
        raise refuse("Write the email's text, or leave the subject empty too.", "mail_body")
    return subject, body


def _check_teams_keep_open_stage(changes: dict[int, bool], teams) -> None:
    """Refuse when a team would be left without a stage that is not closing.

    `changes` maps stage ids to whether each one stays an open (non-closing) stage of `teams`.
    """
    for team in teams:
        open_stages = [s for s in team.stages if not s.is_closing and changes.get(s.id, True)]
        if not open_stages:
            raise refuse(f"{team.name} needs at least one stage that does not close tickets.", "teams")


def create_stage(name: str, *, teams=(), is_closing=False, is_folded=False, pauses_sla=False,
                 mail_subject: str = "", mail_body: str = "", sequence: int | None = None) -> Stage:
    """A new stage, last in the order unless `sequence` says where."""
    name = _name(name, "A stage", 60)
    mail_subject, mail_body = _check_template(mail_subject, mail_body)
    if sequence is None:
        sequence = (db.session.scalar(select(func.max(Stage.sequence))) or 0) + 10
    stage = Stage(name=name, sequence=sequence, is_closing=bool(is_closing), is_folded=bool(is_folded),
                  pauses_sla=bool(pauses_sla), mail_subject=mail_subject, mail_body=mail_body)
    stage.teams = list(teams)
    db.session.add(stage)
    db.session.flush()
    return stage


def update_stage(stage: Stage, *, name: str, teams=(), is_closing=False, is_folded=False, pauses_sla=False,
                 mail_subject: str = "", mail_body: str = "", sequence: int | None = None) -> None:
    """Change a stage. A team whose tickets are in it stays on it; every team keeps an open stage."""
    name = _name(name, "A stage", 60)
    mail_subject, mail_body = _check_template(mail_subject, mail_body)
    teams = list(teams)
    leaving = [team for team in stage.teams if team not in teams]
    for team in leaving:
        held = db.session.scalar(select(func.count(Ticket.id)).where(
            Ticket.stage_id == stage.id, Ticket.team_id == team.id))
        if held:
            raise refuse(f"{held} ticket{'s' if held != 1 else ''} of {team.name} "
                         f"{'are' if held != 1 else 'is'} in this stage: move them before taking "
                         f"{team.name} off it.", "teams")
    # The team's open stages after the change: this one counts only if it stays theirs and open.
    _check_teams_keep_open_stage({stage.id: False}, leaving)
    if is_closing and not stage.is_closing:
        _check_teams_keep_open_stage({stage.id: False}, teams)
    closing_changed = bool(is_closing) != stage.is_closing
    pauses_changed = bool(pauses_sla) != stage.pauses_sla
    stage.name = name
    stage.teams = teams
    stage.is_closing, stage.is_folded, stage.pauses_sla = bool(is_closing), bool(is_folded), bool(pauses_sla)
    stage.mail_subject, stage.mail_body = mail_subject, mail_body
    moved = sequence is not None and sequence != stage.sequence
    if sequence is not None:
        stage.sequence = sequence
    if closing_changed:
        # Tickets already there follow the stage's meaning: closed in a closing stage, open otherwise.
        db.session.execute(update(Ticket).where(Ticket.stage_id == stage.id, Ticket.closed_at.is_(None) if is_closing
                                                else Ticket.closed_at.is_not(None))
                           .values(closed_at=utcnow() if is_closing else None)
                           .execution_options(synchronize_session="fetch"))
    db.session.flush()
    if closing_changed or pauses_changed:
        _refresh_tickets_in(stage)
    if moved:
        _refresh_after_reorder([stage])


def _refresh_tickets_in(stage: Stage) -> None:
    """The SLA clocks of the stage's tickets follow its changed flags as after a move into it
    (sla.refresh): pauses open or end, resolution is reached or restarted, reply clocks of
    closed tickets stop. Only these tickets can change: the flags mean nothing to the others."""
    _refresh_tickets(Ticket.stage_id == stage.id)


def _refresh_after_reorder(stages: list[Stage]) -> None:
    """A resolution target is reached at its stage "or a later one": when stages change places,
    the tickets in them, and the tickets whose target names one of them, may have crossed."""
    ids = [stage.id for stage in stages]
    if not db.session.scalar(select(SlaPolicy.id).where(SlaPolicy.resolution_stage_id.is_not(None)).limit(1)):
        return
    aimed = select(TicketSla.ticket_id).join(SlaPolicy, SlaPolicy.id == TicketSla.policy_id).where(
        TicketSla.target == "resolution", SlaPolicy.resolution_stage_id.in_(ids))
    _refresh_tickets(Ticket.stage_id.in_(ids) | Ticket.id.in_(aimed))


def _refresh_tickets(condition) -> None:
    """sla.refresh every ticket matching `condition`, a batch at a time."""
    last_id = 0
    while ids := list(db.session.scalars(select(Ticket.id).where(condition, Ticket.id > last_id)
                                         .order_by(Ticket.id).limit(sla.RECOMPUTE_BATCH))):
        for ticket in db.session.scalars(select(Ticket).where(Ticket.id.in_(ids))
                                         .options(selectinload(Ticket.slas), selectinload(Ticket.tags))).all():
            sla.refresh(ticket)
        db.session.flush()
        last_id = ids[-1]


def move_stage(stage: Stage, direction: str) -> bool:
    """Swap a stage with the one before ("up") or after ("down"); renumbers 10, 20, … False at an end."""
    stages = ordered_stages()
    index = stages.index(stage)
    other = index - 1 if direction == "up" else index + 1 if direction == "down" else -1
    if not 0 <= other < len(stages):
        return False
    stages[index], stages[other] = stages[other], stages[index]
    for position, each in enumerate(stages, start=1):
        each.sequence = position * 10
    db.session.flush()
    _refresh_after_reorder([stages[index], stages[other]])
    return True


def delete_stage(stage: Stage, move_to: Stage | None = None, by: User | None = None) -> int:
    """Delete a stage; its tickets go to `move_to` first (refused without one). Returns how many moved."""
    count = tickets_in(stage)
    teams = list(stage.teams)
    if count:
        if move_to is None:
            raise refuse(f"{count} ticket{'s are' if count != 1 else ' is'} in “{stage.name}”: "
                         "pick a stage to move them to.", "move_to")
        if move_to.id == stage.id:
            raise refuse("Pick another stage to move the tickets to.", "move_to")
        held_teams = db.session.scalars(select(Team).where(Team.id.in_(
            select(Ticket.team_id).where(Ticket.stage_id == stage.id)))).all()
        for team in held_teams:
            if team not in move_to.teams:
                raise refuse(f"“{move_to.name}” is not a stage of {team.name}, whose tickets are here.", "move_to")
    _check_teams_keep_open_stage({stage.id: False}, teams)
    if count:
        for ticket in db.session.scalars(select(Ticket).where(Ticket.stage_id == stage.id)).all():
            helpdesk.move(ticket, move_to, by)
    stage.teams = []  # through the relationship, so the session knows the links are gone
    db.session.delete(stage)
    db.session.flush()
    return count


# ---- ticket types and tags ---------------------------------------------------------------------

def type_rows() -> list[tuple[TicketType, int]]:
    """Ticket types by name, with how many tickets have each."""
    counts = dict(db.session.execute(
        select(Ticket.type_id, func.count(Ticket.id)).where(Ticket.type_id.is_not(None))
        .group_by(Ticket.type_id)).all())
    types = db.session.scalars(select(TicketType).order_by(func.lower(TicketType.name)))
    return [(t, counts.get(t.id, 0)) for t in types]


def tag_rows() -> list[tuple[Tag, int]]:
    """Tags by name, with how many tickets carry each."""
    counts = dict(db.session.execute(
        select(ticket_tags.c.tag_id, func.count()).group_by(ticket_tags.c.tag_id)).all())
    tags = db.session.scalars(select(Tag).order_by(func.lower(Tag.name)))
    return [(t, counts.get(t.id, 0)) for t in tags]


def save_type(name: str, ticket_type: TicketType | None = None) -> TicketType:
    """Create a ticket type, or rename `ticket_type`."""
    name = _name(name, "A ticket type", 60)
    if _taken(TicketType, name, ticket_type.id if ticket_type else None):
        raise refuse(f"There is already a ticket type named “{name}”.", "name")
    if ticket_type is None:
        ticket_type = TicketType(name=name)
        db.session.add(ticket_type)
    ticket_type.name = name
    db.session.flush()
    return ticket_type


def delete_type(ticket_type: TicketType) -> int:
    """Delete a ticket type; its tickets keep no type. Returns how many tickets had it."""
    count = db.session.execute(update(Ticket).where(Ticket.type_id == ticket_type.id).values(type_id=None)
                               .execution_options(synchronize_session="fetch")).rowcount
    db.session.delete(ticket_type)
    db.session.flush()
    return count


def save_tag(name: str, color: int, tag: Tag | None = None) -> Tag:
    """Create a tag, or rename and recolour `tag`."""
    name = _name(name, "A tag", 40)
    if _taken(Tag, name, tag.id if tag else None):
        raise refuse(f"There is already a tag named “{name}”.", "name")
    if color is None or not 0 <= color < TAG_COLORS:
        raise refuse("Pick one of the colours.", "color")
    if tag is None:
        tag = Tag(name=name)
        db.session.add(tag)
    tag.name, tag.color = name, color
    db.session.flush()
    return tag


def delete_tag(tag: Tag) -> int:
    """Delete a tag; it is removed from its tickets. Returns how many tickets carried it."""
    count = db.session.execute(delete(ticket_tags).where(ticket_tags.c.tag_id == tag.id)).rowcount
    db.session.expire_all()  # tickets loaded with the tag must not keep it
    db.session.delete(db.session.get(Tag, tag.id))
    db.session.flush()
    return count


# ---- working calendars -------------------------------------------------------------------------

def time_zones() -> list[str]:
    """Every IANA zone name, sorted (for the picker)."""
    return sorted(available_timezones())


def calendars() -> list[WorkingCalendar]:
    return list(db.session.scalars(select(WorkingCalendar).order_by(func.lower(WorkingCalendar.name))))


def teams_using(calendar: WorkingCalendar) -> list[Team]:
    return list(db.session.scalars(select(Team).where(Team.calendar_id == calendar.id).order_by(Team.name)))


def parse_calendar(tz: str, week, holidays: str = "", special_days: str = "") -> working_time.Calendar:
    """What the calendar form holds as a `working_time.Calendar`, or HelpdeskError on the field at fault.

    The text is the SLA clock's own format (sla.parse_calendar reads it); each day is checked
    alone first so that an error lands on that day's line of the form.
    """
    tz = (tz or "").strip()
    if tz not in available_timezones():
        raise refuse(f"“{tz}” is not a time zone; pick one such as Europe/Madrid.", "tz")
    week = [(day or "").strip() for day in week]
    for index, text in enumerate(week):
        if text:
            try:
                working_time.Calendar.parse("UTC", [text if i == index else "" for i in range(7)])
            except ValueError as err:
                raise refuse(_sentence(err), f"day_{index}") from None
    always = "\n".join(["00:00-24:00"] * 7)  # so that only the field being checked can be at fault
    for field, text in (("holidays", holidays), ("special_days", special_days)):
        try:
            sla.parse_calendar("UTC", always, *((text, "") if field == "holidays" else ("", text)))
        except ValueError as err:
            raise refuse(str(err), field) from None
    try:
        return sla.parse_calendar(tz, "\n".join(week), holidays, special_days)
    except ValueError as err:
        raise refuse(str(err), "week") from None


def _sentence(err: Exception) -> str:
    text = str(err)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def save_calendar(name: str, tz: str, week, holidays: str = "", special_days: str = "",
                  calendar: WorkingCalendar | None = None) -> WorkingCalendar:
    """Create a working calendar, or change `calendar`; the teams using it get new deadlines."""
    name = _name(name, "A calendar", 80)
    if _taken(WorkingCalendar, name, calendar.id if calendar else None):
        raise refuse(f"There is already a calendar named “{name}”.", "name")
    parsed = parse_calendar(tz, week, holidays, special_days)
    if calendar is None:
        calendar = WorkingCalendar(name=name)
        db.session.add(calendar)
    calendar.name, calendar.tz = name, parsed.tz
    calendar.week = "\n".join((day or "").strip() for day in week)
    calendar.holidays = "\n".join(sorted(d.isoformat() for d in parsed.holidays))
    calendar.special_days = "\n".join(
        f"{day.isoformat()} {_intervals_text(parsed.special_days[day])}".strip() for day in sorted(parsed.special_days))
    db.session.flush()
    _recompute(teams_using(calendar))
    return calendar


def delete_calendar(calendar: WorkingCalendar) -> list[Team]:
    """Delete a calendar; the teams using it work around the clock from now on (returned)."""
    teams = teams_using(calendar)
    for team in teams:
        team.calendar = None
    db.session.delete(calendar)
    db.session.flush()
    _recompute(teams)
    return teams


def week_lines(calendar: WorkingCalendar) -> list[str]:
    """The calendar's seven day texts, Monday first (padded when fewer were stored)."""
    lines = (calendar.week or "").split("\n") if calendar else []
    return (lines + [""] * 7)[:7]


def _intervals_text(intervals) -> str:
    return ", ".join(f"{a.strftime('%H:%M')}–{'24:00' if b.hour == b.minute == 0 else b.strftime('%H:%M')}"
                     for a, b in intervals)


@dataclass
class CalendarPreview:
    days: list[tuple[str, str]]  # ("Mon 7 Dec", "09:00–13:00, 15:00–19:00" or "closed")
    due: datetime | None  # a 4-hour target from `now`, in the calendar's zone
    hours: int = PREVIEW_TARGET_HOURS


def preview(calendar: working_time.Calendar, now: datetime | None = None) -> CalendarPreview:
    """This week as the calendar works it (holidays and special days included), and when a
    4-working-hour target started now falls due."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(calendar.tz)
    now = (now or utcnow()).astimezone(zone)
    monday = now.date() - timedelta(days=now.weekday())
    days = []
    for offset in range(7):
        day = monday + timedelta(days=offset)
        intervals = calendar.intervals_on(day)
        label = "holiday" if day in calendar.holidays else _intervals_text(intervals) or "closed"
        days.append((day.strftime("%a %-d %b"), label))
    try:
        due = working_time.add_working_time(now, PREVIEW_TARGET_HOURS, calendar).astimezone(zone)
    except ValueError:
        due = None
    return CalendarPreview(days=days, due=due)


# ---- SLA policies ------------------------------------------------------------------------------

def policies_of(team: Team) -> list[SlaPolicy]:
    return list(db.session.scalars(
        select(SlaPolicy).where(SlaPolicy.team_id == team.id).order_by(SlaPolicy.min_priority.desc(),
                                                                       func.lower(SlaPolicy.name))))


def customer_by_email(email: str) -> Contact | None:
    """The contact a policy is for (empty: any customer); refused when no contact has that address."""
    email = (email or "").strip()
    if not email:
        return None
    contact = db.session.scalar(select(Contact).where(func.lower(Contact.email) == email.lower()).limit(1))
    if contact is None:
        raise refuse(f"No contact has the address {email}.", "customer")
    return contact


def _hours(value, field: str) -> float | None:
    if value is None:
        return None
    if value < 0:
        raise refuse("Hours cannot be negative.", field)
    if value > MAX_TARGET_HOURS:
        raise refuse(f"Keep it under {MAX_TARGET_HOURS:,} working hours.", field)
    return float(value)


def save_policy(team: Team, *, name: str, description: str = "", min_priority: int = 0, types=(), tags=(),
                customer: Contact | None = None, first_reply_hours=None, next_reply_hours=None,
                resolution_hours=None, resolution_stage: Stage | None = None, escalate_hours=None,
                escalate_action: str = "", active: bool = True, policy: SlaPolicy | None = None) -> SlaPolicy:
    """Create an SLA policy of `team`, or change `policy`; the team's deadlines are recomputed."""
    name = _name(name, "A policy", 80)
    if _taken(SlaPolicy, name, policy.id if policy else None, SlaPolicy.team_id == team.id):
        raise refuse(f"{team.name} already has a policy named “{name}”.", "name")
    if min_priority not in PRIORITIES:
        raise refuse("Pick a priority.", "min_priority")
    first_reply_hours = _hours(first_reply_hours, "first_reply_hours")
    next_reply_hours = _hours(next_reply_hours, "next_reply_hours")
    resolution_hours = _hours(resolution_hours, "resolution_hours")
    escalate_hours = _hours(escalate_hours, "escalate_hours")
    if first_reply_hours is None and next_reply_hours is None and resolution_hours is None:
        raise refuse("Set at least one target: first reply, next reply or resolution.", "first_reply_hours")
    if resolution_stage is not None and resolution_stage not in team.stages:
        raise refuse(f"“{resolution_stage.name}” is not a stage of {team.name}.", "resolution_stage")
    if resolution_stage is not None and resolution_hours is None:
        raise refuse("A resolution stage needs resolution hours.", "resolution_hours")
    if escalate_action not in ESCALATIONS:
        raise refuse("Pick what escalation does.", "escalate_action")
    if bool(escalate_action) != (escalate_hours is not None):
        raise refuse("Escalation needs both how many hours before the deadline and what to do.",
                     "escalate_hours" if escalate_action else "escalate_action")
    if policy is None:
        policy = SlaPolicy(team=team)
        db.session.add(policy)
    policy.name, policy.description = name, (description or "").strip()
    policy.min_priority, policy.customer = min_priority, customer
    policy.types, policy.tags = list(types), list(tags)
    policy.first_reply_hours, policy.next_reply_hours = first_reply_hours, next_reply_hours
    policy.resolution_hours, policy.resolution_stage = resolution_hours, resolution_stage
    policy.escalate_hours, policy.escalate_action = escalate_hours, escalate_action
    policy.active = bool(active)
    db.session.flush()
    _recompute([team])
    return policy


def delete_policy(policy: SlaPolicy) -> None:
    """Delete a policy and the targets it set on tickets."""
    team = policy.team
    db.session.delete(policy)
    db.session.flush()
    _recompute([team])
