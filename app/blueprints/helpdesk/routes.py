"""Helpdesk pages (staff): the tickets of my teams, and a ticket with its conversation.

Agents see the tickets of the teams they belong to, admins every ticket (models/helpdesk.py);
anything else is a 404, as if it did not exist.
"""
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.blueprints.chatter.routes import require_sign_in
from app.blueprints.helpdesk import bp
from app.extensions import db
from app.models import Stage, Ticket, User
from app.services import access, helpdesk

INVALID = 422


@bp.before_request
def staff_only():
    refused = require_sign_in()
    if refused is not None:
        return refused
    if not access.is_staff(current_user):
        abort(403)
    return None


def load_ticket(ticket_id: int) -> Ticket:
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None or not ticket.staff_can_read(current_user):
        abort(404)
    return ticket


@bp.get("/helpdesk/tickets")
def tickets():
    """Open tickets of my teams, most urgent first; closed ones on request."""
    show_closed = request.args.get("closed") == "1"
    size = current_app.config["LIST_PAGE_SIZE"]
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    query = select(Ticket).where(Ticket.staff_read_filter(current_user))
    query = query.where(Ticket.closed_at.is_not(None) if show_closed else Ticket.closed_at.is_(None))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    pages = max((total + size - 1) // size, 1)
    page = min(page, pages)
    tickets = db.session.scalars(
        query.options(selectinload(Ticket.tags), selectinload(Ticket.stage), selectinload(Ticket.team),
                      selectinload(Ticket.assignee), selectinload(Ticket.customer))
        .order_by(Ticket.priority.desc(), Ticket.id.desc()).offset((page - 1) * size).limit(size)).all()
    return render_template("helpdesk/tickets.html", tickets=tickets, total=total, page=page, pages=pages,
                           show_closed=show_closed, teams=helpdesk.teams_of(current_user))


def _render_ticket(ticket: Ticket, error: str | None = None, status: int = 200):
    members = [m.user for m in ticket.team.members if m.user.active]
    return render_template("helpdesk/ticket.html", ticket=ticket, record=ticket, thread=ticket.ensure_thread(),
                           members=members, error=error), status


@bp.get("/helpdesk/tickets/<int:ticket_id>")
def ticket(ticket_id: int):
    """A ticket's facts beside its conversation."""
    return _render_ticket(load_ticket(ticket_id))


@bp.post("/helpdesk/tickets/<int:ticket_id>/stage")
def move(ticket_id: int):
    ticket = load_ticket(ticket_id)
    stage = db.session.get(Stage, request.form.get("stage_id", type=int) or 0)
    if stage is None:
        return _render_ticket(ticket, "Choose a stage.", INVALID)
    try:
        helpdesk.move(ticket, stage, current_user)
    except helpdesk.HelpdeskError as err:
        db.session.rollback()
        return _render_ticket(ticket, str(err), INVALID)
    db.session.commit()
    flash(f"{ticket.ref} is now in {stage.name}.", "success")
    return redirect(url_for("helpdesk.ticket", ticket_id=ticket.id))


@bp.post("/helpdesk/tickets/<int:ticket_id>/assignee")
def assign(ticket_id: int):
    ticket = load_ticket(ticket_id)
    raw = request.form.get("assignee_id", "")
    assignee = None
    if raw:
        assignee = db.session.get(User, int(raw)) if raw.isdigit() else None
        if assignee is None:
            return _render_ticket(ticket, "Choose a member of the team.", INVALID)
    try:
        helpdesk.assign(ticket, assignee, current_user)
    except helpdesk.HelpdeskError as err:
        db.session.rollback()
        return _render_ticket(ticket, str(err), INVALID)
    db.session.commit()
    flash(f"{ticket.ref} is assigned to {assignee.name}." if assignee else f"{ticket.ref} is unassigned.", "success")
    return redirect(url_for("helpdesk.ticket", ticket_id=ticket.id))
