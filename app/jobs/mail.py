"""Sending mail over SMTP: one job per mail, and the sweep for mails whose job was lost;
fetching mail from IMAP_URL on a timer."""
import logging

from app.extensions import db
from app.services import imap, mailer

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


def poll_imap_job() -> int:
    """One poll of IMAP_URL (periodic). Its failures are logged by the poll and the next one
    retries, so they do not fail the job; returns how many mails it fetched."""
    result = imap.poll()
    if result.fetched:
        log.info("IMAP poll fetched %d mail(s)", len(result.fetched))
    return len(result.fetched)
