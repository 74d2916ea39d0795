"""Live chat, the visitor's side and the operator's: starting, talking, the bot, ending, rating,
the offline form, commands; who reaches which chat; bad input and abuse."""
import re
import secrets

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import (ChatbotScript, ChatbotStep, LivechatChannel, LivechatRule, LivechatSession, Message,
                        Ticket, Visitor)
from app.services import livechat, presence
from tests.conftest import make_team, make_user
from tests.web.conftest import count, last_mail, sign_in

XSS = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "<a href=\"javascript:alert(1)\">x</a>",
       "<svg onload=alert(1)>", "{{ 7*7 }}"]


@pytest.fixture
def desk(users):
    team = make_team("Web Support", members=[users.agent, users.agent2])
    channel = LivechatChannel(name="Website", key="site" + secrets.token_hex(4), identity_secret="s" * 64,
                              team=team, welcome_message="Hello! How can we help?", header_text="Talk to us")
    channel.operators = [users.agent]
    db.session.add(channel)
    db.session.commit()
    conn = presence.connect(users.agent.id)  # the operator has a Hilo page open
    yield type("Desk", (), {"channel": channel, "team": team})
    presence.disconnect(users.agent.id, conn)


def open_chat(client, channel, token="", **params):
    response = client.get(f"/livechat/{channel.key}/chat", query_string={"v": token, **params})
    assert response.status_code == 200, response.data[:300]
    page = response.get_data(as_text=True)
    return re.search(r'data-lc-token="([^"]+)"', page).group(1), page


def say(client, channel, token, body, key=None, **extra):
    return client.post(f"/livechat/{channel.key}/messages", data={"body": body, "key": key or secrets.token_hex(8),
                                                                   **extra}, headers={"X-Visitor-Token": token})


# ---- the loader and the window --------------------------------------------------------------------

def test_the_loader_is_javascript_for_any_site(client, desk):
    response = client.get(f"/livechat/{desk.channel.key}/loader.js")
    assert response.status_code == 200
    assert response.mimetype == "application/javascript"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert desk.channel.key in response.get_data(as_text=True)
    assert desk.channel.identity_secret not in response.get_data(as_text=True)


def test_unknown_or_inactive_channels_are_404(client, desk):
    assert client.get("/livechat/nope/loader.js").status_code == 404
    desk.channel.active = False
    db.session.commit()
    for path in ("loader.js", "chat?v=", "settings.json", "theme.css"):
        assert client.get(f"/livechat/{desk.channel.key}/{path}").status_code == 404


def test_rules_decide_the_button_by_page_and_country(client, desk):
    desk.channel.rules = [
        LivechatRule(sequence=1, url_pattern=r"/checkout", action="hide"),
        LivechatRule(sequence=2, countries="BE, FR", action="auto", auto_open_seconds=5),
    ]
    db.session.commit()
    settings = lambda url, country="": client.get(f"/livechat/{desk.channel.key}/settings.json",  # noqa: E731
                                                  query_string={"url": url}, headers={"CF-IPCountry": country}).json
    assert settings("https://shop.test/checkout/pay")["action"] == "hide"
    assert settings("https://shop.test/", "FR")["action"] == "auto"
    assert settings("https://shop.test/", "FR")["open_after"] == 5
    assert settings("https://shop.test/", "DE")["action"] == "show"


def test_the_chat_page_may_be_framed_by_any_site_and_keeps_the_visitor(client, desk):
    response = client.get(f"/livechat/{desk.channel.key}/chat", query_string={"v": ""})
    assert "frame-ancestors *" in response.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in response.headers
    token, page = open_chat(client, desk.channel, "", url="https://shop.test/pricing", title="Pricing")
    assert "Hello! How can we help?" in page and "We are online" in page
    again, _ = open_chat(client, desk.channel, token, url="https://shop.test/faq")
    visitor = livechat.visitor_from_token(desk.channel, token)
    # The same visitor (a token re-signed a second later differs in its time stamp only).
    assert livechat.visitor_from_token(desk.channel, again).id == visitor.id
    assert [p["url"] for p in visitor.pages] == ["https://shop.test/pricing", "https://shop.test/faq"]


def test_the_share_link_first_asks_the_browser_for_its_visitor(client, desk):
    page = client.get(f"/livechat/{desk.channel.key}").get_data(as_text=True)
    assert "data-lc-boot" in page
    assert count(Visitor) == 0


def test_a_forged_or_other_channels_token_is_a_new_visitor(client, desk):
    token, _ = open_chat(client, desk.channel)
    other = LivechatChannel(name="Other", key="other" + secrets.token_hex(3), identity_secret="o" * 64)
    db.session.add(other)
    db.session.commit()
    elsewhere, _ = open_chat(client, other, token)
    assert elsewhere != token
    forged, _ = open_chat(client, desk.channel, token[:-3] + "abc")
    assert forged != token
    assert count(Visitor) == 3


# ---- talking ---------------------------------------------------------------------------------------

def test_a_visitor_message_starts_a_chat_with_an_available_operator(client, desk, users):
    token, _ = open_chat(client, desk.channel, url="https://shop.test/")
    response = say(client, desk.channel, token, "My parcel is late")
    assert response.status_code == 200
    assert "My parcel is late" in response.get_data(as_text=True)
    session = db.session.scalars(select(LivechatSession)).one()
    assert session.operator_id == users.agent.id and session.state == "open"
    texts = [m.body_html for m in db.session.scalars(select(Message).where(
        Message.thread_id == session.ensure_thread().id).order_by(Message.id))]
    assert "Hello! How can we help?" in texts[0]
    assert any("Bob Agent joined the chat." in t for t in texts)
    assert session.message_count == 2  # the welcome and the visitor's words


def test_a_resent_message_is_the_same_message(client, desk):
    token, _ = open_chat(client, desk.channel)
    first = say(client, desk.channel, token, "Hello?", key="same-key-123")
    second = say(client, desk.channel, token, "Hello?", key="same-key-123")
    assert first.status_code == second.status_code == 200
    assert db.session.scalar(select(db.func.count(Message.id)).where(Message.author_visitor_id.is_not(None))) == 1


def test_bad_messages_are_refused_and_given_back(client, desk, app):
    token, _ = open_chat(client, desk.channel)
    empty = say(client, desk.channel, token, "   ")
    assert empty.status_code == 422 and "Write a message first." in empty.get_data(as_text=True)
    long = "x" * (app.config["LIVECHAT_MAX_MESSAGE_CHARS"] + 1)
    response = say(client, desk.channel, token, long)
    assert response.status_code == 422
    assert "too long" in response.get_data(as_text=True)
    assert long in response.get_data(as_text=True)  # the text comes back to the box
    bad_key = say(client, desk.channel, token, "hi", key="<x>")
    assert bad_key.status_code == 422
    assert say(client, desk.channel, "forged", "hi").status_code == 404
    assert count(Message) == 0


def test_visitor_text_is_escaped_everywhere(client, desk, users):
    token, _ = open_chat(client, desk.channel)
    for payload in XSS:
        response = say(client, desk.channel, token, payload)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html and "<svg onload" not in html
    session = db.session.scalars(select(LivechatSession)).one()
    operator = client.__class__(client.application, client.response_wrapper, use_cookies=True)
    sign_in(operator, users.agent)
    page = operator.get(f"/discuss/livechat/{session.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "<img src=x" not in page and "<svg onload" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "{{ 7*7 }}" in page  # shown as typed, never evaluated
    _, window = open_chat(client, desk.channel, token)
    assert "<script>alert(1)</script>" not in window and "&lt;script&gt;" in window


def test_no_operator_and_no_bot_offers_the_offline_form_that_makes_a_ticket(client, desk, users):
    with client.application.test_request_context():
        livechat.set_available(users.agent, False)
    db.session.commit()
    token, page = open_chat(client, desk.channel)
    assert "Leave us a message" in page
    response = say(client, desk.channel, token, "Anyone there?")
    assert response.status_code == 200
    assert "Nobody is available" in response.get_data(as_text=True)
    assert "Anyone there?" in response.get_data(as_text=True)  # nothing typed is lost
    assert count(LivechatSession) == 0
    refused = client.post(f"/livechat/{desk.channel.key}/offline", data={"name": "Eve", "email": "nope", "body": "Help"},
                          headers={"X-Visitor-Token": token})
    assert refused.status_code == 422 and "email address" in refused.get_data(as_text=True)
    assert "Help" in refused.get_data(as_text=True)
    sent = client.post(f"/livechat/{desk.channel.key}/offline",
                       data={"name": "Eve", "email": "eve@visitor.test", "body": "My order 1042 never came"},
                       headers={"X-Visitor-Token": token})
    assert sent.status_code == 200
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.source == "livechat" and ticket.team_id == desk.team.id
    assert ticket.customer.email == "eve@visitor.test"
    assert ticket.ref in sent.get_data(as_text=True)


# ---- the bot ---------------------------------------------------------------------------------------

def make_script():
    script = ChatbotScript(name="Triage")
    db.session.add(script)
    db.session.flush()
    ask = ChatbotStep(script_id=script.id, sequence=1, kind="question", message="What is it about?",
                      answers="Billing\nSomething else")
    db.session.add(ask)
    db.session.flush()
    db.session.add_all([
        ChatbotStep(script_id=script.id, sequence=2, kind="email", message="Your email, please?",
                    only_if_step_id=ask.id, only_if_answer="Billing"),
        ChatbotStep(script_id=script.id, sequence=3, kind="text", message="Let me find someone.")])
    db.session.commit()
    return script


def test_a_rule_with_a_bot_greets_asks_and_forwards(client, make_client, desk, users):
    desk.channel.rules = [LivechatRule(sequence=1, script_id=make_script().id)]
    db.session.commit()
    token, page = open_chat(client, desk.channel)
    assert "What is it about?" in page and 'value="Billing"' in page
    session = db.session.scalars(select(LivechatSession)).one()
    assert session.state == "bot" and session.operator_id is None
    wrong = say(client, desk.channel, token, "Refund")
    assert wrong.status_code == 200
    assert "Please choose one of the answers" in " ".join(
        m.body_html for m in db.session.scalars(select(Message).where(Message.thread_id == session.ensure_thread().id)))
    answered = say(client, desk.channel, token, "billing").get_data(as_text=True)
    assert 'placeholder="Your email address"' in answered and 'value="Billing"' not in answered  # the next step's box
    say(client, desk.channel, token, "not an email")
    db.session.refresh(session)
    assert session.state == "bot"
    say(client, desk.channel, token, "Eve@Visitor.test")
    db.session.refresh(session)
    assert session.state == "open" and session.operator_id == users.agent.id
    assert session.visitor.email == "Eve@visitor.test" or session.visitor.email.lower() == "eve@visitor.test"
    assert list(session.bot_answers.values())[0] == "Billing"
    # On the operator's side the bot's lines are the bot's, not "System".
    operator = make_client()
    sign_in(operator, users.agent)
    page = operator.get(f"/discuss/livechat/{session.id}").get_data(as_text=True)
    said = re.findall(r'class="message message-comment".*?class="message-author" id="message-\d+-author">([^<]+)<',
                      page, re.S)
    assert desk.channel.bot_name in said and "Visitor #1" in said and "System" not in said


def test_bot_only_when_nobody_is_available(client, desk, users):
    desk.channel.rules = [LivechatRule(sequence=1, script_id=make_script().id, bot_only_when_offline=True)]
    db.session.commit()
    _, page = open_chat(client, desk.channel)
    assert "What is it about?" not in page
    with client.application.test_request_context():
        livechat.set_available(users.agent, False)
    db.session.commit()
    _, page = open_chat(client, desk.channel)
    assert "What is it about?" in page


# ---- ending, rating, transcript -------------------------------------------------------------------

def test_the_visitor_ends_rates_and_gets_the_transcript(client, desk, users):
    token, _ = open_chat(client, desk.channel)
    say(client, desk.channel, token, "Thanks for the help")
    headers = {"X-Visitor-Token": token}
    early = client.post(f"/livechat/{desk.channel.key}/rate", data={"value": "satisfied"}, headers=headers)
    assert early.status_code == 422 and "once it has ended" in early.get_data(as_text=True)
    ended = client.post(f"/livechat/{desk.channel.key}/end", headers=headers)
    assert ended.status_code == 200 and "How was this chat?" in ended.get_data(as_text=True)
    bad = client.post(f"/livechat/{desk.channel.key}/rate", data={"value": "meh", "comment": "kept"}, headers=headers)
    assert bad.status_code == 422 and "kept" in bad.get_data(as_text=True)
    rated = client.post(f"/livechat/{desk.channel.key}/rate", data={"value": "satisfied", "comment": "Quick!"},
                        headers=headers)
    assert rated.status_code == 200 and "Thank you for your feedback" in rated.get_data(as_text=True)
    session = db.session.scalars(select(LivechatSession)).one()
    assert (session.rating, session.rating_comment, session.ended_by) == ("satisfied", "Quick!", "visitor")
    mailed = client.post(f"/livechat/{desk.channel.key}/transcript", data={"email": "eve@visitor.test"},
                         headers=headers)
    assert mailed.status_code == 200
    mail = last_mail("transcript")
    assert mail.to == "eve@visitor.test" and "Thanks for the help" in mail.body_text
    assert "Rated" not in mail.body_text  # the rating note is the operators'


# ---- the operator ------------------------------------------------------------------------------------

@pytest.fixture
def chat(client, desk):
    token, _ = open_chat(client, desk.channel)
    say(client, desk.channel, token, "Where is my order?")
    session = db.session.scalars(select(LivechatSession)).one()
    return type("Chat", (), {"token": token, "session": session, "channel": desk.channel})


def test_the_operator_answers_notes_stay_internal_and_commands_run(make_client, chat, users, desk):
    operator = make_client()
    sign_in(operator, users.agent)
    page = operator.get(f"/discuss/livechat/{chat.session.id}")
    assert page.status_code == 200 and "Where is my order?" in page.get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.get_data(as_text=True)).group(1)
    post = lambda **data: operator.post(f"/discuss/livechat/{chat.session.id}/messages",  # noqa: E731
                                        data={"csrf_token": token, **data}, headers={"HX-Request": "true"})
    assert post(body="It left this morning.").status_code == 200
    assert post(body="Customer seems upset", note="1").status_code == 200
    assert post(body="/help").status_code == 200
    assert post(body="/history").status_code == 200
    assert post(body="/helpdesk Late order").status_code == 200
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.title == "Late order" and ticket.source == "livechat"
    assert "Where is my order?" in ticket.description and "It left this morning." in ticket.description
    assert "Customer seems upset" not in ticket.description
    visitor = make_client()
    window = visitor.get(f"/livechat/{chat.channel.key}/chat", query_string={"v": chat.token}).get_data(as_text=True)
    assert "It left this morning." in window and ticket.ref in window
    assert "Customer seems upset" not in window and "Commands:" not in window and "Earlier chats" not in window
    caught_up = visitor.get(f"/livechat/{chat.channel.key}/messages?after=0", headers={"X-Visitor-Token": chat.token})
    assert "Customer seems upset" not in caught_up.get_data(as_text=True)
    assert "It left this morning." in caught_up.get_data(as_text=True)


def test_access_to_a_chat_is_a_matrix(make_client, chat, users):
    outsider = make_user("agent", "outsider@example.com", "Olga Outsider")
    path = f"/discuss/livechat/{chat.session.id}"
    expected = {users.admin: 200, users.agent: 200, outsider: 404, users.portal: 403}
    for user, status in expected.items():
        browser = make_client()
        sign_in(browser, user)
        assert browser.get(path).status_code == status, user
    assert make_client().get(path).status_code == 302  # anonymous: sign in
    # Another visitor reaches nothing of this chat.
    other = make_client()
    other_token, window = open_chat(other, chat.channel)
    assert "Where is my order?" not in window
    caught = other.get(f"/livechat/{chat.channel.key}/messages?after=0", headers={"X-Visitor-Token": other_token})
    assert "Where is my order?" not in caught.get_data(as_text=True)
    ended = other.post(f"/livechat/{chat.channel.key}/end", headers={"X-Visitor-Token": other_token})
    assert ended.status_code == 200
    db.session.refresh(chat.session)
    assert chat.session.state == "open"


def test_operators_only_answer_chats_they_hold(make_client, chat, users, desk):
    second = make_client()
    sign_in(second, users.admin)
    page = second.get(f"/discuss/livechat/{chat.session.id}").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    refused = second.post(f"/discuss/livechat/{chat.session.id}/messages", data={"csrf_token": token, "body": "hi"})
    assert refused.status_code == 302
    assert db.session.scalar(select(db.func.count(Message.id)).where(Message.author_user_id == users.admin.id)) == 0


def test_availability_and_limits_decide_who_gets_a_chat(client, desk, users, make_client):
    settings = livechat.settings_for(users.agent)
    settings.max_sessions = 1
    db.session.commit()
    token, _ = open_chat(client, desk.channel)
    say(client, desk.channel, token, "First")
    other = make_client()
    other_token, page = open_chat(other, desk.channel)
    assert "Leave us a message" in page  # the only operator is at their limit
    response = say(other, desk.channel, other_token, "Second")
    assert "Nobody is available" in response.get_data(as_text=True)


def test_pick_prefers_previous_operator_then_language_then_fewest(app, desk, users):
    desk.channel.operators = [users.agent, users.agent2]
    db.session.commit()
    conn = presence.connect(users.agent2.id)
    try:
        with app.test_request_context():
            visitor = livechat.new_visitor(desk.channel, language="fr")
            livechat.settings_for(users.agent2).languages = "fr, nl"
            db.session.flush()
            assert livechat.pick_operator(desk.channel, visitor).id == users.agent2.id
            busy = livechat.new_visitor(desk.channel)
            session = livechat.start(desk.channel, busy)
            assert session.operator_id == users.agent.id  # fewest chats: both at 0, the older account
            db.session.add(LivechatSession(channel_id=desk.channel.id, visitor_id=visitor.id, operator_id=users.agent.id,
                                           state="ended", bot_answers={}))
            db.session.flush()
            assert livechat.pick_operator(desk.channel, visitor).id == users.agent.id  # their previous operator first
    finally:
        presence.disconnect(users.agent2.id, conn)


def test_a_signed_identity_is_trusted_an_unsigned_one_never(client, desk):
    forged, _ = open_chat(client, desk.channel, identifier="u-42", hash="0" * 64, name="Mallory")
    visitor = db.session.scalars(select(Visitor)).one()
    assert visitor.identifier is None and visitor.name == ""
    good = livechat.identity_hash(desk.channel, "u-42")
    token, _ = open_chat(client, desk.channel, forged, identifier="u-42", hash=good, name="Ann Site",
                         email="ann@site.test")
    visitor = db.session.get(Visitor, visitor.id)
    assert (visitor.identifier, visitor.name, visitor.email) == ("u-42", "Ann Site", "ann@site.test")
    # The same person on another device finds the same visitor (and their chats).
    elsewhere, _ = open_chat(client, desk.channel, "", identifier="u-42", hash=good)
    # (Tokens are signed with the second they were made in: compare whom they name.)
    assert livechat.visitor_from_token(desk.channel, elsewhere).id == livechat.visitor_from_token(desk.channel, token).id


def test_sessions_log_and_satisfaction(app, make_client, chat, users):
    with app.test_request_context():
        livechat.end(chat.session, "visitor")
        livechat.rate(chat.session, "okay")
    db.session.commit()
    browser = make_client()
    sign_in(browser, users.agent)
    page = browser.get("/discuss/livechat")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Website" in html and "Okay" in html and "0 %" in html
    outsider = make_user("agent", "outsider2@example.com", "Otto Outsider")
    other = make_client()
    sign_in(other, outsider)
    assert "Okay" not in other.get("/discuss/livechat").get_data(as_text=True)


def test_idle_chats_are_ended_by_the_periodic_job(app, chat):
    from datetime import timedelta

    from app.jobs.livechat import expire_idle_chats_job

    with app.test_request_context():
        assert expire_idle_chats_job() == 0
        chat.session.ensure_thread().last_message_at -= timedelta(hours=3)
        db.session.commit()
        assert expire_idle_chats_job() == 1
    db.session.refresh(chat.session)
    assert (chat.session.state, chat.session.ended_by) == ("ended", "system")


def test_a_message_flood_gets_429_with_the_text_back(client, desk, monkeypatch, app):
    monkeypatch.setitem(app.config, "LIVECHAT_MESSAGE_LIMIT", "5 per minute")
    token, _ = open_chat(client, desk.channel)
    statuses = [say(client, desk.channel, token, f"spam {n}").status_code for n in range(12)]
    assert statuses.count(200) == 5 and set(statuses[5:]) == {429}
    refused = say(client, desk.channel, token, "one more please")
    assert refused.status_code == 429 and "one more please" in refused.get_data(as_text=True)
    assert db.session.scalar(select(db.func.count(Message.id)).where(Message.author_visitor_id.is_not(None))) == 5


def test_new_visitors_from_one_address_are_limited(client, desk, monkeypatch, app):
    monkeypatch.setitem(app.config, "LIVECHAT_SESSION_LIMIT", "3 per minute")
    statuses = [client.get(f"/livechat/{desk.channel.key}/chat", query_string={"v": ""}).status_code
                for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert count(Visitor) == 3


def operator_client(make_client, user):
    browser = make_client()
    token = sign_in(browser, user)
    return browser, token


def test_transfer_take_and_end_by_operators(app, make_client, chat, users, desk):
    desk.channel.operators = [users.agent, users.agent2]
    db.session.commit()
    conn = presence.connect(users.agent2.id)
    try:
        bob, bob_token = operator_client(make_client, users.agent)
        carol, carol_token = operator_client(make_client, users.agent2)
        path = f"/discuss/livechat/{chat.session.id}"
        # Carol may not take a chat Bob holds, nor hand it over.
        assert carol.post(f"{path}/take", data={"csrf_token": carol_token}, headers={"HX-Request": "true"}).status_code == 409
        assert carol.post(f"{path}/transfer", data={"csrf_token": carol_token, "user_id": users.agent2.id},
                          headers={"HX-Request": "true"}).status_code == 403
        bad = bob.post(f"{path}/transfer", data={"csrf_token": bob_token, "user_id": users.portal.id},
                       headers={"HX-Request": "true"})
        assert bad.status_code == 422 and "cannot take a chat now" in bad.get_data(as_text=True)
        moved = bob.post(f"{path}/transfer", data={"csrf_token": bob_token, "user_id": users.agent2.id})
        assert moved.status_code == 302
        db.session.refresh(chat.session)
        assert chat.session.operator_id == users.agent2.id
        assert carol.post(f"{path}/end", data={"csrf_token": carol_token}).status_code == 302
        db.session.refresh(chat.session)
        assert (chat.session.state, chat.session.ended_by) == ("ended", "operator")
        ended = carol.post(f"{path}/messages", data={"csrf_token": carol_token, "body": "late"},
                           headers={"HX-Request": "true"})
        assert ended.status_code == 422 and "has ended" in ended.get_data(as_text=True)
    finally:
        presence.disconnect(users.agent2.id, conn)


def test_a_waiting_chat_is_taken_by_an_operator_of_its_channel(app, make_client, desk, users, client):
    with app.test_request_context():
        livechat.set_available(users.agent, False)
        db.session.commit()
    desk.channel.rules = [LivechatRule(sequence=1, script_id=make_script().id)]
    db.session.commit()
    token, _ = open_chat(client, desk.channel)
    say(client, desk.channel, token, "Something else")
    session = db.session.scalars(select(LivechatSession)).one()
    assert session.state == "waiting" and session.operator_id is None
    bob, bob_token = operator_client(make_client, users.agent)
    assert "Take this chat" in bob.get(f"/discuss/livechat/{session.id}").get_data(as_text=True)
    assert bob.post(f"/discuss/livechat/{session.id}/take", data={"csrf_token": bob_token}).status_code == 302
    db.session.refresh(session)
    assert (session.state, session.operator_id) == ("open", users.agent.id)


def waiting_chat(app, client, desk, users):
    """A chat that found nobody free: its only operator is away."""
    with app.test_request_context():
        livechat.set_available(users.agent, False)
        db.session.commit()
    desk.channel.rules = [LivechatRule(sequence=1, script_id=make_script().id)]
    db.session.commit()
    token, _ = open_chat(client, desk.channel)
    say(client, desk.channel, token, "Something else")
    session = db.session.scalars(select(LivechatSession)).one()
    assert session.state == "waiting" and session.operator_id is None
    return session


def test_a_waiting_chat_goes_to_the_operator_who_becomes_available(app, make_client, desk, users, client):
    session = waiting_chat(app, client, desk, users)
    bob, bob_token = operator_client(make_client, users.agent)
    assert bob.post("/discuss/livechat/availability", data={"csrf_token": bob_token, "available": "1"},
                    headers={"HX-Request": "true"}).status_code == 200
    db.session.refresh(session)
    assert (session.state, session.operator_id) == ("open", users.agent.id)


def test_a_waiting_chat_goes_to_the_operator_whose_chat_ended(app, make_client, desk, users, client):
    with app.test_request_context():
        settings = livechat.settings_for(users.agent)
        settings.max_sessions = 1
        db.session.commit()
    first_token, _ = open_chat(client, desk.channel)
    say(client, desk.channel, first_token, "First")
    first = db.session.scalars(select(LivechatSession)).one()
    desk.channel.rules = [LivechatRule(sequence=1, script_id=make_script().id)]
    db.session.commit()
    other = make_client()
    token, _ = open_chat(other, desk.channel)
    say(other, desk.channel, token, "Something else")  # the bot forwards: Bob is at his limit
    second = db.session.scalars(select(LivechatSession).where(LivechatSession.id != first.id)).one()
    assert second.state == "waiting"
    assert client.post(f"/livechat/{desk.channel.key}/end", headers={"X-Visitor-Token": first_token}).status_code == 200
    db.session.refresh(second)
    assert (second.state, second.operator_id) == ("open", users.agent.id)


def test_the_periodic_job_hands_out_waiting_chats(app, client, desk, users):
    from app.jobs.livechat import expire_idle_chats_job
    from app.models import OperatorSettings

    session = waiting_chat(app, client, desk, users)
    # Bob's switch goes on behind the service's back (say, his settings restored): the job notices.
    db.session.scalars(select(OperatorSettings).where(OperatorSettings.user_id == users.agent.id)).one().available = True
    db.session.commit()
    with app.test_request_context():
        expire_idle_chats_job()
    db.session.refresh(session)
    assert (session.state, session.operator_id) == ("open", users.agent.id)


def test_availability_and_joining_channels(make_client, desk, users):
    carol, token = operator_client(make_client, users.agent2)
    assert carol.post("/discuss/livechat/availability", data={"csrf_token": token, "available": "0"},
                      headers={"HX-Request": "true"}).status_code == 200
    assert livechat.settings_for(users.agent2).available is False
    assert carol.post(f"/discuss/livechat/channels/{desk.channel.id}/join", data={"csrf_token": token}).status_code == 302
    assert desk.channel.has_operator(users.agent2)
    assert carol.post(f"/discuss/livechat/channels/{desk.channel.id}/leave", data={"csrf_token": token}).status_code == 302
    assert not desk.channel.has_operator(users.agent2)
    assert carol.post("/discuss/livechat/channels/999999/join", data={"csrf_token": token}).status_code == 404
    portal, portal_token = operator_client(make_client, users.portal)
    assert portal.post("/discuss/livechat/availability", data={"csrf_token": portal_token}).status_code == 403
    assert make_client().post("/discuss/livechat/availability").status_code in (302, 400)


def test_a_visitor_message_pushes_the_operators_unread_count_not_the_whole_sidebar(app, client, chat, users):
    from app.services import realtime

    with realtime.subscribe([f"user:{users.agent.id}"]) as mailbox:
        say(client, chat.channel, chat.token, "Are you there?")
        frames = []
        while (frame := mailbox.get(timeout=2 if not frames else 0.2)) is not None:
            frames.append(frame)
    counts = [f for f in frames if f'id="lc-unread-{chat.session.id}"' in f]
    assert counts and ">2<" in counts[-1]  # both visitor messages are unread
    assert not [f for f in frames if 'id="discuss-conversations"' in f]
