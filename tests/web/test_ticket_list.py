"""The ticket list: filters in the URL, groups, bulk changes — who may, and bad input."""
import re

import pytest
from sqlalchemy import event, select

from app.extensions import db
from app.models import Stage, Ticket
from app.services import helpdesk
from tests.conftest import make_team, make_ticket
from tests.web.conftest import sign_in


@pytest.fixture
def desk(users):
    care = make_team("Customer Care", members=[users.agent])
    billing = make_team("Billing", members=[users.agent2])
    printer = make_ticket(care, "Printer on fire", priority=3)
    mouse = make_ticket(care, "Mouse squeaks", priority=1)
    invoice = make_ticket(billing, "Invoice twice")
    progress = db.session.scalar(select(Stage).where(Stage.name == "In progress"))
    foreign = Stage(name="Billing only", sequence=60)
    foreign.teams = [billing]
    db.session.add(foreign)
    db.session.commit()
    return type("Desk", (), {"care": care, "printer": printer, "mouse": mouse, "invoice": invoice,
                             "progress": progress, "foreign": foreign})


def test_search_filters_and_groups_live_in_the_url(client, users, desk):
    sign_in(client, users.agent)
    page = client.get("/helpdesk/tickets?q=printer").get_data(as_text=True)
    assert "Printer on fire" in page and "Mouse squeaks" not in page and 'value="printer"' in page
    page = client.get("/helpdesk/tickets?group=priority").get_data(as_text=True)
    assert re.search(r"Urgent <span class=\"count-pill\">1</span>", page)
    page = client.get("/helpdesk/tickets?filter=unassigned&urgent=1").get_data(as_text=True)
    assert "Printer on fire" in page and "Mouse squeaks" not in page
    fragment = client.get("/helpdesk/tickets?q=mouse", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="ticket-list">')
    assert "<html" not in fragment and "Mouse squeaks" in fragment


@pytest.mark.parametrize("query", ["page=abc", "page=-3", "team=x", "stage=999999", "sort=drop table", "group=';",
                                   "status=maybe", "tag=1e9", "q=" + "x" * 500, "assignee=%00"])
def test_junk_in_the_query_never_breaks_the_list(client, users, desk, query):
    sign_in(client, users.agent)
    assert client.get(f"/helpdesk/tickets?{query}").status_code == 200


def test_empty_states(client, users, desk):
    sign_in(client, users.agent)
    assert "Nothing matches these filters" in client.get("/helpdesk/tickets?q=zzz").get_data(as_text=True)
    for ticket in (desk.printer, desk.mouse):
        helpdesk.move(ticket, db.session.scalar(select(Stage).where(Stage.name == "Solved")), users.agent)
    db.session.commit()
    page = client.get("/helpdesk/tickets").get_data(as_text=True)
    assert "No open tickets" in page and "Nothing matches" not in page


def test_the_number_of_queries_does_not_grow_with_the_rows(app, client, users, desk):
    sign_in(client, users.agent)

    def statements(path):
        seen = []
        listener = lambda *args: seen.append(1)  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert client.get(path).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(seen)

    make_ticket(desk.care, "Tagged", tags=helpdesk.tags_named(["tag0"]))  # every kind of row, before counting
    few = statements("/helpdesk/tickets?group=stage")
    for n in range(30):
        make_ticket(desk.care, f"Ticket {n}", tags=helpdesk.tags_named([f"tag{n % 3}"]))
    assert statements("/helpdesk/tickets?group=stage") == few


def post_bulk(client, token, ids, **data):
    return client.post("/helpdesk/tickets/bulk", data={"ticket_ids": [str(i) for i in ids], "csrf_token": token,
                                                       "back": "q=&sort=newest", **data})


def test_bulk_assign_move_and_tag(client, users, desk):
    token = sign_in(client, users.agent)
    ids = [desk.printer.id, desk.mouse.id]
    response = post_bulk(client, token, ids, action="assign", assignee_id=str(users.agent.id))
    assert response.status_code == 302 and "sort=newest" in response.headers["Location"]
    response = post_bulk(client, token, ids, action="stage", stage_id=str(desk.progress.id))
    assert response.status_code == 302
    response = post_bulk(client, token, ids, action="tag", tag="vip")
    db.session.expire_all()
    for ticket_id in ids:
        ticket = db.session.get(Ticket, ticket_id)
        assert ticket.assignee_id == users.agent.id and ticket.stage.name == "In progress"
        assert [t.name for t in ticket.tags] == ["vip"]
    response = client.post("/helpdesk/tickets/bulk", headers={"HX-Request": "true"},
                           data={"ticket_ids": [str(i) for i in ids], "csrf_token": token, "action": "assign",
                                 "assignee_id": "none"})
    assert response.status_code == 200 and "2 tickets changed" in response.get_data(as_text=True)


@pytest.mark.parametrize("data, message", [
    ({"action": "stage", "stage_id": "{foreign}"}, "is not a stage of Customer Care"),
    ({"action": "assign", "assignee_id": "{agent2}"}, "Carol Agent is not a member of Customer Care"),
    ({"action": "assign", "assignee_id": "abc"}, "Choose who"),
    ({"action": "stage", "stage_id": ""}, "Choose a stage"),
    ({"action": "tag", "tag": "  "}, "Type the tag"),
    ({"action": "tag", "tag": "x" * 41}, "at most 40"),
    ({"action": "explode"}, "Choose what to do"),
    ({"action": "assign", "assignee_id": "none", "ticket_ids": ["abc"]}, "Tick the tickets"),
    ({"action": "assign", "assignee_id": "none", "ticket_ids": []}, "Tick the tickets"),
])
def test_refused_bulk_changes_change_nothing_and_say_why(client, users, desk, data, message):
    token = sign_in(client, users.agent)
    data = {k: v.format(foreign=desk.foreign.id, agent2=users.agent2.id) if isinstance(v, str) else v
            for k, v in data.items()}
    data.setdefault("ticket_ids", [str(desk.printer.id), str(desk.mouse.id)])
    response = client.post("/helpdesk/tickets/bulk", data={"csrf_token": token, **data})
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and message in body
    if data["ticket_ids"] and data["ticket_ids"][0].isdigit():
        assert f'value="{desk.printer.id}" aria-label="Select #{desk.printer.id}" checked' in body  # ticks kept
    db.session.expire_all()
    assert db.session.get(Ticket, desk.printer.id).stage.name == "New"


@pytest.mark.parametrize("who, expected", [("admin", 302), ("agent", 404), ("agent2", 404), ("portal", 403),
                                           (None, 302)])
def test_a_bulk_change_naming_another_teams_ticket_touches_nothing(client, users, desk, who, expected):
    token = sign_in(client, getattr(users, who) if who else None)
    response = post_bulk(client, token, [desk.printer.id, desk.invoice.id], action="tag", tag="hacked")
    assert response.status_code == expected
    if who is None:
        assert "/login" in response.headers["Location"]
    db.session.expire_all()
    tagged = [t.name for t in db.session.get(Ticket, desk.invoice.id).tags]
    assert tagged == (["hacked"] if who == "admin" else [])


def test_bulk_needs_the_csrf_token(client, users, desk):
    sign_in(client, users.agent)
    response = client.post("/helpdesk/tickets/bulk", data={"ticket_ids": [str(desk.printer.id)], "action": "tag",
                                                           "tag": "x"})
    assert response.status_code in (400, 422)
    db.session.expire_all()
    assert db.session.get(Ticket, desk.printer.id).tags == []
