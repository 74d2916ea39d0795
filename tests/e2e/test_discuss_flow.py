"""Browser flow: two colleagues chat live in a private channel and a direct message; a third,
not a member, sees none of it."""
import re

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import Channel
from tests.conftest import make_user
from tests.e2e.test_chatter_flow import open_page, wait_for_socket

pytestmark = pytest.mark.e2e


def test_two_colleagues_chat_live_and_an_outsider_sees_nothing(app, live_server, job_worker, browser,
                                                               artifacts_dir, users):
    outsider = make_user(name="Olga Outsider")
    base = live_server.url
    errors = []
    context_a, ann = open_page(browser, base, users.agent, "/discuss/browse", errors)
    context_b, carol = open_page(browser, base, users.agent2, "/inbox", errors)
    context_c, olga = open_page(browser, base, outsider, "/discuss/browse", errors)
    try:
        # Bob creates a private channel and invites Carol.
        form = ann.locator("#new-channel")
        form.get_by_label("Name").fill("launch-plans")
        form.get_by_label("Description").fill("Dates and owners for the spring launch")
        form.get_by_label("Private").check()
        ann.screenshot(path=str(artifacts_dir / "discuss-browse.png"), full_page=True)
        form.get_by_role("button", name="Create channel").click()
        expect(ann.locator("h1")).to_contain_text("#launch-plans")
        channel = db.session.query(Channel).filter_by(name="launch-plans").one()
        thread_id = channel.ensure_thread().id
        ann.locator("summary", has_text="Invite").click()
        ann.get_by_label("Add colleagues").select_option(label="Carol Agent")
        ann.get_by_role("button", name="Add", exact=True).click()
        expect(ann.locator(".chat-messages")).to_contain_text("Bob Agent added Carol Agent.")

        # Carol's sidebar shows the channel without a reload; she opens it.
        carol_link = carol.locator("#discuss-conversations").get_by_role("link", name="launch-plans")
        expect(carol_link).to_be_visible()
        carol_link.click()
        expect(carol.locator("h1")).to_contain_text("#launch-plans")
        wait_for_socket(app, carol, f"thread:{thread_id}")
        ann.reload()
        wait_for_socket(app, ann, f"thread:{thread_id}")

        # They talk; each sees the other's words live. Enter sends.
        ann.get_by_label("Message #launch-plans").fill("Launch is on the 14th. Can you own the FAQ?")
        ann.get_by_label("Message #launch-plans").press("Enter")
        expect(carol.locator(".chat-messages .message-comment").last).to_contain_text("Can you own the FAQ?")
        carol.get_by_label("Message #launch-plans").fill("Yes, draft by Friday.")
        carol.get_by_label("Message #launch-plans").press("Enter")
        expect(ann.locator(".chat-messages .message-comment").last).to_contain_text("draft by Friday")
        expect(ann.get_by_label("Message #launch-plans")).to_have_value("")
        ann.screenshot(path=str(artifacts_dir / "discuss-channel.png"), full_page=True)

        # Olga cannot find it, open it, or subscribe to it.
        olga.reload()
        expect(olga.locator("#browse-results")).not_to_contain_text("launch-plans")
        expect(olga.locator("#discuss-conversations")).not_to_contain_text("launch-plans")
        response = olga.goto(f"{base}/discuss/c/{channel.id}")
        assert response.status == 404
        expect(olga.locator("body")).not_to_contain_text("Can you own the FAQ?")

        # A direct message: Carol writes to Bob; his sidebar counts it until he opens it.
        carol.goto(f"{base}/discuss/browse")
        carol.get_by_label(re.compile("^To")).select_option(label="Bob Agent")
        carol.get_by_role("button", name="Open conversation").click()
        expect(carol.locator("h1")).to_have_text("Bob Agent")
        dm_id = int(carol.url.rsplit("/", 1)[1])
        carol.get_by_label("Message Bob Agent").fill("Coffee at 3?")
        carol.get_by_label("Message Bob Agent").press("Enter")
        expect(carol.locator(".chat-messages")).to_contain_text("Coffee at 3?")
        dm_link = ann.locator("#discuss-conversations").get_by_role("link", name=re.compile("Carol Agent"))
        expect(dm_link.locator(".side-count")).to_have_text(re.compile(r"^1"))
        ann.screenshot(path=str(artifacts_dir / "discuss-unread.png"), full_page=True)
        dm_link.click()
        expect(ann.locator(".chat-messages")).to_contain_text("Coffee at 3?")
        expect(ann.locator(".new-separator")).to_be_visible()
        wait_for_socket(app, ann, f"thread:{db.session.get(Channel, dm_id).ensure_thread().id}")
        ann.get_by_label("Message Carol Agent").fill("Sure, see you there.")
        ann.get_by_label("Message Carol Agent").press("Enter")
        expect(carol.locator(".chat-messages .message-comment").last).to_contain_text("see you there")
        carol.screenshot(path=str(artifacts_dir / "discuss-dm.png"), full_page=True)
        assert olga.goto(f"{base}/discuss/c/{dm_id}").status == 404
        assert errors == []
    finally:
        for context in (context_a, context_b, context_c):
            context.close()
