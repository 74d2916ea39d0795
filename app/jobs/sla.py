"""SLA timers (SPEC §5.4): the job planned at each deadline and escalation moment, and the
periodic sweep that finds what a lost job, a dead worker or a restart left undone."""
import logging

from app.extensions import db
from app.services import sla

log = logging.getLogger(__name__)


def check_target_job(ticket_sla_id: int) -> str | None:
    """Fail or escalate one SLA target if its moment came (a no-op if reached, moved or done)."""
    try:
        outcome = sla.check_target(ticket_sla_id)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("SLA check of target %s failed", ticket_sla_id)
        raise
    return outcome


def sweep_sla_job() -> int:
    """Record every failure and escalation that is due; one commit per target, so one bad
    ticket does not hold back the others (it is logged, and the next sweep tries again)."""
    done = 0
    for ticket_sla_id in sla.due_targets():
        try:
            done += check_target_job(ticket_sla_id) is not None
        except Exception:
            continue
    if done:
        log.info("SLA sweep recorded %d failure(s) or escalation(s)", done)
    return done
