"""services/helpdesk_config.py: what Settings › Helpdesk may change and what it refuses (each
refusal on its form field), stage order and deletion, and tickets following a stage's flags the
way `helpdesk.move` treats a ticket entering or leaving such a stage (time frozen)."""
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import SlaPolicy, Stage, Tag, Team, Ticket, TicketPause, TicketSla, TicketType
from app.models.base import utcnow
from app.services import helpdesk, helpdesk_config as config, sla
from app.services.helpdesk import HelpdeskError
from tests.conftest import make_contact, make_user

pytestmark = pytest.mark.usefixtures("request_ctx")

WEEK = ["09:00-17:00"] * 5 + ["", ""]


@pytest.fixture
def clock(monkeypatch):
    """The SLA clock, frozen at a moment tests can name."""
    now = {"now": utcnow().replace(microsecond=0)}
    monkeypatch.setattr(sla, "clock", lambda: now["now"])
    return now


@pytest.fixture
def care(users):
    team = helpdesk.create_team("Customer Care", members=[users.agent], use_sla=True)
    db.session.commit()
    return team


def stage(name: str) -> Stage:
    return db.session.scalar(select(Stage).where(Stage.name == name))


@contextmanager
def refused(field: str | None, match: str):
    """A HelpdeskError matching `match`, shown on the form's `field`."""
    with pytest.raises(HelpdeskError, match=match) as info:
        yield info
    assert info.value.field == field


def fresh(ticket_id: int) -> Ticket:
    db.session.expire_all()
    return db.session.get(Ticket, ticket_id)


def outcomes(ticket_id: int) -> dict[str, tuple]:
    """target -> (status, reached_at, deadline is set) of the ticket's SLA rows, read fresh."""
    db.session.expire_all()
    return {row.target: (row.status, row.reached_at, row.deadline is not None)
            for row in db.session.scalars(select(TicketSla).where(TicketSla.ticket_id == ticket_id))}


# ---- teams -------------------------------------------------------------------------------------

@pytest.mark.parametrize("fields, field, message", [
    ({"name": "  "}, "name", "needs a name"),
    ({"name": "x" * 81}, "name", "under 80"),
    ({"name": "customer care"}, "name", "already a team named"),
    ({"assignment": "round-robin"}, "assignment", "how tickets are assigned"),
    ({"daily_target": -1}, "daily_target", "from 0 to 1000"),
    ({"daily_target": 1001}, "daily_target", "from 0 to 1000"),
    ({"daily_target": None}, "daily_target", "from 0 to 1000"),
])
def test_a_team_refuses_bad_settings(care, fields, field, message):
    with refused(field, message):
        config.create_team(**{"name": "Billing", **fields})
    assert db.session.scalar(select(Team).where(Team.name == "Billing")) is None


@pytest.mark.parametrize("who", ["portal", "inactive"])
def test_only_active_staff_join_a_team(users, who):
    person = users.portal if who == "portal" else make_user(name="Gone Agent", active=False)
    with refused("members", "only active staff"):
        config.create_team("Billing", members=[person])
    with refused("members", "only active staff"):
        config.create_team("Billing", leads=[person])


def test_a_new_team_has_the_default_stages_its_settings_and_leads_as_members(users):
    team = config.create_team(" Billing  desk ", description=" Invoices ", members=[users.agent],
                              leads=[users.agent2], assignment="balanced", daily_target=0, use_sla=1,
                              use_livechat=True, not_a_switch=True)
    assert (team.name, team.description, team.assignment, team.daily_target) == ("Billing desk", "Invoices",
                                                                                 "balanced", 0)
    assert (team.use_sla, team.use_livechat, team.use_ratings) == (True, True, False)
    assert [s.name for s in team.stages] == ["New", "In progress", "Waiting on customer", "Solved", "Cancelled"]
    assert {(m.user_id, m.is_lead) for m in team.members} == {(users.agent.id, False), (users.agent2.id, True)}


def test_updating_a_team_sets_its_members_and_switches(users, care):
    carol = users.agent2
    config.update_team(care, name="Customer Care", members=[carol], leads=[carol], daily_target=7, use_email=True)
    db.session.commit()
    team = db.session.get(Team, care.id)
    assert [(m.user_id, m.is_lead) for m in team.members] == [(carol.id, True)]  # Bob left the team
    assert (team.daily_target, team.use_email, team.use_sla) == (7, True, False)  # unticked: off
    helpdesk.create_team("Billing")
    with refused("name", "already a team named"):
        config.update_team(care, name="BILLING", members=[carol])


# ---- stages ------------------------------------------------------------------------------------

def test_a_new_stage_goes_last_unless_told_where(care):
    last = config.create_stage(" Escalated ", teams=[care])
    assert (last.name, last.sequence) == ("Escalated", 60)
    early = config.create_stage("Triage", teams=[care], sequence=15)
    db.session.commit()
    db.session.expire_all()
    assert [s.name for s in config.ordered_stages()] == ["New", "Triage", "In progress", "Waiting on customer",
                                                         "Solved", "Cancelled", "Escalated"]
    assert [s.name for s in db.session.get(Team, care.id).stages][:2] == ["New", "Triage"]
    assert early in care.stages


@pytest.mark.parametrize("fields, field, message", [
    ({"name": ""}, "name", "needs a name"),
    ({"name": "x" * 61}, "name", "under 60"),
    ({"mail_subject": "Hello {{ticket.nope}}", "mail_body": "Hi"}, "mail_subject", "Unknown placeholder"),
    ({"mail_body": "Dear {{customer.surname}}"}, "mail_body", "Unknown placeholder"),
    ({"mail_subject": "Solved"}, "mail_body", "Write the email"),
    ({"mail_subject": "x" * 201, "mail_body": "Hi"}, "mail_subject", "under 200"),
    ({"mail_body": "x" * 10_001}, "mail_body", "under 10,000"),
])
def test_a_stage_refuses_bad_input(care, fields, field, message):
    with refused(field, message):
        config.create_stage(**{"name": "Escalated", "teams": [care], **fields})


def test_moving_stages_swaps_neighbours_and_renumbers(care):
    config.create_stage("Escalated", teams=[care], sequence=45)
    solved = stage("Solved")
    assert config.move_stage(solved, "down") is True
    assert [(s.name, s.sequence) for s in config.ordered_stages()] == [
        ("New", 10), ("In progress", 20), ("Waiting on customer", 30), ("Escalated", 40), ("Solved", 50),
        ("Cancelled", 60)]
    assert config.move_stage(stage("New"), "up") is False
    assert config.move_stage(stage("Cancelled"), "down") is False
    assert config.move_stage(solved, "sideways") is False
    assert config.move_stage(solved, "up") is True
    assert [s.name for s in config.ordered_stages()][3:5] == ["Solved", "Escalated"]


def test_a_team_keeps_a_stage_that_does_not_close(care):
    only = Stage(name="Only open", sequence=5)
    care.stages = [only, stage("Solved"), stage("Cancelled")]
    db.session.commit()
    with refused("teams", "needs at least one stage that does not close"):
        config.update_stage(only, name="Only open", teams=[care], is_closing=True)
    with refused("teams", "needs at least one stage that does not close"):
        config.update_stage(only, name="Only open", teams=[])
    with refused("teams", "needs at least one stage that does not close"):
        config.delete_stage(only)
    db.session.rollback()
    assert stage("Only open").is_closing is False and care in stage("Only open").teams


def test_a_team_with_tickets_in_a_stage_stays_on_it(users, care):
    billing = helpdesk.create_team("Billing")
    ticket = helpdesk.create_ticket(care, "Printer on fire")
    db.session.commit()
    with refused("teams", "1 ticket of Customer Care is in this stage"):
        config.update_stage(stage("New"), name="New", teams=[billing])
    config.update_stage(stage("New"), name="Fresh", teams=[care])  # Billing leaves: it holds none
    db.session.commit()
    assert fresh(ticket.id).stage.name == "Fresh" and billing not in stage("Fresh").teams


def test_deleting_a_stage_with_tickets_needs_somewhere_for_them(users, care):
    billing = helpdesk.create_team("Billing")
    parked = config.create_stage("Parked", teams=[care, billing])
    only_billing = config.create_stage("Billing only", teams=[billing])
    tickets = [helpdesk.create_ticket(care, f"Ticket {n}") for n in range(2)]
    for ticket in tickets:
        helpdesk.move(ticket, parked, users.agent)
    db.session.commit()

    with refused("move_to", "2 tickets are in “Parked”"):
        config.delete_stage(parked)
    with refused("move_to", "Pick another stage"):
        config.delete_stage(parked, move_to=parked)
    with refused("move_to", "“Billing only” is not a stage of Customer Care"):
        config.delete_stage(parked, move_to=only_billing)

    assert config.delete_stage(parked, move_to=stage("Solved"), by=users.agent) == 2
    db.session.commit()
    assert stage("Parked") is None
    for ticket in tickets:
        moved = fresh(ticket.id)
        assert moved.stage.name == "Solved" and moved.closed_at is not None  # as a move closes it
    assert config.delete_stage(only_billing) == 0  # no tickets: nothing to ask


# ---- a stage's flags and the tickets already in it ---------------------------------------------------

@pytest.fixture
def parked(care, clock):
    """A stage of Care holding an open ticket under a policy with reply and resolution targets."""
    db.session.add(SlaPolicy(team=care, name="Gold", first_reply_hours=4, resolution_hours=24))
    parked = config.create_stage("Parked", teams=[care], sequence=35)
    db.session.commit()
    return parked


def park(care, parked, users, clock) -> Ticket:
    """A ticket created now (the frozen clock set to it) and moved into `parked`."""
    ticket = helpdesk.create_ticket(care, "Printer on fire")
    clock["now"] = ticket.created_at
    helpdesk.move(ticket, parked, users.agent)
    db.session.commit()
    return ticket


def test_a_stage_becoming_closing_closes_its_tickets_as_a_move_would(users, care, parked, clock):
    ticket = park(care, parked, users, clock)
    twin = helpdesk.create_ticket(care, "Moved instead")
    db.session.commit()
    assert outcomes(ticket.id) == {"first_reply": ("ongoing", None, True), "resolution": ("ongoing", None, True)}
    clock["now"] += timedelta(hours=2)

    config.update_stage(parked, name="Parked", teams=[care], is_closing=True)
    helpdesk.move(twin, stage("Solved"), users.agent)
    db.session.commit()

    closed = fresh(ticket.id)
    assert closed.closed_at is not None and closed.sla_deadline is None
    assert outcomes(ticket.id) == {"resolution": ("reached", clock["now"], True)}  # the reply clock stops
    assert outcomes(ticket.id) == outcomes(twin.id)
    assert fresh(twin.id).closed_at is not None


def test_a_stage_no_longer_closing_reopens_its_tickets_as_leaving_one_would(users, care, parked, clock):
    ticket = park(care, parked, users, clock)
    config.update_stage(parked, name="Parked", teams=[care], is_closing=True)
    twin = helpdesk.create_ticket(care, "Moved instead")
    helpdesk.move(twin, stage("Solved"), users.agent)
    db.session.commit()
    clock["now"] += timedelta(hours=3)

    config.update_stage(parked, name="Parked", teams=[care], is_closing=False)
    helpdesk.move(twin, stage("In progress"), users.agent)
    db.session.commit()

    reopened = fresh(ticket.id)
    assert reopened.closed_at is None
    resolution = db.session.scalar(select(TicketSla).where(TicketSla.ticket_id == ticket.id,
                                                           TicketSla.target == "resolution"))
    assert (resolution.status, resolution.started_at, resolution.reached_at) == ("ongoing", clock["now"], None)
    assert resolution.deadline == clock["now"] + timedelta(hours=24)
    assert reopened.sla_deadline is not None
    assert outcomes(ticket.id) == outcomes(twin.id)


def test_a_stage_that_starts_or_stops_pausing_moves_its_tickets_clocks(users, care, parked, clock):
    ticket = park(care, parked, users, clock)
    config.update_stage(parked, name="Parked", teams=[care], pauses_sla=True)
    db.session.commit()
    pauses = list(db.session.scalars(select(TicketPause).where(TicketPause.ticket_id == ticket.id)))
    assert [(p.started_at, p.ended_at) for p in pauses] == [(clock["now"], None)]
    assert fresh(ticket.id).sla_deadline is None  # no clock runs while paused

    clock["now"] += timedelta(hours=5)
    config.update_stage(parked, name="Parked", teams=[care], pauses_sla=False)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(TicketPause, pauses[0].id).ended_at == clock["now"]
    resumed = fresh(ticket.id)
    assert resumed.sla_deadline == resumed.created_at + timedelta(hours=4 + 5)  # first reply, 5 h later


# ---- ticket types and tags ---------------------------------------------------------------------

def test_types_have_free_names_and_leave_their_tickets_typeless(care):
    bug = config.save_type(" Bug ")
    with refused("name", "already a ticket type named"):
        config.save_type("BUG")
    with refused("name", "needs a name"):
        config.save_type("")
    assert config.save_type("Bug", bug) is bug  # its own name is not taken
    tickets = [helpdesk.create_ticket(care, f"T{n}", ticket_type=bug) for n in range(2)]
    db.session.commit()
    assert config.type_rows() == [(bug, 2)]
    assert config.delete_type(bug) == 2
    db.session.commit()
    assert all(fresh(t.id).type_id is None for t in tickets) and db.session.scalars(select(TicketType)).all() == []


@pytest.mark.parametrize("color", [-1, 8, None])
def test_a_tag_takes_one_of_the_colours(color):
    with refused("color", "one of the colours"):
        config.save_tag("hardware", color)


def test_deleting_a_tag_takes_it_off_its_tickets(care):
    hardware = config.save_tag("hardware", 3)
    with refused("name", "already a tag named"):
        config.save_tag("Hardware", 1)
    ticket = helpdesk.create_ticket(care, "Printer on fire", tags=[hardware])
    db.session.commit()
    assert config.tag_rows() == [(hardware, 1)]
    assert config.delete_tag(hardware) == 1
    db.session.commit()
    assert fresh(ticket.id).tags == [] and db.session.scalars(select(Tag)).all() == []


# ---- working calendars -------------------------------------------------------------------------

@pytest.mark.parametrize("args, field", [
    (("Mars/Olympus", WEEK), "tz"),
    (("", WEEK), "tz"),
    (("Europe/Madrid", ["09:00-17:00", "9 to 5"] + [""] * 5), "day_1"),
    (("Europe/Madrid", ["17:00-09:00"] + [""] * 6), "day_0"),
    (("Europe/Madrid", WEEK, "2026-13-45"), "holidays"),
    (("Europe/Madrid", WEEK, "", "24/12/2026 09:00-13:00"), "special_days"),
    (("Europe/Madrid", [""] * 7), "week"),  # no working time at all
])
def test_a_calendar_refusal_lands_on_its_field(args, field):
    with refused(field, "."):
        config.parse_calendar(*args)


def test_saving_a_calendar_recomputes_its_teams_deadlines_and_deleting_frees_them(users, care, clock):
    db.session.add(SlaPolicy(team=care, name="Gold", first_reply_hours=4))
    ticket = helpdesk.create_ticket(care, "Printer on fire")
    db.session.commit()
    assert fresh(ticket.id).sla_deadline == ticket.created_at + timedelta(hours=4)  # around the clock

    sundays = config.save_calendar("Sunday nights", "UTC", [""] * 6 + ["00:00-02:00"])
    config.update_team(care, name="Customer Care", members=[users.agent], calendar=sundays, use_sla=True)
    db.session.commit()
    assert fresh(ticket.id).sla_deadline - ticket.created_at > timedelta(days=7)  # two hours a week
    with refused("name", "already a calendar named"):
        config.save_calendar("sunday NIGHTS", "UTC", WEEK)

    assert config.delete_calendar(sundays) == [care]
    db.session.commit()
    assert fresh(ticket.id).team.calendar is None
    assert fresh(ticket.id).sla_deadline == ticket.created_at + timedelta(hours=4)


# ---- SLA policies ------------------------------------------------------------------------------

@pytest.mark.parametrize("fields, field, message", [
    ({"name": ""}, "name", "needs a name"),
    ({"min_priority": 4}, "min_priority", "Pick a priority"),
    ({"first_reply_hours": None}, "first_reply_hours", "at least one target"),
    ({"first_reply_hours": -1}, "first_reply_hours", "cannot be negative"),
    ({"resolution_hours": 10_001}, "resolution_hours", "under 10,000"),
    ({"resolution_stage": "Billing only", "resolution_hours": 8}, "resolution_stage", "not a stage of"),
    ({"resolution_stage": "Solved"}, "resolution_hours", "needs resolution hours"),
    ({"escalate_action": "shout", "escalate_hours": 1}, "escalate_action", "what escalation does"),
    ({"escalate_action": "notify"}, "escalate_hours", "needs both"),
    ({"escalate_hours": 1}, "escalate_action", "needs both"),
])
def test_a_policy_refuses_bad_targets(care, fields, field, message):
    config.create_stage("Billing only", teams=[helpdesk.create_team("Billing")])
    if "resolution_stage" in fields:
        fields = {**fields, "resolution_stage": stage(fields["resolution_stage"])}
    with refused(field, message):
        config.save_policy(care, **{"name": "Gold", "first_reply_hours": 4, **fields})
    assert config.policies_of(care) == []


def test_a_policy_name_is_free_within_its_team_only(care):
    billing = helpdesk.create_team("Billing")
    gold = config.save_policy(care, name="Gold", first_reply_hours=4)
    config.save_policy(billing, name="gold", first_reply_hours=8)  # another team may reuse it
    with refused("name", "already has a policy named"):
        config.save_policy(care, name="GOLD", first_reply_hours=2)
    assert config.save_policy(care, name="Gold", first_reply_hours=2, policy=gold) is gold


def test_saving_and_deleting_a_policy_moves_the_teams_deadlines(care, clock):
    ticket = helpdesk.create_ticket(care, "Printer on fire", priority=2)
    db.session.commit()
    assert fresh(ticket.id).sla_deadline is None
    customer = make_contact("Ada", "ada@customer.test")
    assert config.customer_by_email(" ADA@customer.test ") == customer and config.customer_by_email("") is None
    with refused("customer", "No contact has the address"):
        config.customer_by_email("nobody@customer.test")

    policy = config.save_policy(care, name="High", min_priority=2, first_reply_hours=4, escalate_hours=1,
                                escalate_action="notify")
    db.session.commit()
    assert fresh(ticket.id).sla_deadline == ticket.created_at + timedelta(hours=4)
    config.save_policy(care, name="High", min_priority=3, first_reply_hours=4, policy=policy)
    db.session.commit()
    assert fresh(ticket.id).sla_deadline is None  # priority 2 no longer matches
    config.save_policy(care, name="High", min_priority=2, first_reply_hours=4, policy=policy)
    db.session.commit()
    assert fresh(ticket.id).sla_deadline is not None
    config.delete_policy(policy)
    db.session.commit()
    assert fresh(ticket.id).sla_deadline is None and config.policies_of(care) == []
