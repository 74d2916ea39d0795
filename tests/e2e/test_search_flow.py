"""Browser flow: "/" jumps to the top bar's search, the hit shows the words marked, results follow
the typing on the search page, and a click lands on the message in its record."""
import re

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.services import messaging
from tests.conftest import make_contact
from tests.e2e.test_chatter_flow import open_page

pytestmark = pytest.mark.e2e


def test_search_from_the_top_bar_to_the_message(app, live_server, browser, artifacts_dir, users):
    contact = make_contact("Hannah Weber", "hannah@weber.test")
    thread = contact.ensure_thread()
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        target = messaging.post_message(thread, users.agent2, "The Berlin trade fair: <b>teléfono</b> numbers please",
                                        kind="note", notify=False)
        for i in range(40):  # more than a page: the link must open the thread at the message
            messaging.post_message(thread, users.agent2, f"Follow-up {i}", kind="note", notify=False)
        db.session.commit()
    errors = []
    context, page = open_page(browser, live_server.url, users.agent, "/inbox", errors)
    try:
        page.keyboard.press("/")
        box = page.get_by_role("searchbox", name="Search messages")
        expect(box).to_be_focused()
        box.type("berlin")
        box.press("Enter")
        expect(page).to_have_url(re.compile(r"/search\?q=berlin$"))
        hit = page.locator(".search-hit").first
        expect(hit.locator("mark")).to_have_text("Berlin")
        expect(hit).to_contain_text("<b>teléfono</b> numbers")  # typed text shown as text, not markup
        expect(hit).to_contain_text("on Hannah Weber")

        # On the search page the results follow the typing (htmx), and the URL with them.
        page.wait_for_load_state()  # htmx binds the box once the page has loaded
        search_box = page.locator("#search-q")
        search_box.fill("berlin TELEFO")
        expect(page.locator(".search-hit mark")).to_have_text(["Berlin", "teléfono"])
        expect(page).to_have_url(re.compile(r"q=berlin(\+|%20)TELEFO"))
        page.screenshot(path=str(artifacts_dir / "search-results.png"), full_page=True)

        page.locator(".search-hit").first.click()
        expect(page).to_have_url(re.compile(rf"/contacts/{contact.id}\?around={target.id}#message-{target.id}$"))
        expect(page.locator(f"#message-{target.id}")).to_be_in_viewport()
        assert not errors, errors
    finally:
        context.close()
