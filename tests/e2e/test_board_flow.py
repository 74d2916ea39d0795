"""Browser flow: an agent quick-creates a ticket on the team's board, drags it to the next stage
and moves it on with the keyboard; a second agent's board follows live; a phone sees the board."""
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import SlaPolicy, Stage, Ticket
from tests.conftest import make_team, open_page, wait_for_socket

pytestmark = pytest.mark.e2e


def stage(name: str) -> Stage:
    return db.session.scalar(select(Stage).where(Stage.name == name))


def test_two_agents_share_a_live_board(app, live_server, browser, artifacts_dir, users):
    team = make_team("Care", members=[users.agent, users.agent2], use_sla=True)
    db.session.add(SlaPolicy(team=team, name="Standard", first_reply_hours=0.5))
    db.session.commit()
    errors = []
    path = f"/helpdesk/teams/{team.id}/board"
    bob_context, bob = open_page(browser, live_server.url, users.agent, path, errors)
    carol_context, carol = open_page(browser, live_server.url, users.agent2, path, errors)
    try:
        for page in (bob, carol):
            wait_for_socket(app, page, f"helpdesk-team:{team.id}")
        new, progress, waiting = stage("New"), stage("In progress"), stage("Waiting on customer")

        # Quick create in "New": the card appears for both, with its SLA badge (half an hour: orange).
        bob.locator(f"#quick-{new.id} summary").click()
        bob.fill(f"#quick-title-{new.id}", "Scanner jams on page two")
        bob.press(f"#quick-title-{new.id}", "Enter")
        expect(bob.locator(f"#cards-{new.id} .board-card")).to_have_count(1)
        ticket = db.session.scalar(select(Ticket))
        card = f"#card-{ticket.id}"
        expect(carol.locator(f"#cards-{new.id} {card}")).to_be_visible()
        expect(carol.locator(f"{card} .sla-badge")).to_have_class("sla-badge sla-warning")
        expect(carol.locator(f"#count-{new.id}")).to_have_text("1")

        # Drag it to "In progress": tracked on the ticket, followed live on Carol's board.
        bob.drag_and_drop(card, f"#cards-{progress.id}")
        expect(carol.locator(f"#cards-{progress.id} {card}")).to_be_visible()
        expect(carol.locator(f"#count-{new.id}")).to_have_text("0")
        db.session.expire_all()
        assert db.session.get(Ticket, ticket.id).stage_id == progress.id

        # Keyboard: focus the card, Alt+→ moves it one stage on; focus stays on it.
        bob.locator(card).focus()
        bob.keyboard.press("Alt+ArrowRight")
        expect(bob.locator(f"#cards-{waiting.id} {card}")).to_be_visible()
        expect(carol.locator(f"#cards-{waiting.id} {card}")).to_be_visible()
        expect(bob.locator(card)).to_be_focused()

        # Stars on the card set the priority, for everyone.
        bob.locator(f"{card} .board-star").nth(2).click()
        expect(carol.locator(card)).to_have_attribute("data-priority", "3")
        bob.screenshot(path=str(artifacts_dir / "board-bob.png"), full_page=True)
        carol.screenshot(path=str(artifacts_dir / "board-carol.png"), full_page=True)

        carol.set_viewport_size({"width": 390, "height": 844})
        carol.reload()
        expect(carol.locator(card)).to_be_attached()
        # Her board was kept rendered from before the changes: the reload shows them all the same.
        expect(carol.locator(f"#cards-{waiting.id} {card}")).to_have_attribute("data-priority", "3")
        expect(carol.locator(f"#count-{new.id}")).to_have_text("0")
        # The board scrolls inside itself; the page never scrolls sideways.
        assert carol.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        carol.screenshot(path=str(artifacts_dir / "board-phone.png"), full_page=True)
        assert errors == []
    finally:
        bob_context.close()
        carol_context.close()
