"""Sending mail over SMTP: one job per mail, and the sweep for mails whose job was lost."""
import logging

from app.extensions import db
from app.services import mailer

log = logging.getLogger(__name__)


def deliver_mail_job(mail_id: int) -> str:
    try:
        return mailer.deliver(mail_id)
    except Exception:
        db.session.rollback()
        log.exception("sending mail %s failed", mail_id)
        raise


def sweep_mail_job() -> int:
    count = mailer.sweep()
    if count:
        log.info("mail sweep queued %d mail(s) again", count)
    return count
