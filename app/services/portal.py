"""What a customer does on their own tickets (SPEC §6.3): sign in by emailed link, list, read the
public conversation, reply, close.

A customer is a contact. Signing in makes (once) a portal user tied to that contact; staff
addresses never get a portal link. Replies are posted as the contact, the same as a reply by
mail, so followers are notified alike and the customer is never mailed their own words.
"""
import hashlib
import hmac
from dataclasses import dataclass

from flask import current_app, render_template
from itsdangerous import BadSignature, SignatureExpired
from sqlalchemy import func, or_, select

from app.extensions import db
from app.models import Contact, Message, Stage, Ticket, User
from app.models.base import contains_pattern
from app.services import access, accounts, contacts, helpcenter, helpdesk, mailer, messaging

LOGIN = "portal-login"
PER_PAGE = 20
STATES = ("open", "closed", "all")


class PortalError(ValueError):
    """Something the customer asked for that cannot be done, in words for them."""


# ---- signing in ------------------------------------------------------------------------------------

def _fingerprint(contact: Contact) -> str:
    """Changes when the contact's portal user signs in: a sign-in link works once."""
    user = portal_user_of(contact)
    seen = user.last_login_at.isoformat() if user is not None and user.last_login_at else "never"
    return hashlib.sha256(f"{LOGIN}:{contact.id}:{seen}".encode()).hexdigest()[:24]


def portal_user_of(contact: Contact) -> User | None:
    return db.session.scalar(select(User).where(User.contact_id == contact.id, User.role == "portal")
                             .order_by(User.id).limit(1))


def _staff_address(address: str) -> bool:
    user = accounts.find_user_by_email(address)
    return user is not None and user.role != "portal"


def request_login_link(raw_email: str):
    """Mail a sign-in link when the address is a known customer's; None otherwise.

    Callers answer the same way in both cases, so nobody learns who is a customer.
    """
    try:
        address = contacts.normalize_address(" ".join((raw_email or "").split()))
    except contacts.AddressError:
        return None
    if _staff_address(address):
        return None
    contact = db.session.scalar(select(Contact).where(func.lower(Contact.email) == address.lower())
                                .order_by(Contact.id).limit(1))
    if contact is None:
        return None
    user = portal_user_of(contact)
    if user is not None and not user.active:
        return None
    token = accounts.signer(LOGIN).dumps({"c": contact.id, "f": _fingerprint(contact)})
    context = {"contact": contact, "link": accounts.external_url("portal.login_link", token=token),
               "minutes": current_app.config["PORTAL_LOGIN_MAX_AGE"] // 60,
               "company": current_app.config["COMPANY_NAME"]}
    return mailer.send_mail(contact.email, f"Your sign-in link for {context['company']}",
                            render_template("customer/mail/login.txt", **context),
                            render_template("customer/mail/login.html", **context), kind="portal-login", auto=True)


def contact_from_login_token(token: str) -> Contact:
    """The contact a sign-in link was sent to; PortalError when it cannot be used (any more)."""
    try:
        data = accounts.signer(LOGIN).loads(token or "", max_age=current_app.config["PORTAL_LOGIN_MAX_AGE"])
    except SignatureExpired:
        raise PortalError("This sign-in link has expired. Ask for a new one.") from None
    except BadSignature:
        raise PortalError("This sign-in link is not valid. Ask for a new one.") from None
    contact_id = data.get("c") if isinstance(data, dict) else None
    contact = db.session.get(Contact, contact_id) if isinstance(contact_id, int) else None
    if contact is None or not contact.email or _staff_address(contact.email):
        raise PortalError("This sign-in link is not valid. Ask for a new one.")
    if not hmac.compare_digest(str(data.get("f", "")), _fingerprint(contact)):
        raise PortalError("This sign-in link was already used. Ask for a new one.")
    user = portal_user_of(contact)
    if user is not None and not user.active:
        raise PortalError("This account is closed.")
    return contact


def sign_in_user(contact: Contact) -> User:
    """The contact's portal user, made on first sign-in; the login is recorded (not committed)."""
    user = portal_user_of(contact)
    if user is None:
        existing = accounts.find_user_by_email(contact.email)
        if existing is not None:  # a portal user made another way (an invitation) for this address
            existing.contact_id = contact.id
            user = existing
        else:
            user = accounts.create_user(contact.email, contact.name, role="portal")
            user.contact_id = contact.id
    accounts.record_login(user)
    return user


# ---- my tickets ----------------------------------------------------------------------------------

@dataclass
class TicketPage:
    tickets: list
    total: int
    page: int
    pages: int


def my_tickets(contact_id: int, *, state: str = "open", query: str = "", page: int = 1) -> TicketPage:
    """The customer's tickets, last updated first; `query` matches the title or `#ref`."""
    stmt = select(Ticket).where(Ticket.customer_id == contact_id)
    if state == "open":
        stmt = stmt.where(Ticket.closed_at.is_(None))
    elif state == "closed":
        stmt = stmt.where(Ticket.closed_at.is_not(None))
    query = " ".join((query or "").split())[:100]
    if query:
        ref = query.lstrip("#")
        pattern = contains_pattern(query.lower())
        condition = func.lower(Ticket.title).like(pattern, escape="\\")
        stmt = stmt.where(or_(condition, Ticket.id == int(ref)) if ref.isdigit() and len(ref) < 10 else condition)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    pages = max(1, -(-total // PER_PAGE))
    page = min(max(page, 1), pages)
    tickets = list(db.session.scalars(stmt.order_by(Ticket.updated_at.desc(), Ticket.id.desc())
                                      .offset((page - 1) * PER_PAGE).limit(PER_PAGE)))
    return TicketPage(tickets, total, page, pages)


def public_messages(ticket: Ticket) -> list[Message]:
    """The conversation a customer may read: sent messages and system lines, oldest first."""
    thread = ticket.ensure_thread()
    return list(db.session.scalars(messaging.with_parts(
        select(Message).where(Message.thread_id == thread.id, Message.kind.in_(access.visible_kinds(None)))
        .order_by(Message.id))))


def reply(ticket: Ticket, body: str, files=()) -> Message:
    """The customer's reply, as from their contact (a closed ticket reopens per team setting)."""
    problems = helpcenter.check_files(files)
    if problems:
        raise PortalError(" ".join(problems))
    try:
        return messaging.post_message(ticket.ensure_thread(), None, body or "", files=files,
                                      author_contact=ticket.customer)
    except (messaging.MessageError, ValueError) as err:
        raise PortalError(str(err)) from None


def closing_stage(ticket: Ticket) -> Stage | None:
    return next((stage for stage in ticket.team.stages if stage.is_closing), None)


def can_close(ticket: Ticket) -> bool:
    return ticket.team.customers_may_close and not ticket.is_closed and closing_stage(ticket) is not None


def close(ticket: Ticket) -> None:
    if not can_close(ticket):
        raise PortalError("This ticket cannot be closed from here." if not ticket.is_closed
                          else "This ticket is already closed.")
    messaging.post_message(ticket.ensure_thread(), None, "The customer closed the ticket.", kind="notification",
                           notify=False)
    helpdesk.move(ticket, closing_stage(ticket), None)
