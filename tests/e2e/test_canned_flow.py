"""Browser flow: an admin writes a canned response; an agent inserts it on a ticket with `::`
and the keyboard, the customer's name filled in, and sends it; in a chat `/` opens the menu,
Escape closes it, Enter, Tab or a click inserts (Enter does not send then). The settings page
and the menu on a phone."""
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import CannedResponse
from app.services import canned, discuss
from tests.conftest import make_contact, make_team, make_ticket, open_page

pytestmark = pytest.mark.e2e

BODY = ("Hello {{customer.first_name}},\n\nThanks for writing in about {{ticket.ref}}: we are on it.\n\n"
        "{{agent.first_name}}")


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.fixture
def ticket(users):
    team = make_team("Support", members=[users.agent])
    ticket = make_ticket(team, "The invoice PDF is blank", customer=make_contact("Ada Lovelace", "ada@engines.test"))
    ticket.ensure_thread()
    # Another response starting the same way, used more: it comes first in the menu.
    great_news = canned.create_response(shortcut="great-news", title="Good news: it is fixed",
                                        body="Great news, {{customer.first_name}}: the fix is live.", team=None, by=None)
    great_news.used_count = 5
    db.session.commit()
    return ticket


def test_an_admin_writes_a_response_and_an_agent_sends_it_on_a_ticket(live_server, browser, artifacts_dir, users,
                                                                      ticket):
    base, errors = live_server.url, []
    context, admin = open_page(browser, base, users.admin, "/admin/users", errors)
    try:
        admin.get_by_role("navigation", name="Settings").get_by_role("link", name="Canned responses").click()
        expect(admin.locator("h1")).to_have_text("Canned responses")
        admin.get_by_role("link", name="New response").click()
        admin.get_by_label("Shortcut").fill("greeting")
        admin.get_by_label("Title").fill("Warm greeting")
        admin.get_by_label("Team").select_option(label="Support")
        admin.get_by_role("button", name="Add response").click()
        expect(admin.locator("#body-error")).to_contain_text("Write the text")  # refused in place, input kept
        expect(admin.get_by_label("Shortcut")).to_have_value("greeting")
        admin.screenshot(path=str(artifacts_dir / "canned-settings-form.png"), full_page=True)
        admin.get_by_label("Text").fill(BODY)
        admin.get_by_role("button", name="Add response").click()
        expect(admin.locator(".toast-success")).to_contain_text("The response ::greeting is ready to use.")
        row = admin.locator("#canned-table tbody tr", has_text="::greeting")
        expect(row).to_contain_text("Warm greeting")
        expect(row).to_contain_text("Support")
        admin.screenshot(path=str(artifacts_dir / "canned-settings.png"), full_page=True)
        admin.get_by_label("Search shortcut, title or text").fill("fixed")
        expect(admin.locator("#canned-table tbody tr")).to_have_count(1)
        expect(admin.locator("#canned-table")).to_contain_text("::great-news")
        assert "q=fixed" in admin.url  # the search is in the address, for the back button and sharing
        admin.get_by_label("Search shortcut, title or text").fill("")
        expect(admin.locator("#canned-table tbody tr")).to_have_count(2)
        admin.get_by_role("link", name="Edit ::greeting").click()
        expect(admin.get_by_label("Text")).to_have_value(BODY)
        admin.set_viewport_size({"width": 390, "height": 844})
        assert no_sideways_scroll(admin)
        admin.screenshot(path=str(artifacts_dir / "canned-settings-form-phone.png"), full_page=True)
        admin.goto(f"{base}/admin/canned")
        assert no_sideways_scroll(admin)
        admin.screenshot(path=str(artifacts_dir / "canned-settings-phone.png"), full_page=True)
    finally:
        context.close()

    thread = ticket.thread
    context, agent = open_page(browser, base, users.agent, f"/helpdesk/tickets/{ticket.id}", errors)
    try:
        box = agent.locator(f"#composer-{thread.id}-body")
        box.click()
        box.press_sequentially("::gre")
        menu = agent.get_by_role("listbox", name="Canned responses")
        options = menu.get_by_role("option")
        expect(options).to_have_count(2)
        expect(options.first).to_contain_text("::great-news")
        expect(options.nth(1)).to_contain_text("Hello Ada,")  # the first line, filled in for this ticket
        expect(box).to_have_attribute("aria-expanded", "true")
        expect(box).to_have_attribute("aria-activedescendant", options.first.get_attribute("id"))
        box.press("ArrowDown")
        expect(options.nth(1)).to_have_attribute("aria-selected", "true")
        expect(box).to_have_attribute("aria-activedescendant", options.nth(1).get_attribute("id"))
        agent.screenshot(path=str(artifacts_dir / "canned-menu.png"))
        box.press("Enter")
        expected = f"Hello Ada,\n\nThanks for writing in about #{ticket.id}: we are on it.\n\nBob"
        expect(box).to_have_value(expected)
        expect(menu).to_be_hidden()
        expect(box).to_have_attribute("aria-expanded", "false")
        box.press("Control+Enter")
        sent = agent.locator(f"#thread-{thread.id}-messages .message-comment", has_text="we are on it")
        expect(sent).to_contain_text("Hello Ada,")
        expect(sent).to_contain_text(f"Thanks for writing in about #{ticket.id}")
        expect(box).to_have_value("")
        db.session.expire_all()
        assert db.session.scalar(select(CannedResponse.used_count).where(CannedResponse.shortcut == "greeting")) == 1
        assert errors == []
    finally:
        context.close()


def test_in_a_chat_slash_opens_the_menu_escape_closes_it_enter_tab_or_a_click_insert(app, live_server, browser,
                                                                             artifacts_dir, users):
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        channel = discuss.create_channel(users.agent, "front-desk")
        db.session.commit()
    canned.create_response(shortcut="on-it", title="On it", body="On it, {{agent.first_name}} here. {{ticket.ref}}",
                           team=None, by=None)
    canned.create_response(shortcut="lunch", title="Out for lunch", body="Back at 2.", team=None, by=None)
    db.session.commit()
    errors = []
    context, page = open_page(browser, live_server.url, users.agent, f"/discuss/c/{channel.id}", errors)
    try:
        box = page.get_by_label("Message #front-desk")
        box.click()
        box.press_sequentially("/")
        menu = page.get_by_role("listbox", name="Canned responses")
        expect(menu.get_by_role("option")).to_have_count(2)
        box.press("Escape")
        expect(menu).to_be_hidden()
        box.press_sequentially("o")  # the same trigger stays closed after Escape
        expect(menu).to_be_hidden()
        box.fill("")
        box.press_sequentially("/lu")
        expect(menu.get_by_role("option")).to_have_count(1)
        box.press("Enter")  # in a chat Enter sends, but with the menu open it inserts
        expect(box).to_have_value("Back at 2.")
        expect(page.locator(".chat-messages .message-comment")).to_have_count(0)
        box.press("Shift+Enter")
        box.press_sequentially("::on")
        expect(menu.get_by_role("option")).to_have_count(1)
        page.set_viewport_size({"width": 390, "height": 844})
        assert no_sideways_scroll(page)
        page.screenshot(path=str(artifacts_dir / "canned-menu-chat-phone.png"))
        menu.get_by_role("option").click()
        # No ticket here: its placeholder stays, selected, to be typed over.
        expect(box).to_have_value("Back at 2.\nOn it, Bob here. {{ticket.ref}}")
        assert page.evaluate("[document.activeElement.selectionStart, document.activeElement.selectionEnd]") == [28, 42]
        box.press_sequentially("#12")
        box.press("Shift+Enter")
        box.press_sequentially("/lu")
        expect(menu.get_by_role("option")).to_have_count(1)
        box.press("Tab")
        expect(box).to_have_value("Back at 2.\nOn it, Bob here. #12\nBack at 2.")
        box.press("Enter")
        expect(page.locator(".chat-messages .message-comment").last).to_contain_text("On it, Bob here. #12")
        db.session.expire_all()
        used = dict(db.session.execute(select(CannedResponse.shortcut, CannedResponse.used_count)).all())
        assert used == {"on-it": 1, "lunch": 2}
        assert errors == []
    finally:
        context.close()
