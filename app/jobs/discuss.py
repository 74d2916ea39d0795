"""Discuss jobs: members' unread counts, pushed at most about twice a second per conversation."""
import logging

from app.extensions import db
from app.services import discuss

log = logging.getLogger(__name__)


def push_unread_job(channel_id: int) -> int:
    """Push each member's unread count for the conversation as it is now (read-only: nothing to
    commit but the events, which go out on commit)."""
    try:
        told = discuss.push_unread(channel_id)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("unread counts of conversation %s failed", channel_id)
        raise
    return told
