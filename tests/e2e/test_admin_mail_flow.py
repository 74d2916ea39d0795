"""Browser flow: an admin adds a mail alias, switches it off inline, then reads a catch-all mail
in Inbound mail down to its detail and its original; the same pages on a phone."""
import re
from email.message import EmailMessage

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import MailAlias
from app.services import mailgate
from tests.conftest import browser_login, open_page

pytestmark = pytest.mark.e2e


def stray_mail() -> bytes:
    mail = EmailMessage()
    mail["From"] = "Hannah Weber <hannah@weber.test>"
    mail["To"] = "orders@hilo.test"
    mail["Subject"] = "Lost order <b>#4411</b>"
    mail["Message-ID"] = "<lost.4411@weber.test>"
    mail["Date"] = "Thu, 06 Mar 2025 17:59:58 +0100"
    mail.set_content("Hello,\n\nmy order #4411 never arrived. Could you look into it?\n\nHannah")
    mail.add_attachment(b"%PDF-1.4 receipt", maintype="application", subtype="pdf", filename="receipt.pdf")
    return mail.as_bytes()


def test_admin_sets_up_an_alias_and_reads_the_catch_all(app, live_server, browser, artifacts_dir, users, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_DOMAIN", "hilo.test")
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        outcome = mailgate.ingest(stray_mail())
    assert outcome.status == "catchall" and outcome.reason == "unknown-recipient"
    errors = []
    context, page = open_page(browser, live_server.url, users.admin, "/admin/aliases", errors)
    page.on("console", lambda message: message.type == "error"
            and not message.text.startswith("Failed to load resource") and errors.append(message.text))
    try:
        expect(page.locator(".empty-state h2")).to_have_text("No aliases yet")
        page.screenshot(path=str(artifacts_dir / "admin-aliases-empty.png"), full_page=True)

        # A reserved name is refused on its field, what was typed kept.
        page.fill("#local_part", "Postmaster")
        page.get_by_role("button", name="Add alias").click()
        expect(page.locator(".field-error")).to_contain_text("postmaster@hilo.test is reserved")
        expect(page.locator("#local_part")).to_have_value("postmaster")

        page.fill("#local_part", "Support")
        page.get_by_role("button", name="Add alias").click()
        expect(page.locator(".toast-success")).to_contain_text("support@hilo.test takes mail in now.")
        alias = db.session.query(MailAlias).one()
        row = page.locator(f"#alias-{alias.id}")
        expect(row).to_contain_text("support@hilo.test")
        expect(row).to_contain_text("Contact conversation")
        expect(row.locator("td.col-more .tag")).to_have_text("Active")
        page.fill("#local_part", "sales")
        page.get_by_role("button", name="Add alias").click()
        expect(page.locator(".toast-success")).to_contain_text("sales@hilo.test takes mail in now.")

        # Inline edit (htmx): the row becomes a form, then the saved row; the page stays.
        row.get_by_role("link", name="Edit support@hilo.test").click()
        expect(row.locator("form.alias-edit")).to_be_visible()
        page.screenshot(path=str(artifacts_dir / "admin-aliases-edit.png"), full_page=True)
        row.get_by_label("Takes mail in").uncheck()
        row.get_by_role("button", name="Save").click()
        expect(row.locator("td.col-more .tag")).to_have_text("Inactive")
        db.session.expire_all()
        assert not db.session.get(MailAlias, alias.id).active
        page.screenshot(path=str(artifacts_dir / "admin-aliases.png"), full_page=True)

        # The catch-all, prominent in Inbound mail.
        page.locator("nav.subnav").get_by_role("link", name="Inbound mail").click()
        catch_all = page.locator(".inbound-tabs a", has_text="Catch-all")
        expect(catch_all.locator(".count-pill-warn")).to_have_text("1")
        catch_all.click()
        expect(page).to_have_url(re.compile(r"/admin/inbound\?status=catchall$"))
        mail_row = page.locator(".inbound-table tbody tr").first
        expect(mail_row).to_contain_text("hannah@weber.test")
        expect(mail_row).to_contain_text("No alias for this address")
        expect(mail_row).to_contain_text("Lost order <b>#4411</b>")  # the sender's markup is text
        page.screenshot(path=str(artifacts_dir / "admin-inbound.png"), full_page=True)

        # Search follows the typing (htmx), and the URL with it.
        page.fill("#q", "nothing like it")
        expect(page.locator("#inbound-list .empty-state h2")).to_contain_text("No mail matches")
        expect(page).to_have_url(re.compile(r"q=nothing"))
        page.fill("#q", "weber")
        expect(page.locator(".inbound-table")).to_contain_text("Lost order")

        page.get_by_role("link", name="Lost order <b>#4411</b>").click()
        expect(page.locator("h1")).to_have_text("Lost order <b>#4411</b>")
        expect(page.locator(".mail-headers")).to_contain_text("Hannah Weber <hannah@weber.test>")
        expect(page.locator(".mail-headers")).to_contain_text("No alias for this address")
        expect(page.locator("pre.mail-text")).to_contain_text("my order #4411 never arrived.")
        expect(page.locator(".mail-files")).to_contain_text("receipt.pdf")
        page.screenshot(path=str(artifacts_dir / "admin-inbound-mail.png"), full_page=True)
        with page.expect_download() as download:
            page.get_by_role("link", name="Download original (.eml)").click()
        assert download.value.suggested_filename == f"inbound-{outcome.inbound_id}.eml"
        assert not errors, errors
    finally:
        context.close()

    # A phone: the same pages fit, nothing overflows the screen but the tables' own scroll.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page = phone.new_page()
    page.on("pageerror", lambda err: errors.append(str(err)))
    try:
        browser_login(page, live_server.url, users.admin)
        for path, name in (("/admin/aliases", "admin-aliases-mobile.png"),
                           ("/admin/inbound", "admin-inbound-mobile.png"),
                           (f"/admin/inbound/{outcome.inbound_id}", "admin-inbound-mail-mobile.png")):
            page.goto(live_server.url + path)
            page.screenshot(path=str(artifacts_dir / name), full_page=True)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width}px wide on a phone"
        assert not errors, errors
    finally:
        phone.close()
