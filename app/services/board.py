"""The helpdesk board (SPEC §4.5): a team's tickets in columns of stages, and its live updates.

Reading: counts per stage in one GROUP BY, at most a page of cards per column, and everything a
card shows (tags, assignee, customer, open activities) in a constant number of queries, so a
team with ten thousand open tickets paints as fast as one with ten.

Live: a session hook sees every changed ticket, whatever changed it (board, ticket page, mail,
API, jobs), and publishes its card on its team's topic `helpdesk-team:<id>` after the commit:
removed from wherever it was, inserted in its column, the counts of the team's columns redone.
Nothing here commits.
"""
from dataclasses import dataclass, field
from datetime import date, datetime

from contextlib import nullcontext

from flask import current_app, g, has_request_context, render_template
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import and_, event, func, inspect, or_, select, union_all
from sqlalchemy.orm import Session, joinedload, selectinload

from app.extensions import db
from app.models import Activity, Stage, Team, Ticket, Thread
from app.models.base import utcnow
from app.services import pagecache, realtime
from app.services.helpdesk import HelpdeskError

PAGE_SIZE = 25  # cards per column and per "load more" (a screen shows about eight; more load on scroll)
_PENDING = "hilo_board_tickets"


def topic(team_id: int) -> str:
    """The socket topic of a team's board."""
    return f"helpdesk-team:{team_id}"


@dataclass
class ActivityBadge:
    count: int
    overdue: bool


@dataclass
class Column:
    stage: Stage
    count: int
    cards: list = field(default_factory=list)
    more: str | None = None  # the cursor of the next page, when there is one


# ---- reading -----------------------------------------------------------------------------------

def _order():
    # Priority first, then the nearest SLA deadline (none last), then age: the order of the
    # index ix_helpdesk_tickets_board, so a column's page is read from it without a sort.
    return [Ticket.priority.desc(), Ticket.sla_deadline.asc().nulls_last(), Ticket.id]


def _in_order(ticket: Ticket) -> tuple:
    """_order() in Python."""
    return (-ticket.priority, ticket.sla_deadline is None, ticket.sla_deadline or datetime.min, ticket.id)


def cursor_of(ticket: Ticket) -> str:
    """Where a column's next page starts: just after this card."""
    deadline = ticket.sla_deadline.isoformat() if ticket.sla_deadline else ""
    return f"{ticket.priority}~{deadline}~{ticket.id}"


def _after(cursor: str):
    """The condition "comes after the card at `cursor`" in the board's order, or HelpdeskError."""
    try:
        priority, deadline, ticket_id = cursor.split("~")
        priority, ticket_id = int(priority), int(ticket_id)
        deadline = datetime.fromisoformat(deadline) if deadline else None
    except ValueError:
        raise HelpdeskError("That page of the column does not exist.") from None
    if deadline is None:
        same_priority = and_(Ticket.sla_deadline.is_(None), Ticket.id > ticket_id)
    else:
        same_priority = or_(Ticket.sla_deadline > deadline, Ticket.sla_deadline.is_(None),
                            and_(Ticket.sla_deadline == deadline, Ticket.id > ticket_id))
    return or_(Ticket.priority < priority, and_(Ticket.priority == priority, same_priority))


def stage_counts(team: Team) -> dict[int, int]:
    """Tickets per stage of the team, in one query."""
    return dict(db.session.execute(select(Ticket.stage_id, func.count(Ticket.id))
                                   .where(Ticket.team_id == team.id).group_by(Ticket.stage_id)).all())


def cards(team: Team, stage: Stage, after: str | None = None, limit: int = PAGE_SIZE) -> tuple[list, str | None]:
    """A page of the column's cards, in the board's order, and the cursor of the next page."""
    query = select(Ticket).where(Ticket.team_id == team.id, Ticket.stage_id == stage.id)
    if after:
        query = query.where(_after(after))
    found = list(db.session.scalars(query.options(*_card_loads()).order_by(*_order()).limit(limit + 1)))
    more = cursor_of(found[limit - 1]) if len(found) > limit else None
    return found[:limit], more


def _card_loads():
    return (selectinload(Ticket.tags), joinedload(Ticket.assignee), joinedload(Ticket.customer))


def columns(team: Team) -> list[Column]:
    """The team's columns in stage order, with their counts and first page of cards.

    Folded stages show their count only; their cards load when someone unfolds them.
    """
    counts = stage_counts(team)
    result = [Column(stage, counts.get(stage.id, 0)) for stage in team.stages]
    open_columns = [c for c in result if not c.stage.is_folded and c.count]
    # The first page of each open column by the board index (a few rows each, whatever the
    # column holds), then those tickets and what their cards show in one go.
    pages = {column.stage.id: [] for column in open_columns}
    if open_columns:
        # One round trip: each column's page is its own index scan, glued with UNION ALL (each
        # inside a subquery, as SQLite wants its ORDER BY ... LIMIT there).
        heads = [select(Ticket.id, Ticket.stage_id).where(Ticket.team_id == team.id, Ticket.stage_id == c.stage.id)
                 .order_by(*_order()).limit(PAGE_SIZE + 1).subquery() for c in open_columns]
        for ticket_id, stage_id in db.session.execute(union_all(*(select(h.c.id, h.c.stage_id) for h in heads))):
            pages[stage_id].append(ticket_id)
    wanted = [ticket_id for ids in pages.values() for ticket_id in ids]
    loaded = {t.id: t for t in db.session.scalars(select(Ticket).where(Ticket.id.in_(wanted))
                                                  .options(*_card_loads()))} if wanted else {}
    for column in open_columns:
        page = sorted((loaded[ticket_id] for ticket_id in pages[column.stage.id] if ticket_id in loaded),
                      key=_in_order)  # a union keeps no order of its own
        if len(page) > PAGE_SIZE:
            column.more = cursor_of(page[PAGE_SIZE - 1])
        column.cards = page[:PAGE_SIZE]
    return result


def activity_badges(tickets, today: date | None = None) -> dict[int, ActivityBadge]:
    """Open activities per ticket (count, and whether one is overdue), in one query for all."""
    ids = [t.id for t in tickets]
    if not ids:
        return {}
    today = today or _today()
    rows = db.session.execute(
        select(Thread.res_id, func.count(Activity.id), func.min(Activity.due_date))
        .join(Activity, Activity.thread_id == Thread.id)
        .where(Thread.res_model == Ticket.thread_model, Thread.res_id.in_(ids), Activity.done_at.is_(None))
        .group_by(Thread.res_id)).all()
    return {ticket_id: ActivityBadge(count, earliest < today) for ticket_id, count, earliest in rows}


def _today() -> date:
    from app.templating import local_today

    if has_request_context() and current_user.is_authenticated:
        return local_today(current_user)
    return utcnow().date()


def stage_of_team(team: Team, raw) -> Stage:
    """The team's stage with the id a form sent, or HelpdeskError (junk, unknown, another team's)."""
    raw = str(raw or "").strip()
    stage = next((s for s in team.stages if raw.isdigit() and s.id == int(raw)), None)
    if stage is None:
        raise HelpdeskError(f"That is not a stage of {team.name}.")
    return stage


def stage_options(team: Team, selected_id: int) -> Markup:
    """The <option>s of a card's "move to" menu. Built once per team and request: a board shows
    a hundred cards, and a template loop over the stages of each was a third of its cost."""
    cache = g.setdefault("board_stage_options", {})
    options = cache.get(team.id)
    if options is None:
        options = cache[team.id] = [(stage.id, str(escape(stage.name))) for stage in team.stages]
    return Markup("".join(f'<option value="{sid}"{" selected" if sid == selected_id else ""}>{name}</option>'
                          for sid, name in options))


# ---- live updates ------------------------------------------------------------------------------

def card_event(ticket: Ticket, team_ids, counts: dict | None = None) -> list[tuple[str, str]]:
    """(topic, fragment) pairs that bring every board showing the ticket up to date.

    `counts` memoises each team's column counts across the cards of one commit (a bulk change
    of many tickets counts each team once)."""
    counts = {} if counts is None else counts
    events = []
    for team_id in team_ids:
        team = ticket.team if team_id == ticket.team_id else db.session.get(Team, team_id)
        if team is None:
            continue
        if team_id not in counts:
            counts[team_id] = stage_counts(team)
        html = render_template("helpdesk/_board_event.html", ticket=ticket if team_id == ticket.team_id else None,
                               ticket_id=ticket.id, team=team, counts=counts[team_id],
                               badges=activity_badges([ticket]), live=True)
        events.append((topic(team_id), html))
    return events


def _teams_touched(ticket: Ticket) -> set[int]:
    teams = {ticket.team_id}
    history = inspect(ticket).attrs.team_id.history
    teams.update(t for t in history.deleted or () if t is not None)
    return teams


@event.listens_for(Session, "after_flush")
def _collect(session: Session, flush_context) -> None:
    """Remember the tickets this flush changed (and the teams they were in)."""
    pending = session.info.setdefault(_PENDING, {})
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, Ticket) and obj.id is not None:
            pending.setdefault(obj.id, set()).update(_teams_touched(obj))
        elif isinstance(obj, Activity) and obj.thread_id is not None:
            pending.setdefault(("thread", obj.thread_id), set())
    for obj in session.deleted:
        if isinstance(obj, Ticket) and obj.id is not None:
            pending.setdefault(("gone", obj.id), set()).add(obj.team_id)


@event.listens_for(Session, "before_commit")
def _publish(session: Session) -> None:
    """Render the changed cards while the transaction still reads them; they go out after commit."""
    if session.new or session.dirty or session.deleted:
        session.flush()  # the commit would flush anyway; now the hook sees what it changes
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    thread_ids = [key[1] for key in pending if isinstance(key, tuple) and key[0] == "thread"]
    if thread_ids:
        for ticket_id in session.scalars(select(Thread.res_id).where(
                Thread.id.in_(thread_ids), Thread.res_model == Ticket.thread_model)):
            pending.setdefault(ticket_id, set())
    # Jobs, the mail listener and scripts change tickets outside a request: cards link by URL.
    context = (nullcontext() if has_request_context()
               else current_app.test_request_context(base_url=current_app.config["BASE_URL"]))
    counts: dict[int, dict] = {}
    with context:
        for key, teams in pending.items():
            if isinstance(key, tuple):
                if key[0] == "gone":
                    pagecache.touch(session, {pagecache.ANY_TICKET, *(pagecache.team(t) for t in teams)})
                    for team_id in teams:
                        realtime.publish(topic(team_id), render_template(
                            "helpdesk/_board_event.html", ticket=None, ticket_id=key[1], team=None, counts={}))
                continue
            ticket = session.get(Ticket, key)
            if ticket is None:
                continue
            pagecache.touch(session, {pagecache.ANY_TICKET, *(pagecache.team(t) for t in teams | {ticket.team_id})})
            for name, html in card_event(ticket, teams | {ticket.team_id}, counts):
                realtime.publish(name, html)


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)
