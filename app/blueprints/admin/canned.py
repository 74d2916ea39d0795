"""Settings › Canned responses (admins only, as every page of the admin blueprint). Each view
validates the form, calls one function of services/canned.py, commits, then flashes and
redirects; a refused form comes back with its errors and a 422 (the form alone for htmx)."""
from flask import abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from app import wants_fragment
from app.blueprints.admin import bp
from app.blueprints.admin.canned_forms import CannedFilterForm, CannedForm
from app.blueprints.admin.helpdesk_forms import NO_ID
from app.blueprints.auth.forms import add_error
from app.blueprints.canned.routes import MAX_ID
from app.extensions import db
from app.models import CannedResponse, Team
from app.services import canned
from app.services.canned import CannedError

INVALID = 422


def _get(response_id: int) -> CannedResponse:
    """The response, or a 404 as if it did not exist."""
    response = db.session.get(CannedResponse, response_id)
    if response is None:
        abort(404)
    return response


@bp.get("/admin/canned")
def canned_responses():
    """Every canned response, most used first, with a search; the table alone for htmx searches."""
    filters = CannedFilterForm(formdata=request.args)
    filters.validate()
    query = "" if filters.q.errors else filters.q.data or ""
    page = canned.search_responses(query, page=filters.page_number, per_page=current_app.config["LIST_PAGE_SIZE"])
    # A history restore (back button after an htmx search) needs the whole page.
    fragment = wants_fragment() and not request.headers.get("HX-History-Restore-Request")
    template = "admin/canned/_table.html" if fragment else "admin/canned/list.html"
    return render_template(template, page=page, filters=filters, query=query,
                           plain_body=canned.plain_body, first_line=canned.first_line)


def _form(response: CannedResponse | None, **kwargs) -> CannedForm:
    """The form, offering the active teams (and an archived one the response is still on)."""
    form = CannedForm(**kwargs)
    teams = db.session.scalars(select(Team).where(Team.active.is_(True)).order_by(Team.name)).all()
    if response is not None and response.team is not None and not response.team.active:
        teams.append(response.team)
    form.team.choices = [(NO_ID, "All teams")] + [
        (t.id, t.name if t.active else f"{t.name} (archived)") for t in teams]
    return form


def _fields(form: CannedForm) -> dict:
    return {"shortcut": form.shortcut.data, "title": form.title.data, "body": form.body.data,
            "team": db.session.get(Team, form.team.data) if form.team.data else None}


def _render_form(form: CannedForm, response: CannedResponse | None, status: int = 200):
    template = "admin/canned/_form.html" if wants_fragment() else "admin/canned/form.html"
    return render_template(template, form=form, response=response, canned_placeholders=canned.PLACEHOLDERS), status


def _saved(message: str):
    """After a save: back to the list (htmx follows the redirect as a full page)."""
    flash(message, "success")
    target = url_for("admin.canned_responses")
    if request.htmx:
        response = make_response("", 204)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


@bp.route("/admin/canned/new", methods=["GET", "POST"])
def new_canned():
    """Write a new canned response."""
    form = _form(None)
    if form.validate_on_submit():
        try:
            response = canned.create_response(**_fields(form), by=current_user)
        except CannedError as err:
            db.session.rollback()
            add_error(form, err)
        else:
            db.session.commit()
            return _saved(f"The response ::{response.shortcut} is ready to use.")
    return _render_form(form, None, INVALID if form.is_submitted() else 200)


@bp.route(f"/admin/canned/<int(max={MAX_ID}):response_id>", methods=["GET", "POST"])
def edit_canned(response_id: int):
    """Change a canned response's shortcut, title, team or text."""
    response = _get(response_id)
    if request.method == "GET":
        form = _form(response, formdata=None, obj=response)
        form.team.data = response.team_id or NO_ID
        form.body.data = canned.plain_body(response)
        return _render_form(form, response)
    form = _form(response)
    if form.validate_on_submit():
        try:
            canned.update_response(response, **_fields(form))
        except CannedError as err:
            db.session.rollback()
            add_error(form, err)
        else:
            db.session.commit()
            return _saved(f"::{response.shortcut} is saved.")
    return _render_form(form, response, INVALID)


@bp.route(f"/admin/canned/<int(max={MAX_ID}):response_id>/delete", methods=["GET", "POST"])
def delete_canned(response_id: int):
    """Confirm, then delete a canned response (CSRFProtect checks the POST's token first)."""
    response = _get(response_id)
    if request.method == "POST":
        shortcut = response.shortcut
        canned.delete_response(response)
        db.session.commit()
        flash(f"::{shortcut} is deleted.", "success")
        return redirect(url_for("admin.canned_responses"))
    return render_template("admin/canned/delete.html", response=response,
                           preview=canned.first_line(canned.plain_body(response)))
