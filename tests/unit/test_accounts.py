"""The accounts service (app/services/accounts.py) without pages, and `flask users create-admin`."""
import io
from pathlib import Path

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from werkzeug.datastructures import FileStorage

from app.extensions import db
from app.models import Contact, OutboxMail, User
from app.services import accounts, mailer
from tests.conftest import PASSWORD, make_contact, make_user

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def later(monkeypatch, app, seconds: int) -> None:
    """Move the token clock forward by `seconds` past TOKEN_MAX_AGE."""
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp",
                        lambda self: real(self) + app.config["TOKEN_MAX_AGE"] + seconds)


# ---- emails and passwords -----------------------------------------------------------------------

def test_normalize_email_lowercases_and_validates():
    assert accounts.normalize_email("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"
    for bad in ("", "no-at-sign", "a@b", "two@@example.com", "spaces in@example.com"):
        with pytest.raises(ValueError):
            accounts.normalize_email(bad)


def test_reserved_domains_are_refused_outside_tests(app, monkeypatch):
    monkeypatch.setattr(app, "testing", False)
    with pytest.raises(ValueError):
        accounts.normalize_email("someone@customer.test")
    monkeypatch.setattr(app, "testing", True)
    assert accounts.normalize_email("someone@customer.test") == "someone@customer.test"


@pytest.mark.parametrize("password, reason", [
    ("", "at least 10"),
    ("123456789", "at least 10"),
    ("x" * 257, "at most 256"),
    ("aaaaaaaaaaaa", "too easy"),
    ("abababababab", "too easy"),
    ("Password123", "too easy"),
    ("QWERTYUIOP", "too easy"),
])
def test_weak_passwords_are_refused(password, reason):
    with pytest.raises(ValueError, match=reason):
        accounts.check_password_strength(password)


def test_the_email_is_not_a_password():
    with pytest.raises(ValueError, match="email"):
        accounts.check_password_strength("firstname.lastname", email="Firstname.Lastname@example.com")
    accounts.check_password_strength(PASSWORD, email="someone@example.com")


def test_create_user_refuses_duplicates_and_unknown_roles():
    accounts.create_user("Dup@example.com", "Dup", password=PASSWORD)
    with pytest.raises(ValueError, match="already exists"):
        accounts.create_user("dup@EXAMPLE.com", "Dup again")
    with pytest.raises(ValueError, match="Unknown role"):
        accounts.create_user("other@example.com", "Other", role="root")


def test_create_user_without_password_is_an_invitee():
    user = accounts.create_user("new@example.com", "")
    assert user.name == "new" and user.password_hash is None
    assert accounts.user_status(user) == "invited"


# ---- authenticate -----------------------------------------------------------------------------

def test_authenticate(users):
    assert accounts.authenticate("AGENT@example.com", PASSWORD) == users.agent
    assert accounts.authenticate("agent@example.com", "wrong password") is None
    assert accounts.authenticate("nobody@example.com", PASSWORD) is None
    assert accounts.authenticate("", "") is None
    users.agent.active = False
    assert accounts.authenticate("agent@example.com", PASSWORD) is None


def test_authenticate_an_invitee_never_succeeds():
    accounts.create_user("invitee@example.com", "Invitee")
    assert accounts.authenticate("invitee@example.com", "") is None
    assert accounts.authenticate("invitee@example.com", "whatever it is") is None


# ---- tokens -------------------------------------------------------------------------------------

def test_token_round_trip(users):
    token = accounts.make_token(users.agent, "reset")
    assert accounts.user_from_token(token, "reset") == users.agent


def test_token_does_not_reveal_the_session_token(users, app):
    token = accounts.make_token(users.agent, "reset")
    payload = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="reset").loads(token)
    assert payload["uid"] == users.agent.id
    assert users.agent.session_token not in token and users.agent.session_token not in str(payload)


def test_token_purposes_do_not_mix(users):
    token = accounts.make_token(users.agent, "reset")
    with pytest.raises(accounts.TokenError):
        accounts.user_from_token(token, "invite")
    with pytest.raises(ValueError):
        accounts.make_token(users.agent, "login")


def test_token_dies_with_a_new_password(users):
    token = accounts.make_token(users.agent, "reset")
    users.agent.set_password("a different passphrase")
    with pytest.raises(accounts.TokenError, match="already used"):
        accounts.user_from_token(token, "reset")


def test_token_expires(users, monkeypatch, app):
    token = accounts.make_token(users.agent, "reset")
    later(monkeypatch, app, -5)
    assert accounts.user_from_token(token, "reset") == users.agent  # still inside the window
    later(monkeypatch, app, 1)
    with pytest.raises(accounts.TokenError) as err:
        accounts.user_from_token(token, "reset")
    assert err.value.expired


def test_token_max_age_comes_from_config(users, monkeypatch, app):
    token = accounts.make_token(users.agent, "reset")
    monkeypatch.setitem(app.config, "TOKEN_MAX_AGE", -1)
    with pytest.raises(accounts.TokenError) as err:
        accounts.user_from_token(token, "reset")
    assert err.value.expired


def test_token_signed_with_another_key_is_refused(users, app):
    forged = URLSafeTimedSerializer("not-the-key", salt="reset").dumps({"uid": users.agent.id, "st": "x"})
    with pytest.raises(accounts.TokenError, match="not valid"):
        accounts.user_from_token(forged, "reset")


@pytest.mark.parametrize("payload", [[], {"uid": "1"}, {"uid": None}, "x", {"uid": 999999, "st": ""}])
def test_token_with_an_odd_payload_is_refused(users, app, payload):
    token = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="reset").dumps(payload)
    with pytest.raises(accounts.TokenError):
        accounts.user_from_token(token, "reset")


def test_token_for_a_deactivated_user_is_refused(users):
    token = accounts.make_token(users.agent, "reset")
    users.agent.active = False
    with pytest.raises(accounts.TokenError):
        accounts.user_from_token(token, "reset")


# ---- password reset ------------------------------------------------------------------------------

def test_request_password_reset_mails_only_active_users(users, app):
    assert accounts.request_password_reset("nobody@example.com") is None
    users.agent2.active = False
    assert accounts.request_password_reset(users.agent2.email) is None
    mail = accounts.request_password_reset("AGENT@example.com")  # no request context: BASE_URL links
    assert mail.kind == "reset" and mail.to == users.agent.email
    assert "http://localhost/password/reset/" in mail.body_text
    assert "http://localhost/password/reset/" in mail.body_html
    assert accounts.link_lifetime() in mail.body_text


def test_reset_password(users):
    token = accounts.make_token(users.agent, "reset")
    old_session = users.agent.session_token
    with pytest.raises(accounts.AccountError) as err:
        accounts.reset_password(token, "short")
    assert err.value.field == "password"
    accounts.reset_password(token, "a new long passphrase")
    assert users.agent.check_password("a new long passphrase")
    assert users.agent.session_token != old_session
    with pytest.raises(accounts.TokenError):
        accounts.reset_password(token, "yet another passphrase")


@pytest.mark.parametrize("seconds, label", [(3 * 86400, "3 days"), (86400, "24 hours"), (3600, "1 hour"),
                                            (1800, "30 minutes"), (30, "1 minute")])
def test_link_lifetime(app, monkeypatch, seconds, label):
    monkeypatch.setitem(app.config, "TOKEN_MAX_AGE", seconds)
    assert accounts.link_lifetime() == label


# ---- invitations ----------------------------------------------------------------------------------

def test_invite_user_creates_an_invitee_and_mails_them(users):
    user = accounts.invite_user("Invitee@Example.com", "In Vitee", "agent", invited_by=users.admin)
    assert user.email == "invitee@example.com" and user.password_hash is None
    mail = db.session.query(OutboxMail).filter_by(kind="invite").one()
    assert mail.to == "invitee@example.com" and "Alice Admin invited you" in mail.body_text
    assert "<script" not in mail.body_html


def test_invitation_mail_escapes_names_in_html(users):
    users.admin.name = '<img src=x onerror="alert(1)">'
    accounts.invite_user("x@example.com", "X", "agent", invited_by=users.admin)
    mail = db.session.query(OutboxMail).filter_by(kind="invite").one()
    assert "<img src=x" not in mail.body_html and "&lt;img src=x" in mail.body_html


def test_invite_duplicate_email_is_an_account_error_on_the_email_field(users):
    with pytest.raises(accounts.AccountError) as err:
        accounts.invite_user("agent@example.com", "Again", "agent")
    assert err.value.field == "email"


def test_portal_invitee_is_linked_to_the_existing_contact():
    contact = make_contact("Known Customer", "Known@Customer.test")
    user = accounts.invite_user("known@customer.test", "Known", "portal")
    assert user.contact_id == contact.id


def test_portal_invitee_without_contact_gets_one():
    user = accounts.invite_user("fresh@customer.test", "Fresh Customer", "portal")
    contact = db.session.get(Contact, user.contact_id)
    assert contact.email == "fresh@customer.test" and contact.name == "Fresh Customer"


def test_resending_an_invitation_replaces_the_link():
    user = accounts.invite_user("late@example.com", "Late", "agent")
    first = accounts.make_token(user, "invite")
    accounts.send_invitation(user)
    with pytest.raises(accounts.TokenError):
        accounts.user_from_token(first, "invite")
    assert db.session.query(OutboxMail).filter_by(kind="invite").count() == 2


def test_no_invitation_for_accepted_or_deactivated_users(users):
    with pytest.raises(accounts.AccountError, match="already accepted"):
        accounts.send_invitation(users.agent)
    invitee = accounts.create_user("x@example.com", "X")
    invitee.active = False
    with pytest.raises(accounts.AccountError, match="deactivated"):
        accounts.send_invitation(invitee)


def test_accept_invitation():
    user = accounts.invite_user("new@example.com", "New", "agent")
    token = accounts.make_token(user, "invite")
    accounts.accept_invitation(token, "  Nia New  ", "a long new passphrase")
    assert user.name == "Nia New" and user.check_password("a long new passphrase")
    with pytest.raises(accounts.TokenError):
        accounts.accept_invitation(token, "Again", "another passphrase!")


# ---- roles and deactivation -------------------------------------------------------------------------

def test_change_role(users):
    accounts.change_role(users.admin, users.agent, "admin")
    assert users.agent.role == "admin"
    with pytest.raises(accounts.AccountError, match="Choose a role"):
        accounts.change_role(users.admin, users.agent, "root")


def test_nobody_changes_their_own_role(users):
    with pytest.raises(accounts.AccountError, match="your own role"):
        accounts.change_role(users.admin, users.admin, "agent")
    assert users.admin.role == "admin"


def test_the_last_active_admin_stays_admin(users):
    with pytest.raises(accounts.AccountError, match="at least one active admin"):
        accounts.change_role(None, users.admin, "agent")
    with pytest.raises(accounts.AccountError, match="at least one active admin"):
        accounts.set_active(None, users.admin, False)
    second = make_user("admin", "second@example.com")
    accounts.change_role(second, users.admin, "agent")
    assert users.admin.role == "agent"
    with pytest.raises(accounts.AccountError):
        accounts.set_active(None, second, False)


def test_an_inactive_admin_does_not_count(users):
    second = make_user("admin", "second@example.com")
    second.active = False
    with pytest.raises(accounts.AccountError):
        accounts.change_role(None, users.admin, "portal")


def test_demoting_to_portal_links_a_contact(users):
    accounts.change_role(users.admin, users.agent2, "portal")
    assert users.agent2.contact is not None and users.agent2.contact.email == users.agent2.email


def test_deactivation_rotates_the_session_token(users):
    token = users.agent.session_token
    accounts.set_active(users.admin, users.agent, False)
    assert not users.agent.active and users.agent.session_token != token
    accounts.set_active(users.admin, users.agent, True)
    assert users.agent.active


def test_nobody_deactivates_themselves(users):
    with pytest.raises(accounts.AccountError, match="your own account"):
        accounts.set_active(users.admin, users.admin, False)


# ---- lists ----------------------------------------------------------------------------------------

def test_search_users_treats_wildcards_literally(users):
    make_user("agent", "percent@example.com", "100% Agent")
    assert [u.name for u in accounts.search_users("100%").items] == ["100% Agent"]
    assert [u.name for u in accounts.search_users("%").items] == ["100% Agent"]
    assert accounts.search_users("_").items == []


def test_search_users_orders_by_name_and_pages(users, app, monkeypatch):
    page = accounts.search_users(per_page=2)
    assert page.total == 4 and [u.name for u in page.items] == ["Alice Admin", "Bob Agent"]
    assert [u.name for u in accounts.search_users(page=2, per_page=2).items] == ["Carol Agent", "Portal Person"]
    assert accounts.search_users(page=9, per_page=2).items == []


def test_list_outbox_newest_first_and_by_kind(app):
    for n in range(3):
        mailer.send_mail("x@example.com", f"Mail {n}", "body", kind="notification" if n else "reset")
    db.session.commit()
    assert [m.subject for m in accounts.list_outbox().items] == ["Mail 2", "Mail 1", "Mail 0"]
    assert [m.subject for m in accounts.list_outbox("reset").items] == ["Mail 0"]
    assert "reset" in accounts.outbox_kinds() and "invite" in accounts.outbox_kinds()


# ---- profile --------------------------------------------------------------------------------------

def test_update_profile_validates_everything(users):
    accounts.update_profile(users.agent, name=" Bob ", signature="Bob\r\nSupport\r\n", timezone="Asia/Tokyo",
                            notify_by="email")
    assert (users.agent.name, users.agent.signature, users.agent.timezone, users.agent.notify_by) == (
        "Bob", "Bob\nSupport", "Asia/Tokyo", "email")
    for fields, field in [({"name": ""}, "name"), ({"timezone": "Nowhere/Land"}, "timezone"),
                          ({"notify_by": "fax"}, "notify_by"), ({"signature": "x" * 2001}, "signature")]:
        values = {"name": "Bob", "signature": "", "timezone": "UTC", "notify_by": "inbox", **fields}
        with pytest.raises(accounts.AccountError) as err:
            accounts.update_profile(users.agent, **values)
        assert err.value.field == field


def test_timezone_choices_are_the_iana_zones():
    zones = accounts.timezone_choices()
    assert "UTC" in zones and "Europe/Paris" in zones and list(zones) == sorted(zones)


def test_change_password(users):
    with pytest.raises(accounts.AccountError) as err:
        accounts.change_password(users.agent, "wrong", "a good new passphrase")
    assert err.value.field == "current_password"
    token = users.agent.session_token
    accounts.change_password(users.agent, PASSWORD, "a good new passphrase")
    assert users.agent.check_password("a good new passphrase") and users.agent.session_token != token


def upload_of(data: bytes, name="x.png") -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=name, content_type="image/png")


def test_save_avatar_checks_bytes_and_size(users, app, monkeypatch):
    with pytest.raises(accounts.AccountError, match="PNG, JPEG"):
        accounts.save_avatar(users.agent, upload_of(b"<svg/>"))
    with pytest.raises(accounts.AccountError, match="empty"):
        accounts.save_avatar(users.agent, upload_of(b""))
    monkeypatch.setitem(app.config, "MAX_AVATAR_BYTES", 16)
    with pytest.raises(accounts.AccountError, match="larger than"):
        accounts.save_avatar(users.agent, upload_of(PNG))
    monkeypatch.setitem(app.config, "MAX_AVATAR_BYTES", 1024)
    accounts.save_avatar(users.agent, upload_of(PNG, "../../etc/passwd"))
    path, content_type = accounts.avatar_file(users.agent)
    assert content_type == "image/png" and path.read_bytes() == PNG
    assert path.parent == (Path(app.config["UPLOAD_DIR"]) / "avatars").resolve()


def test_old_avatar_file_goes_only_after_commit(users):
    accounts.save_avatar(users.agent, upload_of(PNG))
    db.session.commit()
    first, _ = accounts.avatar_file(users.agent)
    accounts.save_avatar(users.agent, upload_of(PNG + b"2"))
    assert first.exists()
    db.session.rollback()
    assert first.exists()
    accounts.remove_avatar(db.session.get(User, users.agent.id))
    db.session.commit()
    assert not first.exists()


def test_avatar_file_refuses_paths_outside_and_non_images(users, app):
    assert accounts.avatar_file(None) is None
    assert accounts.avatar_file(users.agent) is None
    folder = Path(app.config["UPLOAD_DIR"]) / "avatars"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fake.png").write_bytes(b"<html>")
    users.agent.avatar_path = "avatars/fake.png"
    assert accounts.avatar_file(users.agent) is None
    users.agent.avatar_path = "avatars/missing.png"
    assert accounts.avatar_file(users.agent) is None


# ---- `flask users create-admin` ---------------------------------------------------------------------

def test_cli_creates_an_admin(app):
    result = app.test_cli_runner().invoke(args=["users", "create-admin", "--email", "Boss@Example.com",
                                                "--name", "The Boss", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    assert "Admin ready: boss@example.com" in result.output
    db.session.expire_all()
    user = accounts.find_user_by_email("boss@example.com")
    assert user.role == "admin" and user.name == "The Boss" and user.check_password(PASSWORD)


def test_cli_promotes_and_reactivates_an_existing_user(app, users):
    users.agent.active = False
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["users", "create-admin", "--email", users.agent.email,
                                                "--password", "the new admin passphrase"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    agent = db.session.get(User, users.agent.id)
    assert agent.role == "admin" and agent.active and agent.check_password("the new admin passphrase")


def test_cli_refuses_a_weak_password(app):
    result = app.test_cli_runner().invoke(args=["users", "create-admin", "--email", "boss@example.com",
                                                "--password", "short"])
    assert result.exit_code != 0 and "at least 10" in result.output
    assert accounts.find_user_by_email("boss@example.com") is None


def test_cli_prompts_for_the_password(app):
    result = app.test_cli_runner().invoke(args=["users", "create-admin", "--email", "boss@example.com"],
                                          input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
