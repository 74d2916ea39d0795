"""services/canned.py: what a canned response may be (each refusal on its form field), who may
use which, the order of the composer's suggestions, placeholders filled by plain replacement,
and the usage count."""
from contextlib import contextmanager

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import CannedResponse
from app.services import canned, discuss
from app.services.canned import CannedError
from tests.conftest import make_contact, make_team, make_ticket, make_user

pytestmark = pytest.mark.usefixtures("request_ctx")  # posting in a channel renders its live row


@contextmanager
def refused(field: str, match: str):
    """A CannedError matching `match`, shown on the form's `field`."""
    with pytest.raises(CannedError, match=match) as info:
        yield info
    assert info.value.field == field


def add(shortcut: str, title: str = "A title", body: str = "Some text", team=None, used: int = 0) -> CannedResponse:
    response = canned.create_response(shortcut=shortcut, title=title, body=body, team=team, by=None)
    response.used_count = used
    db.session.commit()
    return response


@pytest.fixture
def teams(users):
    """Support (Bob is a member) and Billing (Carol is)."""
    return make_team("Support", members=[users.agent]), make_team("Billing", members=[users.agent2])


# ---- validation --------------------------------------------------------------------------------

def test_a_response_keeps_its_text_and_line_breaks(users):
    response = canned.create_response(shortcut=" ::refund-policy ", title="  Refund   policy ",
                                      body="Hello {{customer.first_name}},\r\n\r\nRefunds take 5 days.\r\nBest,",
                                      team=None, by=users.admin)
    db.session.commit()
    assert (response.shortcut, response.title, response.created_by) == ("refund-policy", "Refund policy", users.admin)
    assert response.used_count == 0 and response.team is None
    assert canned.plain_body(response) == "Hello {{customer.first_name}},\n\nRefunds take 5 days.\nBest,"


@pytest.mark.parametrize("fields, field, message", [
    ({"shortcut": ""}, "shortcut", "Enter a shortcut"),
    ({"shortcut": "::"}, "shortcut", "Enter a shortcut"),
    ({"shortcut": "two words"}, "shortcut", "no spaces"),
    ({"shortcut": "x" * 41}, "shortcut", "1 to 40"),
    ({"shortcut": "<script>"}, "shortcut", "letters, digits"),
    ({"title": "   "}, "title", "title"),
    ({"title": "t" * 121}, "title", "at most 120"),
    ({"body": " \n "}, "body", "Write the text"),
    ({"body": "b" * 10_001}, "body", "at most 10,000"),
])
def test_a_bad_response_is_refused_on_its_field(fields, field, message):
    with refused(field, message):
        canned.create_response(**{"shortcut": "ok", "title": "Title", "body": "Body", "team": None, "by": None,
                                  **fields})


def test_shortcuts_are_unique_whatever_their_case(users):
    first = add("Refund")
    with refused("shortcut", "already taken"):
        canned.create_response(shortcut="rEFUND", title="Other", body="Other", team=None, by=None)
    db.session.rollback()
    canned.update_response(first, shortcut="REFUND", title="Renamed", body="New text", team=None)  # itself: fine
    other = add("other")
    with refused("shortcut", "already taken"):
        canned.update_response(other, shortcut="refund", title="x", body="y", team=None)


def test_control_characters_are_dropped(users):
    response = add("nul\x00l", title="Ti\x00tle", body="Line\x00 one\x07")
    assert (response.shortcut, response.title, canned.plain_body(response)) == ("null", "Title", "Line one")


def test_no_response_is_added_to_an_archived_team_but_one_may_stay_there(teams):
    support, billing = teams
    kept = add("kept", team=support)
    support.active = False
    db.session.commit()
    with refused("team", "archived"):
        canned.create_response(shortcut="new", title="t", body="b", team=support, by=None)
    canned.update_response(kept, shortcut="kept", title="Still here", body="b", team=support)
    with refused("team", "archived"):
        canned.update_response(add("moved"), shortcut="moved", title="t", body="b", team=support)


def test_deleting_a_response(users):
    response = add("bye")
    canned.delete_response(response)
    db.session.commit()
    assert db.session.scalar(select(CannedResponse)) is None


def test_the_settings_search_looks_in_shortcut_title_and_text_most_used_first(users):
    add("hello", title="Greeting", body="Hi there", used=1)
    add("refund", title="Money back", body="Refunds take 5 days", used=9)
    add("tags", title="About <b> & co", body="Use 50% of <tags> & more", used=3)
    names = lambda query: [r.shortcut for r in canned.search_responses(query).items]  # noqa: E731
    assert names("") == ["refund", "tags", "hello"]
    assert names("HELLO") == ["hello"] and names("::hello") == ["hello"]
    assert names("money") == ["refund"] and names("5 days") == ["refund"]
    assert names("<tags> &") == ["tags"] and names("50%") == ["tags"]
    assert names("_") == [] and names("%") == ["tags"]


# ---- who uses which ---------------------------------------------------------------------------

def test_agents_use_global_responses_and_their_teams_admins_all(users, teams):
    support, billing = teams
    everyone, ours, theirs = add("everyone"), add("ours", team=support), add("theirs", team=billing)
    shortcuts = lambda user: {r.shortcut for r in canned.suggestions(user)}  # noqa: E731
    assert shortcuts(users.agent) == {"everyone", "ours"}
    assert shortcuts(users.agent2) == {"everyone", "theirs"}
    assert shortcuts(users.admin) == {"everyone", "ours", "theirs"}
    assert canned.usable(users.agent, ours.id) == ours and canned.usable(users.agent, everyone.id) == everyone
    assert canned.usable(users.agent, theirs.id) is None and canned.usable(users.admin, theirs.id) == theirs
    outsider = make_user("agent")
    assert shortcuts(outsider) == {"everyone"}
    assert canned.has_any(outsider)
    canned.delete_response(everyone)
    assert not canned.has_any(outsider) and canned.has_any(users.agent)


def test_suggestions_put_shortcuts_starting_with_the_query_first_then_the_most_used(users):
    add("thanks", title="Thank you", used=2)
    add("refund-thanks", title="Refund done", used=50)
    add("greeting", title="Thanks for writing", used=5)
    add("thanks-long", title="Long thank you", used=7)
    add("unrelated", title="Something else", used=99)
    assert [r.shortcut for r in canned.suggestions(users.agent, "THA")] == [
        "thanks-long", "thanks", "refund-thanks", "greeting"]
    assert [r.shortcut for r in canned.suggestions(users.agent, "")][:2] == ["unrelated", "refund-thanks"]
    assert [r.shortcut for r in canned.suggestions(users.agent, "tha", limit=2)] == ["thanks-long", "thanks"]
    assert canned.suggestions(users.agent, "%") == [] and canned.suggestions(users.agent, "_") == []


def test_equal_use_falls_back_to_the_shortcut(users):
    for shortcut in ("beta", "Alpha", "gamma"):
        add(shortcut)
    assert [r.shortcut for r in canned.suggestions(users.agent)] == ["Alpha", "beta", "gamma"]


# ---- placeholders ------------------------------------------------------------------------------

def test_placeholders_come_from_the_ticket_its_customer_and_the_agent(users, teams):
    support, _ = teams
    customer = make_contact("Ada Lovelace", "ada@engines.test")
    ticket = make_ticket(support, "Printer on fire", customer=customer)
    response = add("hello", body="Hi {{customer.first_name}} ({{ customer.name }}, {{customer.email}}),\n"
                                 "about {{ticket.ref}} “{{ticket.title}}” for {{team.name}}.\n"
                                 "{{agent.name}} / {{agent.first_name}}")
    text = canned.text_for(response, users.agent, ticket.ensure_thread())
    assert text == (f"Hi Ada (Ada Lovelace, ada@engines.test),\nabout #{ticket.id} “Printer on fire” for Support.\n"
                    "Bob Agent / Bob")


def test_on_a_contact_the_customer_is_the_contact_and_ticket_ones_stay(users):
    contact = make_contact("Grace Hopper", phone="+1 555 0100")
    contact.email = None  # known by phone only
    db.session.commit()
    response = add("hello", body="Dear {{customer.name}} <{{customer.email}}>, re {{ticket.ref}}; {{unknown.thing}}")
    text = canned.text_for(response, users.agent, contact.ensure_thread())
    assert text == "Dear Grace Hopper <{{customer.email}}>, re {{ticket.ref}}; {{unknown.thing}}"


def test_in_a_channel_only_the_agent_is_known(users):
    channel = discuss.create_channel(users.agent, "general")
    db.session.commit()
    response = add("hi", body="Hi {{customer.name}}, {{agent.first_name}} here.")
    assert canned.text_for(response, users.agent, channel.ensure_thread()) == "Hi {{customer.name}}, Bob here."


def test_values_are_never_evaluated_nor_filled_again(users, teams):
    support, _ = teams
    customer = make_contact("{{agent.name}} {{ ''.__class__ }} <img src=x onerror=alert(1)>", "x@y.test")
    ticket = make_ticket(support, "{% for x in y %}", customer=customer)
    response = add("raw", body="{{customer.name}} / {{ticket.title}} / {{ 7*7 }} / <b>bold</b> & {{agent.name}}")
    text = canned.text_for(response, users.agent, ticket.ensure_thread())
    assert text == ("{{agent.name}} {{ ''.__class__ }} <img src=x onerror=alert(1)> / {% for x in y %} / {{ 7*7 }} / "
                    "<b>bold</b> & Bob Agent")


def test_first_line_skips_blank_lines():
    assert canned.first_line("\n  \n  Hello there  \nsecond") == "Hello there"
    assert canned.first_line("") == ""


# ---- usage -------------------------------------------------------------------------------------

def test_record_use_counts_each_insertion(users):
    response = add("count")
    canned.record_use(response)
    canned.record_use(response)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(CannedResponse, response.id).used_count == 2
