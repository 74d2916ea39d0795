"""Signing in and out, password resets, invitations and the user's own profile (SPEC §9)."""
from urllib.parse import urlsplit

from flask import (abort, current_app, flash, redirect, render_template, request, send_file,
                   url_for)
from flask_login import current_user, login_required, login_user, logout_user

from app.blueprints.auth import bp
from app.blueprints.auth.forms import (AcceptInviteForm, AvatarForm, ChangePasswordForm, ForgotPasswordForm,
                                       LoginForm, ProfileForm, SetPasswordForm, add_error)
from app.extensions import db, limiter
from app.models import User
from app.services import accounts

INVALID = 422


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None (no open redirect).

    Browsers read `\\` as `/` and drop tabs and newlines, so `/\\evil.test` or `/\\t/evil.test`
    would leave the site: anything but a plain absolute path is refused.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _landing(user: User) -> str:
    """Where a user goes after signing in: staff to the app, customers to their tickets, other
    portal users (invited without a customer record) to their profile."""
    if user.is_staff:
        return url_for("main.home")
    return url_for("portal.tickets") if user.contact_id else url_for("auth.profile")


def _sign_in(user: User, remember: bool = False) -> None:
    login_user(user, remember=remember)
    accounts.record_login(user)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=lambda response: response.status_code != 302)
def login():
    """Sign in with email and password; failed attempts are rate limited per client IP."""
    next_url = safe_next(request.values.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or _landing(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data, form.password.data)
        if user is not None:
            _sign_in(user, remember=form.remember.data)
            db.session.commit()
            return redirect(next_url or _landing(user))
        form.form_errors.append("Wrong email or password.")
    status = INVALID if form.is_submitted() else 200
    return render_template("auth/login.html", form=form, next_url=next_url), status


@bp.post("/logout")
def logout():
    """Sign out (POST with CSRF, so no other site can sign anyone out)."""
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def forgot_password():
    """Ask for a reset link; the answer is the same whether the address has an account or not."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        accounts.request_password_reset(form.email.data)
        db.session.commit()
        return render_template("auth/forgot_sent.html", email=form.email.data, lifetime=accounts.link_lifetime())
    status = INVALID if form.is_submitted() else 200
    return render_template("auth/forgot.html", form=form), status


def _link_refused(err: accounts.TokenError, purpose: str):
    return render_template("auth/link_invalid.html", error=err, purpose=purpose), 400


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """Choose a new password from an emailed link (single use; every session ends)."""
    try:
        user = accounts.user_from_token(token, "reset")
    except accounts.TokenError as err:
        return _link_refused(err, "reset")
    form = SetPasswordForm()
    form.account_email = user.email
    if form.validate_on_submit():
        try:
            accounts.reset_password(token, form.password.data)
        except accounts.AccountError as err:
            add_error(form, err)
        else:
            if current_user.is_authenticated:
                logout_user()
            db.session.commit()
            flash("Your password was changed. Sign in with the new one.", "success")
            return redirect(url_for("auth.login"))
    status = INVALID if form.is_submitted() else 200
    return render_template("auth/reset.html", form=form, user=user), status


@bp.route("/invite/<token>", methods=["GET", "POST"])
def accept_invite(token: str):
    """Accept an invitation: pick a name and a password, then land signed in."""
    try:
        user = accounts.user_from_token(token, "invite")
    except accounts.TokenError as err:
        return _link_refused(err, "invite")
    form = AcceptInviteForm()
    form.account_email = user.email
    if not form.is_submitted():
        form.name.data = user.name
    if form.validate_on_submit():
        try:
            accounts.accept_invitation(token, form.name.data, form.password.data)
        except accounts.AccountError as err:
            add_error(form, err)
        else:
            _sign_in(user)
            db.session.commit()
            flash(f"Welcome to {current_app.config['COMPANY_NAME']}, {user.name}!", "success")
            return redirect(_landing(user))
    status = INVALID if form.is_submitted() else 200
    return render_template("auth/accept_invite.html", form=form, user=user), status


# ---- the user's own profile ---------------------------------------------------------------

def _render_profile(profile_form=None, avatar_form=None, password_form=None, status: int = 200):
    if profile_form is None:
        profile_form = ProfileForm(formdata=None, obj=current_user)
    return render_template(
        "auth/profile.html", profile_form=profile_form, avatar_form=avatar_form or AvatarForm(formdata=None),
        password_form=password_form or ChangePasswordForm(formdata=None),
        max_avatar=current_app.config["MAX_AVATAR_BYTES"],
    ), status


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    """Name, signature, time zone and notification preference of the signed-in user."""
    if request.method == "GET":
        return _render_profile()
    form = ProfileForm()
    if form.validate_on_submit():
        try:
            # Portal users have no signature field (they never send mail from Hilo).
            signature = (form.signature.data or "") if current_user.is_staff else current_user.signature
            accounts.update_profile(current_user, name=form.name.data, signature=signature,
                                    timezone=form.timezone.data, notify_by=form.notify_by.data)
        except accounts.AccountError as err:
            add_error(form, err)
        else:
            db.session.commit()
            flash("Your profile is saved.", "success")
            return redirect(url_for("auth.profile"))
    return _render_profile(profile_form=form, status=INVALID)


@bp.post("/profile/avatar")
@login_required
def upload_avatar():
    """Replace the user's picture (PNG, JPEG, GIF or WebP, checked by content)."""
    form = AvatarForm()
    if form.validate_on_submit():
        try:
            accounts.save_avatar(current_user, form.avatar.data)
        except accounts.AccountError as err:
            add_error(form, err)
        else:
            db.session.commit()
            flash("Your picture is updated.", "success")
            return redirect(url_for("auth.profile"))
    return _render_profile(avatar_form=form, status=INVALID)


@bp.post("/profile/avatar/remove")
@login_required
def remove_avatar():
    """Remove the user's picture; their initials show instead."""
    accounts.remove_avatar(current_user)
    db.session.commit()
    flash("Your picture was removed.", "info")
    return redirect(url_for("auth.profile"))


@bp.post("/profile/password")
@login_required
def change_password():
    """Change the password: other sessions end, this one stays signed in."""
    form = ChangePasswordForm()
    form.account_email = current_user.email
    if form.validate_on_submit():
        try:
            accounts.change_password(current_user, form.current_password.data, form.password.data)
        except accounts.AccountError as err:
            add_error(form, err)
        else:
            remember_cookie = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
            login_user(current_user._get_current_object(), remember=remember_cookie in request.cookies)
            db.session.commit()
            flash("Your password is changed. You were signed out everywhere else.", "success")
            return redirect(url_for("auth.profile"))
    return _render_profile(password_form=form, status=INVALID)


@bp.get("/users/<int:user_id>/avatar")
@login_required
def avatar(user_id: int):
    """A user's picture, for signed-in users only, served as the image type its bytes show."""
    found = accounts.avatar_file(db.session.get(User, user_id))
    if found is None:
        abort(404)
    path, content_type = found
    response = send_file(path, mimetype=content_type, conditional=True, etag=True)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-cache"
    return response
