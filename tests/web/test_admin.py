"""Settings pages for admins: users, invitations, roles, deactivation and the outbox."""
import re

import pytest

from app.extensions import db
from app.models import OutboxMail, User
from app.services import accounts, mailer
from tests.conftest import PASSWORD, csrf_token, login, make_user
from tests.web.conftest import last_mail, link_path


def admin_client(client, users):
    login(client, users.admin)
    return client


def post(client, path, data=None):
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client, "/profile")})


@pytest.fixture
def outbox_mail(app):
    mail = mailer.send_mail("someone@example.com", "Hello there", "Plain text body",
                            "<p>Hello <b>there</b></p><script>alert(1)</script>", kind="notification")
    db.session.commit()
    return mail


# ---- who may open Settings ------------------------------------------------------------------

ROUTES = [
    ("GET", "/admin/users", 200),
    ("GET", "/admin/users?q=bob&role=agent&status=active&page=1", 200),
    ("GET", "/admin/users/invite", 200),
    ("POST", "/admin/users/invite", 302),
    ("GET", "/admin/users/{target}", 200),
    ("POST", "/admin/users/{target}/role", 302),
    ("POST", "/admin/users/{target}/deactivate", 302),
    ("POST", "/admin/users/{target}/reactivate", 302),
    ("POST", "/admin/users/{invited}/resend-invite", 302),
    ("GET", "/admin/outbox", 200),
    ("GET", "/admin/outbox?kind=invite", 200),
    ("GET", "/admin/outbox/{mail}", 200),
    ("GET", "/admin/outbox/{mail}/html", 200),
]
FORMS = {
    "/admin/users/invite": {"email": "fresh@example.com", "name": "Fresh", "role": "agent"},
    "/admin/users/{target}/role": {"role": "admin"},
}


@pytest.mark.parametrize("method, template, admin_status", ROUTES)
@pytest.mark.parametrize("who", ["anonymous", "portal", "agent", "admin"])
def test_settings_are_for_admins_only(client, users, outbox_mail, who, method, template, admin_status):
    invited = accounts.create_user("invited@example.com", "Invited")
    db.session.commit()
    path = template.format(target=users.agent2.id, invited=invited.id, mail=outbox_mail.id)
    if who != "anonymous":
        login(client, getattr(users, who))
        token = csrf_token(client, "/profile")
    else:
        token = csrf_token(client, "/login")
    data = {**FORMS.get(template, {}), "csrf_token": token}
    response = client.get(path) if method == "GET" else client.post(path, data=data)
    if who == "anonymous":
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")
    elif who in ("portal", "agent"):
        assert response.status_code == 403
        assert b"Not allowed" in response.data
    else:
        assert response.status_code == admin_status, response.data[:400]
    if who != "admin" and method == "POST":  # nothing changed
        db.session.expire_all()
        assert db.session.get(User, users.agent2.id).role == "agent"
        assert db.session.get(User, users.agent2.id).active
        assert accounts.find_user_by_email("fresh@example.com") is None


def test_settings_link_shows_for_admins_only(client, users, make_client):
    login(client, users.admin)
    assert b'href="/admin/users"' in client.get("/profile").data
    agent = make_client()
    login(agent, users.agent)
    assert b'href="/admin/users"' not in agent.get("/profile").data


# ---- the user list ----------------------------------------------------------------------------

def test_users_page_lists_everyone_with_role_and_status(client, users):
    accounts.create_user("invited@example.com", "Ivy Invited")
    users.agent2.active = False
    db.session.commit()
    html = admin_client(client, users).get("/admin/users").get_data(as_text=True)
    for user in (users.admin, users.agent, users.agent2, users.portal):
        assert user.email in html
    assert "Ivy Invited" in html
    assert "tag-status-invited" in html and "tag-status-deactivated" in html and "tag-status-active" in html
    assert 'href="/admin/outbox"' in html  # the sub-navigation
    assert "Invite user" in html


@pytest.mark.parametrize("query, shown, hidden", [
    ({"q": "bob"}, ["Bob Agent"], ["Carol Agent", "Alice Admin"]),
    ({"q": "AGENT2@"}, ["Carol Agent"], ["Bob Agent"]),
    ({"role": "portal"}, ["Portal Person"], ["Bob Agent", "Alice Admin"]),
    ({"role": "admin"}, ["Alice Admin"], ["Bob Agent", "Portal Person"]),
    ({"status": "deactivated"}, ["Carol Agent"], ["Bob Agent"]),
    ({"status": "invited"}, ["Ivy Invited"], ["Bob Agent"]),
    ({"q": "%"}, [], ["Bob Agent"]),
])
def test_users_search_and_filters(client, users, query, shown, hidden):
    accounts.create_user("invited@example.com", "Ivy Invited")
    users.agent2.active = False
    db.session.commit()
    admin_client(client, users)
    html = client.get("/admin/users", query_string=query, headers={"HX-Request": "true"}).get_data(as_text=True)
    for name in shown:
        assert name in html
    for name in hidden:
        assert name not in html
    if not shown:
        assert "No users match" in html


def test_users_are_paginated(client, users, app, monkeypatch):
    monkeypatch.setitem(app.config, "LIST_PAGE_SIZE", 3)
    admin_client(client, users)
    first = client.get("/admin/users").get_data(as_text=True)
    assert "1–3 of 4" in first and "Page 1 of 2" in first
    assert 'href="/admin/users?page=2"' in first
    second = client.get("/admin/users?page=2").get_data(as_text=True)
    assert "4–4 of 4" in second
    assert second.count('class="user-cell"') == 1
    filtered = client.get("/admin/users?role=agent&page=1").get_data(as_text=True)
    assert "Page" not in filtered or "Page 1 of 1" not in filtered
    assert client.get("/admin/users?page=abc").status_code == 200
    assert client.get("/admin/users?page=99").status_code == 200


def test_pagination_links_keep_the_filters(client, users, app, monkeypatch):
    monkeypatch.setitem(app.config, "LIST_PAGE_SIZE", 1)
    html = admin_client(client, users).get("/admin/users?role=agent").get_data(as_text=True)
    assert 'href="/admin/users?role=agent&amp;page=2"' in html


def test_htmx_search_gets_only_the_table(client, users):
    admin_client(client, users)
    response = client.get("/admin/users?q=bob", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="users-table">') or 'id="users-table"' in html
    assert "<html" not in html and "Bob Agent" in html and "Carol Agent" not in html
    restored = client.get("/admin/users?q=bob", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert b"<html" in restored.data


# ---- invitations -------------------------------------------------------------------------------

def test_invite_creates_a_user_without_password_and_mails_a_link(client, users, make_client):
    admin_client(client, users)
    assert client.get("/admin/users/invite").status_code == 200
    response = post(client, "/admin/users/invite", {"email": "New.Person@Example.com", "name": "New Person",
                                                    "role": "agent"})
    user = accounts.find_user_by_email("new.person@example.com")
    assert user is not None and user.password_hash is None and user.role == "agent"
    assert response.status_code == 302 and response.headers["Location"] == f"/admin/users/{user.id}"
    mail = last_mail("invite")
    assert mail.to == "new.person@example.com"
    assert "Alice Admin invited you" in mail.body_text
    assert accounts.user_status(user) == "invited"
    # The invitee follows the link and lands signed in.
    invitee = make_client()
    path = link_path(mail)
    assert invitee.get(path).status_code == 200
    accepted = invitee.post(path, data={"name": "New Person", "password": "my own passphrase",
                                        "confirm": "my own passphrase", "csrf_token": csrf_token(invitee, "/login")})
    assert accepted.status_code == 302
    assert invitee.get("/profile").status_code == 200


def test_inviting_a_portal_user_links_their_contact(client, users):
    admin_client(client, users)
    post(client, "/admin/users/invite", {"email": "buyer@customer.test", "name": "Bea Buyer", "role": "portal"})
    user = accounts.find_user_by_email("buyer@customer.test")
    assert user.role == "portal" and user.contact is not None
    assert user.contact.email == "buyer@customer.test"


@pytest.mark.parametrize("data, message", [
    ({"email": "agent@example.com", "name": "Again", "role": "agent"}, "A user with this email already exists."),
    ({"email": "not-an-address", "name": "X", "role": "agent"}, "Enter a valid email address"),
    ({"email": "", "name": "X", "role": "agent"}, "Enter the email address to invite."),
    ({"email": "x@example.com", "name": "", "role": "agent"}, "Enter the person&#39;s name."),
    ({"email": "x@example.com", "name": "X", "role": "superuser"}, "Not a valid choice"),
])
def test_invite_refuses_bad_input_and_keeps_it(client, users, data, message):
    admin_client(client, users)
    count = db.session.query(User).count()
    response = post(client, "/admin/users/invite", data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html
    if data["email"]:
        assert f'value="{data["email"]}"' in html
    assert db.session.query(User).count() == count
    assert last_mail("invite") is None


def test_resend_invitation_sends_a_new_link_and_kills_the_old_one(client, users):
    user = accounts.invite_user("late@example.com", "Late Person", "agent")
    db.session.commit()
    old_path = link_path(last_mail("invite"))
    admin_client(client, users)
    page = client.get(f"/admin/users/{user.id}").get_data(as_text=True)
    assert "Resend invitation" in page
    response = post(client, f"/admin/users/{user.id}/resend-invite")
    assert response.status_code == 302
    new_path = link_path(last_mail("invite"))
    assert new_path != old_path
    assert client.get(old_path).status_code == 400
    assert client.get(new_path).status_code == 200


def test_resend_invitation_is_refused_once_accepted(client, users):
    admin_client(client, users)
    response = post(client, f"/admin/users/{users.agent.id}/resend-invite")
    assert response.status_code == 422
    assert b"already accepted the invitation" in response.data
    assert last_mail("invite") is None


# ---- roles and deactivation ------------------------------------------------------------------------

def test_admin_changes_a_role(client, users):
    admin_client(client, users)
    response = post(client, f"/admin/users/{users.agent.id}/role", {"role": "admin"})
    assert response.status_code == 302
    db.session.refresh(users.agent)
    assert users.agent.role == "admin"


def test_admin_cannot_change_their_own_role(client, users):
    admin_client(client, users)
    response = post(client, f"/admin/users/{users.admin.id}/role", {"role": "agent"})
    assert response.status_code == 422
    assert b"You cannot change your own role" in response.data
    db.session.refresh(users.admin)
    assert users.admin.role == "admin"


def test_unknown_role_is_422(client, users):
    admin_client(client, users)
    response = post(client, f"/admin/users/{users.agent.id}/role", {"role": "root"})
    assert response.status_code == 422
    assert b"Not a valid choice" in response.data


def test_deactivating_a_user_ends_their_sessions(client, users, make_client):
    agent = make_client()
    login(agent, users.agent)
    assert agent.get("/profile").status_code == 200
    admin_client(client, users)
    response = post(client, f"/admin/users/{users.agent.id}/deactivate")
    assert response.status_code == 302
    db.session.refresh(users.agent)
    assert not users.agent.active
    ended = agent.get("/profile")
    assert ended.status_code == 302 and ended.headers["Location"].startswith("/login")
    page = client.get(f"/admin/users/{users.agent.id}").get_data(as_text=True)
    assert "Reactivate" in page and "Deactivated" in page


def test_deactivated_user_with_remember_cookie_is_signed_out_too(client, users, make_client):
    agent = make_client()
    agent.post("/login", data={"email": users.agent.email, "password": PASSWORD, "remember": "y",
                               "csrf_token": csrf_token(agent, "/login")})
    agent.delete_cookie("session")  # only the remember cookie is left
    assert agent.get("/profile").status_code == 200
    admin_client(client, users)
    post(client, f"/admin/users/{users.agent.id}/deactivate")
    agent.delete_cookie("session")
    assert agent.get("/profile").status_code == 302


def test_reactivating_lets_the_user_sign_in_again(client, users, make_client):
    users.agent.active = False
    db.session.commit()
    admin_client(client, users)
    assert post(client, f"/admin/users/{users.agent.id}/reactivate").status_code == 302
    db.session.refresh(users.agent)
    assert users.agent.active
    login(make_client(), users.agent)


def test_admin_cannot_deactivate_themselves(client, users):
    admin_client(client, users)
    response = post(client, f"/admin/users/{users.admin.id}/deactivate")
    assert response.status_code == 422
    assert b"You cannot deactivate your own account." in response.data
    db.session.refresh(users.admin)
    assert users.admin.active
    assert client.get("/profile").status_code == 200


def test_unknown_user_is_404(client, users):
    admin_client(client, users)
    assert client.get("/admin/users/999999").status_code == 404
    assert post(client, "/admin/users/999999/deactivate").status_code == 404


# ---- outbox ------------------------------------------------------------------------------------

def test_outbox_lists_mail_newest_first_and_filters_by_kind(client, users):
    accounts.invite_user("one@example.com", "One", "agent")
    db.session.commit()
    mailer.send_mail("two@example.com", "Second mail", "body", kind="notification")
    db.session.commit()
    html = admin_client(client, users).get("/admin/outbox").get_data(as_text=True)
    assert html.index("Second mail") < html.index("You are invited")
    filtered = client.get("/admin/outbox?kind=invite").get_data(as_text=True)
    assert "You are invited" in filtered and "Second mail" not in filtered
    assert client.get("/admin/outbox?kind=nonsense").status_code == 200


def test_outbox_is_paginated(client, users, app, monkeypatch):
    monkeypatch.setitem(app.config, "LIST_PAGE_SIZE", 2)
    for n in range(5):
        mailer.send_mail("x@example.com", f"Mail number {n}", "body")
    db.session.commit()
    admin_client(client, users)
    first = client.get("/admin/outbox").get_data(as_text=True)
    assert "Mail number 4" in first and "Mail number 3" in first and "Mail number 2" not in first
    last = client.get("/admin/outbox?page=3").get_data(as_text=True)
    assert "Mail number 0" in last and "5–5 of 5" in last


def test_empty_outbox_says_so(client, users):
    html = admin_client(client, users).get("/admin/outbox").get_data(as_text=True)
    assert "No mail yet" in html


def test_outbox_mail_shows_headers_and_never_runs_its_html(client, users, outbox_mail):
    admin_client(client, users)
    html = client.get(f"/admin/outbox/{outbox_mail.id}").get_data(as_text=True)
    assert "someone@example.com" in html and outbox_mail.message_id.strip("<>") in html
    assert "Plain text body" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the source, escaped
    assert re.search(r'<iframe[^>]* sandbox[ >]', html)
    assert f'src="/admin/outbox/{outbox_mail.id}/html"' in html


def test_outbox_html_part_is_served_sandboxed(client, users, outbox_mail):
    admin_client(client, users)
    response = client.get(f"/admin/outbox/{outbox_mail.id}/html")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert csp.startswith("sandbox") and "default-src 'none'" in csp and "script-src" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert b"<b>there</b>" in response.data


def test_outbox_html_part_of_a_text_only_mail_is_404(client, users):
    mail = mailer.send_mail("x@example.com", "Text only", "just text")
    db.session.commit()
    admin_client(client, users)
    assert client.get(f"/admin/outbox/{mail.id}/html").status_code == 404
    page = client.get(f"/admin/outbox/{mail.id}").get_data(as_text=True)
    assert "<iframe" not in page and "just text" in page


def test_outbox_unknown_mail_is_404(client, users):
    admin_client(client, users)
    assert client.get("/admin/outbox/424242").status_code == 404


def test_reset_mail_reaches_the_outbox_with_both_parts(client, users):
    accounts.request_password_reset(users.agent.email)
    db.session.commit()
    mail = db.session.query(OutboxMail).one()
    assert mail.kind == "reset" and mail.body_html and "Choose a new password" in mail.body_html
    assert link_path(mail).startswith("/password/reset/")


def test_make_user_factory_still_works_for_new_admins(client, users):
    second = make_user("admin", "second-admin@example.com", "Second Admin")
    admin_client(client, users)
    assert post(client, f"/admin/users/{second.id}/role", {"role": "agent"}).status_code == 302


def test_outbox_shows_how_delivery_went(app, client, users, smtp_server, run_jobs):
    smtp_server.refuse["gone@customer.test"] = "550 5.1.1 Mailbox unavailable"
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        ok = mailer.send_mail("ada@customer.test", "Delivered one", "body")
        bad = mailer.send_mail("gone@customer.test", "Refused one", "body")
        db.session.commit()
        ok_id, bad_id = ok.id, bad.id
    run_jobs()
    login(client, users.admin)
    listing = client.get("/admin/outbox").get_data(as_text=True)
    assert 'class="tag delivery-sent"' in listing and 'class="tag delivery-failed"' in listing
    assert "550 5.1.1 Mailbox unavailable" in listing  # the reason, in the failed tag's title
    page = client.get(f"/admin/outbox/{bad_id}").get_data(as_text=True)
    assert "Failed" in page and "1 attempt" in page and "550 5.1.1 Mailbox unavailable" in page
    assert "sent " in client.get(f"/admin/outbox/{ok_id}").get_data(as_text=True)
