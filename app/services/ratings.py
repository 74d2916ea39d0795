"""How customers found their closed tickets (SPEC §6.4).

Closing a ticket of a team with ratings on mails its customer three faces; a face opens the rating
page (a signed link, services/customer_links.py), where a comment may be added. One rating per
ticket, changeable; it is posted in the thread, shown on the ticket, and counted per team and
agent on the dashboard and the reports (services/helpdesk_stats.py).
"""
from datetime import timedelta

from flask import current_app, render_template
from sqlalchemy import select

from app.extensions import db
from app.models import OutboxMail, Rating, Ticket
from app.models.base import utcnow
from app.models.customers import RATINGS
from app.services import customer_links, mailer, messaging

FACES = {"satisfied": "😊", "okay": "😐", "dissatisfied": "🙁"}
ASK_AGAIN_AFTER = timedelta(hours=1)


class RatingError(ValueError):
    """A rating that cannot be taken, in words for the customer."""


def _subject(ticket: Ticket) -> str:
    return f"[{ticket.ref}] How did we do?"


def ask(ticket: Ticket) -> OutboxMail | None:
    """Mail the rating request for a ticket just closed; None when the team does not ask, the
    customer has no address, already rated, or was asked within the hour (closed, reopened,
    closed again)."""
    team, customer = ticket.team, ticket.customer
    if not team.use_ratings or customer is None or not customer.email or ticket.rating is not None:
        return None
    recent = db.session.scalar(select(OutboxMail.id).where(
        OutboxMail.kind == "rating", OutboxMail.subject == _subject(ticket), OutboxMail.to == customer.email,
        OutboxMail.created_at > utcnow() - ASK_AGAIN_AFTER).limit(1))
    if recent is not None:
        return None
    link = customer_links.rating_url(ticket)
    context = {"ticket": ticket, "faces": [(value, FACES[value], f"{link}?value={value}") for value in RATINGS],
               "link": link, "company": current_app.config["COMPANY_NAME"]}
    return mailer.send_mail(customer.email, _subject(ticket),
                            render_template("customer/mail/rating.txt", **context),
                            render_template("customer/mail/rating.html", **context),
                            kind="rating", thread_id=ticket.ensure_thread().id, auto=True)


def rate(ticket: Ticket, value: str, comment: str = "") -> Rating:
    """Record (or change) the customer's rating; a line in the thread says so. Not committed."""
    if value not in RATINGS:
        raise RatingError("Pick one of the three faces.")
    if not ticket.is_closed:
        raise RatingError("This ticket is open again; you can rate it once it is closed.")
    comment = (comment or "").replace("\r\n", "\n").strip()
    limit = current_app.config["RATING_COMMENT_MAX_CHARS"]
    if len(comment) > limit:
        raise RatingError(f"Keep the comment under {limit:,} characters.")
    rating = ticket.rating
    changed = rating is not None
    if rating is None:
        rating = Rating(ticket=ticket, team_id=ticket.team_id, contact_id=ticket.customer_id)
        db.session.add(rating)
    rating.agent_id = ticket.assignee_id
    rating.value, rating.comment = value, comment
    line = f"{FACES[value]} The customer {'changed their rating to' if changed else 'rated this ticket'} “{rating.label}”."
    if comment:
        line += f"\n\n“{comment}”"
    messaging.post_message(ticket.ensure_thread(), None, line, kind="notification", notify=False)
    db.session.flush()
    return rating
