"""Browser flow: two colleagues chat live in a private channel and a direct message; a third,
not a member, sees none of it."""
import re

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import Channel
from tests.conftest import make_user, open_page, wait_for_socket

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

        # They talk; each sees the other typing, then the words, live. Enter sends.
        ann_box = ann.get_by_label("Message #launch-plans")
        ann_box.press_sequentially("Launch is on the 14th.")
        expect(carol.locator(f"#typing-{thread_id} .typing-text")).to_have_text("Bob Agent is typing…")
        expect(ann.locator(f"#typing-{thread_id} .typing-text")).to_have_text("")  # not to himself
        ann_box.press_sequentially(" Can you own the FAQ?")
        ann_box.press("Enter")
        expect(carol.locator(".chat-messages .message-comment").last).to_contain_text("Can you own the FAQ?")
        expect(carol.locator(f"#typing-{thread_id} .typing-text")).to_have_text("")  # the message ends the typing
        carol_box = carol.get_by_label("Message #launch-plans")
        carol_box.press_sequentially("Yes, draft by Friday")
        expect(ann.locator(f"#typing-{thread_id} .typing-text")).to_have_text("Carol Agent is typing…")
        carol_box.press("Enter")
        expect(ann.locator(".chat-messages .message-comment").last).to_contain_text("draft by Friday")
        expect(ann_box).to_have_value("")

        # Carol fixes her message (Up in the empty composer edits her last one); Bob sees the
        # edit. Bob reacts; Carol sees it. Bob stars it.
        expect(carol_box).to_have_value("")
        carol_box.press("ArrowUp")
        editor = carol.locator(".message-edit textarea")
        expect(editor).to_be_focused()
        editor.fill("Yes, draft by Thursday.")
        editor.press("Control+Enter")
        theirs = ann.locator(".chat-messages .message-comment").last
        expect(theirs).to_contain_text("draft by Thursday")
        expect(theirs.locator(".message-edited")).to_be_visible()
        theirs.hover()
        theirs.get_by_label("Add a reaction").click()
        theirs.get_by_role("button", name="React with 👍").click()
        expect(theirs.locator(".reaction.is-mine")).to_contain_text("1")
        expect(carol.locator(".chat-messages .message-comment").last.locator(".reaction")).to_contain_text("👍1")
        expect(carol.locator(".chat-messages .message-comment").last.locator(".reaction.is-mine")).to_have_count(0)
        theirs.get_by_role("button", name="Star this message").click()
        expect(theirs.get_by_role("button", name="Unstar this message")).to_be_visible()
        ann.screenshot(path=str(artifacts_dir / "discuss-channel.png"), full_page=True)
        carol.screenshot(path=str(artifacts_dir / "discuss-channel-carol.png"), full_page=True)

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
        wait_for_socket(app, carol, f"thread:{db.session.get(Channel, dm_id).ensure_thread().id}")
        expect(ann.locator(f".conversation-title h1 .presence-u{users.agent2.id}")).to_have_class(re.compile("is-online"))
        dm_thread = db.session.get(Channel, dm_id).ensure_thread().id
        ann.get_by_label("Message Carol Agent").press_sequentially("Sure, see")
        expect(carol.locator(f"#typing-{dm_thread} .typing-text")).to_have_text("Bob Agent is typing…")
        ann.get_by_label("Message Carol Agent").press_sequentially(" you there.")
        ann.get_by_label("Message Carol Agent").press("Enter")
        expect(carol.locator(".chat-messages .message-comment").last).to_contain_text("see you there")
        # Carol's page has it on screen: it marks it seen, and Bob gets the read receipt.
        expect(ann.locator(f"#seen-by-{dm_thread} .seen-text")).to_have_text("Seen")
        ann.screenshot(path=str(artifacts_dir / "discuss-dm-seen.png"), full_page=True)
        carol.screenshot(path=str(artifacts_dir / "discuss-dm.png"), full_page=True)
        assert olga.goto(f"{base}/discuss/c/{dm_id}").status == 404

        # Bob's star is in his Starred list and takes him back to the message.
        ann.locator(".discuss-side").get_by_role("link", name="Starred").click()
        expect(ann.locator(".starred-list")).to_contain_text("draft by Thursday")
        ann.screenshot(path=str(artifacts_dir / "discuss-starred.png"), full_page=True)
        ann.locator(".starred-where a").first.click()
        expect(ann.locator(".message:target")).to_contain_text("draft by Thursday")
        assert errors == []
    finally:
        for context in (context_a, context_b, context_c):
            context.close()
