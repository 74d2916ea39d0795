"""Browser: sign in, open the profile, save a change, sign out."""
import pytest

from app.extensions import db
from app.models import User
from tests.conftest import browser_login, make_user

pytestmark = pytest.mark.e2e


def test_sign_in_edit_profile_sign_out(live_server, browser, artifacts_dir):
    user = make_user("agent", "erin@example.com", "Erin Agent")
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors = []
    # CSP violations and script errors; the 422 of the wrong password below is expected.
    page.on("console", lambda message: message.type == "error"
            and not message.text.startswith("Failed to load resource") and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{live_server.url}/login")
        assert page.locator(".auth-card h1").inner_text() == "Sign in"
        page.screenshot(path=str(artifacts_dir / "login.png"), full_page=True)

        # A wrong password first: the generic message, the address kept.
        page.fill("input[name=email]", user.email)
        page.fill("input[name=password]", "not the password")
        page.click("button[type=submit]")
        assert page.locator(".alert-error").inner_text().strip() == "Wrong email or password."
        assert page.input_value("input[name=email]") == user.email

        browser_login(page, live_server.url, user)
        page.goto(f"{live_server.url}/profile")
        topbar = page.locator("header.topbar")
        assert topbar.is_visible()
        assert topbar.locator(".brand").inner_text().strip() == "Hilo"

        page.fill("textarea[name=signature]", "Erin\nCustomer care")
        page.select_option("select[name=timezone]", "Europe/Paris")
        page.check("input[name=notify_by][value=email]")
        page.click("form[action='/profile'] button[type=submit]")
        page.wait_for_selector(".toast-success")
        assert "Your profile is saved." in page.locator(".toast-success").inner_text()
        assert page.input_value("select[name=timezone]") == "Europe/Paris"
        page.screenshot(path=str(artifacts_dir / "profile.png"), full_page=True)

        db.session.expire_all()
        saved = db.session.get(User, user.id)
        assert (saved.signature, saved.timezone, saved.notify_by) == ("Erin\nCustomer care", "Europe/Paris", "email")

        page.click("details.user-menu > summary")
        page.click("details.user-menu button:has-text('Sign out')")
        page.wait_for_url(f"{live_server.url}/login")
        assert page.locator(".toast").first.inner_text().strip() == "You are signed out."
        page.goto(f"{live_server.url}/profile")
        assert page.url.startswith(f"{live_server.url}/login")
        assert errors == [], errors  # no CSP violations or script errors on the way
    finally:
        context.close()
