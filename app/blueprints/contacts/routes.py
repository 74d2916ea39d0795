"""Contacts: the people and companies the team talks to, each with a chatter (staff only)."""
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import and_, func, or_, select

from app.blueprints.chatter.routes import fragment_wanted, require_sign_in
from app.blueprints.contacts import bp
from app.blueprints.contacts.forms import ContactForm
from app.extensions import db
from app.models import Contact, Thread
from app.models.base import contains_pattern
from app.services import access, messaging

EDITABLE = ("name", "email", "phone", "company", "job_title", "notes")


@bp.before_request
def staff_only():
    """Anonymous visitors sign in; portal customers are not allowed here."""
    refused = require_sign_in()
    if refused is not None:
        return refused
    if not access.is_staff(current_user):
        abort(403)
    return None


def load_contact(contact_id: int) -> Contact:
    contact = db.session.get(Contact, contact_id)
    if contact is None:
        abort(404)
    return contact


def search_contacts(query: str, page: int, size: int):
    """Contacts matching every word of `query` in name, email or company; (rows, total).

    Each row is (contact, last_message_at of its thread).
    """
    stmt = select(Contact, Thread.last_message_at).outerjoin(
        Thread, and_(Thread.res_model == Contact.thread_model, Thread.res_id == Contact.id))
    for term in query.split()[:6]:
        like = contains_pattern(term.lower())
        stmt = stmt.where(or_(func.lower(Contact.name).like(like, escape="\\"),
                              func.lower(Contact.email).like(like, escape="\\"),
                              func.lower(Contact.company).like(like, escape="\\")))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.session.execute(
        stmt.order_by(func.lower(Contact.name), Contact.id).offset((page - 1) * size).limit(size)
    ).all()
    return rows, total


@bp.get("/contacts")
def index():
    """The contact list: search (name, email, company) and pages; the results alone for htmx."""
    query = request.args.get("q", "").strip()[:100]
    size = current_app.config["LIST_PAGE_SIZE"]
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows, total = search_contacts(query, page, size)
    pages = max((total + size - 1) // size, 1)
    if page > pages:
        page = pages
        rows, total = search_contacts(query, page, size)
    context = dict(rows=rows, total=total, query=query, page=page, pages=pages, size=size)
    if fragment_wanted() and request.htmx.target == "contacts-results":
        return render_template("contacts/_results.html", **context)
    return render_template("contacts/index.html", **context)


def duplicate_of(email: str | None, contact_id: int | None = None) -> Contact | None:
    """Another contact that already uses this address."""
    if not email:
        return None
    stmt = select(Contact).where(func.lower(Contact.email) == email.lower())
    if contact_id is not None:
        stmt = stmt.where(Contact.id != contact_id)
    return db.session.scalars(stmt.limit(1)).first()


def fill(contact: Contact, form: ContactForm) -> None:
    for field in EDITABLE:
        value = getattr(form, field).data
        setattr(contact, field, (value or None) if field != "notes" else (value or ""))


def render_form(form: ContactForm, contact: Contact | None):
    status = 422 if form.is_submitted() else 200
    return render_template("contacts/form.html", form=form, contact=contact), status


@bp.route("/contacts/new", methods=["GET", "POST"])
def create():
    """New contact: it follows its own record (so sent messages reach it) and so does its creator."""
    form = ContactForm()
    if form.validate_on_submit():
        other = duplicate_of(form.email.data)
        if other is not None:
            form.email.errors.append(f"{other.name} already uses this address.")
            return render_form(form, None)
        contact = Contact()
        fill(contact, form)
        db.session.add(contact)
        db.session.flush()
        thread = contact.ensure_thread()
        if contact.email:
            messaging.follow(thread, contact=contact)
        messaging.post_message(thread, current_user, "Contact created", kind="notification", notify=False)
        db.session.commit()
        flash(f"{contact.name} was added.", "success")
        return redirect(url_for("contacts.show", contact_id=contact.id))
    return render_form(form, None)


@bp.get("/contacts/<int:contact_id>")
def show(contact_id: int):
    """A contact's card and its chatter."""
    contact = load_contact(contact_id)
    thread = contact.thread
    if thread is None:  # contacts made before (or outside) the app get their thread on first visit
        thread = contact.ensure_thread()
        db.session.commit()
    return render_template("contacts/show.html", contact=contact, record=contact, thread=thread)


@bp.route("/contacts/<int:contact_id>/edit", methods=["GET", "POST"])
def edit(contact_id: int):
    """Edit a contact; changes of name, email, phone and company are logged in its thread."""
    contact = load_contact(contact_id)
    form = ContactForm(obj=contact)
    if form.validate_on_submit():
        other = duplicate_of(form.email.data, contact.id)
        if other is not None:
            form.email.errors.append(f"{other.name} already uses this address.")
            return render_form(form, contact)
        before = messaging.snapshot(contact)
        had_email = bool(contact.email)
        fill(contact, form)
        messaging.track_changes(contact, before, current_user)
        if contact.email and not had_email:
            messaging.follow(contact.ensure_thread(), contact=contact)
        db.session.commit()
        flash("Changes saved.", "success")
        return redirect(url_for("contacts.show", contact_id=contact.id))
    return render_form(form, contact)
