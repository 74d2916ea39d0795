"""A ticket's page: its fields, a new ticket, time spent — who may, and bad input."""
from datetime import date

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Contact, Stage, Ticket, TicketType, Timesheet
from app.services import timesheets
from tests.conftest import make_contact, make_team, make_ticket
from tests.web.conftest import count, sign_in


@pytest.fixture
def desk(users):
    care = make_team("Customer Care", members=[users.agent])
    billing = make_team("Billing", members=[users.agent2])
    ticket = make_ticket(care, "Printer on fire", customer=make_contact("Ada", "ada@engines.test"))
    hardware = TicketType(name="Hardware")
    db.session.add(hardware)
    db.session.commit()
    return type("Desk", (), {"care": care, "billing": billing, "ticket": ticket, "hardware": hardware})


def fields(desk, **changes):
    data = {"title": "Printer on fire", "priority": "0", "type_id": "", "tags": "", "team_id": str(desk.care.id),
            "stage_id": str(desk.ticket.stage_id), "assignee_id": ""}
    data.update(changes)
    return data


ROUTES = [("GET", "/helpdesk/tickets/new"), ("POST", "/helpdesk/tickets/new"), ("POST", "/helpdesk/tickets/{t}"),
          ("POST", "/helpdesk/tickets/{t}/time"), ("POST", "/helpdesk/tickets/{t}/time/{line}/delete")]


@pytest.mark.parametrize("method, template", ROUTES)
@pytest.mark.parametrize("who", ["admin", "agent", "agent2", "portal", None])
def test_who_may(client, users, desk, method, template, who):
    line = timesheets.log_time(desk.ticket, users.agent, date(2026, 12, 1), "1:00")
    db.session.commit()
    token = sign_in(client, getattr(users, who) if who else None)
    path = template.format(t=desk.ticket.id, line=line.id)
    data = {**fields(desk, title="Changed"), "day": "2026-12-01", "duration": "1:00",
            "customer_email": "", "csrf_token": token}
    response = client.get(path) if method == "GET" else client.post(path, data=data)
    if path.endswith("/new"):
        # Everyone staff may open the form; only a member creates in Customer Care (agent2: refused).
        expected = {"admin": 200, "agent": 200, "agent2": 200, "portal": 403, None: 302}[who]
        if method == "POST":
            expected = {"admin": 302, "agent": 302, "agent2": 422, "portal": 403, None: 302}[who]
    else:
        expected = {"admin": 302, "agent": 302, "agent2": 404, "portal": 403, None: 302}[who]
    assert response.status_code == expected, response.get_data(as_text=True)[:300]
    db.session.expire_all()
    ticket = db.session.get(Ticket, desk.ticket.id)
    if who in ("agent2", "portal", None):
        assert ticket.title == "Printer on fire" and db.session.get(Timesheet, line.id) is not None


def test_editing_every_field(client, users, desk):
    token = sign_in(client, users.agent)
    progress = db.session.scalar(select(Stage).where(Stage.name == "In progress"))
    response = client.post(f"/helpdesk/tickets/{desk.ticket.id}", follow_redirects=True, data={
        **fields(desk, title="Printer still on fire", priority="3", type_id=str(desk.hardware.id),
                 tags="fire, urgent , fire", stage_id=str(progress.id), assignee_id=str(users.agent.id)),
        "csrf_token": token})
    assert response.status_code == 200 and "saved" in response.get_data(as_text=True)
    db.session.expire_all()
    ticket = db.session.get(Ticket, desk.ticket.id)
    assert (ticket.title, ticket.priority, ticket.type_id, ticket.stage_id, ticket.assignee_id) == (
        "Printer still on fire", 3, desk.hardware.id, progress.id, users.agent.id)
    assert [t.name for t in ticket.tags] == ["fire", "urgent"]


def test_changing_the_team(client, users, desk):
    token = sign_in(client, users.admin)
    response = client.post(f"/helpdesk/tickets/{desk.ticket.id}",
                           data={**fields(desk, team_id=str(desk.billing.id)), "csrf_token": token})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Ticket, desk.ticket.id).team_id == desk.billing.id


@pytest.mark.parametrize("changes, message", [
    ({"title": "   "}, "A ticket needs a title"), ({"priority": "7"}, "Not a valid choice"),
    ({"priority": "x"}, "Invalid Choice"), ({"stage_id": "999999"}, "Choose a stage"),
    ({"stage_id": "{foreign}"}, "is not a stage of Customer Care"), ({"assignee_id": "abc"}, "Choose a member"),
    ({"assignee_id": "{agent2}"}, "is not a member of Customer Care"),
    ({"team_id": "{billing}"}, "Choose one of your teams"),
    ({"team_id": "junk"}, "Choose one of your teams"), ({"type_id": "999999"}, "no longer exists"),
])
def test_bad_fields_get_a_422_with_the_input_kept(client, users, desk, changes, message):
    foreign = Stage(name="Billing only", sequence=60)
    foreign.teams = [desk.billing]
    db.session.add(foreign)
    db.session.commit()
    token = sign_in(client, users.agent)
    changes = {k: v.format(foreign=foreign.id, agent2=users.agent2.id, billing=desk.billing.id)
               for k, v in changes.items()}
    response = client.post(f"/helpdesk/tickets/{desk.ticket.id}",
                           data={**fields(desk, tags="kept-tag", **changes), "csrf_token": token})
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and message in body and 'value="kept-tag"' in body
    db.session.expire_all()
    assert db.session.get(Ticket, desk.ticket.id).tags == []


def test_a_new_ticket_for_a_new_customer(client, users, desk):
    token = sign_in(client, users.agent)
    page = client.get(f"/helpdesk/tickets/new?team={desk.care.id}").get_data(as_text=True)
    assert "Create ticket" in page
    response = client.post("/helpdesk/tickets/new", data={
        "team_id": str(desk.care.id), "title": "Screen flickers", "customer_email": "Grace@Navy.test",
        "customer_name": "Grace Hopper", "priority": "2", "type_id": str(desk.hardware.id), "tags": "screen, vip",
        "assignee_id": str(users.agent.id), "description": "Since Monday.", "csrf_token": token})
    assert response.status_code == 302
    ticket = db.session.scalar(select(Ticket).where(Ticket.title == "Screen flickers"))
    assert ticket.customer.email == "Grace@navy.test" and ticket.customer.name == "Grace Hopper"
    assert (ticket.priority, ticket.assignee_id, ticket.type_id) == (2, users.agent.id, desk.hardware.id)
    assert [t.name for t in ticket.tags] == ["screen", "vip"] and "Since Monday." in ticket.description
    # The same address again: the same contact.
    client.post("/helpdesk/tickets/new", data={"team_id": str(desk.care.id), "title": "Again",
                                                "customer_email": "grace@navy.test", "priority": "0",
                                                "csrf_token": token})
    assert count(Contact) == 3  # portal, Ada, Grace


@pytest.mark.parametrize("changes, message", [
    ({"title": ""}, "Give the ticket a title"), ({"team_id": "{billing}"}, "Choose one of your teams"),
    ({"team_id": "x"}, "Choose one of your teams"), ({"customer_email": "nope"}, "not valid"),
    ({"customer_email": "", "customer_name": "Only a name"}, "Give the customer"),
    ({"assignee_id": "{agent2}"}, "is not a member of Customer Care"), ({"assignee_id": "zz"}, "Choose a member"),
    ({"priority": "9"}, "Not a valid choice"), ({"type_id": "424242"}, "no longer exists"),
])
def test_a_bad_new_ticket_gets_a_422_with_the_input_kept(client, users, desk, changes, message):
    token = sign_in(client, users.agent)
    data = {"team_id": str(desk.care.id), "title": "Screen flickers", "customer_email": "grace@navy.test",
            "priority": "1", "description": "Kept words", "csrf_token": token}
    data.update({k: v.format(billing=desk.billing.id, agent2=users.agent2.id) for k, v in changes.items()})
    response = client.post("/helpdesk/tickets/new", data=data)
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and message in body and "Kept words" in body
    assert count(Ticket) == 1


def test_logging_and_deleting_time(client, make_client, users, desk):
    token = sign_in(client, users.agent)
    url = f"/helpdesk/tickets/{desk.ticket.id}/time"
    response = client.post(url, data={"day": "2026-12-01", "duration": "1:30", "description": "Cleaned",
                                      "csrf_token": token}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Cleaned" in page and "1:30" in page
    fragment = client.post(url, headers={"HX-Request": "true"},
                           data={"day": "2026-12-02", "duration": "90m", "csrf_token": token}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="ticket-time"') and "3:00" in fragment
    line = db.session.scalar(select(Timesheet).order_by(Timesheet.id))
    other = make_client()
    other_token = sign_in(other, make_admin_free_member(desk, users))
    assert other.post(f"{url}/{line.id}/delete", data={"csrf_token": other_token}).status_code == 403
    assert client.post(f"{url}/{line.id}/delete", data={"csrf_token": token}).status_code == 302
    assert client.post(f"{url}/999999/delete", data={"csrf_token": token}).status_code == 404
    assert count(Timesheet) == 1


def make_admin_free_member(desk, users):
    """Another agent of the same team."""
    from app.models import TeamMember
    from tests.conftest import make_user

    colleague = make_user("agent", "dan@example.com", "Dan Agent")
    desk.care.members.append(TeamMember(user=colleague))
    db.session.commit()
    return colleague


@pytest.mark.parametrize("data, message", [
    ({"duration": "-1"}, "negative"), ({"duration": "0"}, "more than zero"), ({"duration": "25:00"}, "24 hours"),
    ({"duration": "lots"}, "not a duration"), ({"duration": ""}, "Enter how long"),
    ({"day": "yesterday"}, "Not a valid date"), ({"day": "2999-01-01"}, "future"),
])
def test_bad_time_gets_a_422_with_the_input_kept(client, users, desk, data, message):
    token = sign_in(client, users.agent)
    data = {"day": "2026-12-01", "duration": "1:00", "description": "Kept words", **data, "csrf_token": token}
    for headers in ({}, {"HX-Request": "true"}):
        response = client.post(f"/helpdesk/tickets/{desk.ticket.id}/time", data=data, headers=headers)
        body = response.get_data(as_text=True)
        assert response.status_code == 422 and message in body and "Kept words" in body
    assert count(Timesheet) == 0
