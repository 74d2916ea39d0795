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
_BATCHES = "hilo_on_commit_batches"


def on_commit_batch(key: str, item, flush) -> None:
    """Add `item` to this transaction's batch `key`; `flush(items)` runs once after commit.

    For work cheaper in bulk (many bus events go out in one Redis round trip).
    """
    batches = db.session().info.setdefault(_BATCHES, {})
    if key not in batches:
        items = batches[key] = []
        on_commit(lambda: flush(items))
    batches[key].append(item)


def on_commit(fn) -> None:
    """Call `fn()` once the current transaction of `db.session` commits.

    With no transaction open yet, one is begun, so a rollback before the next commit
    drops `fn` as it drops the changes.
    """
    session = db.session()
    if not session.in_transaction():
        session.begin()
    session.info.setdefault(_KEY, []).append(fn)


@event.listens_for(Session, "after_commit")
def _run(session: Session) -> None:
    session.info.pop(_BATCHES, None)
    for fn in session.info.pop(_KEY, []):
        try:
            fn()
        except Exception:  # a failed publish must not undo a committed change
            log.exception("after-commit callback failed")


@event.listens_for(Session, "after_soft_rollback")
def _drop(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_KEY, None)
        session.info.pop(_BATCHES, None)

