"""Helpdesk pages (staff): the list of tickets, a new ticket, a ticket with its conversation,
its fields and its time.

Agents see the tickets of the teams they belong to, admins every ticket (models/helpdesk.py);
anything else is a 404, as if it did not exist.
"""
from urllib.parse import parse_qsl

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.datastructures import MultiDict
from wtforms.fields.choices import SelectChoice

from app import wants_fragment
from app.blueprints.chatter.routes import require_sign_in
from app.blueprints.helpdesk import bp
from app.blueprints.helpdesk.forms import (BulkForm, NewTicketForm, TicketFilterForm, TicketForm, TimesheetForm,
                                           any_of, tag_names)
from app.extensions import db
from app.models import Stage, Tag, Team, TeamMember, Thread, Ticket, TicketType, Timesheet, User
from app.models.helpdesk import PRIORITIES, stage_teams
from app.services import access, helpdesk, pagecache, timesheets
from app.templating import local_today

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
    """The ticket, when the current user may read it (else 404): one query, with its team and thread."""
    row = db.session.execute(select(Ticket, Thread).outerjoin(Thread, Ticket.thread_join())
                             .where(Ticket.id == ticket_id, Ticket.staff_read_filter(current_user))
                             .options(joinedload(Ticket.team))).first()
    if row is None:
        abort(404)
    return row[0].with_thread(row[1])


def _record(model, raw):
    """The row with the id a form sent, or None (empty, junk or unknown)."""
    raw = (raw or "").strip()
    return db.session.get(model, int(raw)) if raw.isdigit() and len(raw) <= 10 else None


# ---- the list ----------------------------------------------------------------------------------

def _people_of(teams) -> list[User]:
    """The active members of these teams, by name."""
    if not teams:
        return []
    return list(db.session.scalars(
        select(User).join(TeamMember, TeamMember.user_id == User.id)
        .where(TeamMember.team_id.in_([t.id for t in teams]), User.active.is_(True))
        .group_by(User.id).order_by(User.name)))


def _stages_of(teams) -> list[Stage]:
    if not teams:
        return []
    return list(db.session.scalars(
        select(Stage).join(stage_teams, stage_teams.c.stage_id == Stage.id)
        .where(stage_teams.c.team_id.in_([t.id for t in teams]))
        .group_by(Stage.id).order_by(Stage.sequence, Stage.id)))


def _list_choices(teams):
    """What the list's filters and bulk changes offer: my teams' stages and people, every type and tag."""
    return {"stages": _stages_of(teams), "people": _people_of(teams),
            "types": list(db.session.scalars(select(TicketType).order_by(TicketType.name))),
            "tags": list(db.session.scalars(select(Tag).order_by(Tag.name)))}


def _filter_form(formdata, teams, choices) -> TicketFilterForm:
    form = TicketFilterForm(formdata=formdata)
    form.team.choices = any_of("All teams", ((t.id, t.name) for t in teams))
    form.stage.choices = any_of("All stages", ((s.id, s.name) for s in choices["stages"]))
    form.assignee.choices = any_of("Anyone", ((u.id, u.name) for u in choices["people"]))
    form.type.choices = any_of("All types", ((t.id, t.name) for t in choices["types"]))
    form.tag.choices = any_of("All tags", ((t.id, t.name) for t in choices["tags"]))
    return form


def _bulk_form(choices, formdata=None) -> BulkForm:
    form = BulkForm(formdata=formdata) if formdata is not None else BulkForm(formdata=None)
    form.assignee_id.choices = [SelectChoice("", "Assign to…"), SelectChoice("none", "Nobody (unassign)"),
                                *(SelectChoice(str(u.id), u.name) for u in choices["people"])]
    form.stage_id.choices = [SelectChoice("", "Move to…"),
                             *(SelectChoice(str(s.id), s.name) for s in choices["stages"])]
    return form


def _list_html(filters: TicketFilterForm, teams, choices, bulk: BulkForm | None = None, error: str | None = None,
               notice: str | None = None, fragment: bool = False) -> str:
    """The filters and the rows (the whole page's part), or the rows alone (an htmx search)."""
    page = helpdesk.ticket_list(current_user, filters.to_filters(), page=filters.page_number,
                                per_page=current_app.config["TICKETS_PAGE_SIZE"])
    bulk = bulk or _bulk_form(choices)
    checked = set(bulk.chosen_ids() or []) if bulk.is_submitted() else set()
    return render_template("helpdesk/_list.html" if fragment else "helpdesk/_tickets_body.html", page=page,
                           filters=filters, bulk=bulk, teams=teams, error=error, notice=notice, checked=checked,
                           group_of=helpdesk.group_of, group_label=helpdesk.LIST_GROUPS.get(filters.to_filters().group))


def _list_fragment() -> bool:
    # A history restore (back button after an htmx search) needs the whole page.
    return wants_fragment() and not request.headers.get("HX-History-Restore-Request")


def _list_response(html, teams, fragment: bool, status: int = 200):
    return (html if fragment else render_template("helpdesk/tickets.html", teams=teams, list_html=html)), status


def _render_list(filters: TicketFilterForm, teams, choices, bulk: BulkForm | None = None,
                 error: str | None = None, notice: str | None = None, status: int = 200):
    fragment = _list_fragment()
    return _list_response(Markup(_list_html(filters, teams, choices, bulk, error, notice, fragment)), teams,
                          fragment, status)


def _list_scopes() -> list[str]:
    """What the current user's list shows: every ticket (admins), or their teams' tickets,
    archived teams included (a member still reads those)."""
    if current_user.is_admin:
        return [pagecache.ANY_TICKET]
    return [pagecache.team(team_id) for team_id in db.session.scalars(
        select(TeamMember.team_id).where(TeamMember.user_id == current_user.id))]


@bp.get("/helpdesk/tickets")
def tickets():
    """The tickets of my teams: search, filters, groups, sorting, pages — all in the query string."""
    fragment = _list_fragment()

    def render():
        teams = helpdesk.teams_of(current_user)
        choices = _list_choices(teams)
        html = Markup(_list_html(_filter_form(request.args, teams, choices), teams, choices, fragment=fragment))
        return _list_response(html, teams, fragment)[0]

    # Kept whole, the layout too: a second view reads only what the scopes need.
    return pagecache.cached("ticket-rows" if fragment else "ticket-list", _list_scopes(), render, whole=True)


@bp.post("/helpdesk/tickets/bulk")
def bulk():
    """Assign, move or tag the ticked tickets: all of them, or none with the reasons why."""
    teams = helpdesk.teams_of(current_user)
    choices = _list_choices(teams)
    form = _bulk_form(choices, request.form)
    back = MultiDict(parse_qsl((form.back.data or "")[:2000]))
    filters = _filter_form(back, teams, choices)
    if not form.validate():
        error = "; ".join(e for errors in form.errors.values() for e in errors) or "The form expired: try again."
        return _render_list(filters, teams, choices, form, error=error, status=INVALID)
    ids = form.chosen_ids()
    if ids is None:
        return _render_list(filters, teams, choices, form, error="Tick the tickets to change.", status=INVALID)
    tickets = helpdesk.readable_tickets(current_user, ids)
    if tickets is None:
        abort(404)  # a ticket the user may not read is not theirs to change, nor to learn about
    action, change = form.action.data, {}
    if action == "assign":
        if form.assignee_id.data == "none":
            change["assignee"] = None
        else:
            change["assignee"] = _record(User, form.assignee_id.data)
            if change["assignee"] is None:
                return _render_list(filters, teams, choices, form, error="Choose who to assign them to.",
                                    status=INVALID)
    elif action == "stage":
        change["stage"] = _record(Stage, form.stage_id.data)
        if change["stage"] is None:
            return _render_list(filters, teams, choices, form, error="Choose a stage to move them to.",
                                status=INVALID)
    elif action == "tag":
        if not (form.tag.data or "").strip():
            return _render_list(filters, teams, choices, form, error="Type the tag to add.", status=INVALID)
        change["tag_name"] = form.tag.data
    else:
        return _render_list(filters, teams, choices, form, error="Choose what to do with them.", status=INVALID)
    try:
        count = helpdesk.bulk_change(tickets, current_user, **change)
    except helpdesk.HelpdeskError as err:
        db.session.rollback()
        return _render_list(filters, teams, choices, form, error=str(err), status=INVALID)
    db.session.commit()
    notice = f"{count} {'ticket' if count == 1 else 'tickets'} changed."
    if wants_fragment():
        return _render_list(filters, teams, choices, notice=notice)
    flash(notice, "success")
    return redirect(url_for("helpdesk.tickets", **filters.query_args()))


# ---- a new ticket ------------------------------------------------------------------------------

def _new_ticket_form(teams, formdata=None) -> NewTicketForm:
    form = NewTicketForm(formdata=formdata) if formdata is not None else NewTicketForm()
    form.team_id.choices = [SelectChoice(str(t.id), t.name) for t in teams]
    form.type_id.choices = [SelectChoice("", "No type"), *(SelectChoice(str(t.id), t.name) for t in
                                               db.session.scalars(select(TicketType).order_by(TicketType.name)))]
    form.assignee_id.choices = [SelectChoice("", "By the team's method"),
                                *(SelectChoice(str(u.id), u.name) for u in _people_of(teams))]
    if formdata is None and request.args.get("team"):
        form.team_id.data = request.args["team"]
    return form


@bp.route("/helpdesk/tickets/new", methods=["GET", "POST"])
def new_ticket():
    """Open a ticket by hand (a phone call, a walk-in) for a customer found or added by email."""
    teams = helpdesk.teams_of(current_user)
    form = _new_ticket_form(teams)
    if form.validate_on_submit():
        team = next((t for t in teams if str(t.id) == form.team_id.data), None)
        ticket_type = _record(TicketType, form.type_id.data)
        assignee = _record(User, form.assignee_id.data)
        if team is None:
            form.team_id.errors.append("Choose one of your teams.")
        if form.type_id.data and ticket_type is None:
            form.type_id.errors.append("That type no longer exists: choose another.")
        if form.assignee_id.data and assignee is None:
            form.assignee_id.errors.append("Choose a member of the team.")
        if not (form.team_id.errors or form.type_id.errors or form.assignee_id.errors):
            try:
                customer = helpdesk.customer_for(form.customer_email.data, form.customer_name.data)
                ticket = helpdesk.create_ticket(
                    team, form.title.data, author=current_user, description=form.description.data or "",
                    customer=customer, priority=form.priority.data, ticket_type=ticket_type,
                    tags=helpdesk.tags_named(tag_names(form.tags.data)), assignee=assignee)
            except helpdesk.HelpdeskError as err:
                db.session.rollback()
                field = {"customer": form.customer_email, "member": form.assignee_id}
                target = next((f for word, f in field.items() if word in str(err)), None)
                (target.errors if target is not None else form.form_errors).append(str(err))
            else:
                db.session.commit()
                flash(f"Ticket {ticket.ref} created.", "success")
                return redirect(url_for("helpdesk.ticket", ticket_id=ticket.id))
    status = INVALID if form.is_submitted() else 200
    return render_template("helpdesk/new.html", form=form, teams=teams), status


# ---- a ticket ----------------------------------------------------------------------------------

def _ticket_form(ticket: Ticket, formdata=None) -> TicketForm:
    if formdata is None:
        form = TicketForm(formdata=None, data={
            "title": ticket.title, "priority": ticket.priority, "type_id": str(ticket.type_id or ""),
            "tags": ", ".join(t.name for t in ticket.tags), "team_id": str(ticket.team_id),
            "stage_id": str(ticket.stage_id), "assignee_id": str(ticket.assignee_id or "")})
    else:
        form = TicketForm(formdata=formdata)
    teams = helpdesk.teams_of(current_user)
    if ticket.team not in teams:
        teams.append(ticket.team)  # an archived team still shows as the ticket's
    form.team_id.choices = [SelectChoice(str(t.id), t.name) for t in teams]
    form.type_id.choices = [SelectChoice("", "No type"), *(SelectChoice(str(t.id), t.name) for t in
                                               db.session.scalars(select(TicketType).order_by(TicketType.name)))]
    form.stage_id.choices = [SelectChoice(str(s.id), s.name) for s in ticket.team.stages]
    form.assignee_id.choices = [SelectChoice("", "Unassigned"), *(SelectChoice(str(m.user.id), m.user.name)
                                                      for m in ticket.team.members if m.user.active)]
    return form


def _render_ticket(ticket: Ticket, error: str | None = None, status: int = 200, form: TicketForm | None = None,
                   time_form: TimesheetForm | None = None):
    thread = ticket.ensure_thread()

    def body():
        members = [m.user for m in ticket.team.members if m.user.active]
        return render_template("helpdesk/_ticket_body.html", ticket=ticket, record=ticket, thread=thread,
                               members=members, error=error, ticket_form=form or _ticket_form(ticket),
                               time_form=time_form or TimesheetForm(formdata=None, data={"day": local_today(current_user)}),
                               priorities=PRIORITIES, **_time_context(ticket))

    def page(html):
        return render_template("helpdesk/ticket.html", ticket=ticket, thread=thread, ticket_html=html)

    if error is None and form is None and time_form is None:
        if len(_TICKET_THREADS) >= 100_000:
            _TICKET_THREADS.clear()
        _TICKET_THREADS[ticket.id] = thread.id
        return pagecache.cached("ticket", _ticket_scopes(ticket.id, thread.id), lambda: page(Markup(body())),
                                whole=True), status
    return page(Markup(body())), status


# ticket id -> its thread's id (it never changes): what a cached ticket page's key needs
_TICKET_THREADS: dict[int, int] = {}


def _ticket_scopes(ticket_id: int, thread_id: int) -> list[str]:
    # Not the team's scope: another ticket of the team changing leaves this page as it was.
    return [pagecache.ticket(ticket_id), pagecache.thread(thread_id)]


def _time_context(ticket: Ticket) -> dict:
    return {"time_total": timesheets.total_minutes(ticket), "duration": timesheets.format_duration,
            "may_delete_time": lambda line: timesheets.may_delete(line, current_user)}


@bp.get("/helpdesk/tickets/<int:ticket_id>")
def ticket(ticket_id: int):
    """A ticket's facts, time and SLA targets beside its conversation."""
    thread_id = _TICKET_THREADS.get(ticket_id)
    if thread_id is not None:
        page = pagecache.hit("ticket", _ticket_scopes(ticket_id, thread_id))
        if page is not None:
            return page
    return _render_ticket(load_ticket(ticket_id))


@bp.post("/helpdesk/tickets/<int:ticket_id>")
def edit_ticket(ticket_id: int):
    """Save the ticket's fields (title, priority, type, tags, team, stage, assignee)."""
    ticket = load_ticket(ticket_id)
    form = _ticket_form(ticket, request.form)
    if form.validate():
        team = _record(Team, form.team_id.data)
        ticket_type = _record(TicketType, form.type_id.data)
        stage = _record(Stage, form.stage_id.data)
        assignee = _record(User, form.assignee_id.data)
        allowed_teams = {choice.value for choice in form.team_id.choices}
        if team is None or str(team.id) not in allowed_teams:
            form.team_id.errors.append("Choose one of your teams.")
        if form.type_id.data and ticket_type is None:
            form.type_id.errors.append("That type no longer exists: choose another.")
        if stage is None:
            form.stage_id.errors.append("Choose a stage.")
        if form.assignee_id.data and assignee is None:
            form.assignee_id.errors.append("Choose a member of the team.")
        if not any(f.errors for f in form):
            try:
                helpdesk.change_ticket(ticket, current_user, title=form.title.data, priority=form.priority.data,
                                       ticket_type=ticket_type, tags=helpdesk.tags_named(tag_names(form.tags.data)),
                                       team=team, stage=stage, assignee=assignee)
            except helpdesk.HelpdeskError as err:
                db.session.rollback()
                return _render_ticket(ticket, str(err), INVALID, form=form)
            db.session.commit()
            flash(f"{ticket.ref} saved.", "success")
            return redirect(url_for("helpdesk.ticket", ticket_id=ticket.id))
    return _render_ticket(ticket, "Some fields need a look.", INVALID, form=form)


@bp.post("/helpdesk/tickets/<int:ticket_id>/stage")
def move(ticket_id: int):
    """Move the ticket to another stage of its team."""
    ticket = load_ticket(ticket_id)
    stage = _record(Stage, request.form.get("stage_id"))
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
    """Assign the ticket to a member of its team (nobody: unassigned)."""
    ticket = load_ticket(ticket_id)
    raw = request.form.get("assignee_id", "")
    assignee = None
    if raw:
        assignee = _record(User, raw)
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


# ---- time spent --------------------------------------------------------------------------------

def _render_time(ticket: Ticket, time_form: TimesheetForm, status: int = 200):
    if wants_fragment():
        return render_template("helpdesk/_timesheets.html", ticket=ticket, time_form=time_form,
                               **_time_context(ticket)), status
    return _render_ticket(ticket, None if status == 200 else "The time was not logged.", status,
                          time_form=time_form)


@bp.post("/helpdesk/tickets/<int:ticket_id>/time")
def log_time(ticket_id: int):
    """Log a line of my time on the ticket."""
    ticket = load_ticket(ticket_id)
    form = TimesheetForm()
    if form.validate():
        try:
            timesheets.log_time(ticket, current_user, form.day.data, form.duration.data, form.description.data,
                                today=local_today(current_user))
        except helpdesk.HelpdeskError as err:
            db.session.rollback()
            target = form.day if "day" in str(err) or "future" in str(err) else form.duration
            target.errors.append(str(err))
        else:
            db.session.commit()
            if wants_fragment():
                db.session.refresh(ticket)
                return _render_time(ticket, TimesheetForm(formdata=None, data={"day": local_today(current_user)}))
            flash("Time logged.", "success")
            return redirect(url_for("helpdesk.ticket", ticket_id=ticket.id, _anchor="ticket-time"))
    return _render_time(ticket, form, INVALID)


@bp.post("/helpdesk/tickets/<int:ticket_id>/time/<int:line_id>/delete")
def delete_time(ticket_id: int, line_id: int):
    """Delete a line of time: my own, or anyone's for an admin."""
    ticket = load_ticket(ticket_id)
    line = db.session.get(Timesheet, line_id)
    if line is None or line.ticket_id != ticket.id:
        abort(404)
    if not timesheets.may_delete(line, current_user):
        abort(403)
    timesheets.delete_line(line, current_user)
    db.session.commit()
    if wants_fragment():
        db.session.refresh(ticket)
        return _render_time(ticket, TimesheetForm(formdata=None, data={"day": local_today(current_user)}))
    flash("Time deleted.", "success")
    return redirect(url_for("helpdesk.ticket", ticket_id=ticket.id, _anchor="ticket-time"))
