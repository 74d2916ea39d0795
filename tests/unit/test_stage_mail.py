"""The email a stage sends to the customer when a ticket enters it (services/stage_mail.py)."""
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Message, OutboxMail, Stage
from app.services import helpdesk, stage_mail
from tests.conftest import make_contact, make_team, make_ticket

pytestmark = pytest.mark.usefixtures("request_ctx")


@pytest.fixture
def solved(app, users):
    team = make_team("Care", members=[users.agent])
    stage = db.session.scalar(select(Stage).where(Stage.name == "Solved"))
    stage.mail_subject = "{{ticket.ref}} is solved"
    stage.mail_body = "Hello {{customer.name}},\n{{team.name}} solved “{{ticket.title}}”. {{ ''.__class__ }}"
    db.session.commit()
    return team, stage


def test_entering_the_stage_mails_the_customer_in_the_thread(solved, users, run_jobs):
    team, stage = solved
    customer = make_contact("Ada <b>Lovelace</b>", "ada@customer.test")
    ticket = make_ticket(team, "Printer <script>alert(1)</script>", customer=customer)
    helpdesk.move(ticket, stage, users.agent)
    db.session.commit()
    run_jobs()

    message = db.session.scalar(select(Message).where(Message.thread_id == ticket.thread.id,
                                                      Message.kind == "comment"))
    assert message.author_user_id is None and message.subject == f"{ticket.ref} is solved"
    assert "<script>" not in message.body_html and "&lt;script&gt;" in message.body_html
    assert "&lt;b&gt;Lovelace" in message.body_html  # names are text too
    assert "{{ ''.__class__ }}" in message.body_html.replace("&#39;", "'")  # never evaluated
    mail = db.session.scalar(select(OutboxMail).where(OutboxMail.chatter_message_id == message.id))
    assert mail.to == "ada@customer.test" and mail.auto_submitted  # robots must not answer it
    assert f"{ticket.ref} is solved" == mail.subject


def test_no_customer_address_or_no_template_sends_nothing(solved, users):
    team, stage = solved
    no_address = make_contact("No Address")
    no_address.email = None
    ticket = make_ticket(team, "Quiet", customer=no_address)
    assert stage_mail.send_on_entry(ticket, stage) is None
    progress = db.session.scalar(select(Stage).where(Stage.name == "In progress"))
    other = make_ticket(team, "Loud", customer=make_contact("Ben", "ben@customer.test"))
    assert stage_mail.send_on_entry(other, progress) is None


def test_placeholders_are_a_whitelist():
    assert stage_mail.unknown_placeholders("{{ticket.ref}} {{ ticket.secret }} {{config}}") == ["ticket.secret", "config"]
    assert stage_mail.render("{{ticket.ref}} {{x}}", {"ticket.ref": "#4"}) == "#4 {{x}}"
