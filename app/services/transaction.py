"""Work that must wait for the current transaction to commit (events, jobs, mail).

`on_commit(fn)` queues `fn` on the session; it runs right after a successful
commit and is dropped on rollback, so nothing announces a change that did not happen.
"""
import logging

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.extensions import db

log = logging.getLogger(__name__)
_KEY = "hilo_on_commit"


def on_commit(fn) -> None:
    """Call `fn()` once the current transaction of `db.session` commits."""
    db.session.info.setdefault(_KEY, []).append(fn)


@event.listens_for(Session, "after_commit")
def _run(session: Session) -> None:
    for fn in session.info.pop(_KEY, []):
        try:
            fn()
        except Exception:  # a failed publish must not undo a committed change
            log.exception("after-commit callback failed")


@event.listens_for(Session, "after_soft_rollback")
def _drop(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_KEY, None)
