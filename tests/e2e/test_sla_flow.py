"""In a browser: an agent reads a ticket while its first-reply deadline passes; the worker
records the breach, the notice arrives live in the thread and the bell, the dashboard turns red."""
import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import SlaPolicy
from app.services import helpdesk
from tests.conftest import make_contact, open_page, wait_for_socket

pytestmark = pytest.mark.e2e


def test_a_missed_first_reply_is_announced_live(app, browser, live_server, job_worker, users, artifacts_dir):
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        team = helpdesk.create_team("Customer Care", members=[users.agent], leads=[users.agent2], use_sla=True)
        db.session.add(SlaPolicy(team=team, name="Gold", first_reply_hours=6 / 3600, resolution_hours=24))
        ticket = helpdesk.create_ticket(team, "Printer on fire", customer=make_contact("Ada Customer"),
                                        assignee=users.agent, priority=2)
        db.session.commit()  # the deadline job is planned, six seconds from now
    errors = []
    context, page = open_page(browser, live_server.url, users.agent, f"/helpdesk/tickets/{ticket.id}", errors)
    try:
        wait_for_socket(app, page, f"thread:{ticket.thread.id}")
        notice = page.locator(".chatter").get_by_text("SLA “Gold”: first reply target missed")
        expect(notice).to_be_visible(timeout=30_000)  # the job runs at the deadline, the line is pushed
        expect(page.locator(".bell")).to_contain_text("1")
        page.screenshot(path=str(artifacts_dir / "sla-ticket-breach.png"), full_page=True)

        page.goto(f"{live_server.url}/helpdesk")
        badge = page.locator(".sla-badge.sla-failed").first
        expect(badge).to_have_text("SLA failed")
        page.screenshot(path=str(artifacts_dir / "sla-dashboard.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        expect(badge).to_be_visible()
        page.screenshot(path=str(artifacts_dir / "sla-dashboard-phone.png"), full_page=True)
        page.goto(f"{live_server.url}/helpdesk/tickets/{ticket.id}")
        page.screenshot(path=str(artifacts_dir / "sla-ticket-phone.png"), full_page=True)
        assert errors == []
    finally:
        context.close()
