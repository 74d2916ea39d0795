"""Browser flow: a note with an @mention reaches the colleague live (bell and thread)."""
import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.services import messaging
from tests.conftest import make_contact, open_page, wait_for_socket

pytestmark = pytest.mark.e2e

@pytest.fixture
def contact(app):
    contact = make_contact("Ada Lovelace", "ada@lovelace.test", company="Analytical Engines",
                           phone="+44 20 7946 0000", job_title="Countess")
    thread = contact.ensure_thread()
    messaging.follow(thread, contact=contact)
    db.session.commit()
    return contact


def test_a_mentioned_colleague_sees_the_note_and_the_bell_live(app, live_server, job_worker, browser, artifacts_dir,
                                                                users, contact):
    base, path = live_server.url, f"/contacts/{contact.id}"
    thread = contact.thread
    errors = []
    context_b, page_b = open_page(browser, base, users.agent2, path, errors)
    context_a, page_a = open_page(browser, base, users.agent, path, errors)
    try:
        assert page_b.locator("#bell").get_attribute("data-count") == "0"
        wait_for_socket(app, page_b, f"thread:{thread.id}")

        # Agent A logs a note and picks Carol from the @mention list with the keyboard.
        page_a.get_by_text("Log note").click()
        composer = page_a.locator(f"#composer-{thread.id}-body")
        composer.click()
        composer.press_sequentially("Could you call Ada back about the invoice? @")
        menu = page_a.locator(".mention-menu")
        menu.locator("[role=option]").first.wait_for()
        composer.press_sequentially("Car")
        expect(menu.locator("[role=option]")).to_have_count(1)
        expect(menu.locator("[role=option]")).to_contain_text("Carol Agent")
        composer.press("ArrowDown")
        composer.press("Enter")
        assert composer.input_value() == "Could you call Ada back about the invoice? @Carol Agent "
        composer.press_sequentially("thanks!")
        page_a.screenshot(path=str(artifacts_dir / "chatter-composer-note.png"))
        composer.press("Control+Enter")

        mine = page_a.locator(f"#thread-{thread.id}-messages .message-note", has_text="call Ada back")
        mine.wait_for()  # from the post's answer or, as often, from the socket a moment before it
        expect(composer).to_have_value("")  # cleared after a successful post
        expect(page_a.locator(f"#thread-{thread.id}-followers .btn-following")).to_be_visible()  # A follows now

        # Agent B: the bell counts the mention and the note appears, without a reload.
        page_b.locator('#bell[data-count="1"]').wait_for()
        live = page_b.locator(f"#thread-{thread.id}-messages .message-note", has_text="call Ada back")
        live.wait_for()
        assert live.locator(".mention").inner_text() == "@Carol Agent"
        assert live.locator(".message-actions").is_hidden()  # not B's note: no edit/delete
        assert page_b.locator("#bell .badge").inner_text() == "1"

        # The author got the row from the post and from the socket: it shows once.
        page_a.locator("html[data-ws-frames]").wait_for(state="attached")
        assert mine.count() == 1
        page_a.locator(".message-note", has_text="call Ada back").hover()
        assert page_a.locator(".message-note", has_text="call Ada back").locator(".message-actions").is_visible()

        page_a.screenshot(path=str(artifacts_dir / "chatter-author.png"), full_page=True)
        page_b.screenshot(path=str(artifacts_dir / "chatter-mentioned-live.png"), full_page=True)
        assert errors == []
    finally:
        context_a.close()
        context_b.close()


def test_the_composer_keeps_a_draft_across_reloads(live_server, browser, users, contact):
    errors = []
    context, page = open_page(browser, live_server.url, users.agent, f"/contacts/{contact.id}", errors)
    thread = contact.thread
    try:
        page.get_by_text("Log note").click()
        body = page.locator(f"#composer-{thread.id}-body")
        body.fill("Half-written thought")
        page.locator(f"#composer-{thread.id}[data-draft=saved]").wait_for()
        expect(page.locator(f"#composer-{thread.id} .composer-draft")).to_be_visible()
        page.reload()
        assert body.input_value() == "Half-written thought"
        assert page.locator(f"#composer-{thread.id} input[value=note]").is_checked()  # the mode too
        body.press("Control+Enter")
        page.locator(".message-note", has_text="Half-written thought").wait_for()
        expect(body).to_have_value("")  # the post's answer may come just after the socket's row
        assert page.evaluate(f"localStorage.getItem('hilo:draft:thread:{thread.id}')") is None
        page.reload()
        assert body.input_value() == ""
        assert errors == []
    finally:
        context.close()


def test_a_message_copied_to_another_address(live_server, job_worker, browser, users, contact, artifacts_dir):
    """Cc: a bad address is refused in place with the text kept; a good one is mailed and follows."""
    from sqlalchemy import select

    from app.models import Contact, OutboxMail

    errors = []
    context, page = open_page(browser, live_server.url, users.agent, f"/contacts/{contact.id}", errors)
    thread = contact.thread
    try:
        composer = page.locator(f"#composer-{thread.id}")
        composer.locator("summary", has_text="Cc").click()
        cc = composer.get_by_label("Copy to")
        cc.fill("Grace Hopper <grace@navy.test>, not-an-address")
        composer.locator("textarea").fill("The quote is attached to this thread.")
        composer.get_by_role("button", name="Send").click()
        expect(composer.locator(".composer-errors")).to_contain_text("“not-an-address” is not an email address.")
        expect(cc).to_have_value("Grace Hopper <grace@navy.test>, not-an-address")
        cc.fill("Grace Hopper <grace@navy.test>")
        page.screenshot(path=str(artifacts_dir / "chatter-cc.png"), full_page=True)
        composer.get_by_role("button", name="Send").click()
        sent_message = page.locator(".message-comment", has_text="The quote is attached")
        expect(sent_message).to_contain_text("Emailed to")  # pushed once the delivery job ran
        expect(cc).to_have_value("")
        expect(composer.locator("details.composer-cc")).not_to_have_attribute("open", "")
        db.session.expire_all()
        grace = db.session.scalar(select(Contact).where(Contact.email == "grace@navy.test"))
        assert grace is not None and grace.name == "Grace Hopper"
        sent = db.session.scalars(select(OutboxMail.to).where(OutboxMail.chatter_message_id.is_not(None))).all()
        assert sorted(sent) == ["ada@lovelace.test", "grace@navy.test"]
        assert errors == []
    finally:
        context.close()
