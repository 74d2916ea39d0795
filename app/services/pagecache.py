"""Rendered parts of the busiest staff pages, reused until what they show changes.

A team's board, the ticket list and a ticket's page are read far more often than they change,
and rendering them (a hundred cards, fifty rows, a conversation) is most of their cost. Each
such part is cached under a key made of:

- the scopes it shows, each with a version number: `team:<id>` (its tickets and their
  activities: what the board's live updates already track), `ticket:<id>` (its SLA targets,
  time, rating), `thread:<id>` (messages, reactions, stars, files, followers, activities) and
  `helpdesk` (teams, stages, tags, types, calendars, people and contacts, anywhere);
- the user it was rendered for, and the request's path and query;
- the current minute, so that "5 min ago" and "in 2 h" never lag by more than a minute, and any
  change made behind the session's back (a bulk load, a script on a raw connection) shows
  within a minute at worst.

Versions are bumped after each commit, from a session hook that sees every flushed row, so a
change made anywhere (pages, mail, jobs, API) is visible on the next request. Statements that
change rows of those tables without loading them (`update(...)`, `delete(...)` through the
session) bump `helpdesk`, which invalidates everything: correct, if blunt. With `REDIS_URL` the versions live
in Redis (shared by every process); without it, in the process (the embedded default runs one).
The rendered HTML stays in each process's memory, least recently used out first, within
`PAGE_CACHE_MB` (0 turns the cache off).

A cached part holds a marker where the page's CSRF token goes; each response gets its own.
"""
import secrets
import threading
import time
from collections import OrderedDict

from flask import current_app, g, has_app_context, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

GLOBAL = "helpdesk"
ANY_TICKET = "tickets"  # any ticket of any team (what an admin's ticket list shows)
_PENDING = "hilo_pagecache_scopes"
_MESSAGES = "hilo_pagecache_messages"
_MARK = f"\x00csrf-{secrets.token_hex(16)}\x00"  # unguessable, so no typed text can become a token


def team(team_id: int) -> str:
    return f"team:{team_id}"


def ticket(ticket_id: int) -> str:
    return f"ticket:{ticket_id}"


def thread(thread_id: int) -> str:
    return f"thread:{thread_id}"


class Fragments:
    """Rendered HTML by key, least recently used first out, within a byte budget."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key) -> str | None:
        with self._lock:
            html = self._items.get(key)
            if html is not None:
                self._items.move_to_end(key)
            return html

    def put(self, key, html: str) -> None:
        cost = len(html)
        if cost > self.max_bytes:
            return
        with self._lock:
            previous = self._items.pop(key, None)
            if previous is not None:
                self.size -= len(previous)
            self._items[key] = html
            self.size += cost
            while self.size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self.size -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.size = 0


class LocalVersions:
    """Version numbers in the process (the embedded default: one process)."""

    def __init__(self):
        self._numbers: dict[str, int] = {}
        self._lock = threading.Lock()

    def get(self, scopes) -> tuple:
        return tuple(self._numbers.get(s, 0) for s in scopes)

    def bump(self, scopes) -> None:
        with self._lock:
            for scope in scopes:
                self._numbers[scope] = self._numbers.get(scope, 0) + 1

    def clear(self) -> None:
        with self._lock:
            self._numbers.clear()


class RedisVersions:
    """Version numbers in Redis, shared by every process; read in one round trip."""

    def __init__(self, redis, prefix: str):
        self.redis = redis
        self.prefix = f"{prefix}:pagecache:"

    def get(self, scopes) -> tuple:
        return tuple(int(v or 0) for v in self.redis.mget([self.prefix + s for s in scopes]))

    def bump(self, scopes) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for scope in scopes:
            pipe.incr(self.prefix + scope)
        pipe.execute()

    def clear(self) -> None:
        pass  # the keys only ever grow; a fresh process has no fragments to mistake


class PageCache:
    def __init__(self, app):
        self.fragments = Fragments(int(app.config["PAGE_CACHE_MB"] * 1024 * 1024))
        bus = app.extensions["hilo_bus"]
        self.versions = (RedisVersions(bus.redis, app.config["REALTIME_PREFIX"]) if hasattr(bus, "redis")
                         else LocalVersions())
        self.enabled = self.fragments.max_bytes > 0

    def clear(self) -> None:
        self.fragments.clear()
        self.versions.clear()


def _cache() -> PageCache:
    return current_app.extensions["hilo_pagecache"]


def cached(name: str, scopes, render, *, whole: bool = False) -> Markup:
    """The HTML `render()` returns for the current user and request, rendered again only when a
    scope's version, the minute, the user or the URL changed.

    `whole`: `render()` gives the whole page, its layout too, which shows the user's bell: the
    key also holds the bell's count, and a page showing flashed messages is neither kept nor
    served. `hit` then answers it without what the route would read to render it.
    """
    cache = _cache()
    if not cache.enabled or (whole and "_flashes" in session):
        return Markup(render())
    key, global_version = _key(name, scopes, whole)
    html = cache.fragments.get(key)
    if html is None:
        g.pagecache_global = global_version  # what the parts inside it read
        try:
            html = _marked(render)
        finally:
            g.pagecache_global = None
        cache.fragments.put(key, html)
    return _with_token(html)


def hit(name: str, scopes) -> Markup | None:
    """The whole page `cached(name, scopes, ..., whole=True)` kept for this user and URL, if
    nothing it shows changed since; else None (the route renders it, and reads what it needs).

    Also what the user may see: their teams and role are under `helpdesk` and a ticket's team
    under `ticket:<id>`, so the page was allowed when it was kept and nothing since changed that.
    """
    cache = _cache()
    if not cache.enabled or "_flashes" in session:
        return None
    html = cache.fragments.get(_key(name, scopes, True)[0])
    return None if html is None else _with_token(html)


def _key(name: str, scopes, whole: bool) -> tuple[tuple, int]:
    """(the key, the `helpdesk` version in it)."""
    scopes = sorted(set(scopes) | {GLOBAL})
    versions = _cache().versions.get(scopes)
    key = (name, current_user.get_id(), request.full_path, tuple(scopes), versions, _minute())
    if whole:
        from app.services import notifications

        key += (notifications.bell_count(current_user.id),)
    return key, versions[scopes.index(GLOBAL)]


def part(key: tuple, render, *, names: bool = True) -> Markup:
    """A piece shown on many pages (a board card, a list row, the top bar), cached under a key made
    of the very values it shows, so it needs no version of its own: when they change, so does the
    key. Whatever else the piece shows (names of tags, people, stages) is under `helpdesk`, unless
    `names` is false (it shows nothing else); the time zone and the minute are added here.
    Rendered with the CSRF marker."""
    cache = _cache()
    if not cache.enabled:
        html = _marked(render)
    else:
        version = g.get("pagecache_global") if names else 0
        if version is None:  # outside a cached page (a column's next cards): read once per request
            version = g.pagecache_global = cache.versions.get([GLOBAL])[0]
        key = (key, version, _zone(), _minute())
        html = cache.fragments.get(key)
        if html is None:
            html = _marked(render)
            cache.fragments.put(key, html)
    if g.get("pagecache_rendering"):
        return Markup(html)  # inside a cached page: its own answer puts the token in
    return _with_token(html)


def _with_token(html: str) -> Markup:
    """The HTML with this session's CSRF token where the marker holds its place."""
    return Markup(html.replace(_MARK, generate_csrf()) if _MARK in html else html)


def _marked(render) -> str:
    outer = g.get("pagecache_rendering", False)
    g.pagecache_rendering = True
    try:
        return str(render())
    finally:
        g.pagecache_rendering = outer


def _minute() -> int:
    """The minute every key carries (relative times stay true; what no hook saw shows by then)."""
    return int(time.time() // 60)


def _zone() -> str:
    from app.templating import user_tz

    return user_tz().key


def csrf_token() -> str:
    """The templates' `csrf_token()`: a marker inside a part being cached, else the token."""
    return _MARK if g.get("pagecache_rendering") else generate_csrf()


def touch(session: Session, scopes) -> None:
    """Bump these scopes when `session` commits (for changes the row hook cannot see)."""
    session.info.setdefault(_PENDING, set()).update(scopes)


# ---- what a commit changed ---------------------------------------------------------------------

def _scopes_of(obj, messages: set) -> set:
    from app.models import (Activity, Attachment, CannedResponse, Contact, Follower, Message, MessageReaction,
                            MessageRecipient, MessageStar, Notification, SlaPolicy, Stage, Tag, Team, TeamMember,
                            Ticket, TicketPause, TicketSla, TicketType, Timesheet, TrackingValue, User,
                            WorkingCalendar)
    from app.models.customers import Rating

    if isinstance(obj, User) and not _changed_beyond(obj, _UNSHOWN_USER_COLUMNS):
        return set()  # signing in is not a change anyone sees
    if isinstance(obj, (Team, TeamMember, Stage, Tag, TicketType, WorkingCalendar, SlaPolicy, CannedResponse, User,
                        Contact)):
        return {GLOBAL}
    if isinstance(obj, Ticket):
        return {ticket(obj.id)}  # its team's boards and lists: board._publish touches the teams
    if isinstance(obj, (TicketSla, TicketPause, Timesheet, Rating)):
        return {ticket(obj.ticket_id)}
    if isinstance(obj, (Message, Activity, Attachment, Follower, Notification)) and obj.thread_id:
        return {thread(obj.thread_id)}
    if isinstance(obj, (MessageReaction, MessageStar, MessageRecipient, TrackingValue)) and obj.message_id:
        messages.add(obj.message_id)
    return set()


_UNSHOWN_USER_COLUMNS = frozenset({"last_login_at", "password_hash"})


def _changed_beyond(obj, ignored) -> bool:
    """Whether a flushed row is new, deleted, or changed in a column outside `ignored`."""
    state = inspect(obj)
    if state.pending or state.deleted or state.was_deleted:
        return True
    return any(attr.history.has_changes() for attr in state.attrs if attr.key not in ignored)


@event.listens_for(Session, "after_flush")
def _collect(session: Session, flush_context) -> None:
    pending = session.info.setdefault(_PENDING, set())
    messages = session.info.setdefault(_MESSAGES, set())
    for obj in (*session.new, *session.dirty, *session.deleted):
        pending.update(_scopes_of(obj, messages))


# Tables the cached parts show: a statement writing one of them without loading its rows
# (`update(Ticket).where(...)`) cannot say which scope it touched, so it touches them all.
SHOWN_TABLES = frozenset({
    "helpdesk_tickets", "helpdesk_ticket_tags", "helpdesk_stages", "helpdesk_stage_teams", "helpdesk_tags",
    "helpdesk_ticket_types", "helpdesk_teams", "helpdesk_team_members", "helpdesk_ticket_slas",
    "helpdesk_ticket_pauses", "helpdesk_timesheets", "helpdesk_ratings", "helpdesk_calendars",
    "helpdesk_canned_responses", "users", "contacts", "activities", "messages", "message_recipients",
    "message_reactions", "message_stars", "attachments", "followers", "tracking_values"})


@event.listens_for(Session, "do_orm_execute")
def _statement(state) -> None:
    if not (state.is_update or state.is_delete or state.is_insert) or state.execution_options.get("unseen"):
        return
    if getattr(state.statement.table, "name", None) in SHOWN_TABLES:
        touch(state.session, {GLOBAL})


@event.listens_for(Session, "before_commit")
def _resolve(session: Session) -> None:
    """The threads of reactions, stars and deliveries, while the transaction can still read."""
    if session.new or session.dirty or session.deleted:
        session.flush()
    messages = session.info.pop(_MESSAGES, None)
    if messages:
        from sqlalchemy import select

        from app.models import Message

        thread_ids = session.scalars(select(Message.thread_id).where(Message.id.in_(messages))
                                     .execution_options(unseen=True))
        session.info.setdefault(_PENDING, set()).update(thread(t) for t in thread_ids)


# First of the after-commit work (insert=True): a browser told of the change by the live event
# published next must find the new version when it reloads.
@event.listens_for(Session, "after_commit", insert=True)
def _bump(session: Session) -> None:
    scopes = session.info.pop(_PENDING, None)
    if scopes and has_app_context() and "hilo_pagecache" in current_app.extensions:
        try:
            _cache().versions.bump(scopes)
        except Exception:  # a lost bump heals within the minute; the commit stands
            current_app.logger.exception("page cache: bumping versions failed")


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_MESSAGES, None)


def init_app(app) -> None:
    app.extensions["hilo_pagecache"] = PageCache(app)
    # Flask-WTF offers `csrf_token` both as a global (imported macros see it) and from a context
    # processor (pages see that one): both become the marker-aware one.
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["cached_part"] = part
    app.context_processor(lambda: {"csrf_token": csrf_token})
