"""Jinja filters and globals shared by every template."""
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from flask_login import current_user
from markupsafe import Markup


def user_tz(user=None) -> ZoneInfo:
    user = user if user is not None else current_user
    try:
        return ZoneInfo(getattr(user, "timezone", None) or "UTC")
    except Exception:
        return ZoneInfo("UTC")


def local_today(user=None) -> date:
    """Today in the user's time zone (activities are due on a local day)."""
    return datetime.now(user_tz(user)).date()


def to_local(value: datetime | None, user=None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc).astimezone(user_tz(user))


def datetime_filter(value: datetime | None, fmt: str = "%d %b %Y %H:%M") -> str:
    local = to_local(value)
    return local.strftime(fmt) if local else ""


def timeago(value: datetime | None) -> Markup:
    """A short relative time inside <time>, with the full local time as its title."""
    if value is None:
        return Markup("")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    seconds = int((now - value).total_seconds())
    if seconds < 60:
        text = "just now"
    elif seconds < 3600:
        text = f"{seconds // 60} min ago"
    elif seconds < 86400:
        text = f"{seconds // 3600} h ago"
    elif seconds < 7 * 86400:
        text = f"{seconds // 86400} d ago"
    else:
        text = datetime_filter(value, "%d %b %Y")
    iso = value.replace(tzinfo=timezone.utc).isoformat()
    return Markup('<time datetime="{}" title="{}">{}</time>').format(iso, datetime_filter(value), text)


def timeuntil(value: datetime | None) -> Markup:
    """How far ahead (or overdue) a deadline is, inside <time>, with the local time as its title."""
    if value is None:
        return Markup("")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    seconds = int((value - now).total_seconds())
    left = abs(seconds)
    if left < 3600:
        amount = f"{max(left // 60, 1)} min"
    elif left < 86400:
        amount = f"{left // 3600} h {left % 3600 // 60:02d}"
    else:
        amount = f"{left // 86400} d {left % 86400 // 3600} h"
    text = f"in {amount}" if seconds >= 0 else f"{amount} late"
    iso = value.replace(tzinfo=timezone.utc).isoformat()
    return Markup('<time datetime="{}" title="{}">{}</time>').format(iso, datetime_filter(value), text)


def filesize(num: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if num < 1024 or unit == "GB":
            return f"{num:.0f} {unit}" if unit == "B" else f"{num:.1f} {unit}"
        num /= 1024
    return f"{num} B"


def unread_count() -> int:
    """The bell's count for the current user (capped: services/notifications.py)."""
    from app.services import notifications

    return notifications.bell_count(current_user.id) if current_user.is_authenticated else 0


def init_app(app) -> None:
    app.jinja_env.filters["datetime"] = datetime_filter
    app.jinja_env.filters["timeago"] = timeago
    app.jinja_env.filters["filesize"] = filesize
    app.jinja_env.filters["timeuntil"] = timeuntil
    from app.services.helpcenter import render_markdown

    app.jinja_env.filters["markdown"] = render_markdown
    from app.services.sla import sla_state

    app.jinja_env.globals["sla_state"] = sla_state
    from app.services.board import stage_options

    app.jinja_env.globals["stage_options"] = stage_options
    app.jinja_env.globals["local_today"] = local_today
    app.jinja_env.globals["unread_count"] = unread_count

    @app.context_processor
    def company():
        return {"company_name": current_app.config["COMPANY_NAME"]}
