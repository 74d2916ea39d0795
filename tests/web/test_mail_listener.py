"""`flask mail serve`: mail handed over by SMTP or LMTP goes through the gateway, and the sending
server hears what became of it."""
import re
import smtplib
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.models import InboundMail, MailAlias
from app.services import mailgate
from app.services.mail_listener import GatewayController
from tests.conftest import ROOT, worker_env_for

MAIL = Path(__file__).resolve().parents[1] / "mail"


def eml(name: str) -> bytes:
    """A corpus mail as it travels over SMTP: CRLF line ends."""
    return re.sub(rb"\r?\n", b"\r\n", (MAIL / name).read_bytes())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def domain(app, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_DOMAIN", "hilo.test")
    monkeypatch.setitem(app.config, "MAIL_FROM", "notifications@hilo.test")
    db.session.add(MailAlias(local_part="support"))
    db.session.commit()


@pytest.fixture
def listener(app, domain, request):
    lmtp = getattr(request, "param", False)
    controller = GatewayController(app, "127.0.0.1", free_port(), lmtp=lmtp)
    controller.start()
    yield controller
    controller.stop()


def stored(subject_part: str = "") -> list[InboundMail]:
    db.session.rollback()  # see what the listener's threads committed
    return db.session.scalars(select(InboundMail).where(InboundMail.subject.contains(subject_part))).all()


def test_a_mail_over_smtp_is_stored_and_routed(listener):
    raw = eml("plain_text.eml")
    with smtplib.SMTP(listener.hostname, listener.port) as smtp:
        assert smtp.sendmail("ada@customer.test", ["support@hilo.test"], raw) == {}
    [mail] = stored()
    assert mail.status == "created" and mail.raw == raw
    with smtplib.SMTP(listener.hostname, listener.port) as smtp:  # the same mail again: stored already
        smtp.sendmail("ada@customer.test", ["support@hilo.test"], raw)
    assert len(stored()) == 1


def test_the_reply_says_what_became_of_the_mail(listener):
    with smtplib.SMTP(listener.hostname, listener.port) as smtp:
        smtp.ehlo()
        smtp.mail("ada@customer.test")
        assert smtp.rcpt("support@hilo.test")[0] == 250
        smtp.docmd("DATA")
        smtp.send(eml("plain_text.eml") + b".\r\n")
        code, reply = smtp.getreply()
    assert (code, reply) == (250, b"2.0.0 Stored (created)")


def test_no_relay_for_other_domains(listener):
    with smtplib.SMTP(listener.hostname, listener.port) as smtp:
        smtp.ehlo()
        smtp.mail("spammer@elsewhere.test")
        code, reply = smtp.rcpt("victim@elsewhere.test")
        assert code == 550 and b"Relaying denied" in reply
        smtp.rset()
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail("spammer@elsewhere.test", ["victim@elsewhere.test"], b"Subject: x\r\n\r\nx")
    assert stored() == []


def test_too_large_mail_is_refused_before_it_is_read(app, domain, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_MAX_BYTES", 2000)
    controller = GatewayController(app, "127.0.0.1", free_port())
    controller.start()
    try:
        big = b"Subject: big\r\n\r\n" + b"x" * 76 * 100
        with smtplib.SMTP(controller.hostname, controller.port) as smtp:
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:  # SIZE= said so at MAIL FROM
                smtp.sendmail("ada@customer.test", ["support@hilo.test"], big)
            assert refused.value.smtp_code == 552
            smtp.rset()
            smtp.mail("ada@customer.test")  # a client that does not say the size
            smtp.rcpt("support@hilo.test")
            assert smtp.data(big)[0] == 552
    finally:
        controller.stop()
    assert stored() == []


def test_an_address_of_ours_that_no_alias_names_is_caught(listener):
    raw = b"From: ada@customer.test\r\nTo: someone@elsewhere.test\r\nSubject: stray\r\n\r\nhello\r\n"
    with smtplib.SMTP(listener.hostname, listener.port) as smtp:  # an address of ours, but none routes it
        assert smtp.sendmail("ada@customer.test", ["nobody@hilo.test"], raw) == {}  # caught, kept
    assert [m.status for m in stored("stray")] == ["catchall"]


def test_a_database_outage_asks_the_sender_to_retry(listener, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(mailgate, "ingest", down)
    with smtplib.SMTP(listener.hostname, listener.port) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as deferred:
            smtp.sendmail("ada@customer.test", ["support@hilo.test"], eml("plain_text.eml"))
    assert deferred.value.smtp_code == 451


@pytest.mark.parametrize("listener", [True], indirect=True)
def test_lmtp_answers_once_per_recipient(listener):
    raw = eml("plain_text.eml")
    lmtp = smtplib.LMTP(listener.hostname, listener.port)
    try:
        lmtp.ehlo_or_helo_if_needed()
        lmtp.mail("ada@customer.test")
        assert lmtp.rcpt("support@hilo.test")[0] == 250
        assert lmtp.rcpt("sales@hilo.test")[0] == 250
        assert lmtp.data(raw)[0] == 250
        assert lmtp.getreply()[0] == 250  # the second recipient's answer
        assert lmtp.noop()[0] == 250  # the dialogue is still in step
    finally:
        lmtp.close()
    assert len(stored()) == 1  # one mail, stored once for both


def test_flask_mail_serve_runs_until_stopped(app, domain):
    port = free_port()
    env = worker_env_for(app)
    server = subprocess.Popen([str(Path(sys.executable).with_name("flask")), "mail", "serve", "--port", str(port)],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert b"over SMTP on 127.0.0.1:%d" % port in server.stderr.readline()  # listening from here on
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.sendmail("ada@customer.test", ["support@hilo.test"], eml("plain_text.eml"))
        assert [m.status for m in stored()] == ["created"]
    finally:
        server.terminate()
        server.stderr.close()
        assert server.wait(timeout=30) == 0
