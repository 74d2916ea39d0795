"""In a browser: a customer asks for help on the website form with a screenshot, follows the
receipt's link, writes again; the agent answers in the ticket; the customer reads the answer,
closes the ticket and rates it from the rating mail; the agent sees the rating."""
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import FormField, OutboxMail, Ticket
from tests.conftest import make_team, open_page
from tests.web.conftest import png_bytes

pytestmark = pytest.mark.e2e


def mailed(kind: str, to: str) -> OutboxMail:
    db.session.expire_all()
    mail = db.session.scalar(select(OutboxMail).where(OutboxMail.kind == kind, OutboxMail.to == to)
                             .order_by(OutboxMail.id.desc()).limit(1))
    assert mail is not None, f"no {kind} mail to {to}"
    return mail


def paths_in(mail: OutboxMail) -> list[str]:
    return re.findall(r"https?://[^/\s]+(/\S+)", mail.body_text)


def test_a_customer_asks_follows_replies_closes_and_rates(app, browser, live_server, job_worker, users,
                                                          artifacts_dir):
    team = make_team("Customer Care", members=[users.agent], use_website_form=True, assignment="balanced",
                     use_ratings=True, customers_may_close=True, reopen_on_reply=True,
                     description="Orders, invoices and deliveries.",
                     form_side_text="We answer **within one working day**.")
    team.form_fields = [FormField(key="order", label="Order number", kind="text", sequence=1,
                                  placeholder="HD-1234", help_text="On your invoice, top right.")]
    db.session.commit()
    base, errors = live_server.url, []
    customer = browser.new_context(viewport={"width": 1280, "height": 900})
    page = customer.new_page()
    page.on("pageerror", lambda err: errors.append(f"customer: {err}"))
    agent = None
    try:
        # The help center lists the team; its form asks, and a missing description is said in place.
        page.goto(f"{base}/support")
        page.get_by_role("link", name=re.compile("Customer Care")).first.click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Customer Care")
        page.get_by_label("Your name").fill("Ada Lovelace")
        page.get_by_label("Email").fill("ada@engines.test")
        page.get_by_label("Subject").fill("The printer prints blank pages")
        page.get_by_label("Order number").fill("HD-4711")
        page.locator("#attachments").set_input_files(
            {"name": "blank-page.png", "mimeType": "image/png", "buffer": png_bytes(40, 30)})
        page.locator("#description").fill("   ")  # passes the browser's check, not the server's
        page.get_by_role("button", name="Send request").click()
        expect(page.locator("#description-error")).to_be_visible()
        expect(page.get_by_label("Subject")).to_have_value("The printer prints blank pages")  # nothing lost
        page.locator("#description").fill("Since this morning every page comes out blank.")
        page.locator("#attachments").set_input_files(
            {"name": "blank-page.png", "mimeType": "image/png", "buffer": png_bytes(40, 30)})
        page.screenshot(path=str(artifacts_dir / "customer-form.png"), full_page=True)
        page.get_by_role("button", name="Send request").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Thank you, we have your request")
        ticket = db.session.scalar(select(Ticket).where(Ticket.title == "The printer prints blank pages"))
        expect(page.locator(".cu-ref")).to_contain_text(ticket.ref)
        assert ticket.assignee_id == users.agent.id and ticket.extra_data == {"Order number": "HD-4711"}
        page.screenshot(path=str(artifacts_dir / "customer-thanks.png"), full_page=True)

        # The receipt's link opens the ticket without an account; the customer writes again.
        [link] = paths_in(mailed("receipt", "ada@engines.test"))
        page.goto(base + link)
        expect(page.locator(".cu-thread")).to_contain_text("every page comes out blank")
        expect(page.locator(".cu-files")).to_contain_text("blank-page.png")
        page.locator("#reply-body").fill("It also beeps three times.")
        page.get_by_role("button", name="Send reply").click()
        expect(page.locator(".cu-thread")).to_contain_text("It also beeps three times.")

        # The agent sees it in the ticket and answers the customer.
        agent, staff = open_page(browser, base, users.agent, f"/helpdesk/tickets/{ticket.id}", errors)
        expect(staff.locator(".chatter")).to_contain_text("It also beeps three times.")
        expect(staff.locator("body")).to_contain_text("HD-4711")
        composer = staff.locator(f"#composer-{ticket.thread.id}")
        composer.locator("textarea").fill("Please replace the toner cartridge; a new one is on its way.")
        composer.get_by_role("button", name="Send").click()
        expect(staff.locator(".message-comment", has_text="replace the toner")).to_be_visible()

        # The customer reads the answer (internal notes never show), closes the ticket.
        page.reload()
        answer = page.locator(".cu-msg-staff", has_text="replace the toner")
        expect(answer).to_be_visible()
        page.screenshot(path=str(artifacts_dir / "customer-ticket.png"), full_page=True)
        page.get_by_role("button", name=re.compile("close")).click()
        expect(page.locator(".cu-status")).to_have_class(re.compile("cu-status-closed"))

        # The rating mail's "satisfied" face opens the rating page with it chosen; a comment is added.
        face = next(p for p in paths_in(mailed("rating", "ada@engines.test")) if "value=satisfied" in p)
        page.goto(base + face)
        expect(page.locator("#rate-satisfied")).to_be_checked()
        page.get_by_label(re.compile("Anything to add")).fill("Fast and clear, thank you!")
        page.screenshot(path=str(artifacts_dir / "customer-rate.png"), full_page=True)
        page.get_by_role("button", name="Send my rating").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for your feedback")

        # The agent sees the rating on the ticket.
        staff.reload()
        expect(staff.locator("body")).to_contain_text("Fast and clear, thank you!")
        staff.screenshot(path=str(artifacts_dir / "customer-rated-staff.png"), full_page=True)

        # On a phone the help center and the ticket read well too.
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(base + link)
        expect(answer).to_be_visible()
        page.screenshot(path=str(artifacts_dir / "customer-ticket-phone.png"), full_page=True)
        page.goto(f"{base}/support/{team.slug}")
        expect(page.get_by_role("button", name="Send request")).to_be_visible()
        page.screenshot(path=str(artifacts_dir / "customer-form-phone.png"), full_page=True)
        assert errors == []
    finally:
        customer.close()
        if agent is not None:
            agent.close()


def test_an_admin_shapes_the_form_and_the_help_center(app, browser, live_server, users, artifacts_dir):
    """A field added on the admin page shows in the live preview and on the public form; the
    side text and an answer preview their Markdown as typed; the answer is found by search."""
    team = make_team("Customer Care", members=[users.agent], use_website_form=True)
    base, errors = live_server.url, []
    context, page = open_page(browser, base, users.admin, f"/admin/helpdesk/teams/{team.id}/website", errors)
    try:
        page.get_by_label("Label").fill("Order number")
        page.get_by_label("Name", exact=True).fill("order")
        page.get_by_label("Placeholder").fill("HD-1234")
        page.get_by_role("button", name="Add field").click()
        expect(page.locator("#fields")).to_contain_text("Order number")
        preview = page.frame_locator("iframe.form-preview")
        expect(preview.get_by_label("Order number")).to_have_attribute("placeholder", "HD-1234")
        expect(preview.get_by_role("button", name="Send request")).to_be_disabled()

        page.get_by_label("Side text (Markdown)").fill("Open **9–17**, Monday to Friday.")
        expect(page.locator("#side-preview strong")).to_have_text("9–17")  # rendered while typing
        page.get_by_role("button", name="Save side text").click()
        page.screenshot(path=str(artifacts_dir / "customer-admin-website.png"), full_page=True)

        page.get_by_role("link", name="New answer").click()
        page.get_by_label("Question").fill("How do I reset my password?")
        page.get_by_label("Answer (Markdown)").fill("Use **Forgot password** on the sign-in page.\n\n<script>x</script>")
        expect(page.locator("#article-preview strong")).to_have_text("Forgot password")
        expect(page.locator("#article-preview")).to_contain_text("<script>x</script>")  # shown as text
        page.get_by_role("button", name="Save answer").click()
        expect(page.locator("#faq")).to_contain_text("How do I reset my password?")

        visitor = context.browser.new_context(viewport={"width": 1280, "height": 900})
        public = visitor.new_page()
        public.on("pageerror", lambda err: errors.append(f"visitor: {err}"))
        public.goto(f"{base}/support")
        public.get_by_label("Search the answers").press_sequentially("passw")
        expect(public.locator("#faq-results")).to_contain_text("How do I reset my password?")
        expect(public).to_have_url(re.compile(r"q=passw"))
        public.screenshot(path=str(artifacts_dir / "customer-help-center.png"), full_page=True)
        public.goto(f"{base}/support/{team.slug}")
        expect(public.get_by_label("Order number")).to_be_visible()
        expect(public.locator("body")).to_contain_text("Open 9–17, Monday to Friday.")
        visitor.close()
        assert errors == []
    finally:
        context.close()
