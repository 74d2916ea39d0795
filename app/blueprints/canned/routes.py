"""Canned responses in the composers (SPEC §4.1): the menu's suggestions and the text to insert.

Staff only; the `thread` a composer writes in must be one the user may read (else 404), since
the text is filled in from its record.
"""
from flask import abort, jsonify, render_template, request
from flask_login import current_user

from app import staff_required
from app.blueprints.canned import bp
from app.extensions import db
from app.models import Thread
from app.services import access, canned

MAX_ID = 2**31 - 1  # ids are 32-bit: a larger number finds nothing (and SQLite cannot even bind it)


def _record_id(raw: str) -> int | None:
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10):
        return None
    return int(raw) if 0 < int(raw) <= MAX_ID else None


def load_thread() -> Thread:
    """The composer's thread from `?thread=`: 400 when missing, 404 when unknown or not readable."""
    raw = request.args.get("thread", "")
    if not raw:
        abort(400, "Say which conversation the response is for.")
    thread_id = _record_id(raw)
    thread = db.session.get(Thread, thread_id) if thread_id else None
    if not access.can_read_thread(current_user, thread):
        abort(404)
    return thread


@bp.get("/canned/suggest")
@staff_required
def suggest():
    """The menu's options for what follows `::` or `/` (`q`), as listbox rows for canned.js."""
    thread = load_thread()
    query = request.args.get("q", "")[:40]
    values = canned.placeholder_values(current_user, thread)
    options = [(response, canned.first_line(canned.fill_placeholders(canned.plain_body(response), values)))
               for response in canned.suggestions(current_user, query)]
    return render_template("canned/_menu.html", options=options, query=query, thread=thread,
                           any_responses=bool(options) or canned.has_any(current_user))


@bp.post(f"/canned/<int(max={MAX_ID}):response_id>/use")
@staff_required
def use(response_id: int):
    """The response's text for this thread, placeholders filled in; counts one use."""
    thread = load_thread()
    response = canned.usable(current_user, response_id)
    if response is None:
        abort(404)
    text = canned.text_for(response, current_user, thread)
    canned.record_use(response)
    db.session.commit()
    return jsonify(text=text)
