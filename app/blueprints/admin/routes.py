"""Settings for admins: users and invitations, mail aliases, inbound mail and the outbox (SPEC §3, §9)."""
from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from app import wants_fragment
from app.blueprints.admin import bp
from app.blueprints.admin.forms import (ROLE_LABELS, AliasEditForm, AliasForm, InboundFilterForm, InviteForm,
                                        OutboxFilterForm, RoleForm, UserFilterForm, with_any)
from app.blueprints.auth.forms import add_error
from app.extensions import db, login_manager
from app.models import InboundMail, MailAlias, OutboxMail, User
from app.services import accounts, inbound, mailgate

INVALID = 422
CONFLICT = 409
# The HTML part of a mail runs in a sandbox of its own: no script, no same-origin, no remote loads.
MAIL_HTML_CSP = ("sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                 "font-src data:; frame-ancestors 'self'")


@bp.before_request
def admins_only():
    """Every page here: anonymous visitors sign in first, anyone but an admin gets a 403."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_admin:
        abort(403)


def _get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.context_processor
def labels():
    return {"role_labels": ROLE_LABELS, "user_status": accounts.user_status,
            "status_label": inbound.status_label, "reason_text": inbound.reason_text,
            "target_label": inbound.target_label, "target_hint": inbound.target_hint, "alias_label": inbound.alias_label,
            "address_of": inbound.address_of, "mail_domain": inbound.domain()}


# ---- users ---------------------------------------------------------------------------------

@bp.get("/admin/users")
def users():
    """Users with search, role and status filters; the table alone for htmx searches."""
    filters = UserFilterForm(formdata=request.args)
    filters.validate()
    page = accounts.search_users(filters.q.data or "", filters.role.data or "", filters.status.data or "",
                                 page=filters.page_number)
    # A history restore (back button after an htmx search) needs the whole page.
    fragment = wants_fragment() and not request.headers.get("HX-History-Restore-Request")
    template = "admin/_users_table.html" if fragment else "admin/users.html"
    return render_template(template, page=page, filters=filters)


@bp.route("/admin/users/invite", methods=["GET", "POST"])
def invite():
    """Invite someone by email: the account waits until they pick a password."""
    form = InviteForm()
    if form.validate_on_submit():
        try:
            user = accounts.invite_user(form.email.data, form.name.data, form.role.data, invited_by=current_user)
        except accounts.AccountError as err:
            add_error(form, err)
        else:
            db.session.commit()
            flash(f"Invitation sent to {user.email}.", "success")
            return redirect(url_for("admin.show_user", user_id=user.id))
    status = INVALID if form.is_submitted() else 200
    return render_template("admin/invite.html", form=form), status


def _render_user(user: User, role_form=None, error: str | None = None, status: int = 200):
    role_form = role_form or RoleForm(formdata=None, obj=user)
    return render_template("admin/user.html", user=user, role_form=role_form, error=error), status


@bp.get("/admin/users/<int:user_id>")
def show_user(user_id: int):
    """One user's role, access and invitation state."""
    return _render_user(_get_user(user_id))


@bp.post("/admin/users/<int:user_id>/role")
def change_role(user_id: int):
    """Give a user another role (never one's own, never away from the last admin)."""
    user = _get_user(user_id)
    form = RoleForm()
    if form.validate_on_submit():
        try:
            accounts.change_role(current_user, user, form.role.data)
        except accounts.AccountError as err:
            add_error(form, err)
        else:
            db.session.commit()
            flash(f"{user.name} is now {ROLE_LABELS[user.role].lower()}.", "success")
            return redirect(url_for("admin.show_user", user_id=user.id))
    return _render_user(user, role_form=form, status=INVALID)


def _set_active(user_id: int, active: bool):
    user = _get_user(user_id)
    try:
        accounts.set_active(current_user, user, active)
    except accounts.AccountError as err:
        return _render_user(user, error=str(err), status=INVALID)
    db.session.commit()
    if active:
        flash(f"{user.name} can sign in again.", "success")
    else:
        flash(f"{user.name} is deactivated and was signed out everywhere.", "success")
    return redirect(url_for("admin.show_user", user_id=user.id))


@bp.post("/admin/users/<int:user_id>/deactivate")
def deactivate(user_id: int):
    """Deactivate a user: they cannot sign in and their open sessions end."""
    return _set_active(user_id, False)


@bp.post("/admin/users/<int:user_id>/reactivate")
def reactivate(user_id: int):
    """Let a deactivated user sign in again."""
    return _set_active(user_id, True)


@bp.post("/admin/users/<int:user_id>/resend-invite")
def resend_invite(user_id: int):
    """Mail a fresh invitation link (the previous one stops working)."""
    user = _get_user(user_id)
    try:
        accounts.send_invitation(user, invited_by=current_user)
    except accounts.AccountError as err:
        return _render_user(user, error=str(err), status=INVALID)
    db.session.commit()
    flash(f"A new invitation was sent to {user.email}.", "success")
    return redirect(url_for("admin.show_user", user_id=user.id))


# ---- outbox ---------------------------------------------------------------------------------

@bp.get("/admin/outbox")
def outbox():
    """Mail Hilo has sent (the embedded delivery), newest first, filtered by kind."""
    filters = OutboxFilterForm(formdata=request.args)
    kinds = accounts.outbox_kinds()
    filters.kind.choices = with_any("All kinds", ((k, k.title()) for k in kinds))
    filters.validate()
    kind = filters.kind.data if filters.kind.data in kinds else ""
    page = accounts.list_outbox(kind, page=filters.page_number)
    return render_template("admin/outbox.html", page=page, filters=filters)


def _get_mail(mail_id: int) -> OutboxMail:
    mail = db.session.get(OutboxMail, mail_id)
    if mail is None:
        abort(404)
    return mail


@bp.get("/admin/outbox/<int:mail_id>")
def outbox_mail(mail_id: int):
    """One mail: headers, the text part, and the HTML part in a sandboxed frame."""
    return render_template("admin/outbox_mail.html", mail=_get_mail(mail_id))


@bp.get("/admin/outbox/<int:mail_id>/html")
def outbox_mail_html(mail_id: int):
    """The HTML part alone, for the sandboxed frame of the mail page (never the admin page)."""
    mail = _get_mail(mail_id)
    if not mail.body_html:
        abort(404)
    response = make_response(mail.body_html)
    response.mimetype = "text/html"
    response.headers["Content-Security-Policy"] = MAIL_HTML_CSP
    response.headers["Cache-Control"] = "private, no-store"
    return response


# ---- mail aliases ---------------------------------------------------------------------------

def _get_alias(alias_id: int) -> MailAlias:
    alias = db.session.get(MailAlias, alias_id)
    if alias is None:
        abort(404)
    return alias


def _alias_form(form_class, **kwargs):
    form = form_class(**kwargs)
    form.target.choices = inbound.target_choices()
    return form


def _render_aliases(form=None, editing: int | None = None, edit_form=None, error: str | None = None,
                    status: int = 200):
    """The alias page; `editing` is the alias whose row shows its edit form (the no-JavaScript way)."""
    form = form or _alias_form(AliasForm, formdata=None)
    return render_template("admin/aliases.html", rows=inbound.list_aliases(), form=form, editing=editing,
                           edit_form=edit_form, error=error), status


def _render_alias_row(alias: MailAlias, edit_form=None, status: int = 200):
    """One row of the alias table, for htmx: its edit form when `edit_form` is given."""
    return render_template("admin/_alias_row.html", row=inbound.alias_row(alias),
                           editing=alias.id if edit_form else None, edit_form=edit_form), status


@bp.get("/admin/aliases")
def aliases():
    """The addresses that take mail in, what each creates, and a form for a new one."""
    return _render_aliases()


@bp.post("/admin/aliases")
def create_alias():
    """Add an alias: mail to it starts conversations from then on."""
    form = _alias_form(AliasForm)
    if form.validate_on_submit():
        try:
            alias = inbound.create_alias(form.local_part.data, form.target.data)
        except inbound.AliasError as err:
            add_error(form, err)
        else:
            db.session.commit()
            flash(f"{inbound.address_of(alias)} takes mail in now.", "success")
            return redirect(url_for("admin.aliases"))
    return _render_aliases(form=form, status=INVALID)


@bp.get("/admin/aliases/<int:alias_id>")
def alias_row(alias_id: int):
    """One alias's row (htmx: "Cancel" of an inline edit); the alias page otherwise."""
    alias = _get_alias(alias_id)
    if not wants_fragment():
        return redirect(url_for("admin.aliases"))
    return _render_alias_row(alias)


@bp.get("/admin/aliases/<int:alias_id>/edit")
def edit_alias(alias_id: int):
    """The alias's row as a form: the row alone for htmx, the page with it otherwise."""
    alias = _get_alias(alias_id)
    form = _alias_form(AliasEditForm, formdata=None, target=inbound.choice_of(alias), active=alias.active)
    if wants_fragment():
        return _render_alias_row(alias, edit_form=form)
    return _render_aliases(editing=alias.id, edit_form=form)


@bp.post("/admin/aliases/<int:alias_id>")
def update_alias(alias_id: int):
    """Change what an alias creates, or switch it off (its mail then lands in the catch-all)."""
    alias = _get_alias(alias_id)
    form = _alias_form(AliasEditForm)
    if form.validate_on_submit():
        try:
            inbound.update_alias(alias, form.target.data, form.active.data)
        except inbound.AliasError as err:
            add_error(form, err)
        else:
            db.session.commit()
            if wants_fragment():
                return _render_alias_row(alias)
            flash(f"{inbound.address_of(alias)} is saved.", "success")
            return redirect(url_for("admin.aliases"))
    db.session.rollback()  # nothing half-changed stays in the session
    if wants_fragment():
        return _render_alias_row(alias, edit_form=form, status=INVALID)
    return _render_aliases(editing=alias.id, edit_form=form, status=INVALID)


@bp.post("/admin/aliases/<int:alias_id>/delete")
def delete_alias(alias_id: int):
    """Delete an alias no mail names yet (one that started conversations is deactivated instead)."""
    alias = _get_alias(alias_id)
    address = inbound.address_of(alias)
    try:
        inbound.delete_alias(alias)
    except inbound.AliasError as err:
        if wants_fragment():
            return render_template("admin/_toast.html", message=str(err), category="error"), CONFLICT
        return _render_aliases(error=str(err), status=CONFLICT)
    db.session.commit()
    flash(f"{address} is deleted: its mail goes to the catch-all from now on.", "success")
    if wants_fragment():  # the confirmed htmx post: the whole page again, with the message
        return "", 204, {"HX-Redirect": url_for("admin.aliases")}
    return redirect(url_for("admin.aliases"))


# ---- inbound mail ---------------------------------------------------------------------------

@bp.get("/admin/inbound")
def inbound_mails():
    """Every mail that came in, newest first, by status (tabs with counts), searched by sender or subject."""
    filters = InboundFilterForm(formdata=request.args)
    filters.validate()
    status = filters.status.data if filters.status.data in inbound.STATUS_FILTERS else ""
    query = (filters.q.data or "").strip() if not filters.q.errors else ""
    page = inbound.search_mail(status, query, page=filters.page_number)
    context = {"page": page, "filters": filters, "status": status, "query": query,
               "counts": inbound.status_counts(query), "links": inbound.conversations(page.items)}
    fragment = wants_fragment() and not request.headers.get("HX-History-Restore-Request")
    return render_template("admin/_inbound_table.html" if fragment else "admin/inbound.html", **context)


def _get_inbound(mail_id: int) -> InboundMail:
    mail = db.session.get(InboundMail, mail_id)
    if mail is None:
        abort(404)
    return mail


@bp.get("/admin/inbound/<int:mail_id>")
def inbound_mail(mail_id: int):
    """One inbound mail: headers, what happened to it, its text (escaped), attachments, the original."""
    mail = _get_inbound(mail_id)
    parsed = inbound.read(mail)
    return render_template("admin/inbound_mail.html", mail=mail, parsed=parsed,
                           link=inbound.conversations([mail]).get(mail.id),
                           reported=inbound.reported_mail(mail),
                           text=inbound.display_text(parsed) if parsed else None,
                           preview=inbound.raw_preview(mail) if parsed is None else None,
                           alias=db.session.get(MailAlias, mail.alias_id) if mail.alias_id else None)


@bp.post("/admin/inbound/<int:mail_id>/reprocess")
def reprocess_inbound(mail_id: int):
    """Route a caught mail again (an alias was added for its address, its sender is let through)."""
    mail = _get_inbound(mail_id)
    if mail.status != "catchall":
        abort(CONFLICT, "Only a mail in the catch-all can be processed again.")
    outcome = mailgate.reprocess(mail)
    db.session.commit()
    if outcome.status == "catchall":
        flash(f"Still in the catch-all: {inbound.reason_text(mail.status, mail.reason)}.", "error")
    else:
        flash(f"Processed again: {inbound.reason_text(mail.status, mail.reason)}.", "success")
    return redirect(url_for("admin.inbound_mail", mail_id=mail.id))


@bp.get("/admin/inbound/<int:mail_id>/original")
def inbound_original(mail_id: int):
    """The mail as received, as a download (never shown inline: it is the sender's content)."""
    mail = _get_inbound(mail_id)
    response = make_response(bytes(mail.raw))
    response.headers["Content-Type"] = "application/octet-stream"
    response.headers["Content-Disposition"] = f'attachment; filename="inbound-{mail.id}.eml"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
