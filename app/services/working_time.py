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
- Each local date's intervals are converted to UTC once per calendar, by the rules above, and
  kept as integer microseconds with running totals: a deadline is then a few bisections however
  many days it spans, and DST changes, holidays and special days need no case of their own
  (skipping whole weeks arithmetically would need one for each).
"""
from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from functools import cache
from itertools import accumulate
from operator import sub
from typing import Any
from zoneinfo import ZoneInfo

UTC = timezone.utc
MIDNIGHT = time(0)
SEARCH_LIMIT = timedelta(days=5 * 366)  # a deadline further away is a calendar with too little time
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FOREVER = datetime.max.replace(tzinfo=UTC)  # the end of a pause that has not ended
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
ONE_DAY = timedelta(days=1)
FOREVER_US = (FOREVER - EPOCH) // MICROSECOND
SEARCH_LIMIT_US = SEARCH_LIMIT // MICROSECOND
MIN_GROWTH_DAYS, MAX_GROWTH_DAYS = 7, 366  # how far a calendar's converted stretch grows at a time
SPAN = re.compile(r"(\d{1,2}):(\d{2})\s*[-\u2013]\s*(\d{1,2}):(\d{2})")

Interval = tuple[time, time]
Intervals = tuple[Interval, ...]
Span = tuple[int, int]  # [start, end) in UTC microseconds since the epoch


@dataclass(frozen=True)
class Calendar:
    """When a team works; validated on creation, so an invalid calendar cannot exist.

    `week` holds 7 tuples of intervals (Monday first) in local wall-clock time, sorted and not
    overlapping; `holidays` have no working time; `special_days` replace their weekday's
    intervals (an empty tuple closes the day). Its intervals are converted to UTC as
    computations reach their dates, and kept (`_timeline`, not a field).
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
        object.__setattr__(self, "_timeline", _Timeline(self))

    @classmethod
    @cache
    def always(cls) -> Calendar:
        """24/7: every instant is working time. One shared calendar, converted once."""
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
    since, amount = _micros(start), remaining // MICROSECOND
    until = since + SEARCH_LIMIT_US
    stops = _stops(pauses)
    due = calendar._timeline.ask(since, lambda stretch: stretch.due(since, amount, until, stops))
    if due is not None:
        return _instant(due)
    if stops and stops[-1][1] == FOREVER_US and stops[-1][0] < until:
        return None
    raise ValueError(f"no deadline within {SEARCH_LIMIT.days} days of {start.isoformat()}: "
                     "the calendar has too little working time")


def working_time_between(a: datetime, b: datetime, calendar: Calendar,
                         pauses: Iterable[tuple[datetime, datetime | None]] = ()) -> timedelta:
    """The working time elapsed from `a` to `b`, negative when `b` comes first (time overdue)."""
    a, b = _utc(a), _utc(b)
    if b < a:
        return -working_time_between(b, a, calendar, pauses)
    since, until, stops = _micros(a), _micros(b), _stops(pauses)
    return timedelta(microseconds=calendar._timeline.ask(
        since, lambda stretch: stretch.elapsed(since, until, stops)))


class _Beyond(Exception):
    """A stretch was asked about an instant it does not cover."""

    def __init__(self, instant: int) -> None:
        super().__init__(instant)
        self.instant = instant


class _Stretch:
    """The working spans of the local dates [first, end) as UTC microseconds, with running totals.

    `edges` holds each span's start and end in turn, strictly increasing (spans that touch are
    one); `totals[k]` is the working time before span k. It covers the instants [lo, hi]: every
    span of an earlier date ends by lo, every span of a later date starts at hi or after, so the
    working time up to any covered instant is one bisection away. Never changed once built.
    """

    __slots__ = ("first", "end", "lo", "hi", "edges", "totals")

    def __init__(self, first: date, end: date, lo: int, hi: int, edges: list[int]) -> None:
        self.first, self.end, self.lo, self.hi, self.edges = first, end, lo, hi, edges
        self.totals = [0, *accumulate(map(sub, edges[1::2], edges[0::2]))]

    def joined(self, later: _Stretch) -> _Stretch:
        """This stretch followed by `later`, which starts on the date this one ends."""
        edges = self.edges.copy()
        if later.edges:
            _add_span(edges, later.edges[0], later.edges[1])
            edges += later.edges[2:]
        return _Stretch(self.first, later.end, self.lo, later.hi, edges)

    def near(self, instant: int) -> bool:
        """Whether growing this stretch to `instant` costs no more than one search would."""
        return self.lo - SEARCH_LIMIT_US <= instant <= self.hi + SEARCH_LIMIT_US

    def worked(self, instant: int) -> int:
        """The working time from the stretch's start to `instant`."""
        if not self.lo <= instant <= self.hi:
            raise _Beyond(instant)
        place = bisect_right(self.edges, instant)
        if place & 1:  # inside span place // 2
            return self.totals[place >> 1] + instant - self.edges[place - 1]
        return self.totals[place >> 1]

    def reaching(self, target: int, until: int) -> int | None:
        """The first instant at which `worked` reaches `target` (> 0); None when after `until`."""
        totals = self.totals
        if target > totals[-1]:
            if self.hi >= until:
                return None
            raise _Beyond(self.hi + 1)
        span = bisect_left(totals, target) - 1
        due = self.edges[2 * span] + target - totals[span]
        return due if due <= until else None

    def next_running(self, instant: int, until: int) -> int | None:
        """The first instant at or after `instant` inside a span; None when not before `until`."""
        if not self.lo <= instant <= self.hi:
            raise _Beyond(instant)
        place = bisect_right(self.edges, instant)
        if place & 1:
            return instant
        if place < len(self.edges):
            begins = self.edges[place]
            return begins if begins < until else None
        if self.hi >= until:
            return None
        raise _Beyond(self.hi + 1)

    def due(self, since: int, amount: int, until: int, stops: list[Span]) -> int | None:
        """When `amount` of running time from `since` has elapsed, no later than `until`.

        Each pause that starts before the deadline found so far moves it by the working time the
        pause holds; None when a pause lasts to `until` or the calendar has too little time.
        """
        if not amount:
            return self._first_running(since, until, stops)
        target = self.worked(since) + amount
        due = self.reaching(target, until)
        for begins, ends in stops:
            if due is None or due <= begins:
                break
            if ends <= since:
                continue
            if ends >= until:
                return None
            target += self.worked(ends) - self.worked(max(begins, since))
            due = self.reaching(target, until)
        return due

    def _first_running(self, since: int, until: int, stops: list[Span]) -> int | None:
        """The first instant from `since` at which the clock runs (zero hours fall due at once)."""
        due = self.next_running(since, until)
        for begins, ends in stops:
            if due is None or due < begins:
                break
            if ends <= due:
                continue
            if ends >= until:
                return None
            due = self.next_running(ends, until)
        return due

    def elapsed(self, since: int, until: int, stops: list[Span]) -> int:
        """The running time from `since` to `until`: working time minus what the pauses hold."""
        total = self.worked(until) - self.worked(since)
        for begins, ends in stops:
            low, high = max(begins, since), min(ends, until)
            if low < high:
                total -= self.worked(high) - self.worked(low)
        return total


class _Timeline:
    """A calendar's working spans, converted from wall-clock time once per local date.

    Computations read one `_Stretch` each; one that reads past it asks again on a wider copy,
    which replaces the shared one. As stretches never change, threads need no lock: at worst two
    of them build the same days.
    """

    def __init__(self, calendar: Calendar) -> None:
        self._calendar, self._zone, self._stretch = calendar, _zone(calendar.tz), None

    def ask(self, since: int, question: Callable[[_Stretch], Any]) -> Any:
        """`question`'s answer on a stretch that covers everything it reads, from `since` on."""
        stretch = self._stretch
        if stretch is None or not stretch.near(since):
            day = self._local_date(since)
            stretch = self._publish(self._built(day, day + ONE_DAY))
        while True:
            try:
                return question(stretch)
            except _Beyond as beyond:
                stretch = self._publish(self._widened(stretch, beyond.instant))

    def _publish(self, stretch: _Stretch) -> _Stretch:
        """Share `stretch` with the computations that come next; the one it replaces stays valid."""
        self._stretch = stretch
        return stretch

    def _widened(self, stretch: _Stretch, instant: int) -> _Stretch:
        """`stretch` grown to cover `instant`: by at least its own length (up to a year), so that
        the days walked in all stay proportional to the days covered."""
        growth = timedelta(days=min(max((stretch.end - stretch.first).days, MIN_GROWTH_DAYS), MAX_GROWTH_DAYS))
        day = self._local_date(instant)
        if instant < stretch.lo:
            return self._built(min(day, stretch.first - growth), stretch.first).joined(stretch)
        return stretch.joined(self._built(stretch.end, max(day + ONE_DAY, stretch.end + growth)))

    def _built(self, first: date, end: date) -> _Stretch:
        """The stretch of the local dates [first, end), converted interval by interval."""
        zone, edges, day = self._zone, [], first
        while day < end:
            for start, stop in self._calendar.intervals_on(day):
                _add_span(edges, _micros(_first_instant(datetime.combine(day, start), zone)),
                          _micros(_first_instant(_end_wall(day, stop), zone)))
            day += ONE_DAY
        return _Stretch(first, end, self._midnight(first), self._midnight(end), edges)

    def _midnight(self, day: date) -> int:
        """The first instant of a local date."""
        return _micros(_first_instant(datetime.combine(day, MIDNIGHT), self._zone))

    def _local_date(self, instant: int) -> date:
        """The date the calendar's clock reads at `instant`."""
        return _reading(_instant(instant), self._zone).date()


def _add_span(edges: list[int], begins: int, ends: int) -> None:
    """Append [begins, ends) to the sorted `edges`, as part of the last span when they touch;
    an empty one (an interval the clock jumps over) is left out."""
    if begins >= ends:
        return
    if edges and begins <= edges[-1]:
        edges[-1] = max(edges[-1], ends)
    else:
        edges += (begins, ends)


def _stops(pauses: Iterable[tuple[datetime, datetime | None]]) -> list[Span]:
    """Pauses as UTC microseconds, sorted and merged (stage history may overlap); an open one
    ends FOREVER."""
    merged: list[Span] = []
    for begins, ends in sorted((_utc(a), FOREVER if b is None else _utc(b)) for a, b in pauses):
        if ends < begins:
            raise ValueError(f"a pause ends ({ends.isoformat()}) before it starts ({begins.isoformat()})")
        low, high = _micros(begins), _micros(ends)
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _micros(instant: datetime) -> int:
    """An aware instant as microseconds since the epoch: exact, and cheap to compare and add."""
    return (instant - EPOCH) // MICROSECOND


def _instant(micros: int) -> datetime:
    """Microseconds since the epoch as a UTC instant."""
    return EPOCH + timedelta(microseconds=micros)


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
