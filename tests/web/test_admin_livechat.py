"""Settings › Live chat: the rules of services/livechat_admin.py (each refusal on its form field),
then every page — channels with their operators, rules and widget, chatbot scripts with their
steps and test run — for admins only."""
import re
from contextlib import contextmanager

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import (ChannelOperator, ChatbotScript, ChatbotStep, LivechatChannel, LivechatRule, LivechatSession,
                        Visitor)
from app.services import chatbot
from app.services import livechat_admin as setup
from app.services.helpdesk_config import set_team_active
from app.services.livechat_admin import LivechatSetupError
from tests.conftest import make_team, make_user
from tests.web.conftest import count, sign_in

CHANNEL = {"name": "Website", "button_text": "Chat with us", "header_text": "", "welcome_message": "Hello!",
           "placeholder": "Type a message…", "button_color": "#4F46E5", "header_color": "#111827",
           "bot_name": "Assistant"}


@contextmanager
def refused(field: str | None, match: str):
    """A LivechatSetupError matching `match`, shown on the form's `field`."""
    with pytest.raises(LivechatSetupError, match=match) as info:
        yield info
    assert info.value.field == field
    db.session.rollback()


def make_channel(**changes) -> LivechatChannel:
    channel = setup.create_channel(**{**CHANNEL, **changes})
    db.session.commit()
    return channel


def make_chat(channel: LivechatChannel, state: str = "open") -> LivechatSession:
    visitor = Visitor(channel_id=channel.id, nonce="n0nce")
    db.session.add(visitor)
    db.session.flush()
    chat = LivechatSession(channel_id=channel.id, visitor_id=visitor.id, state=state)
    db.session.add(chat)
    db.session.commit()
    return chat


def make_script(name: str = "Sales or support?") -> ChatbotScript:
    """Hello → Pick one (Sales / Billing) → [Billing] your email → hand over."""
    script = setup.create_script(name)
    setup.create_step(script, kind="text", message="Hello!")
    pick = setup.create_step(script, kind="question", message="Pick one", answers="Sales\nBilling")
    setup.create_step(script, kind="email", message="Your email?", only_if_step=pick, only_if_answer="Billing")
    setup.create_step(script, kind="forward")
    db.session.commit()
    return script


def steps_of(script: ChatbotScript) -> list[ChatbotStep]:
    db.session.expire_all()
    return list(db.session.get(ChatbotScript, script.id).steps)


# ---- channels (service) ------------------------------------------------------------------------

def test_a_new_channel_gets_a_key_and_an_identity_secret(app):
    channel = make_channel(name="  Main   site ")
    assert channel.name == "Main site" and channel.button_color == "#4f46e5" and channel.active
    assert len(channel.key) == 16 and re.fullmatch(r"[A-Za-z0-9_-]{16}", channel.key)
    assert re.fullmatch(r"[0-9a-f]{64}", channel.identity_secret)
    other = make_channel(name="Shop")
    assert other.key != channel.key and other.identity_secret != channel.identity_secret
    secret = channel.identity_secret
    setup.regenerate_identity_secret(channel)
    assert channel.identity_secret != secret and len(channel.identity_secret) == 64


@pytest.mark.parametrize("changes, field, message", [
    ({"name": "  "}, "name", "Give the channel a name"),
    ({"name": "x" * 81}, "name", "at most 80"),
    ({"name": "website"}, "name", "already a channel named"),
    ({"button_text": ""}, "button_text", "The button needs a text"),
    ({"button_text": "x" * 61}, "button_text", "at most 60"),
    ({"header_text": "x" * 81}, "header_text", "at most 80"),
    ({"welcome_message": "x" * 2001}, "welcome_message", "at most 2,000"),
    ({"placeholder": "x" * 121}, "placeholder", "at most 120"),
    ({"bot_name": ""}, "bot_name", "The bot needs a name"),
    ({"button_color": "red"}, "button_color", "#rrggbb"),
    ({"header_color": "#12345"}, "header_color", "#rrggbb"),
    ({"header_color": "#12345g"}, "header_color", "#rrggbb"),
])
def test_channel_refusals(app, changes, field, message):
    make_channel()
    with refused(field, message):
        setup.create_channel(**{**CHANNEL, "name": "Other", **changes})


def test_a_channel_is_not_put_on_an_archived_team_but_may_stay_on_one(app):
    team = make_team("Support")
    channel = make_channel(team=team)
    set_team_active(team, False)
    db.session.commit()
    setup.update_channel(channel, **{**CHANNEL, "team": team, "active": False})
    assert channel.team == team and not channel.active
    with refused("team", "archived"):
        setup.create_channel(**{**CHANNEL, "name": "Other", "team": team})


def test_a_channel_with_chats_is_turned_off_not_deleted(app, users):
    channel = make_channel()
    setup.add_operator(channel, users.agent)
    setup.create_rule(channel, url_pattern="/pricing")
    make_chat(channel, state="ended")
    with refused(None, "has 1 chat: turn the channel off"):
        setup.delete_channel(channel)
    empty = make_channel(name="Empty")
    setup.add_operator(empty, users.agent)
    setup.create_rule(empty)
    db.session.commit()
    setup.delete_channel(empty)
    db.session.commit()
    assert count(LivechatChannel) == 1 and count(ChannelOperator) == 1 and count(LivechatRule) == 1


def test_channel_rows_count_operators_and_live_chats(app, users):
    channel = make_channel()
    off = make_channel(name="Archive", active=False)
    setup.add_operator(channel, users.agent)
    setup.add_operator(channel, users.admin)
    make_chat(channel, "open")
    make_chat(channel, "bot")
    make_chat(channel, "ended")
    rows = setup.channel_rows()
    assert [(r.channel.id, r.operators, r.live_sessions) for r in rows] == [(channel.id, 2, 2), (off.id, 0, 0)]


# ---- operators (service) -----------------------------------------------------------------------

def test_only_active_staff_answer_chats(app, users):
    channel = make_channel()
    gone = make_user("agent", name="Gone Agent", active=False)
    assert {u.id for u in setup.operator_candidates(channel)} == {users.admin.id, users.agent.id, users.agent2.id}
    setup.add_operator(channel, users.agent)
    db.session.commit()
    assert channel.has_operator(users.agent) and users.agent not in setup.operator_candidates(channel)
    with refused("user", "already answers"):
        setup.add_operator(channel, users.agent)
    with refused("user", "only active staff"):
        setup.add_operator(channel, users.portal)
    with refused("user", "only active staff"):
        setup.add_operator(channel, gone)
    setup.remove_operator(channel, users.agent)
    assert not channel.has_operator(users.agent)
    with refused("user", "does not answer"):
        setup.remove_operator(channel, users.agent)


# ---- rules (service) ---------------------------------------------------------------------------

def test_rules_are_cleaned_ordered_and_moved(app):
    channel = make_channel()
    script = make_script()
    first = setup.create_rule(channel, url_pattern=" /pricing ", countries="fr, be;ch  fr", action="auto",
                              auto_open_seconds=15, script=script, bot_only_when_offline=True)
    second = setup.create_rule(channel, action="hide", auto_open_seconds=30, bot_only_when_offline=True)
    db.session.commit()
    assert (first.url_pattern, first.countries, first.auto_open_seconds, first.bot_only_when_offline) == \
        ("/pricing", "FR, BE, CH", 15, True)
    # The delay is only for "auto", "bot only when offline" only with a bot.
    assert (second.auto_open_seconds, second.bot_only_when_offline) == (0, False)
    assert [r.id for r in channel.rules] == [first.id, second.id]
    assert setup.move_rule(second, "up") and [r.id for r in channel.rules] == [second.id, first.id]
    assert not setup.move_rule(second, "up")
    setup.update_rule(first, url_pattern="", countries="", action="show", auto_open_seconds=None, script=None,
                      bot_only_when_offline=True)
    assert (first.url_pattern, first.script, first.bot_only_when_offline) == ("", None, False)
    setup.delete_rule(second)
    db.session.commit()
    assert [r.id for r in db.session.get(LivechatChannel, channel.id).rules] == [first.id]


@pytest.mark.parametrize("changes, field, message", [
    ({"url_pattern": "/pricing("}, "url_pattern", "not a valid regular expression"),
    ({"url_pattern": "a" * 301}, "url_pattern", "at most 300"),
    ({"countries": "France"}, "countries", "“France” is not a country code"),
    ({"countries": "FR, B3"}, "countries", "“B3” is not a country code"),
    ({"action": "blink"}, "action", "Pick what the rule does"),
    ({"action": "auto", "auto_open_seconds": 3601}, "auto_open_seconds", "0 to 3600"),
    ({"action": "auto", "auto_open_seconds": -1}, "auto_open_seconds", "0 to 3600"),
    ({"action": "auto", "auto_open_seconds": None}, "auto_open_seconds", "0 to 3600"),
])
def test_rule_refusals(app, changes, field, message):
    channel = make_channel()
    with refused(field, message):
        setup.create_rule(channel, **changes)


# ---- chatbot scripts and steps (service) -------------------------------------------------------

def test_a_script_runs_its_conditions_as_the_editor_shows_them(app):
    script = make_script()
    hello, pick, email, forward = steps_of(script)
    assert setup.condition_text(email) == "only if ‘Pick one’ was ‘Billing’"
    assert setup.condition_text(hello) == ""
    assert setup.step_label(forward) == "Step 4 (hand over to an operator)"
    assert setup.condition_choices(script, email) == [pick]
    assert setup.condition_choices(script) == [pick, email]
    billing = chatbot.simulate(steps_of(script), ["billing", "ada@example.com"])
    assert [(line.speaker, line.text) for line in billing] == [
        ("bot", "Hello!"), ("bot", "Pick one"), ("visitor", "billing"), ("bot", "Your email?"),
        ("visitor", "ada@example.com"), ("system", "The chat is handed to an available operator.")]
    assert billing[1].buttons == ["Sales", "Billing"]
    sales = chatbot.simulate(steps_of(script), ["Sales"])
    assert "Your email?" not in [line.text for line in sales]


def test_a_condition_names_an_answer_as_the_question_has_it(app):
    script = make_script()
    pick = steps_of(script)[1]
    step = setup.create_step(script, kind="text", message="Thanks", only_if_step=pick,
                             only_if_answer="  BILLING \n sales\nbilling")
    assert step.only_if_answer == "Billing\nSales"
    anything = setup.create_step(script, kind="text", message="Noted", only_if_step=steps_of(script)[2])
    assert setup.condition_text(anything) == "only if ‘Your email?’ was answered"


@pytest.mark.parametrize("fields, field, message", [
    ({"kind": "poll", "message": "x"}, "kind", "Pick what the step does"),
    ({"kind": "text", "message": "  "}, "message", "Write what the bot says"),
    ({"kind": "email", "message": ""}, "message", "Write what the bot says"),
    ({"kind": "text", "message": "x" * 2001}, "message", "at most 2,000"),
    ({"kind": "question", "message": "Pick", "answers": "\n \n"}, "answers", "at least one answer"),
    ({"kind": "question", "message": "Pick", "answers": "\n".join(str(i) for i in range(11))}, "answers", "at most 10"),
    ({"kind": "question", "message": "Pick", "answers": "Yes\n" + "x" * 61}, "answers", "at most 60"),
    ({"kind": "question", "message": "Pick", "answers": "Yes\nyes"}, "answers", "there twice"),
    ({"kind": "text", "message": "x", "only_if_answer": "Refund"}, "only_if_answer", "not one of the answers"),
])
def test_step_refusals(app, fields, field, message):
    script = make_script()
    fields = dict(fields)
    fields.setdefault("only_if_step", steps_of(script)[1] if "only_if_answer" in fields else None)
    with refused(field, message):
        setup.create_step(script, **fields)


def test_a_condition_tests_an_earlier_waiting_step_of_the_same_script(app):
    script = make_script()
    hello, pick, email, forward = steps_of(script)
    other = make_script("Other")
    with refused("only_if_step", "earlier question, email or free answer"):
        setup.create_step(script, kind="text", message="x", only_if_step=hello)  # says, asks nothing
    with refused("only_if_step", "earlier question"):
        setup.create_step(script, kind="text", message="x", only_if_step=steps_of(other)[1])
    hello, pick, email, forward = steps_of(script)
    with refused("only_if_step", "earlier question"):  # the email step comes after "Hello!"
        setup.update_step(hello, kind="text", message="Hello!", answers="", only_if_step=email, only_if_answer="")


def test_a_question_keeps_what_later_steps_depend_on(app):
    script = make_script()
    pick = steps_of(script)[1]
    with refused("answers", "runs only after the answer ‘Billing’"):
        setup.update_step(pick, kind="question", message="Pick one", answers="Sales\nSupport", only_if_step=None,
                          only_if_answer="")
    pick = steps_of(script)[1]
    with refused("kind", "depends on this step's answer"):
        setup.update_step(pick, kind="text", message="Pick one", answers="", only_if_step=None, only_if_answer="")
    pick = steps_of(script)[1]
    setup.update_step(pick, kind="question", message="Pick one", answers="billing\nSupport", only_if_step=None,
                      only_if_answer="")
    assert pick.answer_list == ["billing", "Support"]


def test_moving_steps_keeps_conditions_after_their_question(app):
    script = make_script()
    hello, pick, email, forward = steps_of(script)
    with refused(None, "must stay after it"):
        setup.move_step(email, "up")
    with refused(None, "must stay after it"):
        setup.move_step(steps_of(script)[1], "down")
    assert setup.move_step(steps_of(script)[0], "down")
    assert [s.message for s in steps_of(script)] == ["Pick one", "Hello!", "Your email?", ""]
    assert not setup.move_step(steps_of(script)[3], "down")


def test_deleting_a_question_frees_the_steps_that_depended_on_it(app):
    script = make_script()
    pick = steps_of(script)[1]
    assert setup.delete_step(pick) == 1
    db.session.commit()
    email = steps_of(script)[1]
    assert (email.message, email.only_if_step_id, email.only_if_answer) == ("Your email?", None, "")


def test_deleting_a_script_leaves_its_rules_without_a_bot(app):
    channel = make_channel()
    script = make_script()
    rule = setup.create_rule(channel, script=script, bot_only_when_offline=True)
    db.session.commit()
    assert setup.delete_script(script) == 1
    db.session.commit()
    rule = db.session.get(LivechatRule, rule.id)
    assert rule.script_id is None and not rule.bot_only_when_offline and count(ChatbotStep) == 0
    with refused("name", "Give the script a name"):
        setup.create_script(" ")


# ---- access ------------------------------------------------------------------------------------

@pytest.fixture
def setting(users):
    """A channel with Bob as operator and a rule starting the script."""
    channel = make_channel()
    setup.add_operator(channel, users.agent)
    script = make_script()
    rule = setup.create_rule(channel, script=script)
    db.session.commit()
    step = steps_of(script)[0]
    return channel, rule, script, step


def paths(channel, rule, script, step):
    c, s = f"/admin/livechat/channels/{channel.id}", f"/admin/livechat/scripts/{script.id}"
    return [("GET", "/admin/livechat"), ("GET", "/admin/livechat/channels"), ("GET", "/admin/livechat/channels/new"),
            ("GET", c), ("GET", f"{c}/operators"), ("GET", f"{c}/rules"), ("GET", f"{c}/widget"),
            ("POST", c), ("POST", f"{c}/operators"), ("POST", f"{c}/rules"), ("POST", f"{c}/rules/{rule.id}/move"),
            ("POST", f"{c}/identity-secret"), ("GET", "/admin/livechat/scripts"), ("GET", s), ("GET", f"{s}/test"),
            ("POST", "/admin/livechat/scripts"), ("POST", f"{s}/name"), ("POST", f"{s}/steps"),
            ("POST", f"{s}/steps/{step.id}/move"), ("POST", f"{s}/steps/{step.id}/delete"),
            ("POST", f"{c}/rules/{rule.id}/delete"), ("POST", f"{c}/delete"), ("POST", f"{s}/delete")]


@pytest.mark.parametrize("who, expected", [("admin", 200), ("agent", 403), ("portal", 403), (None, 302)])
def test_only_admins_reach_the_live_chat_settings(client, users, setting, who, expected):
    channel, rule, script, step = setting
    secret = channel.identity_secret
    token = sign_in(client, getattr(users, who) if who else None)
    data = {"csrf_token": token, **CHANNEL, "name": "Renamed", "direction": "down", "user": users.agent2.id,
            "action": "show", "kind": "text", "message": "Hi"}
    for method, path in paths(channel, rule, script, step):
        response = client.get(path) if method == "GET" else client.post(path, data=data)
        allowed = (200, 302) if expected == 200 else (expected,)
        assert response.status_code in allowed, (method, path, response.status_code)
        if who is None:
            assert "/login" in response.headers["Location"]
    db.session.expire_all()
    if expected != 200:  # nothing changed
        assert db.session.get(LivechatChannel, channel.id).identity_secret == secret
        assert count(LivechatChannel) == 1 and count(ChatbotScript) == 1 and count(ChannelOperator) == 1
    else:
        assert count(LivechatChannel) == 0 and count(ChatbotScript) == 1  # the new script is left


def test_unknown_ids_are_404(client, users, setting):
    channel, rule, script, step = setting
    other_channel = make_channel(name="Other")
    other_script = make_script("Other")
    token = sign_in(client, users.admin)
    for path in ("/admin/livechat/channels/999999", "/admin/livechat/channels/999999/operators",
                 "/admin/livechat/channels/999999/rules", "/admin/livechat/channels/999999/widget",
                 "/admin/livechat/scripts/999999", "/admin/livechat/scripts/999999/test",
                 f"/admin/livechat/channels/{other_channel.id}/rules?rule={rule.id}",
                 f"/admin/livechat/scripts/{other_script.id}?step={step.id}"):
        assert client.get(path).status_code == 404, path
    posted = {"csrf_token": token, "direction": "up", "user": 999999}
    for path in (f"/admin/livechat/channels/{other_channel.id}/rules/{rule.id}",
                 f"/admin/livechat/channels/{other_channel.id}/rules/{rule.id}/move",
                 f"/admin/livechat/channels/{other_channel.id}/rules/{rule.id}/delete",
                 f"/admin/livechat/channels/{channel.id}/operators",
                 f"/admin/livechat/channels/{other_channel.id}/operators/{users.agent.id}/remove",
                 f"/admin/livechat/channels/{channel.id}/operators/999999/remove",
                 f"/admin/livechat/scripts/{other_script.id}/steps/{step.id}",
                 f"/admin/livechat/scripts/{other_script.id}/steps/{step.id}/move",
                 f"/admin/livechat/scripts/{other_script.id}/steps/{step.id}/delete",
                 "/admin/livechat/channels/999999/delete", "/admin/livechat/scripts/999999/delete"):
        assert client.post(path, data=posted).status_code == 404, path
    assert count(LivechatRule) == 1 and count(ChatbotStep) == 8


# ---- channel pages -----------------------------------------------------------------------------

def test_the_channel_list_and_the_settings_subnav(client, users, setting):
    channel = setting[0]
    make_chat(channel, "open")
    make_channel(name="Old shop", active=False)
    sign_in(client, users.admin)
    page = client.get("/admin/livechat/channels").get_data(as_text=True)
    assert 'aria-current="page">Live chat</a>' in page
    row = page[page.index(f'id="channel-{channel.id}"'):]
    row = row[:row.index("</tr>")]
    assert "Website" in row and "<td>1</td>" in row and ">1</a>" in row and "Active" in row
    assert "Old shop" in page and ">Off</span>" in page
    assert client.get("/admin/livechat").headers["Location"].endswith("/admin/livechat/channels")


def test_an_admin_creates_and_changes_a_channel(client, users):
    team = make_team("Support")
    token = sign_in(client, users.admin)
    form = client.get("/admin/livechat/channels/new").get_data(as_text=True)
    assert 'data-lc-preview="channel-form"' in form and "js/livechat_admin.js" in form
    assert ' style="' not in form  # the CSP refuses style attributes: the preview's colours are set by script
    response = client.post("/admin/livechat/channels/new", data={"csrf_token": token, **CHANNEL, "team": team.id,
                                                                 "active": "y"})
    assert response.status_code == 302
    channel = db.session.scalar(select(LivechatChannel))
    assert response.headers["Location"].endswith(f"/admin/livechat/channels/{channel.id}")
    assert channel.team == team and channel.header_color == "#111827" and len(channel.key) == 16
    page = client.get(f"/admin/livechat/channels/{channel.id}").get_data(as_text=True)
    assert 'value="#111827"' in page and "Hello!" in page
    response = client.post(f"/admin/livechat/channels/{channel.id}", data={
        "csrf_token": token, **CHANNEL, "name": "Shop", "button_text": "Help?", "team": "0"})
    assert response.status_code == 302
    db.session.expire_all()
    channel = db.session.get(LivechatChannel, channel.id)
    assert (channel.name, channel.button_text, channel.team, channel.active) == ("Shop", "Help?", None, False)


@pytest.mark.parametrize("changes, message", [
    ({"name": ""}, "Give the channel a name"),
    ({"button_color": "blue"}, "A colour is written #rrggbb"),
    ({"button_text": "x" * 61}, "at most 60 characters"),
    ({"team": "999999"}, "Not a valid choice"),
])
def test_a_bad_channel_is_refused_with_what_was_typed(client, users, changes, message):
    token = sign_in(client, users.admin)
    data = {"csrf_token": token, **CHANNEL, "welcome_message": "Bonjour, kept as typed", **changes}
    response = client.post("/admin/livechat/channels/new", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and message in page and "Bonjour, kept as typed" in page
    assert 'aria-invalid="true"' in page and count(LivechatChannel) == 0


def test_deleting_a_channel(client, users, setting):
    channel = setting[0]
    token = sign_in(client, users.admin)
    make_chat(channel, "ended")
    response = client.post(f"/admin/livechat/channels/{channel.id}/delete", data={"csrf_token": token})
    assert response.status_code == 409 and "turn the channel off" in response.get_data(as_text=True)
    empty = make_channel(name="Empty")
    assert client.post(f"/admin/livechat/channels/{empty.id}/delete", data={"csrf_token": token}).status_code == 302
    assert count(LivechatChannel) == 1


def test_operators_tab(client, users, setting):
    channel = setting[0]
    token = sign_in(client, users.admin)
    page = client.get(f"/admin/livechat/channels/{channel.id}/operators").get_data(as_text=True)
    assert "Bob Agent" in page and f'<option value="{users.agent2.id}">Carol Agent' in page
    assert f'value="{users.portal.id}"' not in page
    base = f"/admin/livechat/channels/{channel.id}/operators"
    assert client.post(base, data={"csrf_token": token, "user": users.agent2.id}).status_code == 302
    assert db.session.get(LivechatChannel, channel.id).has_operator(users.agent2)
    for user_id, message in ((users.portal.id, "only active staff"), (users.agent2.id, "already answers"),
                             ("", "Pick someone")):
        response = client.post(base, data={"csrf_token": token, "user": user_id})
        assert response.status_code == 422 and message in response.get_data(as_text=True), user_id
    assert client.post(f"{base}/{users.agent.id}/remove", data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    assert not db.session.get(LivechatChannel, channel.id).has_operator(users.agent)
    assert client.post(f"{base}/{users.agent.id}/remove", data={"csrf_token": token}).status_code == 404


def test_rules_tab(client, users, setting):
    channel, rule, script, _ = setting
    token = sign_in(client, users.admin)
    base = f"/admin/livechat/channels/{channel.id}/rules"
    page = client.get(base).get_data(as_text=True)
    assert f'href="/admin/livechat/scripts/{script.id}"' in page and "Every page" in page
    data = {"csrf_token": token, "url_pattern": "^/pricing", "countries": "fr, be", "action": "auto",
            "auto_open_seconds": "20", "script": "0"}
    assert client.post(base, data=data).status_code == 302
    added = db.session.scalar(select(LivechatRule).where(LivechatRule.url_pattern == "^/pricing"))
    assert (added.countries, added.auto_open_seconds, added.sequence > rule.sequence) == ("FR, BE", 20, True)
    assert "Open after 20 s" in client.get(base).get_data(as_text=True)
    assert client.post(f"{base}/{added.id}/move", data={"csrf_token": token, "direction": "up"}).status_code == 302
    db.session.expire_all()
    assert [r.id for r in db.session.get(LivechatChannel, channel.id).rules] == [added.id, rule.id]
    sideways = client.post(f"{base}/{added.id}/move", data={"csrf_token": token, "direction": "sideways"})
    assert sideways.status_code == 400
    edit = client.get(f"{base}?rule={added.id}").get_data(as_text=True)
    assert 'value="^/pricing"' in edit and "Save rule" in edit
    assert client.post(f"{base}/{added.id}", data={**data, "action": "hide"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(LivechatRule, added.id).action == "hide"
    assert client.post(f"{base}/{added.id}/delete", data={"csrf_token": token}).status_code == 302
    assert count(LivechatRule) == 1


@pytest.mark.parametrize("changes, message", [
    ({"url_pattern": "/pricing("}, "not a valid regular expression"),
    ({"countries": "France"}, "is not a country code"),
    ({"action": "auto", "auto_open_seconds": "9000"}, "0 to 3600"),
    ({"action": "auto", "auto_open_seconds": "soon"}, "Not a valid integer"),
    ({"action": "blink"}, "Not a valid choice"),
])
def test_a_bad_rule_is_refused_with_what_was_typed(client, users, setting, changes, message):
    channel = setting[0]
    token = sign_in(client, users.admin)
    data = {"csrf_token": token, "url_pattern": "/kept", "countries": "", "action": "show", "script": "0", **changes}
    response = client.post(f"/admin/livechat/channels/{channel.id}/rules", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and message in page
    assert f'value="{data["url_pattern"]}"' in page and count(LivechatRule) == 1


def test_widget_tab(client, users, setting):
    channel = setting[0]
    token = sign_in(client, users.admin)
    page = client.get(f"/admin/livechat/channels/{channel.id}/widget").get_data(as_text=True)
    loader = f"http://localhost/livechat/{channel.key}/loader.js"
    assert f'&lt;script src="{loader}" async&gt;&lt;/script&gt;' in page
    assert f'value="http://localhost/livechat/{channel.key}"' in page
    assert "window.HiloChat = {identifier:" in page and "identityHash" in page and "HMAC-SHA256" in page
    assert channel.identity_secret in page and 'data-copy="embed-snippet"' in page
    secret = channel.identity_secret
    response = client.post(f"/admin/livechat/channels/{channel.id}/identity-secret", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith("/widget#identity")
    db.session.expire_all()
    assert db.session.get(LivechatChannel, channel.id).identity_secret != secret


# ---- script pages ------------------------------------------------------------------------------

def test_scripts_list_create_rename_and_delete(client, users, setting):
    _, rule, script, _ = setting
    token = sign_in(client, users.admin)
    page = client.get("/admin/livechat/scripts").get_data(as_text=True)
    assert "Sales or support?" in page and "1 rule" in page and "<td>4</td>" in page
    response = client.post("/admin/livechat/scripts", data={"csrf_token": token, "name": ""})
    assert response.status_code == 422 and "Give the script a name" in response.get_data(as_text=True)
    response = client.post("/admin/livechat/scripts", data={"csrf_token": token, "name": "After hours"})
    created = db.session.scalar(select(ChatbotScript).where(ChatbotScript.name == "After hours"))
    assert response.headers["Location"].endswith(f"/admin/livechat/scripts/{created.id}")
    response = client.post(f"/admin/livechat/scripts/{created.id}/name", data={"csrf_token": token, "name": "x" * 81})
    assert response.status_code == 422 and "at most 80" in response.get_data(as_text=True)
    assert client.post(f"/admin/livechat/scripts/{created.id}/name",
                       data={"csrf_token": token, "name": "Night"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(ChatbotScript, created.id).name == "Night"
    response = client.post(f"/admin/livechat/scripts/{script.id}/delete", data={"csrf_token": token})
    assert response.status_code == 302
    assert "1 rule now starts no bot" in client.get("/admin/livechat/scripts").get_data(as_text=True)
    assert db.session.get(LivechatRule, rule.id).script_id is None


def test_the_script_editor_shows_steps_and_conditions_in_words(client, users, setting):
    script = setting[2]
    sign_in(client, users.admin)
    page = client.get(f"/admin/livechat/scripts/{script.id}").get_data(as_text=True)
    assert "Only if ‘Pick one’ was ‘Billing’" in page
    assert '<span class="lc-answer">Sales</span>' in page and "Hand over to an operator" in page
    assert f"/admin/livechat/channels/{setting[0].id}/rules?rule={setting[1].id}" in page  # started by
    assert ' style="' not in page


def test_adding_editing_moving_and_removing_steps(client, users, setting):
    script = setting[2]
    token = sign_in(client, users.admin)
    base = f"/admin/livechat/scripts/{script.id}/steps"
    pick = steps_of(script)[1]
    response = client.post(base, data={"csrf_token": token, "kind": "question", "message": "Happy?",
                                       "answers": "Yes\nNo", "only_if_step": pick.id, "only_if_answer": "sales"})
    assert response.status_code == 302
    added = steps_of(script)[-1]
    assert (added.answer_list, added.only_if_step_id, added.only_if_answer) == (["Yes", "No"], pick.id, "Sales")
    edit = client.get(f"/admin/livechat/scripts/{script.id}?step={added.id}").get_data(as_text=True)
    assert "Change step 5" in edit and f'<option selected value="{pick.id}">' in edit
    assert client.post(f"{base}/{added.id}", data={"csrf_token": token, "kind": "text", "message": "Bye",
                                                   "only_if_step": "0"}).status_code == 302
    added = steps_of(script)[-1]
    assert (added.kind, added.message, added.answers, added.only_if_step_id) == ("text", "Bye", "", None)
    assert client.post(f"{base}/{added.id}/move", data={"csrf_token": token, "direction": "up"}).status_code == 302
    assert [s.message for s in steps_of(script)][-2:] == ["Bye", ""]
    response = client.post(f"{base}/{pick.id}/delete", data={"csrf_token": token})
    assert response.status_code == 302
    page = client.get(f"/admin/livechat/scripts/{script.id}").get_data(as_text=True)
    assert "1 step that depended on it now runs always" in page and 'class="lc-condition"' not in page


@pytest.mark.parametrize("changes, message", [
    ({"kind": "question", "answers": ""}, "at least one answer"),
    ({"message": ""}, "Write what the bot says"),
    ({"only_if_answer": "Refund"}, "not one of the answers of ‘Pick one’"),
    ({"kind": "html"}, "Not a valid choice"),
])
def test_a_bad_step_is_refused_with_what_was_typed(client, users, setting, changes, message):
    script = setting[2]
    token = sign_in(client, users.admin)
    data = {"csrf_token": token, "kind": "text", "message": "Kept as typed", "answers": "",
            "only_if_step": steps_of(script)[1].id, "only_if_answer": "Sales", **changes}
    response = client.post(f"/admin/livechat/scripts/{script.id}/steps", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and message in page
    assert data["message"] in page
    assert count(ChatbotStep) == 4


def test_a_move_that_breaks_a_condition_is_refused(client, users, setting):
    script = setting[2]
    token = sign_in(client, users.admin)
    email = steps_of(script)[2]
    response = client.post(f"/admin/livechat/scripts/{script.id}/steps/{email.id}/move",
                           data={"csrf_token": token, "direction": "up"})
    assert response.status_code == 409 and "must stay after it" in response.get_data(as_text=True)
    assert [s.id for s in steps_of(script)][2] == email.id


def test_the_test_panel_runs_the_script_with_and_without_htmx(client, users, setting):
    script = setting[2]
    sign_in(client, users.admin)
    test = f"/admin/livechat/scripts/{script.id}/test"
    fragment = client.get(test, query_string={"replies": "Billing\n"}, headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in html
    assert html.index("Pick one") < html.index(">Billing</p>") < html.index("Your email?")
    assert 'class="lc-line lc-line-visitor"' in html and 'name="pick"' not in html  # waits for an email, no buttons
    # An answer button adds its reply; without JavaScript the whole editor comes back.
    page = client.get(test, query_string={"replies": "", "pick": "Sales"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html and "Add a step" in html
    assert "End of the script" not in html and "handed to an available operator" in html
    assert re.search(r">\s*Sales</textarea>", html)
    waiting = client.get(test, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert '<button type="submit" class="lc-answer lc-answer-pick" name="pick" value="Sales">' in waiting
    wrong = client.get(test, query_string={"replies": "Refund"}, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Please choose one of the answers below." in wrong
    too_long = client.get(test, query_string={"replies": "x" * 5001}, headers={"HX-Request": "true"})
    assert too_long.status_code == 422 and "Keep the replies under 5,000 characters." in too_long.get_data(as_text=True)
