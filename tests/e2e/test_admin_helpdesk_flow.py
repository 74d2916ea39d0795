"""Browser flow: an admin sets up a helpdesk team — members and a lead, working hours with a
split shift, an SLA policy — and reorders a stage; the team page on a phone."""
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import SlaPolicy, Stage, Team, WorkingCalendar
from tests.conftest import open_page

pytestmark = pytest.mark.e2e


def test_admin_sets_up_a_team_with_hours_and_a_policy(live_server, browser, artifacts_dir, users):
    errors = []
    context, page = open_page(browser, live_server.url, users.admin, "/admin/helpdesk/calendars/new", errors)
    try:
        # Working hours: a split shift; a wrong line is refused on that line, the rest kept.
        page.fill("#name", "Madrid office")
        page.fill("#tz", "Europe/Madrid")
        page.fill("#day_0", "09:00-14:00, 16:00-25:00")
        page.get_by_role("button", name="Save calendar").click()
        expect(page.locator(".field-error")).to_contain_text("Monday")
        expect(page.locator("#name")).to_have_value("Madrid office")
        for day in range(5):
            page.fill(f"#day_{day}", "09:00-14:00, 16:00-19:00")
        page.get_by_role("button", name="Save calendar").click()
        expect(page.locator(".toast-success")).to_contain_text("Madrid office is saved")
        expect(page.locator("main")).to_contain_text("falls due")
        page.screenshot(path=str(artifacts_dir / "admin-helpdesk-calendar.png"), full_page=True)

        # A team with two members, one of them lead, on those hours, with SLA on.
        page.goto(f"{live_server.url}/admin/helpdesk/teams/new")
        page.fill("#name", "Billing")
        page.check(f"#member-{users.agent.id}")
        page.check(f"#member-{users.agent2.id}")
        page.check(f"#lead-{users.agent2.id}")
        page.check("input[name=assignment][value=balanced]")
        page.check("#use_sla")
        page.select_option("#calendar", label="Madrid office")
        page.get_by_role("button", name="Create team").click()
        expect(page.locator(".toast-success")).to_contain_text("The team Billing is ready.")
        team = db.session.scalar(select(Team).where(Team.name == "Billing"))
        assert team.calendar == db.session.scalar(select(WorkingCalendar))
        assert {m.user_id: m.is_lead for m in team.members} == {users.agent.id: False, users.agent2.id: True}
        page.screenshot(path=str(artifacts_dir / "admin-helpdesk-team.png"), full_page=True)

        # An SLA policy for the team.
        page.get_by_role("link", name="New policy").click()
        page.fill("#name", "Urgent")
        page.select_option("#min_priority", "3")
        page.fill("#first_reply_hours", "1")
        page.fill("#resolution_hours", "8")
        page.get_by_role("button", name="Save policy").click()
        expect(page.locator(".toast-success")).to_be_visible()
        assert db.session.scalar(select(SlaPolicy)).first_reply_hours == 1
        page.screenshot(path=str(artifacts_dir / "admin-helpdesk-policy.png"), full_page=True)

        # Stages: move "In progress" above "New" without leaving the page.
        page.goto(f"{live_server.url}/admin/helpdesk/stages")
        page.get_by_role("button", name="Move up: In progress").click()
        expect(page.locator("#stages-table tbody tr").first).to_contain_text("In progress")
        db.session.expire_all()
        names = [s.name for s in db.session.scalars(select(Stage).order_by(Stage.sequence))]
        assert names[:2] == ["In progress", "New"]

        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{live_server.url}/admin/helpdesk/teams/{team.id}")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.screenshot(path=str(artifacts_dir / "admin-helpdesk-team-phone.png"), full_page=True)
        assert errors == []
    finally:
        context.close()
