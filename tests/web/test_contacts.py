"""The contacts area: list and search, create, edit (tracked), the contact page, staff only."""
import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Contact, Follower, Message, Ticket, TrackingValue
from tests.conftest import csrf_token, login, make_contact

HX = {"HX-Request": "true"}


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def agent(client, users):
    login(client, users.agent)
    return users.agent


def names_in(html: str) -> list[str]:
    return re.findall(r'<span><strong>([^<]+)</strong>', html)


# ---- access ----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/contacts", "/contacts/new", "/contacts/{id}", "/contacts/{id}/edit"])
def test_portal_users_are_refused(client, users, path):
    contact = make_contact("Somebody")
    login(client, users.portal)
    assert client.get(path.format(id=contact.id)).status_code == 403


@pytest.mark.parametrize("path", ["/contacts", "/contacts/new", "/contacts/{id}", "/contacts/{id}/edit"])
def test_anonymous_visitors_sign_in_first(client, path):
    contact = make_contact("Somebody")
    response = client.get(path.format(id=contact.id))
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get(path.format(id=contact.id), headers=HX).status_code == 401


def test_portal_users_cannot_create_contacts(client, users):
    login(client, users.portal)
    token = csrf_token(client, "/login")
    response = client.post("/contacts/new", data={"name": "Sneaky", "csrf_token": token})
    assert response.status_code == 403 and count(Contact, Contact.name == "Sneaky") == 0


# ---- the list --------------------------------------------------------------------------------

def test_the_list_is_sorted_by_name_with_details(client, agent):
    make_contact("zoe Zimmer", "zoe@z.test", company="Zed Corp", phone="+1 555 0100", job_title="Buyer")
    make_contact("Adam Ant", "adam@a.test")
    page = client.get("/contacts").get_data(as_text=True)
    assert names_in(page) == ["Adam Ant", "Portal Person", "zoe Zimmer"]  # case-insensitive order
    assert "Zed Corp" in page and "+1 555 0100" in page and "Buyer" in page and "zoe@z.test" in page
    assert "1–3 of 3" in page


@pytest.mark.parametrize("query, expected", [
    ("ada", ["Ada Lovelace"]),                 # name
    ("babbage.test", ["Charles Babbage"]),     # email
    ("engines", ["Ada Lovelace", "Charles Babbage"]),  # company
    ("ada engines", ["Ada Lovelace"]),         # every word must match
    ("LOVELACE", ["Ada Lovelace"]),            # case-insensitive
    ("100%", []),                              # wildcards are plain text
    ("_", []),
])
def test_search_by_name_email_or_company(client, agent, query, expected):
    make_contact("Ada Lovelace", "ada@lovelace.test", company="Analytical Engines")
    make_contact("Charles Babbage", "charles@babbage.test", company="Difference Engines")
    make_contact("Grace Hopper", "grace@navy.test", company="Navy")
    page = client.get("/contacts", query_string={"q": query}).get_data(as_text=True)
    assert names_in(page) == expected


def test_htmx_search_returns_only_the_results(client, agent):
    make_contact("Ada Lovelace")
    response = client.get("/contacts?q=ada", headers={**HX, "HX-Target": "contacts-results"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html and "Ada Lovelace" in html
    # A history restore (htmx cache miss) needs the whole page again.
    full = client.get("/contacts?q=ada", headers={**HX, "HX-Target": "contacts-results",
                                                  "HX-History-Restore-Request": "true"})
    assert "<html" in full.get_data(as_text=True)


def test_the_search_form_works_with_and_without_javascript(client, agent):
    page = client.get("/contacts?q=x").get_data(as_text=True)
    form = re.search(r'<form class="list-toolbar"[^>]*>', page).group(0)
    assert 'method="get"' in form and 'action="/contacts"' in form
    assert 'hx-push-url="true"' in form and "delay:300ms" in form
    assert 'name="q" value="x"' in page


def test_pages_follow_the_configured_size(app, client, agent, monkeypatch):
    monkeypatch.setitem(app.config, "LIST_PAGE_SIZE", 2)
    for name in ("Ann", "Ben", "Cid", "Dot", "Eve"):  # and the users fixture's "Portal Person"
        make_contact(name)
    first = client.get("/contacts").get_data(as_text=True)
    assert names_in(first) == ["Ann", "Ben"] and "1–2 of 6" in first and "Page 1 of 3" in first
    assert 'href="/contacts?page=2"' in first and "Previous" not in first
    last = client.get("/contacts?page=3").get_data(as_text=True)
    assert names_in(last) == ["Eve", "Portal Person"] and "5–6 of 6" in last and "Next" not in last
    beyond = client.get("/contacts?page=99").get_data(as_text=True)
    assert names_in(beyond) == ["Eve", "Portal Person"]
    assert names_in(client.get("/contacts?page=abc").get_data(as_text=True)) == ["Ann", "Ben"]
    searched = client.get("/contacts?q=e&page=2").get_data(as_text=True)
    assert 'href="/contacts?q=e"' in searched  # "Previous" keeps the search


def test_empty_states(client, users, agent):
    db.session.delete(users.portal_contact)
    db.session.commit()
    assert "No contacts yet" in client.get("/contacts").get_data(as_text=True)
    make_contact("Ada")
    page = client.get("/contacts?q=nobody").get_data(as_text=True)
    assert "No contact matches “nobody”" in page and "Clear the search" in page


# ---- create ----------------------------------------------------------------------------------

def test_create_a_contact(client, agent):
    token = csrf_token(client, "/contacts/new")
    response = client.post("/contacts/new", data={
        "name": "  Ada Lovelace ", "email": "Ada@Lovelace.TEST", "phone": "+44 20 7946 0000",
        "company": "Analytical Engines", "job_title": "", "notes": "Prefers email", "csrf_token": token,
    })
    contact = db.session.scalar(select(Contact).where(Contact.name == "Ada Lovelace"))
    assert response.status_code == 302 and response.headers["Location"] == f"/contacts/{contact.id}"
    assert contact.email == "Ada@lovelace.test"  # the domain normalised, the local part as typed
    assert contact.job_title is None and contact.notes == "Prefers email"
    thread = contact.thread
    followers = {(f.contact_id, f.user_id) for f in db.session.scalars(select(Follower).where(Follower.thread_id == thread.id))}
    assert followers == {(contact.id, None), (None, agent.id)}  # the contact itself and its creator
    created = db.session.scalars(select(Message).where(Message.thread_id == thread.id)).one()
    assert created.kind == "notification" and "Contact created" in created.body_html
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Ada Lovelace was added." in page and "Analytical Engines" in page


def test_an_invalid_form_is_422_and_keeps_what_was_typed(client, agent):
    before = count(Contact)
    token = csrf_token(client, "/contacts/new")
    response = client.post("/contacts/new", data={
        "name": "", "email": "not-an-address", "phone": "call me maybe", "company": "Kept Company Ltd",
        "notes": "Kept notes", "csrf_token": token,
    })
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Enter the contact&#39;s name." in page or "Enter the contact's name." in page
    assert "Enter a valid email address" in page and "Use digits" in page
    assert 'value="Kept Company Ltd"' in page and "Kept notes</textarea>" in page and 'value="not-an-address"' in page
    assert 'aria-invalid="true"' in page and count(Contact) == before


def test_two_contacts_cannot_share_an_address(client, agent):
    make_contact("First Owner", "shared@customer.test")
    token = csrf_token(client, "/contacts/new")
    response = client.post("/contacts/new", data={"name": "Second", "email": "SHARED@customer.test",
                                                  "csrf_token": token})
    assert response.status_code == 422 and "First Owner already uses this address." in response.get_data(as_text=True)


def test_a_contact_without_email_does_not_follow_itself(client, agent):
    token = csrf_token(client, "/contacts/new")
    client.post("/contacts/new", data={"name": "Phone Only", "phone": "555 0100", "csrf_token": token})
    contact = db.session.scalar(select(Contact).where(Contact.name == "Phone Only"))
    assert count(Follower, Follower.contact_id == contact.id) == 0


# ---- edit ------------------------------------------------------------------------------------

def test_editing_tracked_fields_logs_the_change(client, agent):
    contact = make_contact("Ada Lovelace", "ada@old.test", phone="+1 555 0100", company="Old Co")
    token = csrf_token(client, f"/contacts/{contact.id}/edit")
    form = client.get(f"/contacts/{contact.id}/edit").get_data(as_text=True)
    assert 'value="ada@old.test"' in form and 'value="Old Co"' in form

    response = client.post(f"/contacts/{contact.id}/edit", data={
        "name": "Ada Lovelace", "email": "ada@new.test", "phone": "+1 555 0100", "company": "",
        "job_title": "Countess", "notes": "", "csrf_token": token,
    })
    assert response.status_code == 302
    tracking = db.session.scalars(select(Message).where(Message.kind == "tracking")).one()
    values = [(t.field_label, t.old_value, t.new_value) for t in tracking.tracking_values]
    assert values == [("Email", "ada@old.test", "ada@new.test"), ("Company", "Old Co", None)]
    assert tracking.author_user_id == agent.id
    page = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "Changes saved." in page
    assert re.search(r'tracking-field">Email</span>\s*<span class="tracking-old">ada@old.test</span>', page)
    assert "Countess" in page


def test_saving_without_tracked_changes_logs_nothing(client, agent):
    contact = make_contact("Ada", "ada@x.test")
    token = csrf_token(client, f"/contacts/{contact.id}/edit")
    client.post(f"/contacts/{contact.id}/edit", data={"name": "Ada", "email": "ada@x.test",
                                                      "notes": "only notes", "csrf_token": token})
    assert count(TrackingValue) == 0
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).notes == "only notes"


def test_an_invalid_edit_changes_nothing(client, agent):
    contact = make_contact("Ada", "ada@x.test")
    token = csrf_token(client, f"/contacts/{contact.id}/edit")
    response = client.post(f"/contacts/{contact.id}/edit", data={"name": "", "email": "x@y.test",
                                                                 "csrf_token": token})
    assert response.status_code == 422 and 'value="x@y.test"' in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).email == "ada@x.test" and count(Message) == 0


def test_edit_without_csrf_is_400(client, agent):
    contact = make_contact("Ada", "ada@x.test")
    assert client.post(f"/contacts/{contact.id}/edit", data={"name": "Changed"}).status_code == 400
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).name == "Ada"


def test_unknown_contacts_are_404(client, agent):
    assert client.get("/contacts/424242").status_code == 404
    assert client.get("/contacts/424242/edit").status_code == 404


# ---- the contact page ------------------------------------------------------------------------

def test_the_contact_page_has_the_card_and_the_chatter(client, agent):
    contact = make_contact("Ada Lovelace", "ada@lovelace.test", phone="+44 20 7946 0000",
                           company="Analytical Engines", job_title="Countess", notes="Met at the Expo")
    page = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    thread = contact.thread  # created on the first visit
    assert thread is not None
    assert 'href="mailto:ada@lovelace.test"' in page and 'href="tel:+442079460000"' in page
    assert "Countess · Analytical Engines" in page and "Met at the Expo" in page
    assert f'id="chatter-{thread.id}"' in page and f"topics=thread:{thread.id}" in page
    assert f'href="/contacts/{contact.id}/edit"' in page


# ---- demo data -------------------------------------------------------------------------------

def test_demo_data_fills_the_contacts_and_their_conversations(app, client):
    """`flask demo load` runs outside any request; its contacts then show here like any other."""
    from app.services import demo
    from app.models import Notification, OutboxMail, User

    demo.load("a demo password 123")
    db.session.commit()
    admin = db.session.scalar(select(User).where(User.email == "admin@example.com"))
    assert admin.is_admin and admin.check_password("a demo password 123")
    assert count(User, User.role == "agent") == 4 and count(Contact) == 25
    # 2 on contacts, 3 moves of the open tickets, one "solved" move per ticket of the history
    solved_history = count(Ticket, Ticket.closed_at.is_not(None)) - 1
    assert count(Message, Message.kind == "note") >= 5
    assert count(Message, Message.kind == "tracking") == 5 + solved_history and solved_history >= 20
    assert count(Notification, Notification.kind == "mention") >= 4 and count(OutboxMail) >= 4
    from app.models import Channel

    assert sorted(db.session.scalars(select(Channel.kind))) == ["channel", "channel", "dm"]
    from app.models import MailAlias

    from app.models import Team

    [alias] = db.session.scalars(select(MailAlias)).all()  # mail opens tickets at once
    assert (alias.local_part, alias.target, alias.team_id) == ("support", "ticket", db.session.scalar(select(Team.id)))
    assert db.session.scalar(select(func.count(Ticket.id)).where(Ticket.closed_at.is_(None))) == 3  # on the board
    login(client, admin, "a demo password 123")
    elena = db.session.scalar(select(Contact).where(Contact.name == "Elena Petrova"))
    page = client.get(f"/contacts/{elena.id}").get_data(as_text=True)
    assert '<span class="mention">@Jonas Berg</span>' in page and "onboarding-checklist.csv" in page
    assert re.search(r'tracking-field">Phone</span>', page)
    assert "Elena Petrova" in client.get("/contacts?q=northwind").get_data(as_text=True)
