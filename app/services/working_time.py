"""Working time (SPEC §5): deadlines that count only a team's working hours.

A `Calendar` says when a team works: intervals of local wall-clock time for each weekday,
holidays, and special days that replace a weekday's intervals (a Saturday opened, a short
Christmas Eve). `add_working_time` gives the instant a target of N working hours falls due;
`working_time_between` measures the working time between two instants (time left, reports).
Both are pure: no database, no Flask, no clock. The SLA service passes the ticket's pauses (the
spans it spent in stages waiting on the customer), during which the clock does not run.

Decisions:
- Intervals are half-open, [start, end). An end of `time(0)` (written "24:00" to `parse`) is the
  midnight that ends the day, so `(time(0), time(0))` is a whole day.
- A wall-clock time becomes the first instant at which the local clock reads it or later: an
  ambiguous time (in the hour a fall-back repeats) is its first occurrence, a nonexistent one (in
  the hour a spring-forward skips) is the instant of the jump. Working time is the real time that
  elapses: 01:00-04:00 is 2 hours on the day Madrid springs forward and 4 on the day it falls
  back, and every interval stays one unbroken stretch of time.
- Zero hours ("at once") fall due at the first working moment at or after the start. N > 0 hours
  may fall due at the very end of an interval (Friday 17:00, not Monday 09:00).
- A pause with no end (still waiting on the customer) that the clock reaches before the target
  is met leaves no deadline (None) until it ends and the deadline is computed again.
- Days are walked one at a time: five years are a few thousand conversions, and skipping whole
  weeks would be wrong across DST changes, holidays and special days.
"""
from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

UTC = timezone.utc
MIDNIGHT = time(0)
SEARCH_LIMIT = timedelta(days=5 * 366)  # a deadline further away is a calendar with too little time
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FOREVER = datetime.max.replace(tzinfo=UTC)  # the end of a pause that has not ended
SPAN = re.compile(r"(\d{1,2}):(\d{2})\s*[-\u2013]\s*(\d{1,2}):(\d{2})")

Interval = tuple[time, time]
Intervals = tuple[Interval, ...]
Span = tuple[datetime, datetime]


@dataclass(frozen=True)
class Calendar:
    """When a team works; validated on creation, so an invalid calendar cannot exist.

    `week` holds 7 tuples of intervals (Monday first) in local wall-clock time, sorted and not
    overlapping; `holidays` have no working time; `special_days` replace their weekday's
    intervals (an empty tuple closes the day).
    """

    tz: str
    week: tuple[Intervals, ...]
    holidays: frozenset[date] = frozenset()
    special_days: Mapping[date, Intervals] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # Copies, so that the caller's lists cannot change a validated calendar.
        object.__setattr__(self, "week", tuple(_as_intervals(day) for day in self.week))
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "special_days",
                           {day: _as_intervals(spans) for day, spans in self.special_days.items()})
        self._validate()

    @classmethod
    def always(cls) -> Calendar:
        """24/7: every instant is working time."""
        whole_day = ((MIDNIGHT, MIDNIGHT),)
        return cls(tz="UTC", week=(whole_day,) * 7)

    @classmethod
    def parse(cls, tz: str, week: Sequence[str], holidays: Iterable[date] = (),
              special_days: Mapping[date, str] | None = None) -> Calendar:
        """A calendar from what an admin typed: each day as "09:00-13:00, 15:00-19:00", "" when
        closed, "24:00" for the midnight that ends the day. Raises ValueError saying what is wrong."""
        _check_week_length(week)
        return cls(
            tz=tz,
            week=tuple(_parse_intervals(name, text) for name, text in zip(DAY_NAMES, week)),
            holidays=frozenset(holidays),
            special_days={day: _parse_intervals(day.isoformat(), text)
                          for day, text in (special_days or {}).items()},
        )

    def intervals_on(self, day: date) -> Intervals:
        """The wall-clock working intervals of a local date."""
        if day in self.holidays:
            return ()
        return self.special_days.get(day, self.week[day.weekday()])

    def _validate(self) -> None:
        _zone(self.tz)
        _check_week_length(self.week)
        for name, intervals in zip(DAY_NAMES, self.week):
            _check_intervals(name, intervals)
        for day, intervals in self.special_days.items():
            if day in self.holidays:
                raise ValueError(f"{day.isoformat()} is both a holiday and a special day")
            _check_intervals(day.isoformat(), intervals)
        if not any(self.week) and not any(self.special_days.values()):
            raise ValueError("the calendar has no working time")


def add_working_time(start: datetime, hours: float | Decimal | timedelta, calendar: Calendar,
                     pauses: Iterable[tuple[datetime, datetime | None]] = ()) -> datetime | None:
    """The instant (UTC) at which `hours` of working time have elapsed since `start`.

    The clock runs only inside the calendar's intervals and outside `pauses` ((from, to) aware
    instants, to=None while the pause lasts). Returns None when an open pause stops the clock
    before the target is met. Raises ValueError when no deadline falls within SEARCH_LIMIT.
    """
    start, remaining = _utc(start), _duration(hours)
    horizon = start + SEARCH_LIMIT
    stops = _merged(pauses)
    for begins, ends in _running(calendar, start, horizon, stops):
        if remaining <= ends - begins:
            return begins + remaining
        remaining -= ends - begins
    if stops and stops[-1][1] == FOREVER and stops[-1][0] < horizon:
        return None
    raise ValueError(f"no deadline within {SEARCH_LIMIT.days} days of {start.isoformat()}: "
                     "the calendar has too little working time")


def working_time_between(a: datetime, b: datetime, calendar: Calendar,
                         pauses: Iterable[tuple[datetime, datetime | None]] = ()) -> timedelta:
    """The working time elapsed from `a` to `b`, negative when `b` comes first (time overdue)."""
    a, b = _utc(a), _utc(b)
    if b < a:
        return -working_time_between(b, a, calendar, pauses)
    return sum((ends - begins for begins, ends in _running(calendar, a, b, _merged(pauses))),
               timedelta())


def _running(calendar: Calendar, since: datetime, until: datetime, stops: list[Span]) -> Iterator[Span]:
    """The spans of [since, until) during which the clock runs, in order."""
    return _without(_working_spans(calendar, since, until), stops)


def _working_spans(calendar: Calendar, since: datetime, until: datetime) -> Iterator[Span]:
    """The calendar's intervals as UTC instants, clipped to [since, until), in order.

    Starting at the local date of `since` is enough: an interval of an earlier date ends by the
    first instant the clock reads that date's midnight, which is not after `since`.
    """
    zone = _zone(calendar.tz)
    day, last = _reading(since, zone).date(), _reading(until, zone).date()
    while day <= last:
        for start, end in calendar.intervals_on(day):
            begins = max(_first_instant(datetime.combine(day, start), zone), since)
            ends = min(_first_instant(_end_wall(day, end), zone), until)
            if begins < ends:
                yield begins, ends
        day += timedelta(days=1)


def _without(spans: Iterator[Span], stops: list[Span]) -> Iterator[Span]:
    """`spans` minus the sorted, disjoint `stops`; ends at a stop that lasts forever."""
    pending = iter(stops)
    stop = next(pending, None)
    for begins, ends in spans:
        while begins < ends:
            while stop is not None and stop[1] <= begins:
                stop = next(pending, None)
            if stop is None or stop[0] >= ends:
                yield begins, ends
                break
            if stop[0] > begins:
                yield begins, stop[0]
            if stop[1] == FOREVER:
                return
            begins = stop[1]


def _merged(pauses: Iterable[tuple[datetime, datetime | None]]) -> list[Span]:
    """Pauses in UTC, sorted and merged (stage history may overlap); an open one ends FOREVER."""
    merged: list[Span] = []
    for begins, ends in sorted((_utc(a), FOREVER if b is None else _utc(b)) for a, b in pauses):
        if ends < begins:
            raise ValueError(f"a pause ends ({ends.isoformat()}) before it starts ({begins.isoformat()})")
        if merged and begins <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], ends))
        else:
            merged.append((begins, ends))
    return merged


def _first_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) at which the clock in `zone` reads `wall` or later.

    fold=0 gives the first occurrence of an ambiguous time; a nonexistent time does not read
    back the same, and becomes the instant the clock jumps over it.
    """
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _reading(instant, zone) == wall:
        return instant
    return _jump_over(wall, zone)


def _jump_over(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant a spring-forward skips the nonexistent `wall`: the first that reads later.

    Read with the offset after the jump it is an instant before the jump, with the offset before
    it one after; transitions fall on whole seconds, so a bisection over seconds finds it.
    """
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    after = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    seconds = range(int((after - before).total_seconds()) + 1)
    jump = bisect_left(seconds, True,
                       key=lambda s: _reading(before + timedelta(seconds=s), zone) >= wall)
    return before + timedelta(seconds=jump)


def _reading(instant: datetime, zone: ZoneInfo) -> datetime:
    """What the clock in `zone` reads at `instant` (naive local time)."""
    return instant.astimezone(zone).replace(tzinfo=None)


def _end_wall(day: date, end: time) -> datetime:
    """The wall-clock end of an interval of `day`; MIDNIGHT is the one that ends the day."""
    if end == MIDNIGHT:
        return datetime.combine(day + timedelta(days=1), MIDNIGHT)
    return datetime.combine(day, end)


def _utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive datetime is refused, as its instant is unknown."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone")
    return moment.astimezone(UTC)


def _duration(hours: float | Decimal | timedelta) -> timedelta:
    """A target as a duration; Decimal and float hours are rounded to the microsecond."""
    amount = hours if isinstance(hours, timedelta) else timedelta(hours=float(hours))
    if amount < timedelta(0):
        raise ValueError(f"a target cannot be negative, got {hours}")
    return amount


def _zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`, or ValueError for a name an admin mistyped."""
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # not found / malformed key / a folder such as "Europe"
        raise ValueError(f"unknown time zone {name!r}") from None


def _as_intervals(intervals: Iterable[Sequence[time]]) -> Intervals:
    """Intervals as a tuple of (start, end) pairs, whatever sequences they came in."""
    return tuple((start, end) for start, end in intervals)


def _check_week_length(week: Sequence[object]) -> None:
    """A week is 7 days, Monday first."""
    if len(week) != 7:
        raise ValueError(f"a week has 7 days (Monday first), got {len(week)}")


def _check_intervals(label: str, intervals: Intervals) -> None:
    """Raise ValueError unless the intervals are whole minutes, not empty, sorted, disjoint."""
    previous_end = 0
    for start, end in intervals:
        for moment in (start, end):
            if moment.tzinfo is not None or moment.second or moment.microsecond:
                raise ValueError(f"{label}: {moment} is not a wall-clock time in hours and minutes")
        begins, ends = _minute_of_day(start), _minute_of_day(end, is_end=True)
        if ends <= begins:
            raise ValueError(f"{label}: {_span_text(start, end)} is empty or ends before it starts")
        if begins < previous_end:
            raise ValueError(f"{label}: {_span_text(start, end)} overlaps or comes before the interval before it")
        previous_end = ends


def _minute_of_day(moment: time, is_end: bool = False) -> int:
    """Minutes since the day's start; 1440 for an interval's end at the midnight that ends it."""
    if is_end and moment == MIDNIGHT:
        return 24 * 60
    return moment.hour * 60 + moment.minute


def _span_text(start: time, end: time) -> str:
    """An interval as an admin writes it."""
    until = "24:00" if end == MIDNIGHT else end.strftime("%H:%M")
    return f"{start.strftime('%H:%M')}-{until}"


def _parse_intervals(label: str, text: str) -> Intervals:
    """ "09:00-13:00, 15:00-19:00" as intervals; "" (closed) as none."""
    return tuple(_parse_span(label, part) for part in re.split(r"[,;]", text) if part.strip())


def _parse_span(label: str, text: str) -> Interval:
    """ "09:00-13:00" as an interval, or ValueError naming the day and what was typed."""
    match = SPAN.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{label}: {text.strip()!r} is not like 09:00-17:00")
    start_h, start_m, end_h, end_m = map(int, match.groups())
    return _parse_time(label, start_h, start_m), _parse_time(label, end_h, end_m, is_end=True)


def _parse_time(label: str, hour: int, minute: int, is_end: bool = False) -> time:
    """A time of day; 24:00 only as an end (the midnight that ends the day)."""
    if is_end and (hour, minute) == (24, 0):
        return MIDNIGHT
    if hour > 23 or minute > 59:
        raise ValueError(f"{label}: {hour:02}:{minute:02} is not a time of day")
    return time(hour, minute)
