"""Telling a posted message's audience: the job queued by each post, and the sweep for lost jobs."""
import logging

from app.extensions import db
from app.services import messaging

log = logging.getLogger(__name__)


def deliver_message_job(message_id: int) -> bool:
    """Notify the mentioned users and the followers of one message (no-op if already done)."""
    try:
        delivered = messaging.deliver(message_id)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("notifying the audience of message %s failed", message_id)
        raise
    return delivered


def sweep_undelivered_job() -> int:
    """Deliver messages whose job was lost (Redis restarted, worker killed); one commit each."""
    done = 0
    for message_id in messaging.undelivered():
        try:
            done += deliver_message_job(message_id)
        except Exception:
            continue  # logged; the next sweep tries again
    if done:
        log.info("message sweep notified the audience of %d message(s)", done)
    return done
