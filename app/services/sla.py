"""SLA (SPEC §5): a team's policies give each matching ticket deadlines counted in working time.

Per ticket and policy target (first staff reply, next reply after a customer message,
resolution) a `TicketSla` row holds the clock's start, the deadline, and the outcome. The ticket
keeps the nearest ongoing deadline and whether anything failed (`sla_deadline`, `sla_failed`)
so boards and lists order and filter without joining. Nothing here commits.
"""
from datetime import datetime, timedelta

from app.models.base import utcnow

WARNING = timedelta(hours=1)  # cards turn orange this close to a deadline


def sla_state(ticket, now: datetime | None = None) -> str | None:
    """What a card shows: "failed", "warning" (deadline under an hour away), "ongoing", or None
    (closed, or no deadline running)."""
    if ticket.sla_failed:
        return "failed"
    if ticket.closed_at is not None or ticket.sla_deadline is None:
        return None
    return "warning" if ticket.sla_deadline - (now or utcnow()) < WARNING else "ongoing"
