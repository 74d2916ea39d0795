"""services/helpdesk.py: teams, tickets, assignment, stages; mail that opens and follows tickets."""
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Follower, MailAlias, Message, Stage, Team, Ticket, TrackingValue
from app.services import helpdesk, mailgate
from tests.conftest import make_contact, make_user

pytestmark = pytest.mark.usefixtures("request_ctx")

MAIL = Path(__file__).resolve().parents[1] / "mail"


@pytest.fixture
def team(app, users):
    team = helpdesk.create_team("Customer Care", members=[users.agent], leads=[users.agent2])
    db.session.commit()
    return team


def stage(name: str) -> Stage:
    return db.session.scalar(select(Stage).where(Stage.name == name))


def test_a_team_starts_with_the_default_stages_shared_with_other_teams(team, users):
    assert [s.name for s in team.stages] == ["New", "In progress", "Waiting on customer", "Solved", "Cancelled"]
    assert [s.name for s in team.stages if s.is_closing] == ["Solved", "Cancelled"]
    assert stage("Waiting on customer").pauses_sla and stage("Cancelled").is_folded
    other = helpdesk.create_team("Billing")
    assert [s.id for s in other.stages] == [s.id for s in team.stages]
    assert other.slug == "billing" and team.slug == "customer-care"
    assert [(m.user, m.is_lead) for m in team.members] == [(users.agent, False), (users.agent2, True)]


@pytest.mark.parametrize("name, message", [("", "needs a name"), ("  ", "needs a name"),
                                            ("customer care", "already a team")])
def test_a_team_needs_a_free_name(team, name, message):
    with pytest.raises(helpdesk.HelpdeskError, match=message):
        helpdesk.create_team(name)


def test_a_ticket_opens_in_the_first_stage_with_its_customer_following(team, users):
    customer = make_contact("Ada Customer", "ada@customer.test")
    ticket = helpdesk.create_ticket(team, "  Printer   on fire ", author=users.agent, customer=customer,
                                    description="Smoke <b>everywhere</b>", priority=3)
    db.session.commit()
    assert (ticket.title, ticket.stage.name, ticket.priority_label, ticket.ref) == (
        "Printer on fire", "New", "Urgent", f"#{ticket.id}")
    assert ticket.description == "<p>Smoke &lt;b&gt;everywhere&lt;/b&gt;</p>"
    followers = db.session.scalars(select(Follower).where(Follower.thread_id == ticket.thread.id)).all()
    assert {f.contact_id for f in followers if f.contact_id} == {customer.id}
    assert {f.user_id for f in followers if f.user_id} == {users.agent.id}


@pytest.mark.parametrize("fields, message", [
    ({"title": ""}, "needs a title"), ({"priority": 4}, "Priority"), ({"priority": -1}, "Priority"),
])
def test_a_ticket_refuses_bad_fields(team, fields, message):
    with pytest.raises(helpdesk.HelpdeskError, match=message):
        helpdesk.create_ticket(team, **{"title": "ok", **fields})


def test_only_a_team_member_may_be_assigned(team, users):
    with pytest.raises(helpdesk.HelpdeskError, match="not a member"):
        helpdesk.create_ticket(team, "x", assignee=users.admin)
    ticket = helpdesk.create_ticket(team, "x")
    with pytest.raises(helpdesk.HelpdeskError, match="not a member"):
        helpdesk.assign(ticket, users.admin, users.admin)
    helpdesk.assign(ticket, users.agent2, users.admin)
    db.session.commit()
    assert ticket.assignee == users.agent2
    line = db.session.scalar(select(TrackingValue).where(TrackingValue.field == "assignee"))
    assert (line.old_value, line.new_value) == (None, users.agent2.name)


def test_the_teams_method_assigns_new_tickets(team, users):
    assert helpdesk.create_ticket(team, "manual").assignee is None
    team.assignment = "balanced"
    first = helpdesk.create_ticket(team, "one")
    second = helpdesk.create_ticket(team, "two")
    third = helpdesk.create_ticket(team, "three")
    assert {first.assignee, second.assignee} == {users.agent, users.agent2}  # the one with fewer goes next
    helpdesk.move(first, stage("Solved"), None)  # closed tickets do not count
    assert helpdesk.create_ticket(team, "four").assignee == first.assignee
    assert third.assignee is not None
    team.assignment = "random"
    assert helpdesk.create_ticket(team, "five").assignee in (users.agent, users.agent2)


def test_a_closing_stage_closes_and_leaving_it_reopens(team, users):
    ticket = helpdesk.create_ticket(team, "x")
    helpdesk.move(ticket, stage("Solved"), users.agent)
    closed_at = ticket.closed_at
    assert ticket.is_closed and closed_at is not None
    helpdesk.move(ticket, stage("Cancelled"), users.agent)
    assert ticket.closed_at == closed_at  # still closed since then
    helpdesk.move(ticket, stage("In progress"), users.agent)
    assert ticket.closed_at is None
    lines = db.session.scalars(select(TrackingValue.new_value).where(TrackingValue.field == "stage")
                               .order_by(TrackingValue.id)).all()
    assert lines == ["Solved", "Cancelled", "In progress"]


def test_a_stage_of_no_team_of_the_ticket_is_refused(team):
    foreign = Stage(name="Elsewhere", sequence=5)
    db.session.add(foreign)
    ticket = helpdesk.create_ticket(team, "x")
    with pytest.raises(helpdesk.HelpdeskError, match="not a stage"):
        helpdesk.move(ticket, foreign, None)


def test_who_reads_a_ticket(team, users):
    from app.services import access

    ticket = helpdesk.create_ticket(team, "x", customer=users.portal_contact)
    outsider = make_user("agent")
    db.session.commit()
    thread = ticket.thread
    assert [access.can_read_thread(u, thread) for u in (users.admin, users.agent, users.agent2, outsider, users.portal)] \
        == [True, True, True, False, True]
    other = helpdesk.create_ticket(team, "y", customer=make_contact("Someone Else", "else@customer.test"))
    assert not access.can_read_thread(users.portal, other.thread)
    readable = select(Ticket.id).where(Ticket.staff_read_filter(outsider))
    assert db.session.scalars(readable).all() == []
    assert set(db.session.scalars(select(Ticket.id).where(Ticket.staff_read_filter(users.agent)))) == {ticket.id, other.id}


# ---- mail -----------------------------------------------------------------------------------

@pytest.fixture
def ticket_alias(app, team, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_DOMAIN", "hilo.test")
    monkeypatch.setitem(app.config, "MAIL_FROM", "notifications@hilo.test")
    alias = MailAlias(local_part="support", target="ticket", team_id=team.id)
    db.session.add(alias)
    db.session.commit()
    return alias


def test_mail_to_a_team_alias_opens_a_ticket_and_its_reply_follows_it(team, ticket_alias):
    outcome = mailgate.ingest((MAIL / "plain_text.eml").read_bytes())
    assert outcome.status == "created"
    ticket = db.session.scalar(select(Ticket))
    assert ticket.thread.id == outcome.thread_id and ticket.team == team and ticket.source == "email"
    assert ticket.customer.email == "maria.lopez@example.com" and ticket.title
    first = db.session.scalars(select(Message).where(Message.thread_id == ticket.thread.id, Message.kind == "comment")).all()
    assert len(first) == 1 and first[0].author_contact_id == ticket.customer_id


def test_a_subject_reference_routes_only_a_sender_who_belongs(team, ticket_alias, users):
    customer = make_contact("Ada Customer", "ada@customer.test")
    ticket = helpdesk.create_ticket(team, "Broken", customer=customer)
    db.session.commit()

    def mail(sender: str, n: int) -> bytes:
        return (f"From: {sender}\r\nTo: support@hilo.test\r\nSubject: Re: Broken [#{ticket.id}]\r\n"
                f"Message-ID: <ref{n}@customer.test>\r\n\r\nMore details.\r\n").encode()

    assert mailgate.ingest(mail("ada@customer.test", 1)).thread_id == ticket.thread.id
    assert mailgate.ingest(mail(users.agent.email, 2)).thread_id == ticket.thread.id  # a team member
    stranger = mailgate.ingest(mail("guess@attacker.test", 3))
    assert stranger.thread_id != ticket.thread.id and stranger.status == "created"  # a ticket of its own
    assert db.session.scalar(select(func.count(Ticket.id))) == 2


def test_an_alias_whose_team_is_gone_keeps_the_mail_with_the_contact(team, ticket_alias):
    ticket_alias.team_id = None
    db.session.commit()
    outcome = mailgate.ingest((MAIL / "plain_text.eml").read_bytes())
    assert outcome.status == "created" and db.session.scalar(select(func.count(Ticket.id))) == 0
    assert db.session.get(Team, team.id) is not None
