"""Message search (SPEC §2.7): `/search?q=…`, for staff.

The full page on a normal GET (the form works without JavaScript); the results alone when the
search box asks with htmx as the user types; the next rows alone for "Load more" (`before`, a
message id: keyset paging). `thread` (or a Discuss `channel`) keeps the search to one
conversation or record — 404 unless the user may read it, so ids do not leak.
"""
from flask import abort, current_app, render_template, request
from flask_limiter.util import get_remote_address
from flask_login import current_user

from app import staff_required, wants_fragment
from app.blueprints.search import bp
from app.extensions import db, limiter
from app.models import Channel, Thread
from app.services import access, messaging, search

MAX_ID = 2**31 - 1  # ids are 32-bit: a larger number in a URL finds nothing, it is not an error


def id_arg(name: str) -> int | None:
    value = request.args.get(name, type=int)
    return value if value is not None and 0 < value <= MAX_ID else None


def load_scope() -> Thread | None:
    """The thread to search in (`thread`, or a `channel`'s), or None for everywhere; 404 when it
    is missing or the user may not read it."""
    if request.args.get("channel"):
        channel = db.session.get(Channel, id_arg("channel") or 0)
        thread = channel.thread if channel is not None else None
    elif request.args.get("thread"):
        thread = db.session.get(Thread, id_arg("thread") or 0)
    else:
        return None
    if not access.can_read_thread(current_user, thread):
        abort(404)
    return thread


def per_user() -> str:
    """Search as you type sends a request per pause: limit each person, not each address."""
    return f"user:{current_user.get_id()}" if current_user.is_authenticated else get_remote_address()


@bp.get("/search")
@staff_required
@limiter.limit(lambda: current_app.config["SEARCH_RATE_LIMIT"], key_func=per_user)
def index():
    """Messages and notes matching `q` in what the user may read, newest first."""
    scope = load_scope()
    before = id_arg("before")
    page = search.search_messages(current_user, request.args.get("q", ""), thread=scope, before_id=before)
    context = {"page": page, "scope": scope, "before": before,
               "scope_title": messaging.record_title(current_user, scope.record) if scope else None}
    if wants_fragment() and not request.htmx.history_restore_request:
        return render_template("search/_hits.html" if before else "search/_results.html", **context)
    return render_template("search/index.html", **context)
