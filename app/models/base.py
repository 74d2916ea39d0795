"""Shared column helpers."""
from datetime import datetime, timezone


def escape_like(text: str) -> str:
    """`text` taken literally in a LIKE pattern written with `escape="\\"`."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains_pattern(text: str) -> str:
    """The LIKE pattern (with `escape="\\"`) for values containing `text` as typed."""
    return f"%{escape_like(text)}%"


def utcnow() -> datetime:
    """Naive UTC timestamp: both SQLite and PostgreSQL columns store UTC without tz."""
    return datetime.now(timezone.utc).replace(tzinfo=None)
