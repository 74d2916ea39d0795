"""Canned responses over HTTP: Settings › Canned responses (admins), the composers' menu and
insertion (staff, in threads they may read), refusals with a 422 and stored-XSS payloads that
come back escaped."""
import json

import pytest
from markupsafe import escape
from sqlalchemy import select

from app.extensions import db
from app.models import CannedResponse, Ticket, User
from app.services import canned, demo, discuss
from tests.conftest import csrf_token, login, make_contact, make_team, make_ticket
from tests.web.conftest import count, sign_in

HTMX = {"HX-Request": "true"}
XSS_TITLE = '<script>alert("title")</script>'
XSS_BODY = '<img src=x onerror=alert(1)> {{customer.name}} </textarea><script>alert(2)</script>'


@pytest.fixture
def team(users):
    """Support: Bob (agent) is a member, Carol (agent2) is not."""
    return make_team("Support", members=[users.agent])


@pytest.fixture
def ticket(team):
    return make_ticket(team, "Printer on fire", customer=make_contact("Ada Lovelace", "ada@engines.test"))


def add(shortcut: str, title: str = "Title", body: str = "Text", team=None, used: int = 0) -> CannedResponse:
    response = canned.create_response(shortcut=shortcut, title=title, body=body, team=team, by=None)
    response.used_count = used
    db.session.commit()
    return response


def channel(app, creator, name: str, private: bool = False):
    """A Discuss channel (creating one renders its first live row: it needs a request)."""
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        created = discuss.create_channel(creator, name, private=private)
        db.session.commit()
    return created


def fresh(response_id: int) -> CannedResponse | None:
    db.session.expire_all()
    return db.session.get(CannedResponse, response_id)


def form(token: str, **fields) -> dict:
    return {"csrf_token": token, "shortcut": "refund", "title": "Refund policy", "team": "",
            "body": "Hello {{customer.first_name}},\n\nRefunds take 5 days.", **fields}


# ---- who may reach what ---------------------------------------------------------------------

@pytest.mark.parametrize("who, expected", [("admin", 200), ("agent", 403), ("agent2", 403), ("portal", 403),
                                           (None, 302)])
def test_only_admins_reach_the_settings(client, users, who, expected):
    response_id = add("hello").id
    token = sign_in(client, getattr(users, who) if who else None)
    requests = [("GET", "/admin/canned"), ("GET", "/admin/canned/new"), ("POST", "/admin/canned/new"),
                ("GET", f"/admin/canned/{response_id}"), ("POST", f"/admin/canned/{response_id}"),
                ("GET", f"/admin/canned/{response_id}/delete"), ("POST", f"/admin/canned/{response_id}/delete")]
    for index, (method, path) in enumerate(requests):
        data = form(token, shortcut=f"changed{index}") if method == "POST" and not path.endswith("delete") else {
            "csrf_token": token}
        if path.endswith("delete") and method == "POST" and who == "admin":
            continue  # the admin's delete is the last step, below
        response = client.open(path, method=method, data=data if method == "POST" else None)
        allowed = (200, 302) if expected == 200 else (expected,)
        assert response.status_code in allowed, (method, path, response.status_code)
        if who is None:
            assert "/login" in response.headers["Location"]
    if who == "admin":
        assert client.post(f"/admin/canned/{response_id}/delete", data={"csrf_token": token}).status_code == 302
        assert fresh(response_id) is None
    else:
        assert fresh(response_id).shortcut == "hello" and count(CannedResponse) == 1  # nothing changed


def composer_paths(thread_id: int, response_id: int):
    return [("GET", f"/canned/suggest?thread={thread_id}&q="),
            ("POST", f"/canned/{response_id}/use?thread={thread_id}")]


@pytest.mark.parametrize("who, expected", [("admin", 200), ("agent", 200), ("agent2", 404), ("portal", 403),
                                           (None, 302)])
def test_the_menu_of_a_ticket_is_for_staff_who_may_read_the_ticket(client, users, ticket, who, expected):
    """Carol, not in the ticket's team, cannot read it: as if it did not exist."""
    response_id = add("hello").id
    token = sign_in(client, getattr(users, who) if who else None)
    for method, path in composer_paths(ticket.ensure_thread().id, response_id):
        response = client.open(path, method=method, headers={"X-CSRFToken": token})
        assert response.status_code == expected, (method, path, response.status_code)
        if who is None:
            assert "/login" in response.headers["Location"]
    assert fresh(response_id).used_count == (1 if expected == 200 else 0)


@pytest.mark.parametrize("who, expected", [("admin", 200), ("agent", 200), ("agent2", 404)])
def test_a_team_response_is_only_for_that_team_and_admins(client, users, team, who, expected):
    """On a contact every agent reads, a response of the Support team is Bob's and the admin's only."""
    thread = make_contact("Grace Hopper", "grace@navy.test").ensure_thread()
    db.session.commit()
    ours = add("support-only", title="Support only", team=team)
    token = sign_in(client, getattr(users, who))
    menu = client.get(f"/canned/suggest?thread={thread.id}&q=support").get_data(as_text=True)
    assert ("Support only" in menu) == (expected == 200)
    response = client.post(f"/canned/{ours.id}/use?thread={thread.id}", headers={"X-CSRFToken": token})
    assert response.status_code == expected
    assert fresh(ours.id).used_count == (1 if expected == 200 else 0)


def test_a_private_channel_is_closed_to_non_members(app, client, users):
    secret = channel(app, users.agent, "secret-plans", private=True)
    response_id = add("hello").id
    token = sign_in(client, users.agent2)
    for method, path in composer_paths(secret.ensure_thread().id, response_id):
        assert client.open(path, method=method, headers={"X-CSRFToken": token}).status_code == 404


@pytest.mark.parametrize("query, expected", [("", 400), ("thread=", 400), ("thread=abc", 404), ("thread=-1", 404),
                                             ("thread=0", 404), ("thread=99999", 404),
                                             ("thread=99999999999999999999999", 404), ("thread=%C2%B2", 404)])
def test_a_missing_or_unknown_thread_is_refused_cleanly(client, users, query, expected):
    response_id = add("hello").id
    token = sign_in(client, users.admin)
    assert client.get(f"/canned/suggest?{query}&q=x").status_code == expected
    assert client.post(f"/canned/{response_id}/use?{query}", headers={"X-CSRFToken": token}).status_code == expected


def test_using_an_unknown_response_or_without_csrf_is_refused(client, users, ticket):
    thread_id = ticket.ensure_thread().id
    response_id = add("hello").id
    token = sign_in(client, users.agent)
    assert client.post(f"/canned/999999/use?thread={thread_id}", headers={"X-CSRFToken": token}).status_code == 404
    assert client.post(f"/canned/99999999999999999999/use?thread={thread_id}",
                       headers={"X-CSRFToken": token}).status_code == 404
    assert client.post(f"/canned/{response_id}/use?thread={thread_id}").status_code == 400  # no CSRF token
    assert client.get(f"/canned/{response_id}/use?thread={thread_id}").status_code == 405
    assert fresh(response_id).used_count == 0


# ---- the composers' menu ---------------------------------------------------------------------

def test_the_composers_offer_canned_responses_to_staff(app, client, users, ticket):
    sign_in(client, users.agent)
    page = client.get(f"/helpdesk/tickets/{ticket.id}").get_data(as_text=True)
    assert f'data-canned-url="/canned/suggest?thread={ticket.thread.id}"' in page
    assert "js/canned.js" in page
    general = channel(app, users.agent, "general")
    page = client.get(f"/discuss/c/{general.id}").get_data(as_text=True)
    assert f'data-canned-url="/canned/suggest?thread={general.ensure_thread().id}"' in page


def test_the_menu_lists_matches_with_their_first_line_filled_in(client, users, ticket):
    refund = add("refund", title="Refund policy", body="\nHello {{customer.first_name}},\nRefunds take 5 days.", used=3)
    add("thanks", title="Thanks", body="Thanks!", used=9)
    add("greeting", title="A refund greeting", body="Hi", used=1)
    sign_in(client, users.agent)
    response = client.get(f"/canned/suggest?thread={ticket.ensure_thread().id}&q=REF")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.count('role="option"') == 2 and "Thanks" not in page
    assert page.index("::refund") < page.index("::greeting")  # the shortcut starts with it
    assert "Hello Ada," in page and "{{customer" not in page
    assert f'data-use-url="/canned/{refund.id}/use?thread={ticket.thread.id}"' in page


def test_the_menu_says_when_nothing_matches_or_nothing_exists(client, users, ticket):
    thread_id = ticket.ensure_thread().id
    sign_in(client, users.agent)
    empty = client.get(f"/canned/suggest?thread={thread_id}&q=").get_data(as_text=True)
    assert "No canned responses yet" in empty and "An admin can add them" in empty and "/admin/canned" not in empty
    add("hello")
    page = client.get(f"/canned/suggest?thread={thread_id}&q=zzz").get_data(as_text=True)
    assert "No canned response matches “zzz”" in page and 'role="option"' not in page


def test_an_admin_is_pointed_to_the_settings_when_there_are_none(client, users, ticket):
    sign_in(client, users.admin)
    page = client.get(f"/canned/suggest?thread={ticket.ensure_thread().id}&q=").get_data(as_text=True)
    assert "No canned responses yet" in page and 'href="/admin/canned/new"' in page


def test_using_a_response_returns_its_text_for_the_thread_and_counts_it(client, users, ticket):
    response_id = add("refund", body="Hello {{customer.first_name}},\n\nAbout {{ticket.ref}}. {{agent.name}}").id
    token = sign_in(client, users.agent)
    response = client.post(f"/canned/{response_id}/use?thread={ticket.ensure_thread().id}",
                           headers={"X-CSRFToken": token})
    assert response.status_code == 200 and response.is_json
    assert response.get_json() == {"text": f"Hello Ada,\n\nAbout #{ticket.id}. Bob Agent"}
    client.post(f"/canned/{response_id}/use?thread={ticket.thread.id}", headers={"X-CSRFToken": token})
    assert fresh(response_id).used_count == 2


# ---- Settings › Canned responses -------------------------------------------------------------

def test_the_list_is_most_used_first_with_team_and_count(client, users, team):
    add("hello", title="Greeting", used=2)
    add("refund", title="Refund policy", body="Refunds take 5 days.", team=team, used=7)
    sign_in(client, users.admin)
    page = client.get("/admin/canned").get_data(as_text=True)
    assert page.index("::refund") < page.index("::hello")
    assert "Support" in page and "All teams" in page and ">7</span>" in page and "Refunds take 5 days." in page
    assert 'aria-current="page">Canned responses</a>' in page


def test_the_list_searches_and_htmx_gets_the_table_alone(client, users):
    add("hello", title="Greeting", body="Hi there")
    add("refund", title="Refund policy", body="Money back")
    sign_in(client, users.admin)
    page = client.get("/admin/canned?q=money").get_data(as_text=True)
    assert "::refund" in page and "::hello" not in page and 'value="money"' in page
    fragment = client.get("/admin/canned?q=greet", headers=HTMX).get_data(as_text=True)
    assert '<div id="canned-table">' in fragment
    assert "::hello" in fragment and "::refund" not in fragment and "<html" not in fragment
    none = client.get("/admin/canned?q=nothing-like-it").get_data(as_text=True)
    assert "No response matches “nothing-like-it”" in none
    assert client.get("/admin/canned?q=" + "x" * 500).status_code == 200  # too long: ignored, not a 500
    assert client.get("/admin/canned?page=abc").status_code == 200


def test_an_empty_list_invites_the_first_response(client, users):
    sign_in(client, users.admin)
    page = client.get("/admin/canned").get_data(as_text=True)
    assert "No canned responses yet" in page and 'href="/admin/canned/new"' in page


def test_an_admin_creates_a_response_for_a_team(client, users, team):
    token = sign_in(client, users.admin)
    page = client.get("/admin/canned/new").get_data(as_text=True)
    assert "All teams" in page and ">Support</option>" in page and "{{customer.first_name}}" in page
    response = client.post("/admin/canned/new", data=form(token, shortcut="::Refund", team=str(team.id)))
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/canned")
    created = db.session.scalar(select(CannedResponse))
    assert (created.shortcut, created.title, created.team_id, created.created_by_id) == (
        "Refund", "Refund policy", team.id, users.admin.id)
    assert canned.plain_body(created) == "Hello {{customer.first_name}},\n\nRefunds take 5 days."
    assert "The response ::Refund is ready to use." in client.get("/admin/canned").get_data(as_text=True)


def test_an_archived_team_is_not_offered(client, users, team):
    archived = make_team("Old desk")
    archived.active = False
    db.session.commit()
    token = sign_in(client, users.admin)
    assert "Old desk" not in client.get("/admin/canned/new").get_data(as_text=True)
    response = client.post("/admin/canned/new", data=form(token, team=str(archived.id)))
    assert response.status_code == 422 and "Not a valid choice" in response.get_data(as_text=True)


@pytest.mark.parametrize("fields, message", [
    ({"shortcut": ""}, "Enter a shortcut"),
    ({"shortcut": "two words"}, "no spaces"),
    ({"shortcut": "HELLO"}, "already taken"),
    ({"title": ""}, "Give the response a title"),
    ({"title": "t" * 121}, "120"),
    ({"body": "  "}, "Write the text of the response"),
    ({"team": "999"}, "Not a valid choice"),
    ({"team": "abc"}, "Not a valid choice"),
])
def test_a_refused_response_says_why_and_keeps_the_input(client, users, fields, message):
    add("hello")
    token = sign_in(client, users.admin)
    data = form(token, **{"body": "kept text", **fields})
    for headers in ({}, HTMX):
        response = client.post("/admin/canned/new", data=data, headers=headers)
        assert response.status_code == 422
        page = response.get_data(as_text=True)
        assert message in page and ("kept text" in page or fields.get("body") == "  ")
        assert 'class="field-error"' in page or "alert-error" in page
        assert ("<html" in page) == (headers == {})  # htmx gets the form alone
    assert count(CannedResponse) == 1


def test_an_htmx_save_is_sent_to_the_list(client, users):
    token = sign_in(client, users.admin)
    response = client.post("/admin/canned/new", data=form(token), headers=HTMX)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/admin/canned"
    assert count(CannedResponse) == 1


def test_an_admin_edits_a_response_and_its_count_stays(client, users, team):
    response_id = add("hello", title="Greeting", body="Hi {{customer.name}}\nSecond line", used=4).id
    token = sign_in(client, users.admin)
    page = client.get(f"/admin/canned/{response_id}").get_data(as_text=True)
    assert 'value="hello"' in page and "Hi {{customer.name}}\nSecond line</textarea>" in page
    assert "Inserted 4 times." in page
    response = client.post(f"/admin/canned/{response_id}", data=form(token, shortcut="hi", title="Hi",
                                                                      team=str(team.id), body="New text"))
    assert response.status_code == 302
    edited = fresh(response_id)
    assert (edited.shortcut, edited.title, edited.team_id, edited.used_count) == ("hi", "Hi", team.id, 4)
    assert canned.plain_body(edited) == "New text"
    refused = client.post(f"/admin/canned/{response_id}", data=form(token, title=""))
    assert refused.status_code == 422 and fresh(response_id).title == "Hi"


def test_editing_keeps_an_archived_team_it_is_on(client, users, team):
    response_id = add("hello", team=team).id
    team.active = False
    db.session.commit()
    token = sign_in(client, users.admin)
    assert "Support (archived)" in client.get(f"/admin/canned/{response_id}").get_data(as_text=True)
    response = client.post(f"/admin/canned/{response_id}", data=form(token, shortcut="hello", team=str(team.id)))
    assert response.status_code == 302 and fresh(response_id).team_id == team.id


def test_delete_asks_first(client, users):
    response_id = add("hello", title="Greeting", body="Hi there", used=3).id
    token = sign_in(client, users.admin)
    page = client.get(f"/admin/canned/{response_id}/delete").get_data(as_text=True)
    assert "Delete ::hello?" in page and "inserted 3 times" in page and "Keep it" in page
    assert fresh(response_id) is not None
    response = client.post(f"/admin/canned/{response_id}/delete", data={"csrf_token": token})
    assert response.status_code == 302 and fresh(response_id) is None
    assert "::hello is deleted." in client.get("/admin/canned").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/admin/canned/999", "/admin/canned/999/delete",
                                  "/admin/canned/99999999999999999999"])
def test_an_unknown_response_is_a_404(client, users, path):
    token = sign_in(client, users.admin)
    assert client.get(path).status_code == 404
    assert client.post(path, data=form(token)).status_code == 404


# ---- stored XSS ------------------------------------------------------------------------------

def test_payloads_come_back_escaped_in_the_list_the_form_and_the_menu(client, users, ticket):
    response_id = add("xss", title=XSS_TITLE, body=XSS_BODY).id
    token = sign_in(client, users.admin)
    for path in ("/admin/canned", f"/admin/canned/{response_id}", f"/admin/canned/{response_id}/delete",
                 f"/canned/suggest?thread={ticket.ensure_thread().id}&q=xss"):
        page = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in page and "<img src=x" not in page, path
        assert str(escape(XSS_TITLE)) in page, path
    menu = client.get(f"/canned/suggest?thread={ticket.thread.id}&q=xss").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt; Ada Lovelace" in menu
    # The text to insert is the plain text as written, in JSON: the composer puts it in a textarea's value.
    used = client.post(f"/canned/{response_id}/use?thread={ticket.thread.id}", headers={"X-CSRFToken": token})
    assert used.mimetype == "application/json"
    assert json.loads(used.data)["text"] == XSS_BODY.replace("{{customer.name}}", "Ada Lovelace")


def test_a_payload_in_the_shortcut_is_refused_and_echoed_escaped(client, users):
    token = sign_in(client, users.admin)
    attempt = '"><svg onload=alert(1)>'
    for headers in ({}, HTMX):
        response = client.post("/admin/canned/new", data=form(token, shortcut=attempt), headers=headers)
        page = response.get_data(as_text=True)
        assert response.status_code == 422 and "<svg onload" not in page
        assert f'value="{escape(attempt)}"' in page
    assert count(CannedResponse) == 0


def test_a_customer_name_with_markup_is_escaped_in_the_menu(client, users, team):
    customer = make_contact('<b onmouseover="alert(1)">Mallory</b>', "mallory@evil.test")
    ticket = make_ticket(team, "Hi", customer=customer)
    add("hello", body="Hi {{customer.name}}")
    sign_in(client, users.agent)
    menu = client.get(f"/canned/suggest?thread={ticket.ensure_thread().id}&q=").get_data(as_text=True)
    assert "<b onmouseover" not in menu and "Hi &lt;b onmouseover=&#34;alert(1)&#34;&gt;Mallory&lt;/b&gt;" in menu


# ---- demo data -------------------------------------------------------------------------------

def test_the_demo_has_canned_responses_an_agent_can_insert(client):
    demo.load("a demo password 123")
    db.session.commit()
    rows = db.session.scalars(select(CannedResponse).order_by(CannedResponse.used_count.desc())).all()
    assert [r.shortcut for r in rows] == ["greeting", "more-info", "refund", "solved"]
    maya = db.session.scalar(select(User).where(User.email == "maya.fischer@example.com"))
    ticket = db.session.scalar(select(Ticket).where(Ticket.title == "Invoice charged twice in October"))
    login(client, maya, "a demo password 123")
    token = csrf_token(client, "/login")
    menu = client.get(f"/canned/suggest?thread={ticket.ensure_thread().id}&q=re").get_data(as_text=True)
    assert "::refund" in menu and "Hello Marcus," in menu
    text = client.post(f"/canned/{rows[0].id}/use?thread={ticket.thread.id}",
                       headers={"X-CSRFToken": token}).get_json()["text"]
    assert text.startswith(f"Hello Marcus,\n\nThanks for getting in touch. I'm looking into #{ticket.id}")
    assert text.endswith("Best,\nMaya")
