"""services/sla.py: policies, targets, clocks, pauses, escalation and failures (time frozen)."""
import threading
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Message, Notification, SlaPolicy, Stage, Tag, TicketPause, TicketSla, TicketType, WorkingCalendar
from app.models.base import utcnow
from app.services import helpdesk, messaging, sla
from tests.conftest import make_contact

pytestmark = pytest.mark.usefixtures("request_ctx")


class Clock:
    """The SLA service's clock, frozen; tests move it by hand."""

    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock(monkeypatch):
    frozen = Clock()
    monkeypatch.setattr(sla, "clock", frozen)
    return frozen


@pytest.fixture
def team(app, users):
    team = helpdesk.create_team("Customer Care", members=[users.agent], leads=[users.agent2], use_sla=True)
    db.session.commit()
    return team


def stage(name: str) -> Stage:
    return db.session.scalar(select(Stage).where(Stage.name == name))


def policy(team, name="Gold", **fields) -> SlaPolicy:
    fields = {"first_reply_hours": 4, "resolution_hours": 24, **fields}
    row = SlaPolicy(team=team, name=name, **fields)
    db.session.add(row)
    db.session.commit()
    return row


def open_ticket(team, clock, users, **fields):
    """A ticket created now; the frozen clock is set to its creation."""
    fields.setdefault("assignee", users.agent)
    ticket = helpdesk.create_ticket(team, "Printer on fire", **fields)
    db.session.commit()
    clock.now = ticket.created_at
    return ticket


def targets(ticket) -> dict:
    db.session.flush()
    db.session.expire_all()
    return {(row.policy.name, row.target): row for row in db.session.scalars(
        select(TicketSla).where(TicketSla.ticket_id == ticket.id))}


def notices(ticket) -> list[str]:
    return [m.body_html for m in db.session.scalars(select(Message).where(
        Message.thread_id == ticket.thread.id, Message.kind == "notification").order_by(Message.id))
        if "SLA" in m.body_html]


def inbox(user) -> list[str]:
    return list(db.session.scalars(select(Notification.summary).where(Notification.user_id == user.id)
                                   .order_by(Notification.id)))


# ---- which policies apply -----------------------------------------------------------------------

@pytest.mark.parametrize("conditions, ticket_fields, matches", [
    ({}, {}, True),
    ({"min_priority": 2}, {"priority": 1}, False),
    ({"min_priority": 2}, {"priority": 2}, True),
    ({"min_priority": 2}, {"priority": 3}, True),
    ({"types": ["Bug"]}, {"type": "Bug"}, True),
    ({"types": ["Bug", "Question"]}, {"type": "Question"}, True),
    ({"types": ["Bug"]}, {"type": "Question"}, False),
    ({"types": ["Bug"]}, {}, False),
    ({"tags": ["vip", "eu"]}, {"tags": ["vip", "eu", "late"]}, True),
    ({"tags": ["vip", "eu"]}, {"tags": ["vip"]}, False),
    ({"customer": True}, {"customer": True}, True),
    ({"customer": True}, {}, False),
    ({"active": False}, {}, False),
])
def test_a_policy_applies_to_the_tickets_meeting_all_its_conditions(team, users, clock, conditions,
                                                                      ticket_fields, matches):
    kinds = {name: TicketType(name=name) for name in ("Bug", "Question")}
    tags = {name: Tag(name=name) for name in ("vip", "eu", "late")}
    customer = make_contact("Ada Customer", "ada@customer.test")
    gold = policy(team, min_priority=conditions.get("min_priority", 0), active=conditions.get("active", True),
                  customer=customer if conditions.get("customer") else None)
    gold.types = [kinds[n] for n in conditions.get("types", [])]
    gold.tags = [tags[n] for n in conditions.get("tags", [])]
    db.session.commit()
    ticket = open_ticket(team, clock, users, priority=ticket_fields.get("priority", 0),
                         ticket_type=kinds.get(ticket_fields.get("type")),
                         tags=[tags[n] for n in ticket_fields.get("tags", [])],
                         customer=customer if ticket_fields.get("customer") else None)
    assert sla.policy_matches(gold, ticket) is matches
    assert bool(targets(ticket)) is matches


def test_teams_without_sla_start_no_clock(team, users, clock):
    policy(team)
    team.use_sla = False
    db.session.commit()
    ticket = open_ticket(team, clock, users)
    assert targets(ticket) == {} and ticket.sla_deadline is None


# ---- first reply, resolution ---------------------------------------------------------------------

def test_a_new_ticket_starts_first_reply_and_resolution_and_shows_the_nearest_deadline(team, users, clock):
    policy(team, first_reply_hours=4, resolution_hours=24, next_reply_hours=2)
    ticket = open_ticket(team, clock, users)
    rows = targets(ticket)
    assert set(rows) == {("Gold", "first_reply"), ("Gold", "resolution")}  # next reply: after a reply
    assert rows["Gold", "first_reply"].deadline == ticket.created_at + timedelta(hours=4)
    assert rows["Gold", "resolution"].deadline == ticket.created_at + timedelta(hours=24)
    assert {row.status for row in rows.values()} == {"ongoing"}
    assert ticket.sla_deadline == ticket.created_at + timedelta(hours=4) and not ticket.sla_failed


def test_the_first_public_staff_reply_reaches_first_reply(team, users, clock):
    policy(team)
    ticket = open_ticket(team, clock, users, customer=make_contact())
    thread = ticket.ensure_thread()
    messaging.post_message(thread, users.agent, "Looking into it", kind="note")
    messaging.post_message(thread, users.portal, "Any news?")
    assert targets(ticket)["Gold", "first_reply"].status == "ongoing" and ticket.first_reply_at is None
    clock.advance(hours=1)
    messaging.post_message(thread, users.agent, "Fixed the toner.")
    db.session.commit()
    row = targets(ticket)["Gold", "first_reply"]
    assert (row.status, row.reached_at, ticket.first_reply_at) == ("reached", clock.now, clock.now)
    assert ticket.sla_deadline == targets(ticket)["Gold", "resolution"].deadline


def test_reaching_a_target_after_its_deadline_fails_it(team, users, clock):
    policy(team)
    ticket = open_ticket(team, clock, users)
    clock.advance(hours=5)
    messaging.post_message(ticket.ensure_thread(), users.agent, "Sorry for the wait.")
    db.session.commit()
    row = targets(ticket)["Gold", "first_reply"]
    assert (row.status, row.reached_at) == ("failed", None) and ticket.sla_failed
    assert notices(ticket) == [f"<p>SLA “Gold”: first reply target missed (due "
                               f"{row.deadline:%Y-%m-%d %H:%M} UTC).</p>"]


def test_resolution_is_reached_in_the_policy_stage_or_a_later_one(team, users, clock):
    policy(team, resolution_stage=stage("Waiting on customer"))
    ticket = open_ticket(team, clock, users)
    helpdesk.move(ticket, stage("In progress"), users.agent)
    assert targets(ticket)["Gold", "resolution"].status == "ongoing"
    clock.advance(hours=2)
    helpdesk.move(ticket, stage("Solved"), users.agent)
    db.session.commit()
    row = targets(ticket)["Gold", "resolution"]
    assert (row.status, row.reached_at) == ("reached", clock.now)
    assert "first_reply" not in {t for _, t in targets(ticket)}  # closed: nobody has to answer it


def test_reordering_stages_moves_resolution_with_them(team, users, clock):
    from app.services import helpdesk_config

    policy(team, resolution_stage=stage("Waiting on customer"))
    ticket = open_ticket(team, clock, users)
    helpdesk.move(ticket, stage("In progress"), users.agent)
    db.session.commit()
    assert targets(ticket)["Gold", "resolution"].status == "ongoing"
    # "In progress" now comes after "Waiting on customer": the ticket is past its resolution stage.
    assert helpdesk_config.move_stage(stage("In progress"), "down") is True
    db.session.commit()
    assert targets(ticket)["Gold", "resolution"].status == "reached"
    # And back before it: resolution restarts.
    assert helpdesk_config.move_stage(stage("In progress"), "up") is True
    db.session.commit()
    assert targets(ticket)["Gold", "resolution"].status == "ongoing"


def test_reopening_restarts_resolution_unless_it_failed(team, users, clock):
    policy(team, resolution_hours=8)
    ticket = open_ticket(team, clock, users)
    helpdesk.move(ticket, stage("Solved"), users.agent)
    clock.advance(hours=3)
    helpdesk.move(ticket, stage("In progress"), users.agent)
    db.session.commit()
    row = targets(ticket)["Gold", "resolution"]
    assert (row.status, row.started_at, row.deadline) == ("ongoing", clock.now, clock.now + timedelta(hours=8))

    clock.advance(hours=9)
    assert sla.check_target(row.id) == "failed"
    helpdesk.move(ticket, stage("Solved"), users.agent)
    helpdesk.move(ticket, stage("New"), users.agent)
    db.session.commit()
    assert targets(ticket)["Gold", "resolution"].status == "failed" and ticket.sla_failed


# ---- next reply cycles ---------------------------------------------------------------------------

def test_each_customer_message_after_a_reply_starts_a_next_reply_cycle(team, users, clock):
    policy(team, first_reply_hours=4, next_reply_hours=2, resolution_hours=None)
    customer = make_contact("Ada Customer", "ada@customer.test")
    ticket = open_ticket(team, clock, users, customer=customer)
    thread = ticket.ensure_thread()
    messaging.post_message(thread, None, "It smokes", author_contact=customer)  # before any reply
    assert ("Gold", "next_reply") not in targets(ticket)
    messaging.post_message(thread, users.agent, "Unplug it.")

    asked = clock.advance(hours=1)
    messaging.post_message(thread, None, "Done, still smokes", author_contact=customer)
    clock.advance(minutes=30)
    messaging.post_message(thread, None, "Hello?", author_contact=customer)  # the clock runs on
    db.session.commit()
    row = targets(ticket)["Gold", "next_reply"]
    assert (row.status, row.started_at, row.deadline) == ("ongoing", asked, asked + timedelta(hours=2))
    assert ticket.sla_deadline == asked + timedelta(hours=2)

    answered = clock.advance(minutes=30)
    messaging.post_message(thread, users.agent, "A technician is on the way.")
    assert (targets(ticket)["Gold", "next_reply"].status, ticket.sla_deadline) == ("reached", None)

    again = clock.advance(hours=5)
    messaging.post_message(thread, users.portal, "He never came")
    db.session.commit()
    row = targets(ticket)["Gold", "next_reply"]
    assert (row.status, row.started_at, row.reached_at) == ("ongoing", again, None)
    assert answered < again


def test_auto_replies_and_notes_start_no_cycle(team, users, clock):
    policy(team, next_reply_hours=2)
    customer = make_contact()
    ticket = open_ticket(team, clock, users, customer=customer)
    thread = ticket.ensure_thread()
    messaging.post_message(thread, users.agent, "Unplug it.")
    messaging.post_message(thread, None, "I am out of office", author_contact=customer, notify=False)
    messaging.post_message(thread, users.agent, "Customer is away", kind="note")
    messaging.post_message(thread, None, "Reminder sent", kind="notification", notify=False)
    assert ("Gold", "next_reply") not in targets(ticket)


# ---- pauses --------------------------------------------------------------------------------------

def test_waiting_on_the_customer_stops_the_clock_until_the_ticket_moves_on(team, users, clock):
    policy(team, first_reply_hours=4, resolution_hours=24)
    ticket = open_ticket(team, clock, users)
    created = ticket.created_at
    clock.advance(hours=1)
    helpdesk.move(ticket, stage("Waiting on customer"), users.agent)
    db.session.commit()
    assert {row.deadline for row in targets(ticket).values()} == {None} and ticket.sla_deadline is None
    assert sla.sla_state(ticket) is None

    clock.advance(hours=3)
    helpdesk.move(ticket, stage("In progress"), users.agent)
    db.session.commit()
    pause = db.session.scalar(select(TicketPause).where(TicketPause.ticket_id == ticket.id))
    assert (pause.started_at, pause.ended_at) == (created + timedelta(hours=1), clock.now)
    rows = targets(ticket)
    assert rows["Gold", "first_reply"].deadline == created + timedelta(hours=4 + 3)
    assert rows["Gold", "resolution"].deadline == created + timedelta(hours=24 + 3)


def test_deadlines_count_the_team_working_hours(team, users, clock):
    team.calendar = WorkingCalendar(name="Office", tz="Europe/Berlin",
                                    week="09:00-17:00\n09:00-17:00\n09:00-17:00\n09:00-17:00\n09:00-17:00")
    policy(team, first_reply_hours=1.5, resolution_hours=None)
    ticket = open_ticket(team, clock, users)
    ticket.created_at = datetime(2026, 12, 4, 15, 0)  # Friday 16:00 in Berlin
    row = targets(ticket)["Gold", "first_reply"]
    row.started_at = ticket.created_at
    sla.recompute(ticket, now=ticket.created_at)
    assert row.deadline == datetime(2026, 12, 7, 8, 30)  # an hour on Friday, half an hour on Monday
    # Friday 16:30: more than an hour by the clock, half an hour of working time: orange.
    assert sla.sla_state(ticket, now=datetime(2026, 12, 4, 16, 30)) == "warning"
    assert sla.sla_state(ticket, now=datetime(2026, 12, 4, 15, 30)) == "ongoing"


# ---- recomputing on changes ---------------------------------------------------------------------

def test_raising_the_priority_brings_in_a_policy_and_lowering_it_drops_its_running_targets(team, users, clock):
    policy(team, "Urgent", min_priority=3, first_reply_hours=1, resolution_hours=4)
    ticket = open_ticket(team, clock, users)
    assert targets(ticket) == {}
    helpdesk.update(ticket, users.agent, priority=3)
    db.session.commit()
    assert ticket.sla_deadline == ticket.created_at + timedelta(hours=1)
    messaging.post_message(ticket.ensure_thread(), users.agent, "On it.")
    helpdesk.update(ticket, users.agent, priority=1)
    db.session.commit()
    rows = targets(ticket)
    assert set(rows) == {("Urgent", "first_reply")} and rows["Urgent", "first_reply"].status == "reached"
    assert ticket.sla_deadline is None


@pytest.mark.parametrize("change", ["type", "tags", "customer", "team"])
def test_a_change_of_type_tags_customer_or_team_recomputes(team, users, clock, change):
    bug, vip, customer = TicketType(name="Bug"), Tag(name="vip"), make_contact()
    other = helpdesk.create_team("Billing", members=[users.agent2], use_sla=True)
    gold = policy(team, first_reply_hours=4)
    silver = policy(other, "Silver", first_reply_hours=8)
    ticket = open_ticket(team, clock, users)
    {"type": lambda: gold.types.append(bug), "tags": lambda: gold.tags.append(vip),
     "customer": lambda: setattr(gold, "customer", customer), "team": lambda: None}[change]()
    db.session.commit()
    sla.recompute(ticket)
    db.session.commit()
    expected_before = set() if change != "team" else {("Gold", "first_reply"), ("Gold", "resolution")}
    assert set(targets(ticket)) == expected_before
    changes = {"type": {"ticket_type": bug}, "tags": {"tags": [vip]}, "customer": {"customer": customer},
               "team": {"team": other}}[change]
    helpdesk.update(ticket, users.agent, **changes)
    db.session.commit()
    if change == "team":
        assert set(targets(ticket)) == {("Silver", "first_reply"), ("Silver", "resolution")}
        assert (ticket.team, ticket.stage.name, ticket.assignee) == (other, "New", None)
        assert ticket.sla_deadline == ticket.created_at + timedelta(hours=8)
        assert silver.id in {row.policy_id for row in ticket.slas}
    else:
        assert set(targets(ticket)) == {("Gold", "first_reply"), ("Gold", "resolution")}
        assert ticket.sla_deadline == ticket.created_at + timedelta(hours=4)


def test_a_new_team_keeps_the_stage_it_shares_and_assigns_by_its_method(team, users, clock):
    other = helpdesk.create_team("Billing", members=[users.agent2], assignment="balanced")
    ticket = open_ticket(team, clock, users)
    helpdesk.move(ticket, stage("In progress"), users.agent)
    helpdesk.update(ticket, users.agent, team=other)
    db.session.commit()
    assert (ticket.team, ticket.stage.name, ticket.assignee) == (other, "In progress", users.agent2)
    tracked = {t.field for m in db.session.scalars(select(Message).where(
        Message.thread_id == ticket.thread.id, Message.kind == "tracking")) for t in m.tracking_values}
    assert {"team", "assignee"} <= tracked
    helpdesk.update(ticket, users.agent, team=team)
    other.active = False
    with pytest.raises(helpdesk.HelpdeskError, match="archived"):
        helpdesk.update(ticket, users.agent, team=other)


def test_recompute_team_applies_a_changed_policy_to_every_open_ticket(team, users, clock):
    gold = policy(team, first_reply_hours=4)
    tickets = [open_ticket(team, clock, users) for _ in range(5)]
    helpdesk.move(tickets[0], stage("Solved"), users.agent)
    gold.first_reply_hours = 1
    db.session.commit()
    assert sla.recompute_team(team, batch=2) == 4
    db.session.commit()
    for ticket in tickets[1:]:
        assert targets(ticket)["Gold", "first_reply"].deadline == ticket.created_at + timedelta(hours=1)
    gold.active = False
    sla.recompute_team(team)
    db.session.commit()
    assert all(targets(t) == {} for t in tickets[1:])
    assert targets(tickets[0])["Gold", "resolution"].status == "reached"


# ---- failing and escalating ----------------------------------------------------------------------

def test_a_passed_deadline_fails_once_and_tells_the_assignee_and_the_leads(team, users, clock):
    policy(team, first_reply_hours=4, resolution_hours=None)
    ticket = open_ticket(team, clock, users)
    row_id = targets(ticket)["Gold", "first_reply"].id
    assert sla.due_targets() == [] and sla.check_target(row_id) is None
    clock.advance(hours=4, seconds=1)
    assert sla.due_targets() == [row_id]
    assert sla.check_target(row_id) == "failed"
    db.session.commit()
    assert sla.check_target(row_id) is None and sla.due_targets() == []
    row = targets(ticket)["Gold", "first_reply"]
    assert (row.status, row.failure_notified_at) == ("failed", clock.now)
    assert ticket.sla_failed and sla.sla_state(ticket) == "failed"
    expected = f"SLA “Gold”: first reply target missed on {ticket.display_name}"
    assert inbox(users.agent) == [expected] and inbox(users.agent2) == [expected]
    assert len(notices(ticket)) == 1


def test_two_concurrent_sweeps_notify_a_failure_once(app, team, users, clock):
    policy(team, first_reply_hours=1, resolution_hours=None)
    tickets = [open_ticket(team, clock, users) for _ in range(6)]
    clock.advance(hours=2)
    start, results = threading.Barrier(2), []

    def sweep():
        with app.app_context(), app.test_request_context(base_url=app.config["BASE_URL"]):
            start.wait()
            done = 0
            for row_id in sla.due_targets():
                done += sla.check_target(row_id) is not None
                db.session.commit()
            results.append(done)
            db.session.remove()

    if db.engine.dialect.name == "postgresql":  # two sessions at once; SQLite has one writer
        workers = [threading.Thread(target=sweep) for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=30)
    else:
        start = threading.Barrier(1)
        sweep()
        sweep()
    assert sorted(results)[-1] + sorted(results)[0] == 6
    db.session.expire_all()
    assert len(inbox(users.agent)) == 6 and len(inbox(users.agent2)) == 6
    assert [len(notices(t)) for t in tickets] == [1] * 6


@pytest.mark.parametrize("action", ["notify", "raise_priority"])
def test_escalation_happens_once_before_the_deadline(team, users, clock, action):
    policy(team, first_reply_hours=4, resolution_hours=None, escalate_hours=1, escalate_action=action)
    ticket = open_ticket(team, clock, users, priority=2)
    row_id = targets(ticket)["Gold", "first_reply"].id
    clock.advance(hours=2, minutes=59)
    assert sla.due_targets() == [] and sla.check_target(row_id) is None
    clock.advance(minutes=2)
    assert sla.due_targets() == [row_id]
    assert sla.check_target(row_id) == "escalated"
    db.session.commit()
    assert sla.check_target(row_id) is None and sla.due_targets() == []
    if action == "notify":
        assert inbox(users.agent2) == [f"SLA “Gold”: first reply due "
                                       f"{ticket.created_at + timedelta(hours=4):%Y-%m-%d %H:%M} UTC "
                                       f"on {ticket.display_name}"]
        assert inbox(users.agent) == [] and ticket.priority == 2
    else:
        assert ticket.priority == 3 and inbox(users.agent2) == []
        tracked = [(t.old_value, t.new_value) for m in db.session.scalars(select(Message).where(
            Message.thread_id == ticket.thread.id, Message.kind == "tracking")) for t in m.tracking_values]
        assert tracked == [("High", "Urgent")]
    assert targets(ticket)["Gold", "first_reply"].status == "ongoing"


def test_raising_the_priority_stops_at_urgent(team, users, clock):
    policy(team, first_reply_hours=2, resolution_hours=None, escalate_hours=1, escalate_action="raise_priority")
    ticket = open_ticket(team, clock, users, priority=3)
    clock.advance(hours=1, minutes=1)
    assert sla.check_target(targets(ticket)["Gold", "first_reply"].id) == "escalated"
    assert ticket.priority == 3


def test_a_deadline_job_is_planned_after_commit(app, team, users, clock, monkeypatch):
    planned = []
    monkeypatch.setattr(sla.jobs, "enqueue", lambda func, *args, at=None: planned.append((func.__name__, args, at)))
    policy(team, first_reply_hours=4, resolution_hours=None, escalate_hours=1, escalate_action="notify")
    ticket = open_ticket(team, clock, users)
    row = targets(ticket)["Gold", "first_reply"]
    deadline = (row.deadline + sla.SCHEDULE_MARGIN).replace(tzinfo=sla.timezone.utc)
    assert planned == [("check_target_job", (row.id,), deadline),
                       ("check_target_job", (row.id,), deadline - timedelta(hours=1))]


# ---- calendars -----------------------------------------------------------------------------------

def test_calendars_parse_what_an_admin_types(team):
    calendar = sla.parse_calendar("Europe/Madrid", "09:00-13:00, 15:00-19:00\n09:00-17:00\nclosed\n\n09:00-17:00",
                                  "2026-12-25 Christmas\n\n2027-01-01", "2026-12-24 09:00-13:00\n2026-12-27")
    assert calendar.intervals_on(date(2026, 11, 30)) == ((calendar.week[0][0]), (calendar.week[0][1]))
    assert [len(day) for day in calendar.week] == [2, 1, 0, 0, 1, 0, 0]
    assert calendar.holidays == {date(2026, 12, 25), date(2027, 1, 1)}
    assert calendar.intervals_on(date(2026, 12, 27)) == () and len(calendar.intervals_on(date(2026, 12, 24))) == 1
    assert sla.calendar_of(team) == sla.calendar_of(team) and sla.calendar_of(team).tz == "UTC"


@pytest.mark.parametrize("tz, week, holidays, special, message", [
    ("Mars/Olympus", "09:00-17:00", "", "", "Unknown time zone 'Mars/Olympus'"),
    ("UTC", "9 to 5", "", "", "Monday: '9 to 5' is not like 09:00-17:00"),
    ("UTC", "\n17:00-09:00", "", "", "Tuesday: 17:00-09:00 is empty"),
    ("UTC", "09:00-12:00, 11:00-13:00", "", "", "overlaps"),
    ("UTC", "\n".join(["09:00-17:00"] * 8), "", "", "a week has 7 lines"),
    ("UTC", "", "", "", "The calendar has no working time"),
    ("UTC", "09:00-17:00", "2026-02-30", "", "Holidays, line 1: '2026-02-30' is not a date"),
    ("UTC", "09:00-17:00", "", "24/12 09:00-13:00", "Special days, line 1: '24/12' is not a date"),
    ("UTC", "09:00-17:00", "", "2026-12-24\n2026-12-24 10:00-11:00", "listed twice"),
    ("UTC", "09:00-17:00", "2026-12-24", "2026-12-24", "both a holiday and a special day"),
    ("UTC", "09:00-25:00", "", "", "25:00 is not a time of day"),
])
def test_calendar_mistakes_are_explained(tz, week, holidays, special, message):
    with pytest.raises(ValueError, match=message):
        sla.parse_calendar(tz, week, holidays, special)


def test_an_agent_answering_by_mail_is_a_staff_reply(team, users, clock):
    policy(team)
    ticket = open_ticket(team, clock, users)
    agent_by_mail = make_contact("Bob Agent", users.agent.email.upper())
    messaging.post_message(ticket.ensure_thread(), None, "Replying from my phone", author_contact=agent_by_mail)
    db.session.commit()
    assert targets(ticket)["Gold", "first_reply"].status == "reached" and ticket.first_reply_at == clock.now


def test_a_reply_after_the_sweep_failed_the_target_leaves_it_failed(team, users, clock):
    policy(team, first_reply_hours=1, resolution_hours=None)
    ticket = open_ticket(team, clock, users)
    row = targets(ticket)["Gold", "first_reply"]
    clock.advance(hours=2)
    assert sla.check_target(row.id) == "failed"
    clock.now = row.deadline  # a reply the agent sent in time, recorded a moment too late
    messaging.post_message(ticket.ensure_thread(), users.agent, "Here you are.")
    db.session.commit()
    assert targets(ticket)["Gold", "first_reply"].status == "failed" and len(notices(ticket)) == 1


def test_a_missed_next_reply_stays_missed_when_the_customer_writes_again(team, users, clock):
    policy(team, first_reply_hours=4, next_reply_hours=1, resolution_hours=None)
    ticket = open_ticket(team, clock, users)
    thread = ticket.ensure_thread()
    messaging.post_message(thread, users.agent, "Unplug it.")
    messaging.post_message(thread, users.portal, "Done, still smokes")
    clock.advance(hours=2)
    messaging.post_message(thread, users.agent, "Sorry, a technician is coming.")
    messaging.post_message(thread, users.portal, "Thanks")
    db.session.commit()
    row = targets(ticket)["Gold", "next_reply"]
    assert (row.status, ticket.sla_failed, ticket.sla_deadline) == ("failed", True, None)
    assert len(notices(ticket)) == 1


def test_the_sweep_takes_at_most_its_limit_and_leaves_the_rest_to_the_next(team, users, clock):
    policy(team, first_reply_hours=1, resolution_hours=None)
    for _ in range(3):
        open_ticket(team, clock, users)
    clock.advance(hours=2)
    first = sla.due_targets(limit=2)
    assert len(first) == 2 and all(sla.check_target(row_id) == "failed" for row_id in first)
    assert len(sla.due_targets(limit=2)) == 1
