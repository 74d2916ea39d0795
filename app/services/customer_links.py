"""Signed links a customer follows from a mail, without an account (SPEC §6.3–§6.4).

- ticket access: opens one ticket's public conversation (reply, close, rate), for
  TICKET_LINK_MAX_AGE seconds;
- rating: opens the rating page of one closed ticket, for the same time.

A token names the ticket and its customer; it stops working when the ticket's customer changes
(a forwarded mail then opens nothing), when it expires, or when a character is altered. Every
failure reads the same to the visitor: a 404, so tokens cannot be probed.
"""
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired

from app.extensions import db
from app.models import Ticket
from app.services.accounts import external_url, signer

ACCESS, RATING = "ticket-access", "ticket-rating"


class LinkError(ValueError):
    """A link that opens nothing; `expired` tells the page which message to show."""

    def __init__(self, message: str, *, expired: bool = False):
        super().__init__(message)
        self.expired = expired


def make_token(ticket: Ticket, purpose: str = ACCESS) -> str:
    return signer(purpose).dumps({"t": ticket.id, "c": ticket.customer_id})


def ticket_from_token(token: str, purpose: str = ACCESS) -> Ticket:
    """The ticket a link was made for; raises LinkError when it cannot be used."""
    try:
        data = signer(purpose).loads(token or "", max_age=current_app.config["TICKET_LINK_MAX_AGE"])
    except SignatureExpired:
        raise LinkError("This link has expired.", expired=True) from None
    except BadSignature:
        raise LinkError("This link is not valid.") from None
    ticket_id = data.get("t") if isinstance(data, dict) else None
    ticket = db.session.get(Ticket, ticket_id) if isinstance(ticket_id, int) else None
    if ticket is None or ticket.customer_id is None or ticket.customer_id != data.get("c"):
        raise LinkError("This link is not valid.")
    return ticket


def ticket_url(ticket: Ticket) -> str:
    """The absolute access link of a ticket, for mails."""
    return external_url("portal.shared_ticket", token=make_token(ticket, ACCESS))


def rating_url(ticket: Ticket) -> str:
    return external_url("portal.rate", token=make_token(ticket, RATING))
