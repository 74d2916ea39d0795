"""SLA (SPEC §5): a team's policies give each matching ticket deadlines counted in working time.

Per ticket and policy target (first staff reply, next reply after a customer message,
resolution) a `TicketSla` row holds the clock's start, the deadline, and the outcome. The ticket
keeps the nearest ongoing deadline and whether anything failed (`sla_deadline`, `sla_failed`)
so boards and lists order and filter without joining. Nothing here commits.

How the clocks run:
- first reply starts when the ticket is created and is reached by the first public message of
  a staff member; resolution starts at creation too and is reached by entering the policy's
  stage or a later one (no stage: any closing stage); leaving that range (reopening) starts it
  again from that moment, unless it already failed;
- next reply starts with a customer's message once the first reply was given, and is reached by
  the next staff reply; the next customer message after that starts a new cycle. A missed cycle
  stays failed (it is the ticket's SLA history), and later cycles of that policy are not timed;
- closing a ticket drops its reply clocks that are still running (nobody has to answer it);
- stages that pause the SLA (waiting on the customer) open a `TicketPause`, which every
  deadline skips; while one is open the deadlines it reaches are None (no clock running).
- a target reached after its deadline, or whose deadline passes first, fails. Failing is
  claimed with a conditional UPDATE, so the deadline job, the periodic sweep and a second
  worker record and announce each failure exactly once; escalation is claimed the same way.

Every change that can move a deadline calls `refresh(ticket)` (helpdesk.py) or
`message_posted` (the thread's hook); deadlines are re-derived from the rows, the policies and
the pauses, so calling them again changes nothing.
"""
import logging
from datetime import date, datetime, timedelta, timezone
from functools import cache, lru_cache

from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload, selectinload

from app.extensions import db
from app.models import SLA_TARGETS, Message, SlaPolicy, Team, TeamMember, Ticket, TicketPause, TicketSla, User
from app.models.base import utcnow
from app.services import jobs, messaging, notifications, pagecache
from app.services.working_time import Calendar, add_working_time, working_time_between

log = logging.getLogger(__name__)

WARNING = timedelta(hours=1)  # cards turn orange under this much working time before a deadline
TARGET_LABELS = {"first_reply": "first reply", "next_reply": "next reply", "resolution": "resolution"}
MAX_PRIORITY = 3
RECOMPUTE_BATCH = 500  # tickets loaded at a time when a team's policies or calendar change
# Targets one sweep handles (about 3 s of notices on PostgreSQL); the next sweep takes the rest.
SWEEP_LIMIT = 500
# RQ schedules by whole seconds: a job planned for 12:00:00.7 may start at 12:00:00.2, before
# the deadline it checks. A second's margin makes the job find it passed.
SCHEDULE_MARGIN = timedelta(seconds=1)
STAFF_ROLES = ("admin", "agent")

# The clock of this module: tests freeze it (`monkeypatch.setattr(sla, "clock", ...)`).
clock = utcnow


# ---- working calendars -------------------------------------------------------------------------

def parse_calendar(tz: str, week_text: str, holidays_text: str = "", special_text: str = "") -> Calendar:
    """A Calendar from what an admin typed, or ValueError saying what is wrong (and where).

    week: seven lines, Monday first, like "09:00-13:00, 14:00-18:00" ("" or "closed": closed;
    trailing closed days may be left out); holidays: one ISO date a line (words after the date
    are a note); special days: "2026-12-24 09:00-13:00" lines (a date alone closes that day).
    """
    lines = [_without_closed(line) for line in (week_text or "").splitlines()]
    while len(lines) > 7 and not lines[-1]:
        lines.pop()
    if len(lines) > 7:
        raise ValueError(f"Working hours: a week has 7 lines (Monday first), got {len(lines)}.")
    week = lines + [""] * (7 - len(lines))
    holidays = {_parse_day(f"Holidays, line {number}", line.split()[0])
                for number, line in _numbered(holidays_text)}
    special = {}
    for number, line in _numbered(special_text):
        first, _, spans = line.partition(" ")
        label = f"Special days, line {number}"
        day = _parse_day(label, first)
        if day in special:
            raise ValueError(f"{label}: {day.isoformat()} is listed twice.")
        special[day] = _without_closed(spans)
    try:
        return Calendar.parse(tz or "UTC", week, holidays, special)
    except ValueError as err:
        message = str(err)
        raise ValueError(message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")) from None


def calendar_of(team: Team) -> Calendar:
    """The team's working hours as a Calendar (no calendar: around the clock).

    A stored calendar that no longer parses (a time zone removed from the system) counts as
    around the clock rather than stopping every ticket of the team; it is logged.
    """
    row = team.calendar
    if row is None:
        return Calendar.always()
    try:
        return _parsed(row.tz, row.week, row.holidays, row.special_days)
    except ValueError as err:
        log.warning("calendar %s of team %s does not parse (%s): counting around the clock", row.id, team.id, err)
        return Calendar.always()


@lru_cache(maxsize=256)
def _parsed(tz: str, week: str, holidays: str, special_days: str) -> Calendar:
    """Parsing is memoised on the text itself, so an edited calendar is parsed anew."""
    return parse_calendar(tz, week, holidays, special_days)


def _numbered(text: str):
    """(line number, stripped line) of the text's lines that are not blank."""
    return [(n, line.strip()) for n, line in enumerate((text or "").splitlines(), start=1) if line.strip()]


def _without_closed(text: str) -> str:
    text = text.strip()
    return "" if text.lower() in ("closed", "-") else text


def _parse_day(label: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{label}: {text!r} is not a date like 2026-12-25.") from None


# ---- which policies apply ----------------------------------------------------------------------

def policies_for(team: Team) -> list[SlaPolicy]:
    """The team's active policies (none when the team does not use SLAs)."""
    if not team.use_sla:
        return []
    return list(db.session.scalars(
        select(SlaPolicy).where(SlaPolicy.team_id == team.id, SlaPolicy.active.is_(True))
        .options(selectinload(SlaPolicy.types), selectinload(SlaPolicy.tags)).order_by(SlaPolicy.id)))


def policy_matches(policy: SlaPolicy, ticket: Ticket) -> bool:
    """Whether the ticket meets the policy's conditions: priority at least the minimum, one of
    its types (when it lists any), every one of its tags, its customer (when it names one)."""
    if not policy.active or policy.team_id != ticket.team_id or not ticket.team.use_sla:
        return False
    if (ticket.priority or 0) < policy.min_priority:
        return False
    if policy.types and ticket.type_id not in {t.id for t in policy.types}:
        return False
    if policy.customer_id is not None and policy.customer_id != ticket.customer_id:
        return False
    return {t.id for t in policy.tags} <= {t.id for t in ticket.tags}


def target_hours(policy: SlaPolicy, target: str) -> float | None:
    """The policy's working hours for a target (None: the policy sets no such target)."""
    return getattr(policy, f"{target}_hours")


def is_resolved(ticket: Ticket, policy: SlaPolicy) -> bool:
    """In the policy's resolution stage or a later one; without one, in any closing stage."""
    stage = policy.resolution_stage
    if stage is None:
        return ticket.stage.is_closing
    return (ticket.stage.sequence, ticket.stage.id) >= (stage.sequence, stage.id) or ticket.stage.is_closing


# ---- keeping a ticket's targets in step ----------------------------------------------------------

def refresh(ticket: Ticket, now: datetime | None = None) -> None:
    """Bring the ticket's targets in step with it after any change (created, moved, priority,
    type, tags, team, customer): pauses follow the stage, resolution is reached or restarted,
    targets of policies that no longer match are dropped, new ones start, deadlines move."""
    now = now or clock()
    db.session.flush()  # the ticket's id, and its stage as assigned
    _sync_pause(ticket, now)
    for row in list(ticket.slas):
        if row.target != "resolution":
            continue
        resolved = is_resolved(ticket, row.policy)
        if row.status == "ongoing" and resolved:
            _reach(row, now)
        elif row.status == "reached" and not resolved:
            _restart(row, now)
    recompute(ticket, now)


def message_posted(ticket: Ticket, message: Message, now: datetime | None = None) -> None:
    """A message on the ticket's thread: a staff reply reaches first and next reply; a customer
    message (after the first reply) starts a next-reply cycle. Notes and automatic lines do neither."""
    who = author_side(message)
    if who is None:
        return
    now = now or clock()
    if who == "staff":
        if ticket.first_reply_at is None:
            ticket.first_reply_at = now
        for row in list(ticket.slas):
            if row.target in ("first_reply", "next_reply") and row.status == "ongoing":
                _reach(row, now)
        recompute(ticket, now)
    elif ticket.first_reply_at is not None and not ticket.is_closed:
        for row in ticket.slas:
            if row.target == "next_reply" and row.status == "reached":
                _restart(row, now)
        recompute(ticket, now, awaiting_since=now)


def author_side(message: Message) -> str | None:
    """"staff" for a public reply of an agent, "customer" for a message of the customer (a
    portal user, or mail from an address that is not staff); None for notes, tracked changes,
    automatic lines and automatic mail (out-of-office, bulk: posted without notifying)."""
    if message.kind != "comment":
        return None
    user = message.author_user
    if user is not None:
        return "staff" if user.role in STAFF_ROLES else "customer"
    contact = message.author_contact
    if contact is None or not message.notify_pending:
        return None
    if contact.email and db.session.scalar(select(User.id).where(
            func.lower(User.email) == contact.email.lower(), User.role.in_(STAFF_ROLES), User.active.is_(True))):
        return "staff"  # an agent answering by mail
    return "customer"


def recompute(ticket: Ticket, now: datetime | None = None, *, calendar: Calendar | None = None,
              pauses: list | None = None, policies: list[SlaPolicy] | None = None,
              awaiting_since: datetime | None = None, schedule: bool = True) -> None:
    """Re-derive the ticket's targets and deadlines from its policies, calendar and pauses.

    Ongoing targets of policies that no longer match are dropped (reached and failed ones stay
    as history); matching policies start their missing targets; `Ticket.sla_deadline` and
    `sla_failed` follow. Batches pass the team's calendar, policies and the ticket's pauses.
    With `schedule`, a job is planned after commit at each moved deadline and escalation.
    """
    now = now or clock()
    calendar = calendar or calendar_of(ticket.team)
    pauses = pauses_of(ticket) if pauses is None else pauses
    policies = policies_for(ticket.team) if policies is None else policies
    matching = {p.id: p for p in policies if policy_matches(p, ticket)}
    for row in list(ticket.slas):
        policy = matching.get(row.policy_id)
        if row.status == "ongoing" and (policy is None or target_hours(policy, row.target) is None
                                        or (row.target != "resolution" and ticket.is_closed)):
            ticket.slas.remove(row)
    rows = {(row.policy_id, row.target): row for row in ticket.slas}
    # The thread is read only if a next-reply clock needs it.
    waiting = cache(lambda: awaiting_since or awaiting_reply_since(ticket))
    moved = []
    for policy in matching.values():
        for target in SLA_TARGETS:
            hours = target_hours(policy, target)
            if hours is None:
                continue
            row = rows.get((policy.id, target))
            if row is None:
                start = _start_of(ticket, policy, target, waiting)
                if start is None:
                    continue
                row = TicketSla(policy=policy, target=target, started_at=start, status="ongoing")
                ticket.slas.append(row)
            if row.status != "ongoing":
                continue
            deadline = deadline_of(row.started_at, hours, calendar, pauses)
            if row.id is None or deadline != row.deadline:
                row.deadline = deadline
                moved.append(row)
    summarise(ticket)
    if schedule and moved:
        db.session.flush()
        for row in moved:
            _schedule(row)


def recompute_team(team: Team, now: datetime | None = None, batch: int = RECOMPUTE_BATCH) -> int:
    """Recompute every open ticket of the team (after its policies or calendar changed), a
    batch at a time; returns how many. No jobs are planned: the sweep finds what falls due."""
    now = now or clock()
    db.session.flush()
    calendar, policies = calendar_of(team), policies_for(team)
    done, last_id = 0, 0
    while True:
        ids = list(db.session.scalars(select(Ticket.id).where(
            Ticket.team_id == team.id, Ticket.closed_at.is_(None), Ticket.id > last_id)
            .order_by(Ticket.id).limit(batch)))
        if not ids:
            return done
        tickets = db.session.scalars(select(Ticket).where(Ticket.id.in_(ids)).options(
            selectinload(Ticket.slas), selectinload(Ticket.tags), selectinload(Ticket.stage)))
        pauses = pauses_by_ticket(ids)
        for ticket in tickets:
            recompute(ticket, now, calendar=calendar, pauses=pauses.get(ticket.id, []), policies=policies,
                      schedule=False)
        db.session.flush()
        done += len(ids)
        last_id = ids[-1]


def summarise(ticket: Ticket) -> None:
    """Keep the ticket's nearest ongoing deadline and its failed flag in step with its rows."""
    rows = ticket.slas
    ticket.sla_failed = any(row.status == "failed" for row in rows)
    ticket.sla_deadline = min((row.deadline for row in rows if row.status == "ongoing" and row.deadline),
                              default=None)


def deadline_of(start: datetime, hours: float, calendar: Calendar, pauses=()) -> datetime | None:
    """When `hours` working hours from `start` (naive UTC) fall due, skipping the pauses; None
    while an open pause holds the clock, or for a calendar with (almost) no working time."""
    try:
        due = add_working_time(_aware(start), hours, calendar, pauses)
    except ValueError as err:
        log.warning("no SLA deadline: %s", err)
        return None
    return None if due is None else due.astimezone(timezone.utc).replace(tzinfo=None)


def pauses_of(ticket: Ticket) -> list:
    """The ticket's pauses as aware (from, to) spans, to=None for the one still open."""
    if ticket.id is None:
        return []
    return pauses_by_ticket([ticket.id]).get(ticket.id, [])


def pauses_by_ticket(ticket_ids) -> dict[int, list]:
    """ticket id -> its pauses (as `pauses_of`), in one query."""
    found: dict[int, list] = {}
    for ticket_id, started, ended in db.session.execute(
            select(TicketPause.ticket_id, TicketPause.started_at, TicketPause.ended_at)
            .where(TicketPause.ticket_id.in_(list(ticket_ids))).order_by(TicketPause.id)):
        found.setdefault(ticket_id, []).append((_aware(started), _aware(ended) if ended else None))
    return found


def awaiting_reply_since(ticket: Ticket) -> datetime | None:
    """When the customer's oldest message not yet answered by staff was posted (None: nothing
    waits for an answer). Reads the thread backwards to the last staff reply."""
    thread = ticket.thread
    if thread is None:
        return None
    since = None
    for message in db.session.scalars(select(Message).where(
            Message.thread_id == thread.id, Message.kind == "comment").order_by(Message.id.desc()).limit(200)):
        side = author_side(message)
        if side == "staff":
            break
        if side == "customer":
            since = message.created_at
    return since


def _start_of(ticket: Ticket, policy: SlaPolicy, target: str, waiting) -> datetime | None:
    """When a target that was not running starts (None: it does not apply now)."""
    if ticket.is_closed:
        return None
    if target == "first_reply":
        return ticket.created_at if ticket.first_reply_at is None else None
    if target == "resolution":
        return None if is_resolved(ticket, policy) else ticket.created_at
    return waiting() if ticket.first_reply_at is not None else None


def _sync_pause(ticket: Ticket, now: datetime) -> None:
    """Open a pause when the ticket is in a stage that pauses the SLA, close it when it left."""
    open_pause = db.session.scalar(select(TicketPause).where(
        TicketPause.ticket_id == ticket.id, TicketPause.ended_at.is_(None)).order_by(TicketPause.id).limit(1))
    if ticket.stage.pauses_sla and not ticket.is_closed:
        if open_pause is None:
            db.session.add(TicketPause(ticket_id=ticket.id, started_at=now))
    elif open_pause is not None:
        open_pause.ended_at = max(now, open_pause.started_at)
    db.session.flush()


def _reach(row: TicketSla, now: datetime) -> None:
    """The target is met now: reached, or failed when its deadline has already passed."""
    if row.deadline is not None and row.deadline < now:
        record_failure(row, now)
        return
    # Conditional, like a failure's claim: a sweep that failed it a moment ago wins.
    db.session.execute(
        update(TicketSla).where(TicketSla.id == row.id, TicketSla.status == "ongoing")
        .values(status="reached", reached_at=now).execution_options(synchronize_session=False, unseen=True))
    _shown_changed(row)
    db.session.refresh(row)


def _restart(row: TicketSla, now: datetime) -> None:
    """A new cycle of a reached target (a reopened ticket, the customer writing again)."""
    row.status, row.started_at, row.reached_at, row.escalated_at, row.deadline = "ongoing", now, None, None, None


def _schedule(row: TicketSla) -> None:
    """Plan the job that checks the target at its deadline (and at its escalation moment)."""
    from app.jobs.sla import check_target_job

    if row.deadline is None:
        return
    jobs.enqueue(check_target_job, row.id, at=_aware(row.deadline) + SCHEDULE_MARGIN)
    moment = escalation_moment(row)
    if moment is not None and row.escalated_at is None:
        jobs.enqueue(check_target_job, row.id, at=_aware(moment) + SCHEDULE_MARGIN)


# ---- deadlines passing: failure and escalation --------------------------------------------------

def escalation_moment(row: TicketSla) -> datetime | None:
    """`escalate_hours` (clock time) before the deadline, for policies that escalate."""
    policy = row.policy
    if not policy.escalate_action or policy.escalate_hours is None or row.deadline is None:
        return None
    return row.deadline - timedelta(hours=policy.escalate_hours)


# What a failure notice or an escalation reads, in three queries instead of a dozen lazy loads.
# What a failure notice or an escalation reads of the ticket, loaded once something is due.
_FOR_NOTICE = (joinedload(Ticket.assignee), selectinload(Ticket.slas),
               joinedload(Ticket.team).selectinload(Team.members).joinedload(TeamMember.user))


def check_target(row_id: int, now: datetime | None = None) -> str | None:
    """What the deadline job and the sweep do for one target: record its failure once its
    deadline passed, or escalate once its escalation moment came. Returns "failed",
    "escalated", or None (nothing due: reached, moved, or done by someone else)."""
    now = now or clock()
    row = db.session.get(TicketSla, row_id)
    if row is None or row.status != "ongoing" or row.deadline is None:
        return None
    if row.deadline <= now:
        _load_for_notice(row)
        return "failed" if record_failure(row, now) else None
    moment = escalation_moment(row)
    if moment is not None and moment <= now and row.escalated_at is None:
        _load_for_notice(row)
        return "escalated" if escalate(row, now) else None
    return None


def _load_for_notice(row: TicketSla) -> None:
    """The ticket, its team, leads and targets in three queries (they land in the session)."""
    db.session.scalars(select(Ticket).where(Ticket.id == row.ticket_id).options(*_FOR_NOTICE)).one()


def _shown_changed(row: TicketSla) -> None:
    """A target changed by a claim (a statement the page cache cannot read): its ticket's page
    is redone; the ticket's own columns (deadline, failed) change through the ORM, which the
    board and the list follow."""
    pagecache.touch(db.session, {pagecache.ticket(row.ticket_id)})


def record_failure(row: TicketSla, now: datetime) -> bool:
    """Mark the target failed and tell the thread, the assignee and the team leads — exactly
    once: the conditional UPDATE lets one caller claim it (a second waits for the first's
    commit, then matches nothing). False when someone else already did."""
    claimed = db.session.execute(
        update(TicketSla).where(TicketSla.id == row.id, TicketSla.status == "ongoing",
                                TicketSla.failure_notified_at.is_(None))
        .values(status="failed", failure_notified_at=now).execution_options(synchronize_session=False, unseen=True)
    ).rowcount
    _shown_changed(row)
    db.session.refresh(row, ["status", "failure_notified_at"])
    if not claimed:
        return False
    ticket, policy = row.ticket, row.policy
    summarise(ticket)
    summary = f"SLA “{policy.name}”: {TARGET_LABELS[row.target]} target missed"
    due = row.deadline.strftime("%Y-%m-%d %H:%M UTC") if row.deadline else None
    thread = ticket.ensure_thread()
    line = f"{summary} (due {due})." if due else f"{summary}."
    message = messaging.post_message(thread, None, line, kind="notification", notify=False)
    notifications.notify_many(people_to_tell(ticket), "system", f"{summary} on {ticket.display_name}",
                              thread=thread, message=message)
    return True


def escalate(row: TicketSla, now: datetime) -> bool:
    """The policy's escalation, once per target: notify the team leads, or raise the ticket's
    priority by one (tracked in its thread; never above urgent). False if already done."""
    claimed = db.session.execute(
        update(TicketSla).where(TicketSla.id == row.id, TicketSla.status == "ongoing",
                                TicketSla.escalated_at.is_(None))
        .values(escalated_at=now).execution_options(synchronize_session=False, unseen=True)
    ).rowcount
    _shown_changed(row)
    db.session.refresh(row, ["status", "escalated_at"])
    if not claimed:
        return False
    ticket, policy = row.ticket, row.policy
    due = row.deadline.strftime("%Y-%m-%d %H:%M UTC")
    summary = f"SLA “{policy.name}”: {TARGET_LABELS[row.target]} due {due}"
    thread = ticket.ensure_thread()
    if policy.escalate_action == "notify":
        message = messaging.post_message(thread, None, f"{summary}: escalated to the team leads.",
                                         kind="notification", notify=False)
        notifications.notify_many(team_leads(ticket.team), "system", f"{summary} on {ticket.display_name}",
                                  thread=thread, message=message)
    elif policy.escalate_action == "raise_priority" and ticket.priority < MAX_PRIORITY:
        before = messaging.snapshot(ticket)
        ticket.priority += 1
        messaging.track_changes(ticket, before, None)
        refresh(ticket, now)  # a higher priority may match other policies
    return True


def people_to_tell(ticket: Ticket) -> list[User]:
    """The assignee and the team's leads, each once, active ones only."""
    people = {}
    if ticket.assignee is not None and ticket.assignee.active:
        people[ticket.assignee.id] = ticket.assignee
    for lead in team_leads(ticket.team):
        people.setdefault(lead.id, lead)
    return list(people.values())


def team_leads(team: Team) -> list[User]:
    return [m.user for m in team.members if m.is_lead and m.user.active]


def due_targets(now: datetime | None = None, limit: int = SWEEP_LIMIT) -> list[int]:
    """Ids of ongoing targets whose deadline or escalation moment has passed, most overdue first.

    Reads only the due rows, by the (status, deadline) index: the sweep costs the same with
    100,000 open tickets as with ten.
    """
    now = now or clock()
    failing = list(db.session.scalars(select(TicketSla.id).where(
        TicketSla.status == "ongoing", TicketSla.deadline <= now).order_by(TicketSla.deadline).limit(limit)))
    longest = db.session.scalar(select(func.max(SlaPolicy.escalate_hours)).where(
        SlaPolicy.active.is_(True), SlaPolicy.escalate_action != ""))
    if not longest or len(failing) >= limit:
        return failing
    escalating = [row_id for row_id, deadline, hours in db.session.execute(
        select(TicketSla.id, TicketSla.deadline, SlaPolicy.escalate_hours)
        .join(SlaPolicy, SlaPolicy.id == TicketSla.policy_id)
        .where(TicketSla.status == "ongoing", TicketSla.deadline > now,
               TicketSla.deadline <= now + timedelta(hours=longest), TicketSla.escalated_at.is_(None),
               SlaPolicy.escalate_action != "", SlaPolicy.escalate_hours.is_not(None))
        .order_by(TicketSla.deadline).limit(limit))
        if deadline - timedelta(hours=hours) <= now]
    return failing + escalating[:limit - len(failing)]


# ---- what cards show ---------------------------------------------------------------------------

def sla_state(ticket, now: datetime | None = None) -> str | None:
    """What a card shows: "failed", "warning" (under an hour of the team's working time left),
    "ongoing", or None (closed, or no deadline running)."""
    if ticket.sla_failed:
        return "failed"
    if ticket.closed_at is not None or ticket.sla_deadline is None:
        return None
    now = now or utcnow()
    left = ticket.sla_deadline - now
    if left < WARNING:
        return "warning"
    if ticket.team.calendar_id is None or left > timedelta(days=7):
        return "ongoing"  # around the clock, working time is clock time; a week ahead is no warning
    working_left = working_time_between(_aware(now), _aware(ticket.sla_deadline), calendar_of(ticket.team))
    return "warning" if working_left < WARNING else "ongoing"


def _aware(moment: datetime) -> datetime:
    """A stored (naive UTC) instant as an aware one, for the working-time functions."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment
