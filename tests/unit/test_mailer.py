"""services/mailer.py: mail written, sent over real SMTP (aiosmtpd), retried, failed, routed back."""
import socket
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Message, MessageRecipient, Notification, OutboxMail
from app.models.base import utcnow
from app.services import mailer, messaging
from app.services.mailer import MailError
from tests.conftest import make_contact

pytestmark = pytest.mark.usefixtures("request_ctx")


@pytest.fixture
def contact():
    return make_contact("Ada Customer", "ada@customer.test")


@pytest.fixture
def thread(contact):
    thread = contact.ensure_thread()
    messaging.follow(thread, contact=contact)
    db.session.commit()
    return thread


def mails() -> list[OutboxMail]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMail).order_by(OutboxMail.id)))


def post_to_customer(users, thread, body="Your parcel is on its way.") -> Message:
    message = messaging.post_message(thread, users.agent, body)
    db.session.commit()
    return message


# ---- reply tokens ----------------------------------------------------------------------------

def test_thread_tokens_are_signed_and_checked(app):
    token = mailer.thread_token(42)
    assert token.startswith("t42-") and mailer.token_thread_id(token) == 42
    assert mailer.token_thread_id("t43-" + token[4:]) is None  # another thread, same signature
    assert mailer.token_thread_id(token[:-1] + ("0" if token[-1] != "0" else "1")) is None
    for junk in ["", "t42", "t42-", "t-0123456789ab", "T42-" + token[4:], token + "0", "t42-XYZ"]:
        assert mailer.token_thread_id(junk) is None
    assert mailer.reply_address(42) == f"reply+{token}@{app.config['MAIL_DOMAIN']}"


def test_a_token_signed_with_another_secret_is_refused(app, monkeypatch):
    token = mailer.thread_token(7)
    monkeypatch.setitem(app.config, "SECRET_KEY", "another-secret")
    assert mailer.token_thread_id(token) is None


# ---- the message on the wire -----------------------------------------------------------------

def test_a_customer_mail_carries_threading_and_reply_headers(app, users, thread, run_jobs):
    first = post_to_customer(users, thread, "First answer")
    run_jobs()
    second = post_to_customer(users, thread, "Second answer")
    run_jobs()
    mail = mails()[-1]
    msg = mailer.build_message(mail)
    assert msg["From"] == f"Bob Agent <{app.config['MAIL_FROM']}>"
    assert msg["To"] == "ada@customer.test" and msg["Message-ID"] == mail.message_id
    assert msg["Reply-To"] == mailer.reply_address(thread.id)
    first_id = db.session.get(Message, first.id).message_id
    assert msg["In-Reply-To"] == first_id and msg["References"] == first_id
    assert msg["Auto-Submitted"] is None  # a person wrote it
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Second answer" in text and "Second answer" in html
    # The marker that routes a reply even when a provider rewrote our Message-ID.
    assert mailer.marker(thread.id) in text and mailer.marker(thread.id) in html
    assert second.id != first.id


def test_system_mail_says_it_is_automatic(app, users):
    from app.services import accounts

    mail = accounts.request_password_reset(users.agent2.email)
    msg = mailer.build_message(mail)
    assert msg["Auto-Submitted"] == "auto-generated" and msg["X-Auto-Response-Suppress"] == "All"


@pytest.mark.parametrize("subject", ["Hello\r\nBcc: victim@evil.test", "Hello\nX-Injected: 1", "Hello\rTo: x@y.z"])
def test_header_injection_through_the_subject_is_impossible(app, subject):
    mail = mailer.send_mail("ada@customer.test", subject, "body")
    import email

    received = email.message_from_bytes(mailer.build_message(mail).as_bytes())
    names = [name.lower() for name in received.keys()]
    assert "bcc" not in names and "x-injected" not in names and names.count("to") == 1
    assert received["To"] == "ada@customer.test" and received["Subject"].startswith("Hello ")
    assert "\n" not in mail.subject and "\r" not in mail.subject


@pytest.mark.parametrize("to", ["ada@customer.test\r\nBcc: victim@evil.test", "a@b.test, victim@evil.test",
                                "<a@b.test>, <c@d.test>", "not-an-address", "", "a b@c.test"])
def test_a_recipient_is_exactly_one_address(app, to):
    with pytest.raises(MailError):
        mailer.send_mail(to, "Hi", "body")


def test_without_smtp_the_outbox_is_the_delivery(app, users, thread, run_jobs):
    message = post_to_customer(users, thread)
    run_jobs()
    (mail,) = mails()
    assert mail.status == "sent" and mail.sent_at is not None and mail.attempts == 0
    assert [(r.status, r.outbox_mail_id) for r in db.session.get(Message, message.id).recipients] == \
        [("sent", mail.id)]


# ---- SMTP ------------------------------------------------------------------------------------

def test_a_queued_mail_is_sent_over_smtp_and_its_recipient_marked_sent(app, users, thread, run_jobs, smtp_server):
    message = post_to_customer(users, thread)
    run_jobs()  # the message's delivery job writes the mail; its own job sends it
    run_jobs()
    (arrived,) = smtp_server.wait_for(1)
    (mail,) = mails()
    assert arrived["to"] == ["ada@customer.test"] and arrived["from"] == app.config["MAIL_FROM"]
    assert arrived["message"]["Message-ID"] == mail.message_id
    assert "Your parcel is on its way." in arrived["message"].get_body(("plain",)).get_content()
    assert (mail.status, mail.attempts, mail.error) == ("sent", 1, None) and mail.sent_at is not None
    recipient = db.session.scalar(select(MessageRecipient).where(MessageRecipient.message_id == message.id))
    assert recipient.status == "sent"


def make_due(mail_id: int) -> None:
    db.session.execute(OutboxMail.__table__.update().where(OutboxMail.id == mail_id)
                       .values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()


def test_a_temporary_failure_is_retried_later_then_sent(app, smtp_server, run_jobs):
    smtp_server.refuse["ada@customer.test"] = "451 4.3.0 Try again later"
    mail_id = mailer.send_mail("ada@customer.test", "Hello", "body").id
    db.session.commit()
    run_jobs()
    (mail,) = mails()
    assert (mail.status, mail.attempts) == ("queued", 1) and mail.error.startswith("451")
    assert mail.next_attempt_at - utcnow() > timedelta(seconds=mailer.RETRY_DELAYS[0] - 5)
    assert mailer.deliver(mail_id) == "skipped"  # not due yet: nothing is sent early
    del smtp_server.refuse["ada@customer.test"]
    make_due(mail_id)
    assert mailer.deliver(mail_id) == "sent"
    assert len(smtp_server.wait_for(1)) == 1 and mails()[0].attempts == 2
    assert mailer.deliver(mail_id) == "skipped"  # the retry planned for later finds it sent


def test_an_unreachable_server_is_a_temporary_failure(app, smtp_server, monkeypatch, run_jobs):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setitem(app.config, "SMTP_URL", f"smtp://127.0.0.1:{port}")
    mailer.send_mail("ada@customer.test", "Hello", "body")
    db.session.commit()
    run_jobs()
    (mail,) = mails()
    assert mail.status == "queued" and "could not reach the mail server" in mail.error


def test_out_of_attempts_the_mail_fails(app, smtp_server, run_jobs):
    smtp_server.refuse["ada@customer.test"] = "421 4.4.2 Timeout"
    mail_id = mailer.send_mail("ada@customer.test", "Hello", "body").id
    db.session.commit()
    run_jobs()
    states = []
    for _ in range(mailer.MAX_ATTEMPTS - 1):
        make_due(mail_id)
        states.append(mailer.deliver(mail_id))
    assert states == ["queued"] * (mailer.MAX_ATTEMPTS - 2) + ["failed"]
    assert mails()[0].attempts == mailer.MAX_ATTEMPTS and smtp_server.received == []


def test_a_permanent_failure_marks_the_recipient_and_tells_the_author(app, users, thread, run_jobs,
                                                                        smtp_server, events):
    smtp_server.refuse["ada@customer.test"] = "550 5.1.1 No such user here"
    message = post_to_customer(users, thread)
    run_jobs()
    run_jobs()
    (mail,) = mails()
    assert (mail.status, mail.attempts) == ("failed", 1) and "5.1.1 No such user" in mail.error
    recipient = db.session.scalar(select(MessageRecipient).where(MessageRecipient.message_id == message.id))
    assert recipient.status == "failed" and "No such user" in recipient.error
    (note,) = db.session.scalars(select(Notification).where(Notification.user_id == users.agent.id)).all()
    assert note.kind == "failure" and note.message_id == message.id and "ada@customer.test" in note.summary
    # Viewers of the record see the red envelope without reloading.
    live = [html for topic, html in events if topic == f"thread:{thread.id}" and f"message-{message.id}" in html]
    assert live and "Not delivered to ada@customer.test" in live[-1]


def test_a_lost_job_or_a_dead_worker_is_picked_up_by_the_sweep(app, smtp_server, run_jobs):
    long_ago = utcnow() - timedelta(hours=1)
    common = {"sender": app.config["MAIL_FROM"], "body_text": "body", "created_at": long_ago}
    lost = OutboxMail(message_id="<lost@hilo.test>", to="ada@customer.test", subject="Lost job",
                      status="queued", **common)
    dead = OutboxMail(message_id="<dead@hilo.test>", to="ben@customer.test", subject="Dead worker",
                      status="sending", claimed_at=long_ago, attempts=1, **common)
    recent = OutboxMail(message_id="<busy@hilo.test>", to="cy@customer.test", subject="Being sent",
                        status="sending", claimed_at=utcnow(), attempts=1, **common)
    db.session.add_all([lost, dead, recent])
    db.session.commit()
    assert mailer.sweep() == 2
    run_jobs()
    assert sorted(m["to"][0] for m in smtp_server.wait_for(2)) == ["ada@customer.test", "ben@customer.test"]
    assert [m.status for m in mails()] == ["sent", "sent", "sending"]  # a live worker's is left alone
    assert mailer.sweep() == 0
