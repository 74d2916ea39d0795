"""Discuss jobs: members' unread counts after a post."""
import logging

from app.extensions import db
from app.services import discuss

log = logging.getLogger(__name__)


def push_unread_job(channel_id: int, message_id: int) -> int:
    """Push each member's unread count for the conversation (read-only: nothing to commit
    but the events, which go out on commit)."""
    try:
        told = discuss.push_unread(channel_id, message_id)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("unread counts for message %s failed", message_id)
        raise
    return told
