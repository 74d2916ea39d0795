"""Settings for admins: users and invitations, and the outbox of sent mail (SPEC §9)."""
from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from app import wants_fragment
from app.blueprints.admin import bp
from app.blueprints.admin.forms import (ROLE_LABELS, InviteForm, OutboxFilterForm, RoleForm, UserFilterForm,
                                        with_any)
from app.blueprints.auth.forms import add_error
from app.extensions import db, login_manager
from app.models import OutboxMail, User
from app.services import accounts

INVALID = 422
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
    return {"role_labels": ROLE_LABELS, "user_status": accounts.user_status}


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
