"""Helpdesk dashboard and reports pages: who may see them, and that bad parameters never fail."""
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Rating, Ticket
from app.services import helpdesk
from tests.web.conftest import sign_in


@pytest.fixture
def world(app, users):
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        care = helpdesk.create_team("Customer Care", members=[users.agent])
        billing = helpdesk.create_team("Billing", members=[users.agent2])
        helpdesk.create_ticket(care, "Printer on fire", priority=3, assignee=users.agent)
        helpdesk.create_ticket(billing, "Invoice twice")
    db.session.commit()
    return type("World", (), {"care": care, "billing": billing})


@pytest.mark.parametrize("path", ["/helpdesk", "/helpdesk/reports"])
@pytest.mark.parametrize("who, status", [("admin", 200), ("agent", 200), ("portal", 403), (None, 302)])
def test_who_may_see_the_dashboard_and_reports(client, users, world, path, who, status):
    sign_in(client, getattr(users, who) if who else None)
    assert client.get(path).status_code == status


def test_an_agent_sees_only_their_teams(client, users, world):
    sign_in(client, users.agent)
    page = client.get("/helpdesk").get_data(as_text=True)
    assert "Customer Care" in page and "Billing" not in page and "Printer on fire" in page
    assert client.get(f"/helpdesk/reports?team={world.billing.id}").status_code == 404
    assert client.get(f"/helpdesk/reports?team={world.care.id}&days=7").status_code == 200


@pytest.mark.parametrize("query", ["team=abc", "days=x", "days=-5", "team=99999999999999", "team=&days=90"])
def test_bad_report_parameters_never_fail(client, users, world, query):
    sign_in(client, users.agent)
    assert client.get(f"/helpdesk/reports?{query}").status_code in (200, 404)


def test_a_user_in_no_team_gets_an_empty_state(client, users, world):
    sign_in(client, users.agent2)
    db.session.delete(world.billing.members[0])
    db.session.commit()
    assert "not in a helpdesk team yet" in client.get("/helpdesk").get_data(as_text=True)


def test_ratings_show_on_the_dashboard_and_the_reports(client, users, world):
    world.care.use_ratings = True
    ticket = db.session.scalar(select(Ticket).where(Ticket.team_id == world.care.id))
    db.session.add(Rating(ticket_id=ticket.id, team_id=world.care.id, agent_id=users.agent.id, value="satisfied"))
    db.session.commit()
    sign_in(client, users.agent)
    page = client.get("/helpdesk").get_data(as_text=True)
    assert "100% satisfied" in page
    report = client.get(f"/helpdesk/reports?team={world.care.id}").get_data(as_text=True)
    assert "Customer satisfaction by agent" in report and users.agent.name in report
