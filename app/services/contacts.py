"""Contacts found by what people write: an address in a Cc field (later, a mail's sender)."""
import re
from email.utils import parseaddr

from email_validator import EmailNotValidError, validate_email
from flask import current_app, has_app_context
from sqlalchemy import func, select

from app.extensions import db
from app.models import Contact

MAX_ADDRESSES = 20
_SEPARATOR = re.compile(r'[,;\r\n](?=(?:[^"]*"[^"]*")*[^"]*$)')  # not inside a quoted name


class AddressError(ValueError):
    """An address list a user typed that cannot be used, in words for them."""


def normalize_address(raw: str) -> str:
    """A valid mailbox address, normalised (the domain lower-cased, the local part as typed);
    AddressError says why not. The one address check of the app: users, contacts, Cc.

    Tests may use the reserved `.test` domain (RFC 6761); real deployments may not.
    """
    testing = has_app_context() and current_app.testing
    try:
        return validate_email((raw or "").strip(), check_deliverability=False,
                              test_environment=testing).normalized
    except EmailNotValidError as err:
        raise AddressError(str(err)) from None


def parse_addresses(value: str) -> list[tuple[str, str]]:
    """`"Ann <ann@x.com>, bob@y.org"` -> [(name, normalised address)], duplicates dropped.

    Commas, semicolons and line breaks separate; each address must be a valid mailbox.
    """
    found: dict[str, tuple[str, str]] = {}
    for piece in _SEPARATOR.split(value or ""):
        piece = piece.strip()
        if not piece:
            continue
        name, raw = parseaddr(piece)
        try:
            if not raw or raw not in piece:  # the parser guessed: never send to what was not typed
                raise AddressError(piece)
            address = normalize_address(raw)
        except AddressError:
            raise AddressError(f"“{piece[:80]}” is not an email address.") from None
        found.setdefault(address.lower(), (" ".join(name.split())[:160], address))
    if len(found) > MAX_ADDRESSES:
        raise AddressError(f"Copy at most {MAX_ADDRESSES} addresses.")
    return list(found.values())


def for_address(name: str, address: str) -> Contact:
    """The contact with this address (case-insensitive, oldest first), created when new."""
    contact = db.session.scalar(
        select(Contact).where(func.lower(Contact.email) == address.lower()).order_by(Contact.id).limit(1)
    )
    if contact is None:
        contact = Contact(name=name or address.split("@")[0], email=address)
        db.session.add(contact)
        db.session.flush()
    return contact
