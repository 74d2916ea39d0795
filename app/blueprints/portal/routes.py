"""Routes of the customer portal.

A ticket is opened two ways, to the same page: signed in (`/my/tickets/<id>`, the customer's
own tickets only) or by the signed link of a mail (`/my/ticket/<token>`, no account needed).
Whatever does not open reads as a 404, so ids and tokens cannot be probed.
"""
from dataclasses import dataclass
from functools import wraps

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user

from app import wants_fragment
from app.blueprints.auth.forms import SetPasswordForm, add_error
from app.blueprints.chatter.routes import send_attachment
from app.blueprints.portal import bp
from app.extensions import db, limiter
from app.models import Attachment, Ticket
from app.services import access, accounts, contacts, customer_links, portal
from app.services.customer_links import LinkError

INVALID = 422


def _login_limit() -> str:
    return current_app.config["PORTAL_LOGIN_RATE_LIMIT"]


def _login_email_key() -> str:
    return "portal-login:" + " ".join((request.form.get("email") or "").split()).lower()[:254]


def _is_address(text: str) -> bool:
    try:
        contacts.normalize_address(text)
    except contacts.AddressError:
        return False
    return True


def customer_required(view):
    """Signed-in customers only: anonymous visitors sign in, staff go back to the app."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("portal.login", next=request.full_path.rstrip("?")))
        if current_user.is_staff:
            flash("The portal is for customers. Here are the team's tickets.", "info")
            return redirect(url_for("helpdesk.tickets"))
        if current_user.contact_id is None:
            abort(404)
        return view(*args, **kwargs)
    return wrapped


# ---- signing in --------------------------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=_login_email_key)
def login():
    """Ask for a sign-in link; the answer never tells whether the address is a customer's."""
    if current_user.is_authenticated:
        return redirect(url_for("portal.tickets"))
    email = " ".join((request.form.get("email") or "").split())
    error = None
    if request.method == "POST":
        if not email:
            error = "Enter the email address you wrote to us from."
        elif not _is_address(email):
            error = "Enter an email address like name@example.com."
        else:
            portal.request_login_link(email)
            db.session.commit()
            return render_template("customer/portal/login_sent.html", email=email,
                                   minutes=current_app.config["PORTAL_LOGIN_MAX_AGE"] // 60)
    return render_template("customer/portal/login.html", email=email, error=error), INVALID if error else 200


@bp.route("/login/<token>", methods=["GET", "POST"])
def login_link(token: str):
    """A sign-in link from a mail. GET only asks to confirm (mail scanners open links), POST signs in."""
    try:
        contact = portal.contact_from_login_token(token)
    except portal.PortalError as err:
        return render_template("customer/portal/link_invalid.html", error=err), 400
    if request.method == "POST":
        user = portal.sign_in_user(contact)
        db.session.commit()
        login_user(user)
        flash(f"Welcome, {user.name}.", "success")
        return redirect(url_for("portal.tickets"))
    return render_template("customer/portal/login_confirm.html", contact=contact, token=token)


@bp.route("/account", methods=["GET", "POST"])
@customer_required
def account():
    """Set or change a password, to sign in without a link next time."""
    form = SetPasswordForm()
    form.account_email = current_user.email
    if form.validate_on_submit():
        try:
            accounts.check_password_strength(form.password.data, email=current_user.email)
        except accounts.AccountError as err:
            add_error(form, err)
        else:
            current_user.set_password(form.password.data)
            db.session.commit()
            login_user(current_user)  # the password change ended the other sessions, not this one
            flash("Your password is set. You can sign in with it from now on.", "success")
            return redirect(url_for("portal.tickets"))
    status = INVALID if form.is_submitted() else 200
    return render_template("customer/portal/account.html", form=form), status


# ---- my tickets ---------------------------------------------------------------------------------

def _page_arg() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and len(raw) < 6 else 1


@bp.get("/tickets")
@customer_required
def tickets():
    state = request.args.get("state", "open")
    state = state if state in portal.STATES else "open"
    query = request.args.get("q", "")
    page = portal.my_tickets(current_user.contact_id, state=state, query=query, page=_page_arg())
    context = {"page": page, "state": state, "query": " ".join(query.split())[:100]}
    if wants_fragment() and not request.htmx.history_restore_request:
        return render_template("customer/portal/_tickets.html", **context)
    return render_template("customer/portal/tickets.html", **context)


# ---- one ticket, signed in or by link -----------------------------------------------------------

@dataclass
class Viewer:
    """How the page was opened: the URLs its forms and links use."""

    ticket: Ticket
    token: str | None = None  # the mail's link; None when signed in

    def url(self, action: str = "") -> str:
        """The page (no action), or the URL of "reply" or "close"."""
        if self.token:
            return url_for("portal.shared_" + (action or "ticket"), token=self.token)
        return url_for("portal.ticket" + (f"_{action}" if action else ""), ticket_id=self.ticket.id)

    def file_url(self, attachment: Attachment) -> str:
        if self.token:
            return url_for("portal.shared_file", token=self.token, attachment_id=attachment.id)
        return url_for("chatter.download", attachment_id=attachment.id)


def _own_ticket(ticket_id: int) -> Viewer:
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None or not ticket.portal_can_read(current_user):
        abort(404)
    return Viewer(ticket)


def _shared_ticket(token: str) -> Viewer:
    try:
        return Viewer(customer_links.ticket_from_token(token), token)
    except LinkError:
        abort(404)


def _page(viewer: Viewer, *, error: str | None = None, body: str = "", status: int = 200):
    ticket = viewer.ticket
    rating_link = (customer_links.rating_url(ticket)
                   if ticket.is_closed and ticket.team.use_ratings else None)
    return render_template("customer/portal/ticket.html", viewer=viewer, ticket=ticket,
                           messages=portal.public_messages(ticket), can_close=portal.can_close(ticket),
                           rating_link=rating_link, error=error, body=body,
                           max_files=current_app.config["SUPPORT_MAX_ATTACHMENTS"]), status


def _reply(viewer: Viewer):
    body = request.form.get("body", "")
    was_closed = viewer.ticket.is_closed
    try:
        portal.reply(viewer.ticket, body, request.files.getlist("files"))
    except portal.PortalError as err:
        db.session.rollback()
        return _page(viewer, error=str(err), body=body, status=INVALID)
    db.session.commit()
    reopened = was_closed and not viewer.ticket.is_closed
    flash("Your reply was sent." + (" The ticket is open again." if reopened else ""), "success")
    return redirect(viewer.url() + "#latest", 303)


def _close(viewer: Viewer):
    try:
        portal.close(viewer.ticket)
    except portal.PortalError as err:
        return _page(viewer, error=str(err), status=INVALID)
    db.session.commit()
    flash("The ticket is closed. Thank you!", "success")
    return redirect(viewer.url(), 303)


@bp.get("/tickets/<int:ticket_id>")
@customer_required
def ticket(ticket_id: int):
    return _page(_own_ticket(ticket_id))


@bp.post("/tickets/<int:ticket_id>/reply")
@customer_required
def ticket_reply(ticket_id: int):
    return _reply(_own_ticket(ticket_id))


@bp.post("/tickets/<int:ticket_id>/close")
@customer_required
def ticket_close(ticket_id: int):
    return _close(_own_ticket(ticket_id))


@bp.get("/ticket/<token>")
def shared_ticket(token: str):
    """A ticket opened from a mail's link, without an account."""
    return _page(_shared_ticket(token))


@bp.post("/ticket/<token>/reply")
def shared_reply(token: str):
    return _reply(_shared_ticket(token))


@bp.post("/ticket/<token>/close")
def shared_close(token: str):
    return _close(_shared_ticket(token))


@bp.get("/ticket/<token>/files/<int:attachment_id>")
def shared_file(token: str, attachment_id: int):
    viewer = _shared_ticket(token)
    attachment = db.session.get(Attachment, attachment_id)
    if (attachment is None or attachment.message is None or attachment.thread_id != viewer.ticket.ensure_thread().id
            or attachment.message.kind not in access.visible_kinds(None)):
        abort(404)
    return send_attachment(attachment)
