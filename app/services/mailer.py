"""Outbound mail. The embedded default writes each mail to the outbox (a page admins read).

Later, with `SMTP_URL`, the same call will queue SMTP delivery; callers don't change.
"""
import logging
from email.utils import make_msgid, parseaddr

from flask import current_app

from app.extensions import db
from app.models import OutboxMail

log = logging.getLogger(__name__)


def _one_line(value: str) -> str:
    """Header values never carry line breaks: no header injection from user input."""
    return " ".join((value or "").splitlines()).strip()


def _address(value: str) -> str:
    name, addr = parseaddr(_one_line(value))
    if "@" not in addr:
        raise ValueError(f"not an email address: {value!r}")
    return addr


def send_mail(to, subject: str, text: str, html: str | None = None, *, kind: str = "message",
              chatter_message_id: int | None = None) -> OutboxMail:
    """Queue one mail to the addresses in `to` (kept in the outbox; commit is the caller's)."""
    recipients = [_address(a) for a in ([to] if isinstance(to, str) else to)]
    mail = OutboxMail(
        message_id=make_msgid(domain=current_app.config["MAIL_DOMAIN"]),
        sender=current_app.config["MAIL_FROM"],
        to=", ".join(recipients),
        subject=_one_line(subject)[:255],
        body_text=text,
        body_html=html,
        kind=kind,
        chatter_message_id=chatter_message_id,
    )
    db.session.add(mail)
    log.info("mail %s to %s: %s", kind, mail.to, mail.subject)
    return mail
