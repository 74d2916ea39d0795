"""Time spent on tickets (SPEC §4.4): lines of day, person, what was done and how long.

Durations are typed the way people say them — "1:30", "1.5" (hours) or "90m" — and kept in
minutes. Members of a ticket's team log their own time; they delete their own lines, admins any.
Nothing here commits.
"""
import re
from datetime import date

from sqlalchemy import func, select

from app.extensions import db
from app.models import Ticket, Timesheet, User
from app.services.helpdesk import HelpdeskError

MAX_MINUTES = 24 * 60  # one line is at most a day's work
MAX_DESCRIPTION = 200

_CLOCK = re.compile(r"^(\d{1,3}):([0-5]\d)$")                   # 1:30
_HOURS = re.compile(r"^(\d{1,3}(?:[.,]\d{1,2})?|[.,]\d{1,2})\s*h?$")  # 1.5, 1,5, 2h, .5
_MINUTES = re.compile(r"^(\d{1,5})\s*m(?:in)?$")                # 90m, 90 min
_BOTH = re.compile(r"^(\d{1,3})\s*h\s*(\d{1,3})\s*m(?:in)?$")    # 1h 30m


def parse_duration(text: str) -> int:
    """Minutes from "1:30", "1.5", "2h", "90m" or "1h 30m"; HelpdeskError says what is wrong."""
    raw = " ".join((text or "").split()).lower()
    if not raw:
        raise HelpdeskError("Enter how long it took, like 1:30, 1.5 or 90m.")
    if raw.startswith("-"):
        raise HelpdeskError("A duration cannot be negative.")
    if match := _CLOCK.match(raw):
        minutes = int(match[1]) * 60 + int(match[2])
    elif match := _BOTH.match(raw):
        minutes = int(match[1]) * 60 + int(match[2])
    elif match := _MINUTES.match(raw):
        minutes = int(match[1])
    elif match := _HOURS.match(raw):
        minutes = round(float(match[1].replace(",", ".")) * 60)
    else:
        raise HelpdeskError(f"“{text.strip()[:20]}” is not a duration: write 1:30, 1.5 or 90m.")
    if minutes <= 0:
        raise HelpdeskError("A duration must be more than zero.")
    if minutes > MAX_MINUTES:
        raise HelpdeskError("One line is at most 24 hours: split longer work over several days.")
    return minutes


def format_duration(minutes: int | None) -> str:
    """90 -> "1:30" (hours:minutes, the way timesheets read)."""
    minutes = minutes or 0
    return f"{minutes // 60}:{minutes % 60:02d}"


def log_time(ticket: Ticket, user: User, day: date, duration: str, description: str = "",
             today: date | None = None) -> Timesheet:
    """A line of `user`'s time on the ticket; only members of its team (and admins) log time."""
    if not (user.is_admin or ticket.team.has_member(user)):
        raise HelpdeskError(f"Only members of {ticket.team.name} log time on its tickets.")
    minutes = parse_duration(duration)
    if day is None:
        raise HelpdeskError("Enter the day the work was done.")
    if today is not None and day > today:
        raise HelpdeskError("Time is logged for today or an earlier day, not the future.")
    line = Timesheet(ticket=ticket, user=user, day=day, minutes=minutes,
                     description=" ".join((description or "").split())[:MAX_DESCRIPTION])
    db.session.add(line)
    db.session.flush()
    return line


def may_delete(line: Timesheet, user: User) -> bool:
    """People delete their own lines; admins anyone's."""
    return user.is_admin or line.user_id == user.id


def delete_line(line: Timesheet, user: User) -> None:
    """Remove a line of time (see may_delete)."""
    if not may_delete(line, user):
        raise HelpdeskError("You can only delete your own time.")
    db.session.delete(line)
    db.session.flush()


def total_minutes(ticket: Ticket) -> int:
    """All the time logged on the ticket."""
    return db.session.scalar(select(func.coalesce(func.sum(Timesheet.minutes), 0))
                             .where(Timesheet.ticket_id == ticket.id))
