"""The user's own profile: details, avatar, password."""
import io
from pathlib import Path

import pytest

from app.extensions import db
from tests.conftest import PASSWORD, csrf_token, login
from tests.web.conftest import png_bytes

NEW_PASSWORD = "another long passphrase"


def save_profile(client, **fields):
    data = {"name": "Bob Builder", "signature": "Bob\nSupport team", "timezone": "Europe/Paris",
            "notify_by": "email", **fields, "csrf_token": csrf_token(client, "/profile")}
    return client.post("/profile", data=data)


def upload(client, data: bytes, filename="me.png", content_type="image/png"):
    return client.post("/profile/avatar", content_type="multipart/form-data", data={
        "avatar": (io.BytesIO(data), filename, content_type), "csrf_token": csrf_token(client, "/profile"),
    })


def avatar_dir(app) -> Path:
    return Path(app.config["UPLOAD_DIR"]) / "avatars"


def stored_avatars(app) -> set[str]:
    folder = avatar_dir(app)
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


# ---- details -------------------------------------------------------------------------------------

def test_profile_needs_a_signed_in_user(client):
    response = client.get("/profile")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_profile_page_shows_the_current_values(client, users):
    users.agent.signature = "Bob from support"
    users.agent.timezone = "America/New_York"
    db.session.commit()
    login(client, users.agent)
    html = client.get("/profile").get_data(as_text=True)
    assert 'value="Bob Agent"' in html and "Bob from support" in html
    assert '<option selected value="America/New_York">' in html
    assert '<input checked id="notify_by-0" name="notify_by" required type="radio" value="inbox">' in html
    assert "topbar" in html  # staff see the app's top bar
    assert "style=" not in html and "<script>" not in html


def test_saving_the_profile(client, users):
    login(client, users.agent)
    response = save_profile(client)
    assert response.status_code == 302 and response.headers["Location"] == "/profile"
    db.session.refresh(users.agent)
    assert (users.agent.name, users.agent.signature, users.agent.timezone, users.agent.notify_by) == (
        "Bob Builder", "Bob\nSupport team", "Europe/Paris", "email")
    assert b"Your profile is saved." in client.get("/profile").data


@pytest.mark.parametrize("fields, message", [
    ({"timezone": "Mars/Olympus_Mons"}, "Not a valid choice"),
    ({"notify_by": "pigeon"}, "Not a valid choice"),
    ({"name": "  "}, "Enter your name."),
    ({"signature": "x" * 2001}, "Keep it under 2000 characters."),
])
def test_profile_refuses_bad_input_and_keeps_what_was_typed(client, users, fields, message):
    login(client, users.agent)
    response = save_profile(client, **{"name": "Typed Name", **fields})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html
    if "name" not in fields:
        assert 'value="Typed Name"' in html
    db.session.refresh(users.agent)
    assert users.agent.name == "Bob Agent" and users.agent.timezone == "UTC"


def test_portal_users_have_a_profile_with_a_way_out(client, users):
    users.portal.signature = "kept"
    db.session.commit()
    login(client, users.portal)
    html = client.get("/profile").get_data(as_text=True)
    assert "portal-bar" in html and 'action="/logout"' in html
    assert 'name="signature"' not in html and "topbar" not in html
    response = client.post("/profile", data={"name": "Portal Pat", "timezone": "UTC", "notify_by": "email",
                                             "csrf_token": csrf_token(client, "/profile")})
    assert response.status_code == 302
    db.session.refresh(users.portal)
    assert users.portal.name == "Portal Pat" and users.portal.signature == "kept"


# ---- avatar --------------------------------------------------------------------------------------

def test_avatar_upload_is_stored_under_a_random_name_and_served_as_an_image(client, users, app, make_client):
    login(client, users.agent)
    response = upload(client, png_bytes(), filename="../../evil name.png")
    assert response.status_code == 302
    db.session.refresh(users.agent)
    stored = Path(users.agent.avatar_path)
    assert stored.parent.name == "avatars" and "evil" not in stored.name and stored.suffix == ".png"
    assert (avatar_dir(app) / stored.name).read_bytes() == png_bytes()

    image = client.get(f"/users/{users.agent.id}/avatar")
    assert image.status_code == 200
    assert image.mimetype == "image/png"
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in image.headers["Content-Security-Policy"]
    assert image.data == png_bytes()
    assert f'src="/users/{users.agent.id}/avatar"' in client.get("/profile").get_data(as_text=True)

    portal = make_client()
    login(portal, users.portal)
    assert portal.get(f"/users/{users.agent.id}/avatar").status_code == 200
    anonymous = make_client().get(f"/users/{users.agent.id}/avatar")
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")


@pytest.mark.parametrize("data, mime", [
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64, "image/jpeg"),
    (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif"),
    (b"RIFF\x1a\x00\x00\x00WEBPVP8L" + b"\x00" * 32, "image/webp"),
])
def test_avatar_type_comes_from_the_bytes(client, users, data, mime):
    login(client, users.agent)
    assert upload(client, data, filename="picture.txt", content_type="text/plain").status_code == 302
    assert client.get(f"/users/{users.agent.id}/avatar").mimetype == mime


@pytest.mark.parametrize("data, filename", [
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "avatar.png"),
    (b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>", "avatar.svg"),
    (b"<!doctype html><html><script>alert(document.cookie)</script></html>", "avatar.png"),
    (b"%PDF-1.7 not a picture", "avatar.jpg"),
])
def test_avatar_refuses_anything_but_raster_images(client, users, app, data, filename):
    login(client, users.agent)
    before = stored_avatars(app)
    response = upload(client, data, filename=filename, content_type="image/png")
    assert response.status_code == 422
    assert b"Upload a PNG, JPEG, GIF or WebP picture." in response.data
    db.session.refresh(users.agent)
    assert users.agent.avatar_path is None
    assert stored_avatars(app) == before


def test_avatar_size_limit(client, users, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_AVATAR_BYTES", 1024)
    login(client, users.agent)
    response = upload(client, png_bytes() + b"\x00" * 1024)
    assert response.status_code == 422
    assert b"The picture is larger than 1 KB." in response.data
    assert upload(client, png_bytes()).status_code == 302


def test_avatar_needs_a_file(client, users):
    login(client, users.agent)
    response = client.post("/profile/avatar", data={"csrf_token": csrf_token(client, "/profile")})
    assert response.status_code == 422 and b"Choose a picture to upload." in response.data
    assert upload(client, b"").status_code == 422


def test_new_avatar_replaces_the_old_file_and_removal_deletes_it(client, users, app):
    login(client, users.agent)
    upload(client, png_bytes(rgb=(1, 2, 3)))
    db.session.refresh(users.agent)
    first = avatar_dir(app) / Path(users.agent.avatar_path).name
    upload(client, png_bytes(rgb=(4, 5, 6)))
    db.session.refresh(users.agent)
    second = avatar_dir(app) / Path(users.agent.avatar_path).name
    assert not first.exists() and second.exists()
    response = client.post("/profile/avatar/remove", data={"csrf_token": csrf_token(client, "/profile")})
    assert response.status_code == 302
    db.session.refresh(users.agent)
    assert users.agent.avatar_path is None and not second.exists()
    assert client.get(f"/users/{users.agent.id}/avatar").status_code == 404


def test_avatar_of_a_user_without_one_is_404(client, users):
    login(client, users.agent)
    assert client.get(f"/users/{users.admin.id}/avatar").status_code == 404
    assert client.get("/users/999999/avatar").status_code == 404


def test_avatar_path_outside_the_avatar_folder_is_never_served(client, users, app):
    secret = Path(app.config["UPLOAD_DIR"]) / "secret.png"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_bytes(png_bytes())
    users.admin.avatar_path = "../secret.png"
    db.session.commit()
    login(client, users.agent)
    assert client.get(f"/users/{users.admin.id}/avatar").status_code == 404


# ---- password ----------------------------------------------------------------------------------

def change_password(client, current=PASSWORD, new=NEW_PASSWORD, confirm=None):
    return client.post("/profile/password", data={
        "current_password": current, "password": new, "confirm": confirm or new,
        "csrf_token": csrf_token(client, "/profile"),
    })


def test_password_change_ends_other_sessions_but_keeps_this_one(client, users, make_client):
    other = make_client()
    login(other, users.agent)
    login(client, users.agent)
    assert other.get("/profile").status_code == 200
    response = change_password(client)
    assert response.status_code == 302 and response.headers["Location"] == "/profile"
    assert client.get("/profile").status_code == 200
    assert other.get("/profile").status_code == 302
    db.session.refresh(users.agent)
    assert users.agent.check_password(NEW_PASSWORD)
    login(make_client(), users.agent, NEW_PASSWORD)


def test_password_change_keeps_remember_me(client, users):
    client.post("/login", data={"email": users.agent.email, "password": PASSWORD, "remember": "y",
                                "csrf_token": csrf_token(client, "/login")})
    old_cookie = client.get_cookie("remember_token").value
    change_password(client)
    new_cookie = client.get_cookie("remember_token")
    assert new_cookie is not None and new_cookie.value != old_cookie
    client.delete_cookie("session")
    assert client.get("/profile").status_code == 200  # the refreshed remember cookie still works


@pytest.mark.parametrize("current, new, confirm, message", [
    ("not my password", NEW_PASSWORD, None, b"Your current password is not correct."),
    (PASSWORD, "short", None, b"Use at least 10 characters."),
    (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!", b"The two passwords differ."),
    (PASSWORD, PASSWORD, None, b"Choose a password different from the current one."),
    ("", NEW_PASSWORD, None, b"Enter your current password."),
])
def test_password_change_refusals(client, users, make_client, current, new, confirm, message):
    other = make_client()
    login(other, users.agent)
    login(client, users.agent)
    response = change_password(client, current, new, confirm)
    assert response.status_code == 422
    assert message in response.data
    assert other.get("/profile").status_code == 200  # nothing changed
    db.session.refresh(users.agent)
    assert users.agent.check_password(PASSWORD)


def test_password_form_errors_keep_the_other_forms_intact(client, users):
    login(client, users.agent)
    html = change_password(client, current="wrong wrong wrong").get_data(as_text=True)
    assert 'value="Bob Agent"' in html  # the details form is still filled in
    assert 'name="avatar"' in html
