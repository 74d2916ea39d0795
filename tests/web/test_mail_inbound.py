"""Inbound mail seen by agents: what a hostile sender wrote is shown, never run."""
from pathlib import Path

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Contact, InboundMail, MailAlias, Message
from app.services import mailgate
from tests.web.conftest import sign_in

MAIL = Path(__file__).resolve().parents[1] / "mail"
PAYLOADS = ["<script", "onerror=", "onload=", "javascript:", 'hx-get="/admin', "<iframe", "<svg"]


@pytest.fixture
def support(app, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_DOMAIN", "hilo.test")
    alias = MailAlias(local_part="support")
    db.session.add(alias)
    db.session.commit()
    return alias


def test_a_hostile_mail_is_escaped_and_sanitised_everywhere_agents_see_it(app, client, users, support):
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        outcome = mailgate.ingest((MAIL / "xss_payloads.eml").read_bytes())
    assert outcome.status == "created"
    inbound = db.session.get(InboundMail, outcome.inbound_id)
    message = db.session.get(Message, inbound.chatter_message_id)
    contact = db.session.scalar(select(Contact).where(Contact.email == "attacker@evil.example"))
    assert message.author_contact_id == contact.id and message.attachments
    for payload in PAYLOADS:
        assert payload not in message.body_html.lower(), payload  # stored sanitised
    sign_in(client, users.agent)
    for url in (f"/contacts/{contact.id}", "/contacts", "/search?q=urgent"):
        page = client.get(url).get_data(as_text=True)
        for payload in ("<script>alert", "<img src=x onerror", "<svg onload", 'hx-get="/admin/delete-all"'):
            assert payload not in page, f"{payload} raw on {url}"
    # The agent sees the words, escaped.
    page = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # the sender's name, or the file's
