"""POST /api/mail/inbound: raw mail over HTTP, for services that deliver inbound mail by webhook."""
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import InboundMail, MailAlias

MAIL = Path(__file__).resolve().parents[1] / "mail"
TOKEN = "s3cret-inbound-token"
URL = "/api/mail/inbound"


@pytest.fixture
def endpoint(app, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_DOMAIN", "hilo.test")
    monkeypatch.setitem(app.config, "MAIL_INBOUND_TOKEN", TOKEN)
    db.session.add(MailAlias(local_part="support"))
    db.session.commit()


def post(client, raw: bytes, token: str | None = TOKEN, query: str = ""):
    headers = {"Content-Type": "message/rfc822"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.post(URL + query, data=raw, headers=headers)


def stored() -> int:
    return db.session.scalar(select(func.count(InboundMail.id)))


def test_a_mail_is_stored_and_routed(client, endpoint):
    response = post(client, (MAIL / "plain_text.eml").read_bytes())
    assert response.status_code == 200 and response.json["status"] == "created"
    again = post(client, (MAIL / "plain_text.eml").read_bytes())
    assert again.status_code == 200 and again.json["status"] == "duplicate" and stored() == 1


def test_the_envelope_recipient_counts(client, endpoint):
    raw = (MAIL / "not_ours.eml").read_bytes()
    assert post(client, raw).status_code == 422  # nothing of ours addressed: the caller bounces it
    response = post(client, raw, query="?recipient=support@hilo.test")
    assert response.status_code == 200 and response.json["status"] == "created"


@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN + "x", TOKEN[:-1]])
def test_a_bad_token_stores_nothing(client, endpoint, token):
    response = post(client, (MAIL / "plain_text.eml").read_bytes(), token=token)
    assert response.status_code == 401 and stored() == 0


def test_without_a_token_setting_the_endpoint_does_not_exist(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_INBOUND_TOKEN", None)
    assert post(client, b"From: a@b.test\r\n\r\nx").status_code == 404


def test_bad_bodies_get_clear_answers(client, endpoint, app, monkeypatch):
    assert post(client, b"").status_code == 400
    junk = post(client, b"\x00\x01\x02 not mail")
    assert junk.status_code == 200 and junk.json["status"] == "unparseable"  # kept for an admin
    monkeypatch.setitem(app.config, "MAIL_MAX_BYTES", 1000)
    assert post(client, b"From: a@b.test\r\n\r\n" + b"x" * 2000).status_code == 413
    assert client.get(URL).status_code == 405
