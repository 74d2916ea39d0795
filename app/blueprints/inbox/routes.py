"""The notification inbox (SPEC §2.6), the home of Discuss for now.

`/inbox` lists the user's notifications newest first (All / Unread, load more),
each opens its record through `inbox.open`, which marks it read. New rows and
the bell arrive live over the page's socket (see services/notifications).
"""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app import staff_required, wants_fragment
from app.blueprints.inbox import bp
from app.extensions import db
from app.services import notifications

FILTERS = ("all", "unread")


def _filter() -> str:
    value = request.values.get("filter", "all")
    return value if value in FILTERS else "all"


def _page_context(current_filter: str, before_id: int | None = None) -> dict:
    rows, has_more = notifications.inbox_page(current_user, unread_only=current_filter == "unread",
                                              before_id=before_id)
    return {"rows": rows, "has_more": has_more, "filter": current_filter,
            "unread": notifications.unread_count(current_user.id)}


@bp.get("/inbox")
@staff_required
def index():
    """The inbox page; with `before`, the next page of rows (htmx "Load more")."""
    current_filter = _filter()
    before = request.args.get("before", type=int)
    context = _page_context(current_filter, before)
    if before and wants_fragment():
        return render_template("inbox/_rows.html", **context)
    if wants_fragment() and request.headers.get("HX-Target") == "inbox-main":
        return render_template("inbox/_main.html", **context)
    return render_template("inbox/index.html", **context)


@bp.get("/inbox/<int:notification_id>/row")
@staff_required
def row(notification_id: int):
    """One inbox row: new rows pushed over the socket load themselves from here."""
    notification = notifications.get_own(current_user, notification_id)
    if notification is None:
        abort(404)
    return render_template("inbox/_row.html", row=notifications.inbox_rows(current_user, [notification])[0])


@bp.get("/inbox/<int:notification_id>/open")
@staff_required
def open(notification_id: int):  # noqa: A001 (the endpoint's name: inbox.open)
    """Mark the notification read and go to its record, at its message."""
    notification = notifications.get_own(current_user, notification_id)
    if notification is None:
        abort(404)
    notifications.mark_read(current_user, [notification.id])
    target = notifications.target_url(current_user, notification)
    db.session.commit()
    if target is None:
        if notification.thread_id is not None:
            flash("That record is no longer available to you.", "warning")
        return redirect(url_for(".index"))
    return redirect(target)


@bp.post("/inbox/<int:notification_id>/read")
@staff_required
def mark_read(notification_id: int):
    """Mark one notification read; htmx gets the row back (or nothing in the Unread view)."""
    notification = notifications.get_own(current_user, notification_id)
    if notification is None:
        abort(404)
    notifications.mark_read(current_user, [notification.id])
    db.session.commit()
    if wants_fragment():
        if _filter() == "unread":
            return ""
        row = notifications.inbox_rows(current_user, [notification])[0]
        return render_template("inbox/_row.html", row=row)
    return redirect(url_for(".index", filter=_filter()))


@bp.post("/inbox/read-all")
@staff_required
def mark_all_read():
    """Mark every notification of mine read."""
    changed = notifications.mark_read(current_user)
    db.session.commit()
    current_filter = _filter()
    if wants_fragment():
        return render_template("inbox/_main.html", **_page_context(current_filter))
    flash(f"{changed} notification{'s' if changed != 1 else ''} marked read." if changed
          else "Nothing unread.", "success")
    return redirect(url_for(".index", filter=current_filter))
