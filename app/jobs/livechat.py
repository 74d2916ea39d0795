"""Live chat jobs: chats nobody wrote in for LIVECHAT_IDLE_MINUTES are ended (the visitor is offered
the rating, the operator's place is free again), and chats still waiting go to operators who are
free now (one may have come online since)."""
import logging

from app.extensions import db
from app.services import livechat

log = logging.getLogger(__name__)


def expire_idle_chats_job() -> int:
    try:
        ended = livechat.expire_idle()
        db.session.commit()
        livechat.hand_out_waiting()
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("ending idle live chats failed")
        raise
    return ended
