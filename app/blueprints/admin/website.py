"""Settings › Helpdesk › a team's website form and help center answers (SPEC §6.1–§6.2): the
side text, the extra fields (add, change, reorder, remove) with a live preview of the form, the
embed snippet, and the team's FAQ articles. Admins only, as the whole admin blueprint."""
from flask import abort, flash, redirect, render_template, request, url_for

from app.blueprints.admin import bp
from app.blueprints.admin.helpdesk_forms import ArticleForm, FormFieldForm, MoveForm, SideTextForm
from app.extensions import db
from app.models import FaqArticle, FormField, Team
from app.services import accounts, helpcenter

INVALID = 422


def _team(team_id: int) -> Team:
    team = db.session.get(Team, team_id)
    if team is None:
        abort(404)
    return team


def _of_team(model, record_id: int, team: Team):
    record = db.session.get(model, record_id)
    if record is None or record.team_id != team.id:
        abort(404)
    return record


def _show_errors(form, errors: dict) -> None:
    for name, message in errors.items():
        (form[name].errors if name in form else form.form_errors).append(message)


def _render(team: Team, *, field_form=None, editing=None, side_form=None, status: int = 200):
    field_form = field_form or FormFieldForm(formdata=None, obj=editing)
    side_form = side_form or SideTextForm(formdata=None, obj=team)
    return render_template(
        "admin/helpdesk/website.html", team=team, field_form=field_form, editing=editing, side_form=side_form,
        articles=helpcenter.team_articles(team), move_form=MoveForm(),
        public_url=accounts.external_url("support.form", slug=team.slug),
        embed_url=accounts.external_url("support.embed", slug=team.slug)), status


@bp.get("/admin/helpdesk/teams/<int:team_id>/website")
def team_website(team_id: int):
    team = _team(team_id)
    editing = _of_team(FormField, int(request.args["field"]), team) if request.args.get("field", "").isdigit() else None
    return _render(team, editing=editing)


@bp.get("/admin/helpdesk/teams/<int:team_id>/website/preview")
def team_website_preview(team_id: int):
    """The form as customers will see it, published or not (the settings page frames it)."""
    team = _team(team_id)
    return render_template("customer/form.html", team=team, embedded=True, preview=True, values=None, errors={},
                           form_error=None, fields=helpcenter.visible_fields(team), token="",
                           side_text=None)


@bp.post("/admin/helpdesk/teams/<int:team_id>/website/side-text")
def team_side_text(team_id: int):
    team = _team(team_id)
    form = SideTextForm()
    if not form.validate_on_submit():
        return _render(team, side_form=form, status=INVALID)
    team.form_side_text = (form.form_side_text.data or "").strip()
    db.session.commit()
    flash("The side text is saved.", "success")
    return redirect(url_for("admin.team_website", team_id=team.id))


@bp.post("/admin/helpdesk/teams/<int:team_id>/website/fields", defaults={"field_id": None})
@bp.post("/admin/helpdesk/teams/<int:team_id>/website/fields/<int:field_id>")
def save_form_field(team_id: int, field_id: int | None):
    team = _team(team_id)
    editing = _of_team(FormField, field_id, team) if field_id else None
    form = FormFieldForm()
    if form.validate_on_submit():
        try:
            spec = helpcenter.save_field(team, {name: form[name].data for name in form.data if name != "csrf_token"},
                                         editing)
        except helpcenter.FormErrors as err:
            db.session.rollback()
            _show_errors(form, err.errors)
        else:
            db.session.commit()
            flash(f"The field “{spec.label}” is saved.", "success")
            return redirect(url_for("admin.team_website", team_id=team.id) + "#fields")
    return _render(team, field_form=form, editing=editing, status=INVALID)


@bp.post("/admin/helpdesk/teams/<int:team_id>/website/fields/<int:field_id>/move")
def move_form_field(team_id: int, field_id: int):
    team = _team(team_id)
    spec = _of_team(FormField, field_id, team)
    form = MoveForm()
    if not form.validate_on_submit():
        abort(400)
    helpcenter.move_field(spec, form.direction.data)
    db.session.commit()
    return redirect(url_for("admin.team_website", team_id=team.id) + "#fields")


@bp.post("/admin/helpdesk/teams/<int:team_id>/website/fields/<int:field_id>/delete")
def delete_form_field(team_id: int, field_id: int):
    team = _team(team_id)
    spec = _of_team(FormField, field_id, team)
    label = spec.label
    team.form_fields.remove(spec)
    db.session.commit()
    flash(f"The field “{label}” is removed. Tickets keep the answers they had.", "success")
    return redirect(url_for("admin.team_website", team_id=team.id) + "#fields")


# ---- FAQ articles -------------------------------------------------------------------------------

@bp.route("/admin/helpdesk/teams/<int:team_id>/faq/new", methods=["GET", "POST"], defaults={"article_id": None})
@bp.route("/admin/helpdesk/teams/<int:team_id>/faq/<int:article_id>", methods=["GET", "POST"])
def edit_article(team_id: int, article_id: int | None):
    team = _team(team_id)
    article = _of_team(FaqArticle, article_id, team) if article_id else None
    form = ArticleForm(obj=article) if request.method == "GET" else ArticleForm()
    if form.validate_on_submit():
        try:
            saved = helpcenter.save_article(team, title=form.title.data, body=form.body.data,
                                            sequence=form.sequence.data, published=form.published.data,
                                            editing=article)
        except helpcenter.FormErrors as err:
            db.session.rollback()
            _show_errors(form, err.errors)
        else:
            db.session.commit()
            flash(f"“{saved.title}” is saved.", "success")
            return redirect(url_for("admin.team_website", team_id=team.id) + "#faq")
    preview = helpcenter.render_markdown(form.body.data or "") if form.body.data else None
    return render_template("admin/helpdesk/article.html", team=team, article=article, form=form,
                           preview=preview), INVALID if request.method == "POST" else 200


@bp.post("/admin/helpdesk/teams/<int:team_id>/faq/<int:article_id>/delete")
def delete_article(team_id: int, article_id: int):
    team = _team(team_id)
    article = _of_team(FaqArticle, article_id, team)
    db.session.delete(article)
    db.session.commit()
    flash(f"“{article.title}” is deleted.", "success")
    return redirect(url_for("admin.team_website", team_id=team.id) + "#faq")


@bp.post("/admin/helpdesk/markdown-preview")
def markdown_preview():
    """The live preview of a side text or an answer being typed (a fragment)."""
    text = (request.form.get("body") or request.form.get("form_side_text") or "")[:50_000]
    html = helpcenter.render_markdown(text) if text.strip() else "<p class=\"faint\">Nothing to preview yet.</p>"
    return f'<div class="cu-prose">{html}</div>'
