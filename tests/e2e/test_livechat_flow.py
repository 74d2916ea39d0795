"""Browser flow: a visitor on another site's page opens the chat from the loader's button, answers
the bot, is handed to an operator in a second browser, they chat live both ways, the operator
turns the chat into a ticket with /helpdesk, the visitor ends the chat and rates it."""
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import ChatbotScript, ChatbotStep, LivechatChannel, LivechatRule, LivechatSession, Ticket
from tests.conftest import make_team, open_page, wait_for_socket

pytestmark = pytest.mark.e2e



@pytest.fixture
def shop():
    """Another origin: a site on a port of its own, whose page the test writes."""
    pages = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages.get("page", "").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield type("Shop", (), {"url": f"http://127.0.0.1:{server.server_port}", "pages": pages})
    server.shutdown()


def shop_page(loader_url: str) -> str:
    return f"""<!doctype html><html><head><title>Acme shop</title></head>
<body style="font-family:sans-serif;margin:40px"><h1>Acme shop</h1><p>Our best kettles.</p>
<script src="{loader_url}" async></script></body></html>"""


def test_a_visitor_chats_with_an_operator_from_another_site(app, live_server, browser, artifacts_dir, users, shop):
    team = make_team("Web Support", members=[users.agent])
    script = ChatbotScript(name="Triage")
    db.session.add(script)
    db.session.flush()
    db.session.add(ChatbotStep(script_id=script.id, sequence=1, kind="question", message="What is it about?",
                               answers="Billing\nSomething else"))
    db.session.add(ChatbotStep(script_id=script.id, sequence=2, kind="forward"))
    channel = LivechatChannel(name="Acme website", key="acme" + secrets.token_hex(4), identity_secret="s" * 64,
                              team=team, welcome_message="Hi! I am Acme's assistant.", header_text="Acme support",
                              button_text="Chat with Acme", button_color="#0f766e", header_color="#0f766e",
                              bot_name="Acme bot")
    channel.operators = [users.agent]
    channel.rules = [LivechatRule(sequence=1, script_id=script.id)]
    db.session.add(channel)
    db.session.commit()
    shop.pages["page"] = shop_page(f"{live_server.url}/livechat/{channel.key}/loader.js")

    errors = []
    operator_context, operator = open_page(browser, live_server.url, users.agent, "/inbox", errors)
    visitor_context = browser.new_context(viewport={"width": 1100, "height": 800})
    try:
        wait_for_socket(app, operator, f"user:{users.agent.id}")  # online: the operator can be picked
        visitor = visitor_context.new_page()
        visitor.on("pageerror", lambda err: errors.append(f"visitor: {err}"))
        visitor.on("console", lambda msg: msg.type == "error" and errors.append(f"visitor console: {msg.text}"))
        visitor.goto(f"{shop.url}/kettles")
        button = visitor.get_by_role("button", name="Chat with Acme")
        expect(button).to_be_visible()
        button.click()
        chat = visitor.frame_locator("iframe[title='Chat with Acme']")
        expect(chat.get_by_role("heading", name="Acme support")).to_be_visible()
        expect(chat.locator(".lc-bot").last).to_contain_text("What is it about?")

        chat.get_by_role("button", name="Billing").click()
        expect(chat.locator("#lc-status")).to_contain_text("Bob Agent")

        # The chat rings on the operator's page and shows in the sidebar.
        expect(operator.locator("body[data-livechat-rang]")).to_have_count(1)
        operator.locator(".side-livechat a.side-conversation").first.click()
        expect(operator.locator(".chat-messages")).to_contain_text("Billing")
        wait_for_socket(app, operator, f"user:{users.agent.id}")

        box = chat.get_by_label("Your message")
        box.fill("I was charged twice <b>today</b>")
        box.press("Enter")
        expect(operator.locator(".chat-messages")).to_contain_text("I was charged twice <b>today</b>")

        composer = operator.locator(".chat-composer textarea")
        composer.press_sequentially("Sorry about that")
        expect(chat.locator("#lc-typing")).to_contain_text("Bob Agent is typing")
        composer.press("Enter")
        expect(chat.locator(".lc-operator").last).to_contain_text("Sorry about that")

        composer.fill("/helpdesk Double charge")
        composer.press("Enter")
        expect(operator.locator(".chat-messages")).to_contain_text("created from this chat")
        ticket = db.session.scalars(select(Ticket)).one()
        expect(chat.locator("#lc-messages")).to_contain_text(ticket.ref)
        operator.screenshot(path=str(artifacts_dir / "livechat-operator.png"), full_page=True)
        visitor.screenshot(path=str(artifacts_dir / "livechat-visitor.png"))

        visitor.once("dialog", lambda dialog: dialog.accept())
        chat.get_by_role("button", name="End chat").click()
        expect(chat.get_by_text("How was this chat?")).to_be_visible()
        chat.locator("label.lc-face").first.click()
        chat.get_by_placeholder("Anything to add? (optional)").fill("Quick and kind")
        chat.get_by_role("button", name="Send my rating").click()
        expect(chat.get_by_text("Thank you for your feedback!")).to_be_visible()
        visitor.screenshot(path=str(artifacts_dir / "livechat-visitor-rated.png"))

        session = db.session.scalars(select(LivechatSession)).one()
        db.session.refresh(session)
        assert (session.state, session.rating, session.rating_comment) == ("ended", "satisfied", "Quick and kind")
        assert "I was charged twice" in ticket.description
        # A reload of the shop page keeps the same visitor and shows the ended chat.
        visitor.reload()
        visitor.get_by_role("button", name="Chat with Acme").click()
        expect(visitor.frame_locator("iframe[title='Chat with Acme']").locator("#lc-messages")).to_contain_text(
            "Sorry about that")
        assert not [e for e in errors if not re.search(r"ResizeObserver", e)], errors
    finally:
        visitor_context.close()
        operator_context.close()


def test_a_visitor_whose_socket_drops_catches_up_without_gaps_or_doubles(app, live_server, browser, users):
    from app.services import livechat, presence

    team = make_team("Web Support", members=[users.agent])
    channel = LivechatChannel(name="Website", key="site" + secrets.token_hex(4), identity_secret="s" * 64,
                              team=team, welcome_message="Hello! How can we help?", header_text="Talk to us")
    channel.operators = [users.agent]
    db.session.add(channel)
    db.session.commit()
    online = presence.connect(users.agent.id)  # the operator has a Hilo page open
    context = browser.new_context(viewport={"width": 420, "height": 760})
    errors, sockets = [], []
    try:
        page = context.new_page()
        page.on("pageerror", lambda err: errors.append(str(err)))

        def through(ws):  # every socket the chat opens goes to the server, and can be cut here
            ws.connect_to_server()
            sockets.append(ws)

        page.route_web_socket(re.compile(r".*/livechat/[^/]+/ws.*"), through)
        page.goto(f"{live_server.url}/livechat/{channel.key}")
        box = page.get_by_label("Your message")
        box.fill("Is anyone there?")
        box.press("Enter")
        expect(page.locator("#lc-status")).to_contain_text("Bob Agent")
        session = db.session.scalars(select(LivechatSession)).one()
        assert len(sockets) == 1

        sockets[0].close()  # the network drops the chat's socket
        expect(page.locator("body.lc-offline-socket")).to_have_count(1)
        with app.test_request_context(base_url=live_server.url):
            livechat.operator_says(db.session.get(LivechatSession, session.id), users.agent, "Yes, I am here")
            livechat.operator_says(db.session.get(LivechatSession, session.id), users.agent, "How can I help?")
            db.session.commit()
        # Back: the two answers, once each and in order, whichever of the catch-up and the new
        # socket brought them.
        expect(page.locator("body.lc-offline-socket")).to_have_count(0)
        operator_lines = page.locator(".lc-operator .lc-bubble")
        expect(operator_lines).to_have_count(2)
        expect(operator_lines.nth(0)).to_contain_text("Yes, I am here")
        expect(operator_lines.nth(1)).to_contain_text("How can I help?")
        assert len(sockets) == 2
        # And it stays live on the new socket.
        with app.test_request_context(base_url=live_server.url):
            livechat.operator_says(db.session.get(LivechatSession, session.id), users.agent, "Still there?")
            db.session.commit()
        expect(operator_lines).to_have_count(3)
        assert page.locator(".lc-visitor .lc-bubble").count() == 1
        assert errors == []
    finally:
        context.close()
        presence.disconnect(users.agent.id, online)


def test_rules_open_the_chat_by_themselves_on_one_page_and_hide_it_on_another(app, live_server, browser, users, shop):
    team = make_team("Web Support", members=[users.agent])
    channel = LivechatChannel(name="Acme website", key="acme" + secrets.token_hex(4), identity_secret="s" * 64,
                              team=team, welcome_message="Looking for a kettle?", header_text="Acme support",
                              button_text="Chat with Acme")
    channel.operators = [users.agent]
    channel.rules = [LivechatRule(sequence=1, url_pattern=r"/checkout", action="hide"),
                     LivechatRule(sequence=2, url_pattern=r"/kettles", action="auto", auto_open_seconds=1)]
    db.session.add(channel)
    db.session.commit()
    shop.pages["page"] = shop_page(f"{live_server.url}/livechat/{channel.key}/loader.js")
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    try:
        page = context.new_page()
        page.goto(f"{shop.url}/kettles")
        button = page.get_by_role("button", name="Chat with Acme")
        expect(button).to_be_visible()
        chat = page.frame_locator("iframe[title='Chat with Acme']")
        # Nobody clicks: after a second the chat opens, with the welcome line.
        expect(chat.get_by_role("heading", name="Acme support")).to_be_visible(timeout=5000)
        expect(chat.locator(".lc-bot").first).to_contain_text("Looking for a kettle?")

        other = context.new_page()
        with other.expect_response(lambda response: "/settings.json" in response.url) as asked:
            other.goto(f"{shop.url}/checkout")
        assert asked.value.json()["action"] == "hide"  # the loader asked, and was told to stay out of sight
        other.wait_for_load_state("networkidle")
        expect(other.get_by_role("button", name="Chat with Acme")).to_have_count(0)
        expect(other.locator("iframe")).to_have_count(0)
    finally:
        context.close()


def test_an_operator_answers_with_a_canned_response(app, live_server, browser, artifacts_dir, users):
    from app.services import canned, presence

    team = make_team("Web Support", members=[users.agent])
    channel = LivechatChannel(name="Website", key="site" + secrets.token_hex(4), identity_secret="s" * 64,
                              team=team, welcome_message="Hello!", header_text="Talk to us")
    channel.operators = [users.agent]
    db.session.add(channel)
    canned.create_response(shortcut="hello", title="Hello", body="Hi, {{agent.first_name}} here. How can I help?",
                           team=None, by=None)
    db.session.commit()
    online = presence.connect(users.agent.id)
    errors = []
    visitor_context = browser.new_context(viewport={"width": 420, "height": 760})
    operator_context = None
    try:
        visitor = visitor_context.new_page()
        visitor.on("pageerror", lambda err: errors.append(f"visitor: {err}"))
        visitor.goto(f"{live_server.url}/livechat/{channel.key}")
        box = visitor.get_by_label("Your message")
        box.fill("My kettle leaks")
        box.press("Enter")
        expect(visitor.locator("#lc-status")).to_contain_text("Bob Agent")
        session = db.session.scalars(select(LivechatSession)).one()

        operator_context, operator = open_page(browser, live_server.url, users.agent,
                                               f"/discuss/livechat/{session.id}", errors)
        composer = operator.locator(".chat-composer textarea")
        composer.click()
        composer.press_sequentially("::hel")
        menu = operator.get_by_role("listbox", name="Canned responses")
        expect(menu.get_by_role("option")).to_have_count(1)
        composer.press("Enter")  # with the menu open, Enter inserts
        expect(composer).to_have_value("Hi, Bob here. How can I help?")
        composer.press("Enter")  # and now sends
        expect(visitor.locator(".lc-operator .lc-bubble").last).to_contain_text("Hi, Bob here. How can I help?")
        operator.screenshot(path=str(artifacts_dir / "livechat-canned-operator.png"), full_page=True)
        assert errors == []
    finally:
        visitor_context.close()
        if operator_context is not None:
            operator_context.close()
        presence.disconnect(users.agent.id, online)
