"""Shared column helpers."""
from datetime import datetime, timezone


def utcnow() -> datetime:
    """Naive UTC timestamp: both SQLite and PostgreSQL columns store UTC without tz."""
    return datetime.now(timezone.utc).replace(tzinfo=None)
