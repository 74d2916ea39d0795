"""Helpdesk pages: the ticket list, a ticket, moving and assigning — who may, and bad input."""
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Stage, Ticket
from app.services import helpdesk
from tests.conftest import make_contact
from tests.web.conftest import sign_in


@pytest.fixture
def world(app, users):
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        care = helpdesk.create_team("Customer Care", members=[users.agent])
        billing = helpdesk.create_team("Billing", members=[users.agent2])
        ticket = helpdesk.create_ticket(care, "Printer on fire", customer=users.portal_contact, priority=2,
                                        tags=helpdesk.tags_named(["hardware"]))
        billing_ticket = helpdesk.create_ticket(billing, "Invoice twice", customer=make_contact("Ben", "ben@c.test"))
        foreign = Stage(name="Billing only", sequence=60)
        foreign.teams = [billing]
        db.session.add(foreign)
    db.session.commit()
    solved = db.session.scalar(select(Stage).where(Stage.name == "Solved"))
    return type("World", (), {"care": care, "ticket": ticket, "billing_ticket": billing_ticket,
                              "solved": solved, "foreign": foreign})


ROUTES = [("GET", "/helpdesk/tickets"), ("GET", "/helpdesk/tickets/{t}"), ("POST", "/helpdesk/tickets/{t}/stage"),
          ("POST", "/helpdesk/tickets/{t}/assignee")]


@pytest.mark.parametrize("method, template", ROUTES)
@pytest.mark.parametrize("who, expected", [
    ("admin", {"GET": 200, "POST": 302}), ("agent", {"GET": 200, "POST": 302}),
    ("agent2", {"GET": 404, "POST": 404}), ("portal", {"GET": 403, "POST": 403}), (None, {"GET": 302, "POST": 302}),
])
def test_who_may_see_and_change_a_ticket(client, users, world, method, template, who, expected):
    token = sign_in(client, getattr(users, who) if who else None)
    path = template.format(t=world.ticket.id)
    if method == "GET":
        response = client.get(path)
    else:
        data = {"stage_id": world.solved.id, "assignee_id": users.agent.id, "csrf_token": token}
        response = client.post(path, data=data)
    want = expected[method]
    if path == "/helpdesk/tickets" and who == "agent2":
        want = 200  # the list is theirs; the ticket is not in it
    assert response.status_code == want
    body = response.get_data(as_text=True)
    if who in ("agent2", "portal", None):
        assert "Printer on fire" not in body
        db.session.expire_all()
        assert db.session.get(Ticket, world.ticket.id).closed_at is None  # nothing changed


def test_the_list_shows_my_teams_open_tickets(client, make_client, users, world):
    sign_in(client, users.agent)
    page = client.get("/helpdesk/tickets").get_data(as_text=True)
    assert "Printer on fire" in page and "Invoice twice" not in page and "hardware" in page
    admin = make_client()
    sign_in(admin, users.admin)
    page = admin.get("/helpdesk/tickets").get_data(as_text=True)
    assert "Printer on fire" in page and "Invoice twice" in page


def test_moving_to_a_closing_stage_closes_and_logs_it(client, users, world):
    token = sign_in(client, users.agent)
    response = client.post(f"/helpdesk/tickets/{world.ticket.id}/stage",
                           data={"stage_id": world.solved.id, "csrf_token": token}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "is now in Solved" in page
    assert "Printer on fire" not in client.get("/helpdesk/tickets").get_data(as_text=True)
    assert "Printer on fire" in client.get("/helpdesk/tickets?status=closed").get_data(as_text=True)


@pytest.mark.parametrize("path, data, message", [
    ("stage", {"stage_id": "0"}, "Choose a stage"),
    ("stage", {"stage_id": "x"}, "Choose a stage"),
    ("stage", {}, "Choose a stage"),
    ("stage", {"stage_id": "{foreign}"}, "is not a stage of Customer Care"),
    ("assignee", {"assignee_id": "{agent2}"}, "is not a member of Customer Care"),
    ("assignee", {"assignee_id": "999999"}, "Choose a member"),
    ("assignee", {"assignee_id": "abc"}, "Choose a member"),
])
def test_bad_changes_get_a_clear_422_and_change_nothing(client, users, world, path, data, message):
    token = sign_in(client, users.agent)
    data = {k: v.format(foreign=world.foreign.id, agent2=users.agent2.id) for k, v in data.items()}
    response = client.post(f"/helpdesk/tickets/{world.ticket.id}/{path}", data={**data, "csrf_token": token})
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    db.session.expire_all()
    ticket = db.session.get(Ticket, world.ticket.id)
    assert ticket.stage.name == "New" and ticket.assignee_id is None


def test_assigning_and_unassigning(client, users, world):
    token = sign_in(client, users.agent)
    url = f"/helpdesk/tickets/{world.ticket.id}/assignee"
    assert "is assigned to Bob Agent" in client.post(url, data={"assignee_id": users.agent.id, "csrf_token": token},
                                                     follow_redirects=True).get_data(as_text=True)
    assert "is unassigned" in client.post(url, data={"assignee_id": "", "csrf_token": token},
                                          follow_redirects=True).get_data(as_text=True)


def test_changes_need_the_csrf_token(client, users, world):
    sign_in(client, users.agent)
    assert client.post(f"/helpdesk/tickets/{world.ticket.id}/stage", data={"stage_id": world.solved.id}).status_code == 400


def test_hostile_titles_are_escaped(app, client, users, world):
    with app.test_request_context():
        helpdesk.update(world.ticket, users.agent, title='<img src=x onerror=alert(1)> "><svg onload=alert(1)>')
    db.session.commit()
    sign_in(client, users.agent)
    for path in ("/helpdesk/tickets", f"/helpdesk/tickets/{world.ticket.id}"):
        body = client.get(path).get_data(as_text=True)
        assert "<img src=x" not in body and "<svg onload" not in body and "&lt;img src=x" in body


def test_an_unknown_ticket_is_404(client, users, world):
    sign_in(client, users.admin)
    assert client.get("/helpdesk/tickets/999999").status_code == 404
