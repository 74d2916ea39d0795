"""Timesheets (services/timesheets.py) and the ticket list's query (services/helpdesk.ticket_list)."""
from datetime import date

import pytest

from app.extensions import db
from app.services import helpdesk, timesheets
from app.services.helpdesk import HelpdeskError, TicketFilters
from tests.conftest import make_contact, make_team, make_ticket


@pytest.mark.parametrize("text, minutes", [
    ("1:30", 90), ("0:05", 5), ("1.5", 90), ("1,5", 90), ("2", 120), ("2h", 120), (".25", 15),
    ("90m", 90), ("90 min", 90), ("1h 30m", 90), (" 24:00 ", 1440),
])
def test_durations_are_read_as_people_write_them(text, minutes):
    assert timesheets.parse_duration(text) == minutes


@pytest.mark.parametrize("text, message", [
    ("", "Enter how long"), ("-1", "negative"), ("0", "more than zero"), ("0:00", "more than zero"),
    ("24:01", "at most 24 hours"), ("25", "at most 24 hours"), ("abc", "not a duration"), ("1:75", "not a duration"),
    ("1e3", "not a duration"), ("99999999999", "not a duration"),
])
def test_bad_durations_are_refused_with_a_reason(text, message):
    with pytest.raises(HelpdeskError, match=message):
        timesheets.parse_duration(text)


def test_format_duration():
    assert timesheets.format_duration(90) == "1:30" and timesheets.format_duration(0) == "0:00"


def test_members_log_time_and_delete_their_own(users):
    team = make_team(members=[users.agent, users.agent2])
    ticket = make_ticket(team)
    mine = timesheets.log_time(ticket, users.agent, date(2026, 12, 1), "1:30", "  Looked   into it ",
                               today=date(2026, 12, 3))
    theirs = timesheets.log_time(ticket, users.agent2, date(2026, 12, 2), "45m", today=date(2026, 12, 3))
    db.session.commit()
    assert mine.description == "Looked into it" and timesheets.total_minutes(ticket) == 135
    with pytest.raises(HelpdeskError, match="your own"):
        timesheets.delete_line(theirs, users.agent)
    assert timesheets.may_delete(theirs, users.admin)
    timesheets.delete_line(mine, users.agent)
    db.session.commit()
    assert timesheets.total_minutes(ticket) == 45


def test_outsiders_and_future_days_are_refused(users):
    ticket = make_ticket(make_team(members=[users.agent]))
    with pytest.raises(HelpdeskError, match="Only members"):
        timesheets.log_time(ticket, users.agent2, date(2026, 12, 1), "1:00")
    with pytest.raises(HelpdeskError, match="future"):
        timesheets.log_time(ticket, users.agent, date(2026, 12, 4), "1:00", today=date(2026, 12, 3))


# ---- the list ----------------------------------------------------------------------------------

@pytest.fixture
def desk(users):
    care = make_team("Care", members=[users.agent])
    billing = make_team("Billing", members=[users.agent2])
    ada = make_contact("Ada Lovelace", "ada@engines.test")
    printer = make_ticket(care, "Printer on fire", customer=ada, priority=3, assignee=users.agent)
    mouse = make_ticket(care, "Mouse squeaks", priority=1, tags=helpdesk.tags_named(["hardware"]))
    invoice = make_ticket(billing, "Invoice twice", priority=2)
    return type("Desk", (), {"care": care, "billing": billing, "printer": printer, "mouse": mouse,
                             "invoice": invoice})


def titles(user, **filters):
    return [t.title for t in helpdesk.ticket_list(user, TicketFilters(**filters)).items]


def test_the_list_shows_only_readable_tickets_most_urgent_first(users, desk):
    assert titles(users.agent) == ["Printer on fire", "Mouse squeaks"]
    assert titles(users.admin) == ["Printer on fire", "Invoice twice", "Mouse squeaks"]
    assert titles(users.agent2) == ["Invoice twice"]


@pytest.mark.parametrize("filters, expected", [
    ({"q": "printer"}, ["Printer on fire"]), ({"q": "ADA"}, ["Printer on fire"]),
    ({"q": "engines.test"}, ["Printer on fire"]), ({"q": "#{mouse}"}, ["Mouse squeaks"]),
    ({"q": "100%"}, []), ({"mine": True}, ["Printer on fire"]), ({"unassigned": True}, ["Mouse squeaks"]),
    ({"urgent": True}, ["Printer on fire"]), ({"tag": "hardware"}, ["Mouse squeaks"]),
    ({"sort": "oldest"}, ["Printer on fire", "Mouse squeaks"]),
    ({"sort": "newest"}, ["Mouse squeaks", "Printer on fire"]),
    ({"status": "closed"}, []), ({"sla_failed": True}, []),
])
def test_filters_and_sorting(users, desk, filters, expected):
    if "tag" in filters:
        filters = {"tag_id": desk.mouse.tags[0].id}
    filters = {k: v.format(mouse=desk.mouse.id) if isinstance(v, str) else v for k, v in filters.items()}
    assert titles(users.agent, **filters) == expected


def test_groups_come_with_their_counts(users, desk):
    page = helpdesk.ticket_list(users.admin, TicketFilters(group="team"))
    assert [t.title for t in page.items] == ["Invoice twice", "Printer on fire", "Mouse squeaks"]
    assert page.groups == {desk.billing.id: 1, desk.care.id: 2} and page.total == 3
    page = helpdesk.ticket_list(users.agent, TicketFilters(group="assignee"))
    assert [t.title for t in page.items] == ["Mouse squeaks", "Printer on fire"]  # unassigned first


def test_pages(users, desk):
    page = helpdesk.ticket_list(users.admin, TicketFilters(), page=2, per_page=2)
    assert (page.page, page.pages, page.first, page.last, len(page.items)) == (2, 2, 3, 3, 1)
    assert helpdesk.ticket_list(users.admin, TicketFilters(), page=99, per_page=2).page == 2


def test_a_bulk_change_applies_to_all_or_none(users, desk):
    with pytest.raises(HelpdeskError, match=rf"Nothing was changed. #{desk.invoice.id}: Bob Agent is not a member"):
        helpdesk.bulk_change([desk.mouse, desk.invoice], users.admin, assignee=users.agent)
    db.session.rollback()
    assert desk.mouse.assignee_id is None
    assert helpdesk.bulk_change([desk.mouse, desk.printer], users.admin, tag_name="vip") == 2
    assert [t.name for t in desk.printer.tags] == ["vip"]


def test_the_customer_of_a_new_ticket_is_found_or_added(users):
    ada = make_contact("Ada", "ada@engines.test")
    assert helpdesk.customer_for("ADA@engines.test") == ada
    grace = helpdesk.customer_for("grace@navy.test", "Grace  Hopper")
    assert grace.name == "Grace Hopper" and grace.id != ada.id
    assert helpdesk.customer_for("") is None
    with pytest.raises(HelpdeskError, match="not valid"):
        helpdesk.customer_for("not-an-address")
