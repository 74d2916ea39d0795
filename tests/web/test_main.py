"""Health check and the home redirect."""
import pytest

from app.extensions import db
from tests.conftest import login


def test_healthz_reports_each_part(client, app):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["database"]["backend"] == db.engine.dialect.name
    expected_bus = "redis" if app.config["REDIS_URL"] else "embedded"
    assert body["redis"]["backend"] == expected_bus
    assert body["jobs"]["ok"]


def test_healthz_is_503_when_the_database_is_down(client, app, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("database down")

    monkeypatch.setattr(db.session, "execute", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == {"ok": False, "error": "ConnectionError"}


def test_home_sends_anonymous_visitors_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("who, landing", [("admin", "/inbox"), ("agent", "/inbox"), ("portal", "/profile")])
def test_home_sends_each_role_to_its_own_start(client, users, who, landing):
    login(client, getattr(users, who))
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(landing)


def test_unknown_page_is_a_404_page_with_security_headers(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert b"Not found" in response.data
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_htmx_errors_get_a_fragment(client):
    response = client.get("/no-such-page", headers={"HX-Request": "true"})
    assert response.status_code == 404
    assert b"<html" not in response.data and b"toast" in response.data


def test_a_locked_sqlite_database_is_a_503_to_retry_not_a_500(client, app, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def locked():
        raise OperationalError("INSERT INTO messages ...", {}, Exception("database is locked"))

    monkeypatch.setitem(app.view_functions, "main.home", locked)
    response = client.get("/")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert b"nothing was saved" in response.data


def test_every_response_says_how_long_the_server_took(client):
    timing = client.get("/healthz").headers["Server-Timing"]
    assert timing.startswith("app;dur=") and float(timing.split("=")[1]) >= 0
