"""Helpdesk pages: a team's board of tickets in columns of stages (SPEC §4.5).

The package's routes.py makes these staff-only; a team the user is not in is a 404, as if it did
not exist. Every change answers the htmx request with fragments (the card, the column counts) and
works as a plain form post without JavaScript (redirect back to the board).
"""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from app import wants_fragment
from app.blueprints.helpdesk import bp
from app.blueprints.helpdesk.routes import INVALID, _record, load_ticket
from app.extensions import db
from app.models import Team, Ticket, User
from app.models.helpdesk import PRIORITIES
from app.services import board, helpdesk, pagecache

STALE = 409


def load_team(team_id: int) -> Team:
    """The team, when the current user works on its tickets (else 404)."""
    team = db.session.get(Team, team_id)
    if team is None or not team.active or not (current_user.is_admin or team.has_member(current_user)):
        abort(404)
    return team


def _render_board(team: Team, teams, status: int = 200, quick: dict | None = None):
    def columns_html():
        columns = board.columns(team)
        shown = [t for c in columns for t in c.cards]
        return render_template("helpdesk/_board_columns.html", team=team, columns=columns,
                               badges=board.activity_badges(shown), quick=quick or {})

    def page():
        return render_template("helpdesk/board.html", team=team, teams=teams, board_html=Markup(columns_html()))

    if quick:
        return page(), status
    return pagecache.cached("board", _board_scopes(team.id), page, whole=True), status


def _board_scopes(team_id: int) -> list[str]:
    return [pagecache.team(team_id)]


def _refusal(ticket: Ticket | None, message: str, status: int = INVALID):
    """A refused change: the card as it really is (htmx), or the board with the message."""
    if wants_fragment():
        return render_template("helpdesk/_board_refusal.html", ticket=ticket, message=message,
                               team=ticket.team if ticket else None,
                               counts=board.stage_counts(ticket.team) if ticket else {},
                               badges=board.activity_badges([ticket] if ticket else [])), status
    flash(message, "error")
    if ticket is None:
        return redirect(url_for("helpdesk.board_home")), 303
    return redirect(url_for("helpdesk.board", team_id=ticket.team_id, _anchor=f"card-{ticket.id}")), 303


def _changed(ticket: Ticket, notice: str):
    """After a change: the card and the team's counts (htmx), or back to the board."""
    if wants_fragment():
        return render_template("helpdesk/_board_event.html", ticket=ticket, ticket_id=ticket.id, team=ticket.team,
                               counts=board.stage_counts(ticket.team), badges=board.activity_badges([ticket]),
                               notice=notice)
    flash(notice, "success")
    return redirect(url_for("helpdesk.board", team_id=ticket.team_id, _anchor=f"card-{ticket.id}"))


@bp.get("/helpdesk/board")
def board_home():
    """The board of my first team (an empty state when I am in none)."""
    teams = helpdesk.teams_of(current_user)
    if teams:
        return redirect(url_for("helpdesk.board", team_id=teams[0].id))
    return render_template("helpdesk/board.html", team=None, teams=[])


@bp.get("/helpdesk/teams/<int:team_id>/board", endpoint="board")
def board_page(team_id: int):
    """A team's tickets in columns of its stages, most urgent first."""
    page = pagecache.hit("board", _board_scopes(team_id))  # kept whole: nothing else to read
    if page is not None:
        return page
    return _render_board(load_team(team_id), helpdesk.teams_of(current_user))


@bp.get("/helpdesk/teams/<int:team_id>/board/stages/<int:stage_id>")
def board_column(team_id: int, stage_id: int):
    """More cards of a column (after the card named by `after`), or an unfolded column's first page."""
    team = load_team(team_id)
    try:
        stage = board.stage_of_team(team, stage_id)
        tickets, more = board.cards(team, stage, after=request.args.get("after") or None)
    except helpdesk.HelpdeskError:
        abort(404)
    return render_template("helpdesk/_board_cards.html", team=team, stage=stage, tickets=tickets, more=more,
                           badges=board.activity_badges(tickets))


@bp.post("/helpdesk/board/tickets/<int:ticket_id>/move")
def board_move(ticket_id: int):
    """Move a card to another stage of its team; `from_stage` is where the mover saw it."""
    ticket = load_ticket(ticket_id)
    seen_in = request.form.get("from_stage", "")
    if seen_in and seen_in != str(ticket.stage_id):
        return _refusal(ticket, f"{ticket.ref} was moved meanwhile: it is in {ticket.stage.name}.", STALE)
    try:
        stage = board.stage_of_team(ticket.team, request.form.get("stage_id"))
        helpdesk.move(ticket, stage, current_user)
    except helpdesk.HelpdeskError as err:
        db.session.rollback()
        return _refusal(ticket, str(err))
    db.session.commit()
    return _changed(ticket, f"{ticket.ref} is now in {stage.name}.")


@bp.post("/helpdesk/board/tickets/<int:ticket_id>/priority")
def board_priority(ticket_id: int):
    """Set a card's priority (its stars)."""
    ticket = load_ticket(ticket_id)
    raw = request.form.get("priority", "")
    if not (raw.isdigit() and int(raw) in PRIORITIES):
        return _refusal(ticket, "Priority is 0 (low) to 3 (urgent).")
    helpdesk.update(ticket, current_user, priority=int(raw))
    db.session.commit()
    return _changed(ticket, f"{ticket.ref} is now {ticket.priority_label.lower()} priority.")


@bp.post("/helpdesk/teams/<int:team_id>/board/stages/<int:stage_id>/tickets")
def board_quick_create(team_id: int, stage_id: int):
    """Quick create: a ticket with a title (and a customer's email) straight into a column."""
    team = load_team(team_id)
    quick = {"stage_id": stage_id, "title": request.form.get("title", ""),
             "email": request.form.get("customer_email", "")}
    try:
        stage = board.stage_of_team(team, stage_id)
        customer = helpdesk.customer_for(quick["email"])
        ticket = helpdesk.create_ticket(team, quick["title"], author=current_user, customer=customer)
        if stage.id != ticket.stage_id:
            helpdesk.move(ticket, stage, current_user)
    except helpdesk.HelpdeskError as err:
        db.session.rollback()
        quick["error"] = str(err)
        if wants_fragment():
            return render_template("helpdesk/_board_quick.html", team=team, stage_id=stage_id,
                                   quick=quick, open=True), INVALID
        return _render_board(team, helpdesk.teams_of(current_user), INVALID, quick)
    db.session.commit()
    if wants_fragment():
        return render_template("helpdesk/_board_created.html", team=team, stage_id=stage.id, ticket=ticket,
                               counts=board.stage_counts(team), badges=board.activity_badges([ticket]))
    flash(f"Ticket {ticket.ref} created.", "success")
    return redirect(url_for("helpdesk.board", team_id=team.id, _anchor=f"card-{ticket.id}"))


@bp.post("/helpdesk/board/tickets/<int:ticket_id>/assignee")
def board_assign(ticket_id: int):
    """Assign a card to a member of its team (empty: nobody)."""
    ticket = load_ticket(ticket_id)
    raw = request.form.get("assignee_id", "")
    assignee = _record(User, raw) if raw else None
    if raw and assignee is None:
        return _refusal(ticket, "Choose a member of the team.")
    try:
        helpdesk.assign(ticket, assignee, current_user)
    except helpdesk.HelpdeskError as err:
        db.session.rollback()
        return _refusal(ticket, str(err))
    db.session.commit()
    return _changed(ticket, f"{ticket.ref} is assigned to {assignee.name}." if assignee
                    else f"{ticket.ref} is unassigned.")
