"""Canned responses (SPEC §4.1): saved answers an agent inserts in any composer.

A response belongs to one team (its agents use it) or to none (every agent uses it); admins use
them all. Its body is written as plain text and kept as sanitised HTML; composers get it back as
plain text, with a few placeholders ({{customer.name}}, {{ticket.ref}}, …) filled in from the
record being answered — by plain string replacement, never by a template engine on user text.
Nothing here commits.
"""
import html
import re

from sqlalchemy import func, or_, select, true, update

from app.extensions import db
from app.models import CannedResponse, Contact, Team, TeamMember, Thread, Ticket, User
from app.models.base import contains_pattern, escape_like
from app.services.sanitize import html_to_text, text_to_html

SHORTCUT = re.compile(r"[A-Za-z0-9_-]{1,40}")
MAX_TITLE = 120
MAX_BODY = 10_000
SUGGESTIONS = 8
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # PostgreSQL refuses NUL in text
# What an admin may write in a body; the settings page lists them so nobody has to guess.
PLACEHOLDERS = {
    "customer.name": "The customer's name",
    "customer.first_name": "The customer's first name",
    "customer.email": "The customer's email",
    "ticket.ref": "The ticket's reference, e.g. #42",
    "ticket.title": "The ticket's title",
    "team.name": "The ticket's team",
    "agent.name": "Your name",
    "agent.first_name": "Your first name",
}


class CannedError(ValueError):
    """A response the rules refuse; `field` names the form field the message belongs to."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _typed(value: str | None) -> str:
    """What a person typed, without the control characters no text needs."""
    return CONTROL.sub("", value or "")


# ---- managing them (Settings) -----------------------------------------------------------------

def _clean_shortcut(shortcut: str, current: CannedResponse | None) -> str:
    shortcut = _typed(shortcut).strip().lstrip(":/")  # people type it the way they will use it
    if not shortcut:
        raise CannedError("Enter a shortcut, such as refund-policy.", "shortcut")
    if not SHORTCUT.fullmatch(shortcut):
        raise CannedError("A shortcut has 1 to 40 letters, digits, hyphens or underscores (no spaces).", "shortcut")
    taken = select(CannedResponse.id).where(func.lower(CannedResponse.shortcut) == shortcut.lower())
    if current is not None and current.id is not None:
        taken = taken.where(CannedResponse.id != current.id)
    if db.session.scalar(taken.limit(1)) is not None:
        raise CannedError(f"The shortcut “{shortcut}” is already taken.", "shortcut")
    return shortcut


def _check(shortcut: str, title: str, body: str, team: Team | None, current: CannedResponse | None):
    """The cleaned (shortcut, title, body), or CannedError on the first field that is wrong."""
    shortcut = _clean_shortcut(shortcut, current)
    title = " ".join(_typed(title).split())
    body = _typed(body).replace("\r\n", "\n").replace("\r", "\n").strip()
    if not title:
        raise CannedError("Give the response a title, so agents recognise it in the menu.", "title")
    if len(title) > MAX_TITLE:
        raise CannedError(f"A title has at most {MAX_TITLE} characters.", "title")
    if not body:
        raise CannedError("Write the text of the response.", "body")
    if len(body) > MAX_BODY:
        raise CannedError(f"A response has at most {MAX_BODY:,} characters.", "body")
    # A response may stay on a team archived after it was written, but none is added to one.
    if team is not None and not team.active and (current is None or current.team_id != team.id):
        raise CannedError(f"The team {team.name} is archived.", "team")
    return shortcut, title, body


def create_response(*, shortcut: str, title: str, body: str, team: Team | None, by: User | None) -> CannedResponse:
    """A new canned response; `body` is plain text (line breaks kept). Refusals raise CannedError."""
    shortcut, title, body = _check(shortcut, title, body, team, None)
    response = CannedResponse(shortcut=shortcut, title=title, body=text_to_html(body), team=team, created_by=by,
                              used_count=0)
    db.session.add(response)
    db.session.flush()
    return response


def update_response(response: CannedResponse, *, shortcut: str, title: str, body: str, team: Team | None) -> None:
    """Change a canned response (same rules as create_response); its usage count stays."""
    response.shortcut, response.title, body = _check(shortcut, title, body, team, response)
    response.body = text_to_html(body)
    response.team = team
    db.session.flush()


def delete_response(response: CannedResponse) -> None:
    """Remove a canned response; messages that used it keep their text."""
    db.session.delete(response)
    db.session.flush()


def plain_body(response: CannedResponse) -> str:
    """The body as the plain text it was written in (for the edit form and the composers)."""
    return html_to_text(response.body)


def first_line(text: str) -> str:
    """The first non-blank line of `text`: what a list or a menu shows of a response."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def search_responses(query: str = "", *, page: int = 1, per_page: int = 25):
    """Every canned response for the settings list, filtered by shortcut, title or text; most used first."""
    stmt = select(CannedResponse)
    query = _typed(query).strip().lstrip(":/").lower()
    if query:
        like = contains_pattern(query)
        # The body is stored as HTML: "<" in the query is "&lt;" there.
        body_like = contains_pattern(html.escape(query, quote=False))
        stmt = stmt.where(or_(func.lower(CannedResponse.shortcut).like(like, escape="\\"),
                              func.lower(CannedResponse.title).like(like, escape="\\"),
                              func.lower(CannedResponse.body).like(body_like, escape="\\")))
    stmt = stmt.order_by(CannedResponse.used_count.desc(), func.lower(CannedResponse.shortcut))
    return db.paginate(stmt, page=max(page, 1), per_page=per_page, error_out=False)


# ---- using them (composers) -------------------------------------------------------------------

def usable_condition(user: User):
    """SQL condition: the responses `user` may insert — global ones and their teams' (all for admins)."""
    if user.is_admin:
        return true()
    teams = select(TeamMember.team_id).where(TeamMember.user_id == user.id)
    return or_(CannedResponse.team_id.is_(None), CannedResponse.team_id.in_(teams))


def usable(user: User, response_id: int) -> CannedResponse | None:
    """The response if `user` may insert it, else None (as if it did not exist)."""
    return db.session.scalar(select(CannedResponse).where(CannedResponse.id == response_id,
                                                          usable_condition(user)))


def suggestions(user: User, query: str = "", limit: int = SUGGESTIONS) -> list[CannedResponse]:
    """What the composer menu offers for `query`: shortcuts starting with it first, then shortcuts
    and titles containing it; the most used first within each, then by shortcut."""
    query = _typed(query).strip().lower()[:40]
    stmt = select(CannedResponse).where(usable_condition(user))
    shortcut = func.lower(CannedResponse.shortcut)
    if query:
        like = escape_like(query)
        stmt = stmt.where(or_(shortcut.like(f"%{like}%", escape="\\"),
                              func.lower(CannedResponse.title).like(f"%{like}%", escape="\\")))
        stmt = stmt.order_by(shortcut.like(f"{like}%", escape="\\").desc())
    stmt = stmt.order_by(CannedResponse.used_count.desc(), shortcut).limit(limit)
    return list(db.session.scalars(stmt))


def has_any(user: User) -> bool:
    """Whether `user` may use any response at all (the menu's empty state differs)."""
    return db.session.scalar(select(CannedResponse.id).where(usable_condition(user)).limit(1)) is not None


def record_use(response: CannedResponse) -> None:
    """Count one insertion (in SQL, so two agents inserting at once both count)."""
    db.session.execute(update(CannedResponse).where(CannedResponse.id == response.id)
                       .values(used_count=CannedResponse.used_count + 1))


def placeholder_values(agent: User, thread: Thread | None) -> dict[str, str]:
    """Values of the placeholders for a reply by `agent` in `thread` (a ticket, a contact, a channel);
    only those that have a value."""
    values = {"agent.name": agent.name, "agent.first_name": _first_name(agent.name)}
    record = thread.record if thread is not None else None
    customer = record if isinstance(record, Contact) else None
    if isinstance(record, Ticket):
        values.update({"ticket.ref": record.ref, "ticket.title": record.title, "team.name": record.team.name})
        customer = record.customer
    if customer is not None:
        values.update({"customer.name": customer.name, "customer.first_name": _first_name(customer.name),
                       "customer.email": customer.email or ""})
    return {key: value for key, value in values.items() if value}


def fill_placeholders(text: str, values: dict[str, str]) -> str:
    """`text` with each known placeholder replaced once (values are not scanned again); unknown or
    empty ones stay visible for the agent to edit."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def text_for(response: CannedResponse, agent: User, thread: Thread | None) -> str:
    """The plain text to insert in a composer of `thread`."""
    return fill_placeholders(plain_body(response), placeholder_values(agent, thread))


def _first_name(name: str | None) -> str:
    return next(iter((name or "").split()), "")
