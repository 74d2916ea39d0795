"""Settings › Helpdesk: teams, stages, ticket types and tags, working calendars, SLA policies
(admins only, as every page of the admin blueprint). Each view validates the form, calls one
function of services/helpdesk_config.py, commits, then flashes and redirects."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from app import wants_fragment
from app.blueprints.admin import bp
from app.blueprints.admin.helpdesk_forms import (NO_ID, TAG_COLOR_NAMES, CalendarForm, MoveForm, PolicyForm,
                                                 StageDeleteForm, StageForm, TagForm, TeamForm, TypeForm)
from app.blueprints.auth.forms import add_error
from app.extensions import db
from app.models import Stage, Tag, Team, TicketType, User
from app.models.helpdesk import SlaPolicy, WorkingCalendar
from app.services import helpdesk_config as config
from app.services import sla, stage_mail
from app.services.helpdesk import HelpdeskError

INVALID = 422


def _get(model, record_id: int):
    """The record, or a 404 as if it did not exist."""
    record = db.session.get(model, record_id)
    if record is None:
        abort(404)
    return record


def _by_ids(model, ids) -> list:
    """Records for ids the form's choices already checked."""
    return list(db.session.scalars(select(model).where(model.id.in_(ids)))) if ids else []


def _refused(err: HelpdeskError, form) -> None:
    """Show the refusal on its field and forget what the service half-changed."""
    db.session.rollback()
    add_error(form, err)


@bp.context_processor
def helpdesk_settings_labels():
    return {"tag_color_names": TAG_COLOR_NAMES, "placeholders": stage_mail.PLACEHOLDERS,
            "hours_text": lambda hours: f"{hours:g}"}


@bp.get("/admin/helpdesk")
def helpdesk_settings():
    """Settings › Helpdesk opens on its teams."""
    return redirect(url_for("admin.helpdesk_teams"))


# ---- teams ---------------------------------------------------------------------------------

def _team_form(**kwargs) -> TeamForm:
    form = TeamForm(**kwargs)
    staff = config.staff_users()
    form.members.choices = form.leads.choices = [(u.id, u.name) for u in staff]
    form.calendar.choices = [(NO_ID, "Around the clock (no calendar)")] + [(c.id, c.name) for c in config.calendars()]
    form.staff = staff
    return form


def _team_fields(form: TeamForm) -> dict:
    return {"name": form.name.data, "description": form.description.data,
            "members": _by_ids(User, form.members.data), "leads": _by_ids(User, form.leads.data),
            "assignment": form.assignment.data, "daily_target": form.daily_target.data,
            "calendar": db.session.get(WorkingCalendar, form.calendar.data) if form.calendar.data else None,
            **{switch: form[switch].data for switch in config.TEAM_SWITCHES}}


@bp.get("/admin/helpdesk/teams")
def helpdesk_teams():
    """The teams, with members and open tickets; archived ones last."""
    return render_template("admin/helpdesk/teams.html", rows=config.team_rows())


@bp.route("/admin/helpdesk/teams/new", methods=["GET", "POST"])
def new_team():
    """Create a team (it starts with the default stages)."""
    form = _team_form()
    if form.validate_on_submit():
        try:
            team = config.create_team(**_team_fields(form))
        except HelpdeskError as err:
            _refused(err, form)
        else:
            db.session.commit()
            flash(f"The team {team.name} is ready.", "success")
            return redirect(url_for("admin.edit_team", team_id=team.id))
    status = INVALID if form.is_submitted() else 200
    return render_template("admin/helpdesk/team.html", form=form, team=None), status


@bp.route("/admin/helpdesk/teams/<int:team_id>", methods=["GET", "POST"])
def edit_team(team_id: int):
    """A team's settings and members."""
    team = _get(Team, team_id)
    form = _team_form(obj=team, formdata=None) if not _posted() else _team_form()
    if not _posted():
        form.members.data = [m.user_id for m in team.members]
        form.leads.data = [m.user_id for m in team.members if m.is_lead]
        form.calendar.data = team.calendar_id or NO_ID
    elif form.validate_on_submit():
        try:
            config.update_team(team, **_team_fields(form))
        except HelpdeskError as err:
            _refused(err, form)
        else:
            db.session.commit()
            flash(f"{team.name} is saved.", "success")
            return redirect(url_for("admin.edit_team", team_id=team.id))
    status = INVALID if _posted() else 200
    return render_template("admin/helpdesk/team.html", form=form, team=team,
                           policies=config.policies_of(team)), status


def _posted() -> bool:
    return request.method == "POST"


def _set_team_active(team_id: int, active: bool):
    team = _get(Team, team_id)  # (CSRFProtect checks every POST's token before the view)
    config.set_team_active(team, active)
    db.session.commit()
    flash(f"{team.name} takes tickets again." if active else
          f"{team.name} is archived: it takes no new tickets.", "success")
    return redirect(url_for("admin.edit_team", team_id=team.id))


@bp.post("/admin/helpdesk/teams/<int:team_id>/archive")
def archive_team(team_id: int):
    """Archive a team: no new tickets; its tickets stay readable and workable."""
    return _set_team_active(team_id, False)


@bp.post("/admin/helpdesk/teams/<int:team_id>/unarchive")
def unarchive_team(team_id: int):
    """Bring an archived team back."""
    return _set_team_active(team_id, True)


# ---- stages --------------------------------------------------------------------------------

def _stage_form(**kwargs) -> StageForm:
    form = StageForm(**kwargs)
    form.teams.choices = [(t.id, t.name) for t in db.session.scalars(select(Team).order_by(Team.name))]
    return form


def _stage_fields(form: StageForm) -> dict:
    return {"name": form.name.data, "teams": _by_ids(Team, form.teams.data), "sequence": form.sequence.data,
            "is_closing": form.is_closing.data, "is_folded": form.is_folded.data,
            "pauses_sla": form.pauses_sla.data, "mail_subject": form.mail_subject.data or "",
            "mail_body": form.mail_body.data or ""}


def _render_stages(status: int = 200):
    template = "admin/helpdesk/_stages_table.html" if wants_fragment() else "admin/helpdesk/stages.html"
    return render_template(template, rows=config.stage_rows()), status


@bp.get("/admin/helpdesk/stages")
def helpdesk_stages():
    """The stages in board order, with their teams and tickets."""
    return _render_stages()


@bp.route("/admin/helpdesk/stages/new", methods=["GET", "POST"])
def new_stage():
    """Add a stage (last in the order unless told otherwise)."""
    form = _stage_form()
    if form.validate_on_submit():
        try:
            stage = config.create_stage(**_stage_fields(form))
        except HelpdeskError as err:
            _refused(err, form)
        else:
            db.session.commit()
            flash(f"The stage {stage.name} is added.", "success")
            return redirect(url_for("admin.helpdesk_stages"))
    status = INVALID if form.is_submitted() else 200
    return render_template("admin/helpdesk/stage.html", form=form, stage=None), status


@bp.route("/admin/helpdesk/stages/<int:stage_id>", methods=["GET", "POST"])
def edit_stage(stage_id: int):
    """A stage's settings and the email it sends when a ticket enters it."""
    stage = _get(Stage, stage_id)
    if not _posted():
        form = _stage_form(obj=stage, formdata=None)
        form.teams.data = [t.id for t in stage.teams]
    else:
        form = _stage_form()
        if form.validate_on_submit():
            try:
                config.update_stage(stage, **_stage_fields(form))
            except HelpdeskError as err:
                _refused(err, form)
            else:
                db.session.commit()
                flash(f"{stage.name} is saved.", "success")
                return redirect(url_for("admin.helpdesk_stages"))
    status = INVALID if _posted() else 200
    return render_template("admin/helpdesk/stage.html", form=form, stage=stage,
                           tickets=config.tickets_in(stage)), status


@bp.post("/admin/helpdesk/stages/<int:stage_id>/move")
def move_stage(stage_id: int):
    """Move a stage one place up or down the board (the table alone for htmx)."""
    stage = _get(Stage, stage_id)
    form = MoveForm()
    if not form.validate_on_submit():
        abort(400)
    config.move_stage(stage, form.direction.data)
    db.session.commit()
    if not wants_fragment():
        flash(f"{stage.name} is moved {form.direction.data}.", "success")
        return redirect(url_for("admin.helpdesk_stages"))
    return _render_stages()


def _delete_form(stage: Stage, **kwargs) -> StageDeleteForm:
    form = StageDeleteForm(**kwargs)
    form.move_to.choices = [(NO_ID, "Pick a stage")] + [
        (s.id, s.name + (" (closing)" if s.is_closing else "")) for s in config.ordered_stages() if s.id != stage.id]
    return form


@bp.route("/admin/helpdesk/stages/<int:stage_id>/delete", methods=["GET", "POST"])
def delete_stage(stage_id: int):
    """Confirm, then delete a stage; tickets in it move to the stage picked first."""
    stage = _get(Stage, stage_id)
    form = _delete_form(stage) if _posted() else _delete_form(stage, formdata=None)
    if form.validate_on_submit():
        name = stage.name
        try:
            moved = config.delete_stage(stage, _get(Stage, form.move_to.data) if form.move_to.data else None,
                                        by=current_user)
        except HelpdeskError as err:
            _refused(err, form)
        else:
            db.session.commit()
            flash(f"{name} is deleted" + (f"; {moved} ticket{'s' if moved != 1 else ''} moved." if moved else "."),
                  "success")
            return redirect(url_for("admin.helpdesk_stages"))
    status = INVALID if _posted() else 200
    return render_template("admin/helpdesk/stage_delete.html", form=form, stage=stage,
                           tickets=config.tickets_in(stage)), status


# ---- ticket types and tags -----------------------------------------------------------------

def _render_labels(type_form=None, tag_form=None, editing: str = "", status: int = 200):
    return render_template("admin/helpdesk/labels.html", types=config.type_rows(), tags=config.tag_rows(),
                           type_form=type_form or TypeForm(formdata=None, prefix="type"),
                           tag_form=tag_form or TagForm(formdata=None, prefix="tag"), editing=editing), status


@bp.get("/admin/helpdesk/labels")
def helpdesk_labels():
    """Ticket types and tags, with how many tickets use each."""
    return _render_labels()


def _save_label(form, save, saved_message: str, editing: str):
    if form.validate_on_submit():
        try:
            record = save(form)
        except HelpdeskError as err:
            _refused(err, form)
        else:
            db.session.commit()
            flash(saved_message.format(name=record.name), "success")
            return redirect(url_for("admin.helpdesk_labels"))
    kind = "type_form" if isinstance(form, TypeForm) else "tag_form"
    return _render_labels(**{kind: form}, editing=editing, status=INVALID)


@bp.post("/admin/helpdesk/types")
def create_type():
    """Add a ticket type."""
    return _save_label(TypeForm(prefix="type"), lambda f: config.save_type(f.name.data),
                       "The ticket type {name} is added.", "")


@bp.post("/admin/helpdesk/types/<int:type_id>")
def rename_type(type_id: int):
    """Rename a ticket type."""
    ticket_type = _get(TicketType, type_id)
    return _save_label(TypeForm(prefix=f"type-{type_id}"), lambda f: config.save_type(f.name.data, ticket_type),
                       "The ticket type is now {name}.", f"type-{type_id}")


@bp.post("/admin/helpdesk/types/<int:type_id>/delete")
def delete_type(type_id: int):
    """Delete a ticket type; its tickets keep no type."""
    ticket_type = _get(TicketType, type_id)
    name = ticket_type.name
    count = config.delete_type(ticket_type)
    db.session.commit()
    flash(f"{name} is deleted" + (f"; {count} ticket{'s' if count != 1 else ''} now have no type." if count else "."),
          "success")
    return redirect(url_for("admin.helpdesk_labels"))


@bp.post("/admin/helpdesk/tags")
def create_tag():
    """Add a tag."""
    return _save_label(TagForm(prefix="tag"), lambda f: config.save_tag(f.name.data, f.color.data),
                       "The tag {name} is added.", "")


@bp.post("/admin/helpdesk/tags/<int:tag_id>")
def update_tag(tag_id: int):
    """Rename or recolour a tag."""
    tag = _get(Tag, tag_id)
    return _save_label(TagForm(prefix=f"tag-{tag_id}"), lambda f: config.save_tag(f.name.data, f.color.data, tag),
                       "The tag {name} is saved.", f"tag-{tag_id}")


@bp.post("/admin/helpdesk/tags/<int:tag_id>/delete")
def delete_tag(tag_id: int):
    """Delete a tag; it is removed from its tickets."""
    tag = _get(Tag, tag_id)
    name = tag.name
    count = config.delete_tag(tag)
    db.session.commit()
    flash(f"{name} is deleted" + (f" and removed from {count} ticket{'s' if count != 1 else ''}." if count else "."),
          "success")
    return redirect(url_for("admin.helpdesk_labels"))


# ---- working calendars ---------------------------------------------------------------------

@bp.get("/admin/helpdesk/calendars")
def helpdesk_calendars():
    """The working calendars and the teams that use each."""
    rows = [(c, config.teams_using(c)) for c in config.calendars()]
    return render_template("admin/helpdesk/calendars.html", rows=rows)


def _calendar_fields(form: CalendarForm) -> dict:
    return {"name": form.name.data, "tz": form.tz.data, "week": [f.data or "" for f in form.days],
            "holidays": form.holidays.data or "", "special_days": form.special_days.data or ""}


def _render_calendar(form, calendar, status: int = 200):
    preview = None
    if calendar is not None and not form.errors:
        try:
            preview = config.preview(sla.parse_calendar(calendar.tz, calendar.week, calendar.holidays, calendar.special_days))
        except ValueError:
            preview = None  # stored before a rule it breaks: the form says what to fix on save
    return render_template("admin/helpdesk/calendar.html", form=form, calendar=calendar, preview=preview,
                           zones=config.time_zones(),
                           teams=config.teams_using(calendar) if calendar else []), status


@bp.route("/admin/helpdesk/calendars/new", methods=["GET", "POST"])
def new_calendar():
    """Create a working calendar."""
    form = CalendarForm()
    if not form.is_submitted():
        for day in form.days[:5]:
            day.data = "09:00-17:00"
    if form.validate_on_submit():
        try:
            calendar = config.save_calendar(**_calendar_fields(form))
        except HelpdeskError as err:
            _refused(err, form)
        else:
            db.session.commit()
            flash(f"The calendar {calendar.name} is saved.", "success")
            return redirect(url_for("admin.edit_calendar", calendar_id=calendar.id))
    return _render_calendar(form, None, INVALID if form.is_submitted() else 200)


@bp.route("/admin/helpdesk/calendars/<int:calendar_id>", methods=["GET", "POST"])
def edit_calendar(calendar_id: int):
    """A calendar's hours, holidays and special days, with a preview of this week."""
    calendar = _get(WorkingCalendar, calendar_id)
    if not _posted():
        form = CalendarForm(formdata=None, obj=calendar)
        for field, text in zip(form.days, config.week_lines(calendar)):
            field.data = text
        return _render_calendar(form, calendar)
    form = CalendarForm()
    if form.validate_on_submit():
        try:
            config.save_calendar(**_calendar_fields(form), calendar=calendar)
        except HelpdeskError as err:
            _refused(err, form)
        else:
            db.session.commit()
            flash(f"{calendar.name} is saved.", "success")
            return redirect(url_for("admin.edit_calendar", calendar_id=calendar.id))
    return _render_calendar(form, calendar, INVALID)


@bp.post("/admin/helpdesk/calendars/<int:calendar_id>/delete")
def delete_calendar(calendar_id: int):
    """Delete a calendar; its teams work around the clock from then on."""
    calendar = _get(WorkingCalendar, calendar_id)
    name = calendar.name
    teams = config.delete_calendar(calendar)
    db.session.commit()
    flash(f"{name} is deleted" + (f"; {', '.join(t.name for t in teams)} now work around the clock." if teams else "."),
          "success")
    return redirect(url_for("admin.helpdesk_calendars"))


# ---- SLA policies --------------------------------------------------------------------------

@bp.get("/admin/helpdesk/sla")
def helpdesk_sla():
    """Every team's SLA policies."""
    teams = list(db.session.scalars(select(Team).order_by(Team.active.desc(), Team.name)))
    return render_template("admin/helpdesk/policies.html", rows=[(t, config.policies_of(t)) for t in teams])


def _policy_form(team: Team, **kwargs) -> PolicyForm:
    form = PolicyForm(**kwargs)
    form.types.choices = [(t.id, t.name) for t, _ in config.type_rows()]
    form.tags.choices = [(t.id, t.name) for t, _ in config.tag_rows()]
    # Every stage is offered, so that one of another team is refused with a message, not hidden.
    form.resolution_stage.choices = [(NO_ID, "Any closing stage")] + [
        (s.id, s.name) for s in config.ordered_stages()]
    return form


def _save_policy(team: Team, form: PolicyForm, policy: SlaPolicy | None):
    """The policy from the form; None after a refusal (shown on the form)."""
    try:
        fields = {
            "name": form.name.data, "description": form.description.data, "min_priority": form.min_priority.data,
            "types": _by_ids(TicketType, form.types.data), "tags": _by_ids(Tag, form.tags.data),
            "customer": config.customer_by_email(form.customer.data),
            "first_reply_hours": form.first_reply_hours.data, "next_reply_hours": form.next_reply_hours.data,
            "resolution_hours": form.resolution_hours.data,
            "resolution_stage": db.session.get(Stage, form.resolution_stage.data) if form.resolution_stage.data else None,
            "escalate_hours": form.escalate_hours.data, "escalate_action": form.escalate_action.data,
            "active": form.active.data,
        }
        return config.save_policy(team, **fields, policy=policy)
    except HelpdeskError as err:
        _refused(err, form)
        return None


@bp.route("/admin/helpdesk/teams/<int:team_id>/sla/new", methods=["GET", "POST"])
def new_policy(team_id: int):
    """Add an SLA policy to a team."""
    team = _get(Team, team_id)
    form = _policy_form(team)
    if form.validate_on_submit():
        policy = _save_policy(team, form, None)
        if policy is not None:
            db.session.commit()
            flash(f"The policy {policy.name} is saved.", "success")
            return redirect(url_for("admin.helpdesk_sla"))
    status = INVALID if form.is_submitted() else 200
    return render_template("admin/helpdesk/policy.html", form=form, team=team, policy=None), status


@bp.route("/admin/helpdesk/sla/<int:policy_id>", methods=["GET", "POST"])
def edit_policy(policy_id: int):
    """An SLA policy's conditions, targets and escalation."""
    policy = _get(SlaPolicy, policy_id)
    team = policy.team
    if not _posted():
        form = _policy_form(team, formdata=None, obj=policy)
        form.types.data = [t.id for t in policy.types]
        form.tags.data = [t.id for t in policy.tags]
        form.customer.data = policy.customer.email if policy.customer else ""
        form.resolution_stage.data = policy.resolution_stage_id or NO_ID
        return render_template("admin/helpdesk/policy.html", form=form, team=team, policy=policy)
    form = _policy_form(team)
    if form.validate_on_submit() and _save_policy(team, form, policy) is not None:
        db.session.commit()
        flash(f"{policy.name} is saved.", "success")
        return redirect(url_for("admin.helpdesk_sla"))
    return render_template("admin/helpdesk/policy.html", form=form, team=team, policy=policy), INVALID


@bp.post("/admin/helpdesk/sla/<int:policy_id>/delete")
def delete_policy(policy_id: int):
    """Delete an SLA policy and the deadlines it set."""
    policy = _get(SlaPolicy, policy_id)
    name = policy.name
    config.delete_policy(policy)
    db.session.commit()
    flash(f"The policy {name} is deleted.", "success")
    return redirect(url_for("admin.helpdesk_sla"))
