"""In a browser: schedule an activity from a contact's chatter, find it in My activities,
mark it done with feedback, read the feedback in the thread; and the inbox filling live."""
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import Activity, Message, Notification, User
from app.services import activities
from app.templating import local_today
from tests.conftest import browser_login, make_contact, make_user

pytestmark = pytest.mark.e2e


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=live_server.url)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    # A 422 answer to a bad form is expected; the browser still logs it as a failed load.
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and "status of 422" not in msg.text else None)
    page.js_errors = errors
    yield page
    context.close()


def test_schedule_find_and_complete_an_activity(page, live_server, artifacts_dir):
    agent = make_user("agent", name="Bob Agent", email="bob@example.com")
    contact = make_contact("Ada Lovelace", "ada@customer.test", company="Analytical Engines")
    contact.ensure_thread()
    db.session.commit()
    browser_login(page, live_server.url, agent)

    # Schedule from the clock button in the chatter.
    page.goto(f"/contacts/{contact.id}")
    panel = page.locator(".activity-panel")
    panel.get_by_role("link", name="Schedule activity").click()
    form = panel.locator("form.activity-form")
    expect(form).to_be_visible()
    expect(form.locator("input[name=activity-summary]")).to_be_focused()
    form.get_by_text("Call", exact=True).click()
    form.locator("input[name=activity-summary]").fill("Call Ada about the renewal")
    expect(form.locator("input[name=activity-due_date]")).to_have_value(local_today(agent).isoformat())
    page.screenshot(path=str(artifacts_dir / "activity-schedule-form.png"), full_page=True)
    form.get_by_role("button", name="Schedule").click()

    item = panel.locator("li.activity")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Call Ada about the renewal")
    expect(item.locator(".due")).to_have_text("Today")
    expect(item).to_have_class(re.compile(r"\bactivity-today\b"))
    expect(form).to_have_count(0)  # the form closed
    page.screenshot(path=str(artifacts_dir / "activity-panel.png"), full_page=True)

    # Reschedule it to tomorrow from the pencil: the form comes filled in.
    item.get_by_role("link", name="Edit “Call Ada about the renewal”").click()
    expect(form.locator("input[name=activity-summary]")).to_have_value("Call Ada about the renewal")
    tomorrow = local_today(agent) + timedelta(days=1)
    form.locator("input[name=activity-due_date]").fill(tomorrow.isoformat())
    page.screenshot(path=str(artifacts_dir / "activity-edit-form.png"), full_page=True)
    form.get_by_role("button", name="Save").click()
    expect(item.locator(".due")).to_have_text("Tomorrow")
    expect(item).to_have_class(re.compile(r"\bactivity-planned\b"))
    expect(form).to_have_count(0)

    # My activities: under Planned, with a link to the contact.
    page.get_by_role("navigation", name="Apps").get_by_role("link", name="Activities").click()
    expect(page).to_have_url(re.compile(r"/activities$"))
    planned = page.locator("#group-planned")
    expect(planned).to_contain_text("Call Ada about the renewal")
    expect(planned.get_by_role("link", name="Ada Lovelace")).to_have_attribute("href", f"/contacts/{contact.id}")
    expect(page.locator(".state-planned .state-count")).to_have_text("1")
    page.screenshot(path=str(artifacts_dir / "my-activities.png"), full_page=True)

    # Mark it done with feedback, inline.
    row = planned.locator("li.mine-row")
    row.locator("summary", has_text="Done").click()
    row.get_by_label("Feedback").fill("Renewal agreed for two years.")
    page.screenshot(path=str(artifacts_dir / "my-activities-done.png"), full_page=True)
    row.get_by_role("button", name="Mark done").click()
    expect(page.locator("#my-activities")).to_contain_text("Nothing to do")
    page.screenshot(path=str(artifacts_dir / "my-activities-empty.png"), full_page=True)

    # The feedback is in the thread, as an internal note by Bob.
    page.goto(f"/contacts/{contact.id}")
    expect(page.locator(".activity-panel")).to_contain_text("No planned activities")
    thread = page.locator(".thread-messages")
    expect(thread).to_contain_text("Call done")
    expect(thread).to_contain_text("Renewal agreed for two years.")
    page.screenshot(path=str(artifacts_dir / "activity-done-in-thread.png"), full_page=True)

    db.session.expire_all()
    [activity] = db.session.scalars(select(Activity)).all()
    assert activity.done_at is not None and activity.feedback == "Renewal agreed for two years."
    note = db.session.scalar(select(Message).where(Message.kind == "note"))
    assert note.author_user_id == agent.id
    assert page.js_errors == []


def test_bad_input_shows_inline_errors_and_keeps_the_text(page, live_server, artifacts_dir):
    agent = make_user("agent", name="Bob Agent")
    contact = make_contact("Grace Hopper")
    contact.ensure_thread()
    db.session.commit()
    browser_login(page, live_server.url, agent)
    page.goto(f"/contacts/{contact.id}")
    panel = page.locator(".activity-panel")
    panel.get_by_role("link", name="Schedule activity").click()
    form = panel.locator("form.activity-form")
    form.locator("input[name=activity-summary]").fill("Keep me")
    form.locator("input[name=activity-due_date]").fill("2099-01-01")
    form.get_by_role("button", name="Schedule").click()
    expect(form.locator(".field-error")).to_contain_text("within 5 years")
    expect(form.locator("input[name=activity-summary]")).to_have_value("Keep me")
    page.screenshot(path=str(artifacts_dir / "activity-form-error.png"), full_page=True)
    # Discard closes the form; nothing was scheduled.
    form.get_by_role("link", name="Discard").click()
    expect(panel.locator("form.activity-form")).to_have_count(0)
    expect(panel).to_contain_text("No planned activities")
    assert db.session.scalars(select(Activity)).all() == []

    # Fixed, it is scheduled; cancelled (after confirming), it is gone.
    panel.get_by_role("link", name="Schedule activity").click()
    panel.locator("input[name=activity-summary]").fill("Keep me")
    panel.get_by_role("button", name="Schedule").click()
    expect(panel.locator("li.activity")).to_have_count(1)
    page.once("dialog", lambda dialog: dialog.accept())
    panel.get_by_role("button", name="Cancel “Keep me”").click()
    expect(panel.locator("li.activity")).to_have_count(0)
    expect(panel).to_contain_text("No planned activities")
    db.session.expire_all()
    assert db.session.scalars(select(Activity)).all() == []
    assert page.js_errors == []


def test_an_assigned_activity_arrives_live_in_the_inbox(page, live_server, artifacts_dir, app):
    lead = make_user("admin", name="Alice Admin")
    agent = make_user("agent", name="Bob Agent")
    contact = make_contact("Ada Lovelace")
    thread = contact.ensure_thread()
    db.session.commit()
    browser_login(page, live_server.url, agent)
    page.goto("/inbox")
    expect(page.locator(".inbox-empty")).to_be_visible()
    expect(page.locator("#bell")).to_have_attribute("data-count", "0")
    page.wait_for_function("() => { const s = document.querySelector('#live'); "
                           "return s && s['htmx-internal-data'] && s['htmx-internal-data'].webSocket "
                           "&& s['htmx-internal-data'].webSocket.socket.readyState === 1; }")

    with app.test_request_context(base_url=live_server.url):
        activities.schedule(thread, lead, activity_type="meeting", due_date=local_today(agent), assignee=agent,
                            summary="Quarterly review")
        db.session.commit()

    row = page.locator("#inbox-list li.inbox-row").first
    expect(row).to_contain_text("Alice Admin assigned you “Quarterly review” on Ada Lovelace")
    expect(row).to_have_class(re.compile(r"\bis-unread\b"))
    expect(page.locator("#bell")).to_have_attribute("data-count", "1")
    expect(page.locator("#inbox-count")).to_have_text("1 unread")
    expect(page.locator(".inbox-empty")).to_be_hidden()
    page.screenshot(path=str(artifacts_dir / "inbox-live.png"), full_page=True)

    row.get_by_role("button", name="Mark as read").click()
    expect(page.locator("#bell")).to_have_attribute("data-count", "0")
    expect(page.locator("#inbox-list li.inbox-row").first).not_to_have_class(re.compile(r"\bis-unread\b"))

    page.locator("#inbox-list li.inbox-row a.inbox-link").first.click()
    expect(page).to_have_url(re.compile(rf"/contacts/{contact.id}$"))
    expect(page.locator(".activity-panel")).to_contain_text("Quarterly review")
    assert page.js_errors == []


def test_inbox_and_my_activities_read_well_on_a_phone(browser, live_server, artifacts_dir, app, run_jobs):

    from app.services import messaging, notifications

    lead = make_user("admin", name="Alice Admin")
    agent = make_user("agent", name="Bob Agent")
    contact = make_contact("Ada Lovelace")
    thread = contact.ensure_thread()
    db.session.commit()
    today = local_today(agent)
    with app.test_request_context(base_url=live_server.url):
        for days, summary in ((-3, "Send the signed contract"), (0, "Call about the renewal"),
                              (4, "Quarterly review"), (30, "Ask for a testimonial")):
            activities.schedule(thread, lead, activity_type="call" if days == 0 else "todo",
                                due_date=today + timedelta(days=days), assignee=agent, summary=summary)
        message = messaging.post_message(thread, lead, "@Bob Agent can you look at Ada's invoice? "
                                         "She says the <b>amount</b> is wrong.", kind="note")
        agent_id = agent.id
        db.session.commit()
        run_jobs()  # (the RQ run executes it in this thread, ending this session: reload the agent)
        agent = db.session.get(User, agent_id)
        notifications.mark_read(agent, [db.session.scalars(select(Notification.id).order_by(Notification.id)).first()])
        db.session.commit()
    assert message.id

    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=live_server.url)
    phone = context.new_page()
    browser_login(phone, live_server.url, agent)
    phone.goto("/inbox")
    rows = phone.locator("#inbox-list li.inbox-row")
    expect(rows).to_have_count(5)
    expect(rows.first).to_contain_text("Alice Admin mentioned you on Ada Lovelace")
    expect(rows.first.locator(".inbox-excerpt")).to_contain_text("She says the <b>amount</b> is wrong.")
    phone.screenshot(path=str(artifacts_dir / "inbox-phone.png"), full_page=True)
    phone.goto("/activities")
    expect(phone.locator("#group-overdue")).to_contain_text("Send the signed contract")
    expect(phone.locator("#group-today")).to_contain_text("Call about the renewal")
    expect(phone.locator("#group-planned li")).to_have_count(2)
    phone.screenshot(path=str(artifacts_dir / "my-activities-phone.png"), full_page=True)
    phone.goto(f"/contacts/{contact.id}")
    phone.locator(".activity-panel").scroll_into_view_if_needed()
    phone.screenshot(path=str(artifacts_dir / "activity-panel-phone.png"), full_page=True)

    desktop = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=live_server.url).new_page()
    browser_login(desktop, live_server.url, agent)
    desktop.goto("/inbox")
    desktop.locator("#inbox-list li.inbox-row").nth(1).hover()
    desktop.screenshot(path=str(artifacts_dir / "inbox-desktop.png"), full_page=True)
    desktop.goto(f"/contacts/{contact.id}")
    desktop.screenshot(path=str(artifacts_dir / "activity-panel-states.png"), full_page=True)
    context.close()
    desktop.context.close()
