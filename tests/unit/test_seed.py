"""`flask demo seed`: the bulk-written helpdesk must look exactly like one the app made."""
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Follower, Message, Team, Thread, Ticket, TicketSla, User
from app.services import access, sla
from app.services.seed import seed_helpdesk
from tests.conftest import login

pytestmark = pytest.mark.usefixtures("request_ctx")


def _seed(**kwargs):
    options = dict(tickets=60, messages_per_ticket=4, teams=3, agents_per_team=2, closed_share=0.5,
                   password="seed-pass-123")
    options.update(kwargs)
    return seed_helpdesk(**options)


def test_counts_and_shape():
    result = _seed()
    assert db.session.scalar(select(func.count(Ticket.id))) == 60
    assert db.session.scalar(select(func.count(Team.id))) == 3
    assert db.session.scalar(select(func.count(Message.id))) == 240 == result.messages
    assert db.session.scalar(select(func.count(Thread.id)).where(Thread.res_model == "ticket")) == 60
    first = result.teams[0]
    open_first = db.session.scalar(select(func.count(Ticket.id)).where(Ticket.team_id == first,
                                                                       Ticket.closed_at.is_(None)))
    assert open_first == result.open_in_first_team == 20  # the first team's tickets all stay open
    assert db.session.scalar(select(func.count(Ticket.id)).where(Ticket.closed_at.is_not(None))) > 0
    ticket = db.session.scalar(select(Ticket).order_by(Ticket.id))
    assert ticket.thread is not None
    assert db.session.scalar(select(func.count(Message.id)).where(Message.thread_id == ticket.thread.id)) == 4
    assert db.session.scalar(select(func.count(Follower.id)).where(Follower.contact_id == ticket.customer_id,
                                                                   Follower.thread_id == ticket.thread.id)) == 1


def test_appends_beside_existing_rows_and_can_run_twice():
    first = _seed(tickets=10, teams=2)
    second = _seed(tickets=10, teams=2)
    assert set(first.teams).isdisjoint(second.teams)
    assert db.session.scalar(select(func.count(Ticket.id))) == 20
    # The sequences moved past the chosen ids: the app can create rows after a seed.
    team = db.session.get(Team, second.teams[0])
    extra = Ticket(title="After the seed", team=team, stage=team.stages[0])
    db.session.add(extra)
    db.session.commit()
    assert extra.id == 21


def test_sla_rows_agree_with_the_sla_service(monkeypatch):
    result = _seed()
    tickets = db.session.scalars(select(Ticket).where(Ticket.closed_at.is_(None))).all()
    before = {t.id: (t.sla_deadline, t.sla_failed, sorted((r.target, r.status, r.deadline) for r in t.slas))
              for t in tickets}
    monkeypatch.setattr(sla, "_schedule", lambda row: None)  # recomputing plans no new job here
    for ticket in tickets:
        sla.recompute(ticket)
    db.session.flush()
    after = {t.id: (t.sla_deadline, t.sla_failed, sorted((r.target, r.status, r.deadline) for r in t.slas))
             for t in tickets}
    assert after == before
    assert result.rows["helpdesk_ticket_slas"] == db.session.scalar(select(func.count(TicketSla.id)))


def test_seeded_agents_sign_in_and_see_only_their_team(client):
    result = _seed()
    agent = db.session.scalar(select(User).where(User.email == result.login_email))
    assert login(client, agent, "seed-pass-123").status_code in (302, 303)
    other_team_ticket = db.session.scalar(select(Ticket).where(Ticket.team_id == result.teams[1]))
    own_ticket = db.session.scalar(select(Ticket).where(Ticket.team_id == result.teams[0]))
    assert access.can_read_thread(agent, own_ticket.thread)
    assert not access.can_read_thread(agent, other_team_ticket.thread)
    assert client.get(f"/helpdesk/teams/{result.teams[0]}/board").status_code == 200
    assert client.get(f"/helpdesk/tickets/{own_ticket.id}").status_code == 200
    assert client.get(f"/helpdesk/tickets/{other_team_ticket.id}").status_code == 404


@pytest.mark.parametrize("bad", [dict(tickets=0), dict(teams=0), dict(messages_per_ticket=0),
                                 dict(closed_share=1.5)])
def test_refuses_nonsense(bad):
    with pytest.raises(ValueError):
        _seed(**bad)


def test_cli_prints_where_to_look(app):
    runner = app.test_cli_runner()
    outcome = runner.invoke(args=["demo", "seed", "--tickets", "20", "--messages-per-ticket", "2", "--teams", "2",
                                  "--password", "seed-pass-123"])
    assert outcome.exit_code == 0, outcome.output
    assert "Sign in as agent" in outcome.output and "/board" in outcome.output
    bad = runner.invoke(args=["demo", "seed", "--tickets", "-3"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
