"""Browser flow: an admin creates a live chat channel — the preview follows the colour and the
texts as they are typed, under the CSP, and warns of white text that is hard to read — copies its embed line, then writes a chatbot script
with a question and a step that runs only after one answer, and tries it in the test panel by
typing a reply and clicking an answer, without a reload. Both pages on a phone."""
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import ChatbotScript, LivechatChannel
from tests.conftest import open_page

pytestmark = pytest.mark.e2e


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_an_admin_sets_up_a_channel_and_tries_a_chatbot(live_server, browser, artifacts_dir, users):
    base, errors = live_server.url, []
    context, page = open_page(browser, base, users.admin, "/admin/livechat/channels", errors)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    try:
        page.get_by_role("link", name="Create the first channel").click()
        page.fill("#name", "Main website")
        page.fill("#button_text", "Questions? Ask us")
        page.fill("#welcome_message", "Hi! How can we help?")
        warning = page.locator("[data-lc-contrast=button_color]")
        expect(warning).to_be_hidden()
        page.locator("#button_color").fill("#f59e0b")  # white text on amber is hard to read
        expect(warning).to_be_visible()
        page.locator("#button_color").fill("#b45309")
        expect(warning).to_be_hidden()
        page.locator("#header_color").fill("#0f766e")
        launcher = page.locator(".lc-launcher")
        expect(launcher).to_contain_text("Questions? Ask us")
        expect(launcher).to_have_css("background-color", "rgb(180, 83, 9)")
        expect(page.locator(".lc-window-head")).to_have_css("background-color", "rgb(15, 118, 110)")
        expect(page.locator(".lc-window-title")).to_have_text("Main website")  # no header text: the name
        expect(page.locator(".lc-bubble-bot")).to_have_text("Hi! How can we help?")
        page.get_by_role("button", name="Create channel").click()
        expect(page.locator(".toast-success")).to_contain_text("The channel Main website is ready")
        channel = db.session.scalar(select(LivechatChannel))
        assert channel.button_color == "#b45309" and channel.header_color == "#0f766e"
        expect(launcher).to_have_css("background-color", "rgb(180, 83, 9)")  # painted on load too
        page.screenshot(path=str(artifacts_dir / "admin-livechat-channel.png"), full_page=True)

        page.get_by_role("link", name="Widget").click()
        page.get_by_role("button", name="Copy the line").click()
        expect(page.get_by_role("button", name="Copied")).to_be_visible()
        assert f"/livechat/{channel.key}/loader.js" in page.evaluate("navigator.clipboard.readText()")
        page.screenshot(path=str(artifacts_dir / "admin-livechat-widget.png"), full_page=True)

        # A script: a question, an email asked only after "Billing", then the hand-over.
        page.goto(f"{base}/admin/livechat/scripts")
        page.fill("#name", "Sales or billing?")
        page.get_by_role("button", name="Create script").click()
        expect(page.locator(".toast-success")).to_contain_text("ready for its steps")
        page.select_option("#kind", "question")
        page.fill("#message", "What is it about?")
        page.fill("#answers", "Sales\nBilling")
        page.get_by_role("button", name="Add step").click()
        expect(page.locator(".toast-success")).to_contain_text("The step is saved")
        page.select_option("#kind", "email")
        expect(page.locator("#answers")).to_be_hidden()  # a question's answers only
        page.fill("#message", "Your email, so we can find your invoices?")
        page.select_option("#only_if_step", label="‘What is it about?’")
        page.fill("#only_if_answer", "billing")
        page.get_by_role("button", name="Add step").click()
        expect(page.locator(".lc-condition")).to_have_text("Only if ‘What is it about?’ was ‘Billing’")
        page.select_option("#kind", "forward")
        page.get_by_role("button", name="Add step").click()
        expect(page.locator(".lc-step")).to_have_count(3)
        script = db.session.scalar(select(ChatbotScript))

        # The test panel: an answer button, then a typed reply; the page itself stays.
        page.locator("#step-form").evaluate("node => node.dataset.stays = 'yes'")
        transcript = page.locator(".lc-transcript")
        page.locator(".lc-answer-pick", has_text="Billing").click()
        expect(transcript).to_contain_text("Your email, so we can find your invoices?")
        expect(page.locator("#replies")).to_have_value("Billing")
        page.fill("#replies", "Billing\nnot an address")
        page.get_by_role("button", name="Run").click()
        expect(transcript).to_contain_text("That does not look like an email address")
        page.fill("#replies", "Billing\nada@example.com")
        page.get_by_role("button", name="Run").click()
        expect(transcript.locator(".lc-line-system")).to_have_text("The chat is handed to an available operator.")
        expect(page.locator("#step-form[data-stays=yes]")).to_have_count(1)  # no reload
        assert page.url.endswith(f"/admin/livechat/scripts/{script.id}#steps")
        page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar would sit mid-page in a full-page shot
        page.screenshot(path=str(artifacts_dir / "admin-livechat-script.png"), full_page=True)

        page.set_viewport_size({"width": 390, "height": 844})
        for path, name in ((f"/admin/livechat/channels/{channel.id}", "channel"),
                           (f"/admin/livechat/scripts/{script.id}", "script")):
            page.goto(base + path)
            assert no_sideways_scroll(page), path
            page.screenshot(path=str(artifacts_dir / f"admin-livechat-{name}-phone.png"), full_page=True)
        assert errors == []
    finally:
        context.close()
