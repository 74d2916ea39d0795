"""In a browser: search, filter and group the ticket list, assign tickets in bulk, open a new
ticket from the form and log time on it — on a desktop and at a phone's width."""
import re

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import Ticket
from tests.conftest import browser_login, make_contact, make_team, make_ticket

pytestmark = pytest.mark.e2e


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and "status of 422" not in msg.text else None)
    page.js_errors = errors
    yield page
    context.close()


def test_search_filter_group_bulk_assign_create_and_log_time(page, live_server, users, artifacts_dir):
    care = make_team("Customer Care", members=[users.agent, users.agent2])
    ada = make_contact("Ada Lovelace", "ada@engines.test")
    make_ticket(care, "Printer on fire", customer=ada, priority=3)
    make_ticket(care, "Mouse squeaks", priority=1)
    make_ticket(care, "Screen flickers", priority=2)
    browser_login(page, live_server.url, users.agent)

    page.goto("/helpdesk/tickets")
    rows = page.locator("#ticket-list tbody tr:not(.group-row)")
    expect(rows).to_have_count(3)
    page.screenshot(path=str(artifacts_dir / "tickets-list.png"), full_page=True)

    # Search: debounced, the URL follows.
    page.get_by_label("Search title, #ref, customer").fill("ada")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Printer on fire")
    expect(page).to_have_url(re.compile(r"q=ada"))
    page.get_by_label("Search title, #ref, customer").fill("")
    expect(rows).to_have_count(3)

    # Filter (urgent), then group by priority.
    page.locator("#f-urgent").check()
    expect(rows).to_have_count(1)
    page.locator("#f-urgent").uncheck()
    expect(rows).to_have_count(3)
    page.locator("#f-group").select_option("priority")
    expect(page.locator(".group-row")).to_have_count(3)
    expect(page.locator(".group-row").first).to_contain_text("Urgent")
    expect(page).to_have_url(re.compile(r"group=priority"))
    page.screenshot(path=str(artifacts_dir / "tickets-grouped.png"), full_page=True)

    # Bulk: select all, assign to Carol.
    page.locator(".select-all").check()
    expect(page.locator(".bulk-count")).to_have_text("3 selected")
    page.locator("#bulk-assignee").select_option(label="Carol Agent")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.locator("#ticket-list .alert-info")).to_contain_text("3 tickets changed")
    expect(page.locator("#ticket-list tbody")).to_contain_text("Carol Agent")
    db.session.expire_all()
    assert {t.assignee_id for t in db.session.query(Ticket)} == {users.agent2.id}

    # A new ticket from the form.
    page.get_by_role("link", name="New ticket").first.click()
    page.get_by_label("Title").fill("Keyboard missing keys")
    page.get_by_label("Customer email").fill("grace@navy.test")
    page.get_by_label("Customer name").fill("Grace Hopper")
    page.get_by_label("High").check()
    page.get_by_label("Tags").fill("hardware")
    page.screenshot(path=str(artifacts_dir / "ticket-new.png"), full_page=True)
    page.get_by_role("button", name="Create ticket").click()
    expect(page.locator("h1")).to_have_text("Keyboard missing keys")

    # Log time on it (htmx swaps the section).
    time = page.locator("#ticket-time")
    time.get_by_label("Duration").fill("lots")
    time.get_by_role("button", name="Log time").click()
    expect(page.locator("#ticket-time .field-error")).to_contain_text("not a duration")
    page.locator("#ticket-time").get_by_label("Duration").fill("1:30")
    page.locator("#ticket-time").get_by_label("What was done").fill("Replaced the keyboard")
    page.locator("#ticket-time").get_by_role("button", name="Log time").click()
    expect(page.locator("#ticket-time tbody")).to_contain_text("Replaced the keyboard")
    expect(page.locator("#ticket-time tfoot")).to_contain_text("1:30")
    page.screenshot(path=str(artifacts_dir / "ticket-page.png"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(artifacts_dir / "ticket-page-phone.png"), full_page=True)
    page.goto("/helpdesk/tickets")
    page.screenshot(path=str(artifacts_dir / "tickets-list-phone.png"), full_page=True)
    assert page.js_errors == []
