"""Signing in and out, password resets and invitations, through the pages."""
import re

import pytest
from itsdangerous import TimestampSigner

from app.extensions import db
from app.models import OutboxMail, User
from app.services import accounts
from tests.conftest import PASSWORD, csrf_token, login
from tests.web.conftest import last_mail, link_path

NEW_PASSWORD = "a brand new passphrase"
TOKEN = re.compile(r"[\w-]{10,}\.[\w-]{4,}\.[\w-]{10,}")  # CSRF tokens differ from page to page


def post_login(client, email, password, **extra):
    data = {"email": email, "password": password, "csrf_token": csrf_token(client, "/login"), **extra}
    return client.post("/login", data=data)


def signed_in(client) -> bool:
    """Whether this client's session is still signed in (the profile needs a user)."""
    return client.get("/profile").status_code == 200


# ---- sign in -------------------------------------------------------------------------------

def test_login_page_is_a_branded_form_with_csrf(client):
    page = client.get("/login")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="email"' in html and 'name="password"' in html and 'name="remember"' in html
    assert 'name="csrf_token"' in html
    assert "auth-card" in html and "Forgot password?" in html
    assert "<script>" not in html and "style=" not in html


def test_staff_sign_in_lands_in_the_app(client, users):
    response = post_login(client, "ADMIN@example.com ", PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert signed_in(client)
    assert db.session.get(User, users.admin.id).last_login_at is not None


def test_portal_users_land_on_their_tickets(client, users):
    response = post_login(client, users.portal.email, PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/my/tickets"


@pytest.mark.parametrize("email, password", [
    ("agent@example.com", "wrong password here"),
    ("nobody@example.com", PASSWORD),
])
def test_bad_credentials_get_one_generic_message(client, users, email, password):
    response = post_login(client, email, password)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Wrong email or password." in html
    assert f'value="{email}"' in html  # what was typed stays
    assert 'value="' + password not in html  # but never the password
    assert not signed_in(client)


def test_empty_form_is_422_with_field_messages(client):
    response = client.post("/login", data={"csrf_token": csrf_token(client, "/login")})
    assert response.status_code == 422
    assert b"Enter your email address." in response.data
    assert b"Enter your password." in response.data


def test_missing_csrf_token_is_refused(client, users):
    response = client.post("/login", data={"email": users.agent.email, "password": PASSWORD})
    assert response.status_code == 400
    assert not signed_in(client)


def test_deactivated_users_cannot_sign_in(client, users):
    users.agent.active = False
    db.session.commit()
    response = post_login(client, users.agent.email, PASSWORD)
    assert response.status_code == 422
    assert b"Wrong email or password." in response.data


def test_invited_users_without_a_password_cannot_sign_in(client, users):
    invited = accounts.create_user("new@example.com", "New Person")
    db.session.commit()
    response = post_login(client, invited.email, "")
    assert response.status_code == 422
    response = post_login(client, invited.email, "anything at all")
    assert response.status_code == 422


def test_remember_me_sets_a_long_lived_cookie(client, users):
    response = post_login(client, users.agent.email, PASSWORD, remember="y")
    assert response.status_code == 302
    assert client.get_cookie("remember_token") is not None


def test_without_remember_me_there_is_no_remember_cookie(client, users):
    post_login(client, users.agent.email, PASSWORD)
    assert client.get_cookie("remember_token") is None


def test_signed_in_users_visiting_login_are_sent_on(client, users):
    login(client, users.agent)
    response = client.get("/login")
    assert response.status_code == 302 and response.headers["Location"] == "/"


@pytest.mark.parametrize("target", ["/profile", "/admin/users?role=agent&page=2"])
def test_next_redirects_within_the_site(client, users, target):
    page = client.get("/login", query_string={"next": target})
    response = client.post("/login", query_string={"next": target}, data={
        "email": users.admin.email, "password": PASSWORD, "csrf_token": csrf_token(client, "/login"),
    })
    assert page.status_code == 200
    assert response.status_code == 302
    assert response.headers["Location"] == target


@pytest.mark.parametrize("target", [
    "//evil.test", "///evil.test", "https://evil.test", "http:evil.test", "/\\evil.test", "/\\/evil.test",
    "\\\\evil.test", "/\t/evil.test", "/\n/evil.test", "javascript:alert(1)", "evil.test/path", "",
    "https:/evil.test",
])
def test_next_never_leaves_the_site(client, users, target):
    response = client.post("/login", query_string={"next": target}, data={
        "email": users.agent.email, "password": PASSWORD, "csrf_token": csrf_token(client, "/login"),
    })
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_the_login_form_keeps_next_in_its_action(client):
    html = client.get("/login?next=/profile").get_data(as_text=True)
    assert 'action="/login?next=/profile"' in html
    html = client.get("/login?next=//evil.test").get_data(as_text=True)
    assert 'action="/login"' in html


def test_protected_pages_send_anonymous_visitors_to_login_with_next(client):
    response = client.get("/profile")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fprofile"


# ---- rate limit ------------------------------------------------------------------------------

def test_eleventh_bad_login_in_a_minute_is_429(client, users, app):
    assert app.config["LOGIN_RATE_LIMIT"] == "10 per minute"
    token = csrf_token(client, "/login")
    for attempt in range(10):
        response = client.post("/login", data={"email": users.agent.email, "password": f"wrong {attempt}",
                                               "csrf_token": token})
        assert response.status_code == 422, attempt
    response = client.post("/login", data={"email": users.agent.email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 429
    assert b"Too many attempts" in response.data
    assert not signed_in(client)


def test_successful_logins_do_not_use_up_the_limit(client, users, make_client):
    for _ in range(12):
        login(make_client(), users.agent)
    assert post_login(client, users.agent.email, "wrong password!").status_code == 422


def test_forgot_password_is_rate_limited_too(client, users):
    token = csrf_token(client, "/password/forgot")
    codes = [client.post("/password/forgot", data={"email": users.agent.email, "csrf_token": token}).status_code
             for _ in range(11)]
    assert codes[:10] == [200] * 10 and codes[10] == 429


# ---- sign out ----------------------------------------------------------------------------------

def test_logout_is_a_post_with_csrf(client, users):
    login(client, users.agent)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400  # no CSRF token
    assert signed_in(client)
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/profile")})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert not signed_in(client)


# ---- password reset ------------------------------------------------------------------------------

def request_reset(client, email):
    return client.post("/password/forgot", data={"email": email, "csrf_token": csrf_token(client, "/password/forgot")})


def reset_link_for(client, user) -> str:
    assert request_reset(client, user.email).status_code == 200
    mail = last_mail("reset")
    assert mail is not None and mail.to == user.email
    return link_path(mail)


def set_password(client, path, password=NEW_PASSWORD, confirm=None):
    return client.post(path, data={"password": password, "confirm": confirm or password,
                                   "csrf_token": csrf_token(client, "/login")})


def test_forgot_password_answers_the_same_for_known_and_unknown_addresses(client, users):
    known = request_reset(client, users.agent.email)
    unknown = request_reset(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    def page(response, email):
        return TOKEN.sub("TOKEN", response.get_data(as_text=True).replace(email, "ADDRESS"))

    assert page(known, users.agent.email) == page(unknown, "nobody@example.com")
    assert db.session.query(OutboxMail).count() == 1
    assert last_mail("reset").to == users.agent.email


def test_no_reset_mail_for_deactivated_users(client, users):
    users.agent2.active = False
    db.session.commit()
    assert request_reset(client, users.agent2.email).status_code == 200
    assert last_mail("reset") is None


def test_forgot_password_needs_a_valid_address(client):
    response = request_reset(client, "not an address")
    assert response.status_code == 422
    assert b"Enter a valid email address" in response.data
    assert b'value="not an address"' in response.data


def test_reset_link_sets_a_new_password_and_ends_every_session(client, users, make_client):
    other = make_client()
    login(other, users.agent)
    path = reset_link_for(client, users.agent)
    page = client.get(path)
    assert page.status_code == 200 and users.agent.email.encode() in page.data
    response = set_password(client, path)
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert not signed_in(other)
    assert post_login(make_client(), users.agent.email, PASSWORD).status_code == 422
    assert post_login(make_client(), users.agent.email, NEW_PASSWORD).status_code == 302


def test_reset_link_works_once(client, users):
    path = reset_link_for(client, users.agent)
    assert set_password(client, path).status_code == 302
    again = client.get(path)
    assert again.status_code == 400
    assert b"already used" in again.data
    assert set_password(client, path, "yet another passphrase").status_code == 400
    assert db.session.get(User, users.agent.id).check_password(NEW_PASSWORD)


def test_reset_link_dies_when_the_password_changes_another_way(client, users):
    path = reset_link_for(client, users.agent)
    users.agent.set_password("changed by the owner")
    db.session.commit()
    assert client.get(path).status_code == 400


def test_tampered_reset_link_is_refused(client, users):
    path = reset_link_for(client, users.agent)
    prefix, token = path.rsplit("/", 1)
    payload, timestamp, signature = token.split(".")
    forged = f"{prefix}/{payload}.{timestamp}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    response = client.get(forged)
    assert response.status_code == 400 and b"not valid" in response.data
    other = accounts.make_token(users.agent2, "reset")  # someone else's signature on this payload
    assert client.get(f"{prefix}/{payload}.{'.'.join(other.split('.')[1:])}").status_code == 400
    assert client.get(prefix + "/garbage").status_code == 400


def test_expired_reset_link_is_refused(client, users, monkeypatch, app):
    path = reset_link_for(client, users.agent)
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp",
                        lambda self: real(self) + app.config["TOKEN_MAX_AGE"] + 1)
    response = client.get(path)
    assert response.status_code == 400
    assert b"This link has expired" in response.data
    assert set_password(client, path).status_code == 400
    assert db.session.get(User, users.agent.id).check_password(PASSWORD)


def test_an_invitation_link_is_not_a_reset_link(client, users):
    invited = accounts.invite_user("new@example.com", "New Person", "agent")
    db.session.commit()
    invite_path = link_path(last_mail("invite"))
    token = invite_path.rsplit("/", 1)[1]
    assert client.get(f"/password/reset/{token}").status_code == 400
    assert invited.password_hash is None


@pytest.mark.parametrize("password, confirm, message", [
    ("short", "short", b"Use at least 10 characters."),
    ("1234567890", "1234567890", b"too easy to guess"),
    ("agent@example.com", "agent@example.com", b"Don&#39;t use your email address"),
    (NEW_PASSWORD, NEW_PASSWORD + "x", b"The two passwords differ."),
    ("", "", b"Choose a password."),
])
def test_reset_refuses_weak_or_mismatched_passwords(client, users, password, confirm, message):
    path = reset_link_for(client, users.agent)
    response = client.post(path, data={"password": password, "confirm": confirm,
                                       "csrf_token": csrf_token(client, "/login")})
    assert response.status_code == 422
    assert message in response.data
    assert client.get(path).status_code == 200  # the link still works


# ---- accepting an invitation ------------------------------------------------------------------------

def invite(email="new@example.com", name="New Person", role="agent", by=None):
    user = accounts.invite_user(email, name, role, invited_by=by)
    db.session.commit()
    return user, link_path(last_mail("invite"))


def accept(client, path, name="Nia Newcomer", password=NEW_PASSWORD, confirm=None):
    return client.post(path, data={"name": name, "password": password, "confirm": confirm or password,
                                   "csrf_token": csrf_token(client, "/login")})


def test_accepting_an_invitation_sets_name_and_password_and_signs_in(client, users):
    user, path = invite(by=users.admin)
    page = client.get(path)
    assert page.status_code == 200
    assert b'value="New Person"' in page.data and b"new@example.com" in page.data
    response = accept(client, path)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert signed_in(client)
    db.session.refresh(user)
    assert user.name == "Nia Newcomer" and user.check_password(NEW_PASSWORD)
    assert user.last_login_at is not None


def test_portal_invitees_land_on_their_tickets(client, users):
    _, path = invite("customer@customer.test", "Cu Stomer", "portal")
    response = accept(client, path)
    assert response.status_code == 302 and response.headers["Location"] == "/my/tickets"


def test_invitation_link_works_once(client, users, make_client):
    _, path = invite()
    assert accept(client, path).status_code == 302
    response = make_client().get(path)
    assert response.status_code == 400
    assert b"already used" in response.data or b"already accepted" in response.data


def test_expired_invitation_is_refused(client, users, monkeypatch, app):
    user, path = invite()
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp",
                        lambda self: real(self) + app.config["TOKEN_MAX_AGE"] + 1)
    response = accept(client, path)
    assert response.status_code == 400 and b"This link has expired" in response.data
    assert b"send a new invitation" in response.data
    assert db.session.get(User, user.id).password_hash is None


def test_tampered_invitation_is_refused(client, users):
    _, path = invite()
    assert client.get(path[:-3] + ("xyz" if not path.endswith("xyz") else "abc")).status_code == 400


def test_invitation_of_a_deactivated_user_is_refused(client, users):
    user, path = invite()
    user.active = False
    db.session.commit()
    assert client.get(path).status_code == 400


def test_accepting_with_a_weak_password_keeps_what_was_typed(client, users):
    _, path = invite()
    response = accept(client, path, name="Typed Name", password="short")
    assert response.status_code == 422
    assert b"Use at least 10 characters." in response.data
    assert b'value="Typed Name"' in response.data
