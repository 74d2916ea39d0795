"""Helpdesk numbers (SPEC §4.6, §4.8): the dashboard's cards and the reports' charts.

Every count, sum and average is computed by the database (GROUP BY, CASE), so a page costs a
handful of queries whatever the number of tickets. Days are the user's local days: the one
dialect-dependent piece, the local date of a UTC timestamp, is `local_day`. The chart functions
at the end are pure geometry (values in, SVG coordinates out) for the `_chart_*.html` templates.

Whose numbers: an agent's cover the teams they belong to, an admin's every active team
(services/helpdesk.teams_of); callers pass those teams in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select

from app.extensions import db
from app.models import PRIORITIES, SLA_TARGETS, Rating, Stage, Team, Ticket, TicketSla, User

UTC = timezone.utc
PERIODS = (7, 30, 90)  # the reports' choice of "last N days"
DEFAULT_PERIOD = 30
MY_TICKETS_SHOWN = 6
PERFORMANCE_DAYS = 7
URGENT = 3
SLA_TARGET_LABELS = {"first_reply": "First reply", "next_reply": "Next reply", "resolution": "Resolution"}
# Resolution time histogram: (upper bound in hours, label); None is open-ended.
RESOLUTION_BUCKETS = ((1, "Under 1 h"), (4, "1–4 h"), (8, "4–8 h"), (24, "8–24 h"), (72, "1–3 days"),
                      (168, "3–7 days"), (None, "Over 7 days"))


# ---- dialect-aware expressions -------------------------------------------------------------------

def _dialect() -> str:
    return db.session.get_bind().dialect.name


def epoch_seconds(column):
    """SQL: seconds since 1970 of a naive UTC timestamp column (for averages and durations).

    SQLite's julianday is exact to the millisecond only; rounded to it, an hour between two
    timestamps is 3600 s, as on PostgreSQL, not 3599.99999 (which fell in the bucket below).
    """
    if _dialect() == "postgresql":
        return func.extract("epoch", column)
    return func.round((func.julianday(column) - 2440587.5) * 86400.0, 3)


def local_day(column, tz: ZoneInfo, start: datetime, end: datetime):
    """SQL: the local day ('YYYY-MM-DD' text) in `tz` of a naive UTC timestamp column.

    PostgreSQL knows time zones. SQLite does not: there the zone's UTC offsets between `start`
    and `end` (naive UTC; the query must keep its rows inside them) become a CASE over the
    spans between daylight-saving changes, each shifting the timestamp by its own offset.
    """
    if _dialect() == "postgresql":
        return func.to_char(func.timezone(tz.key, func.timezone("UTC", column)), "YYYY-MM-DD")
    spans = offset_spans(tz, start, end)
    shifted = [func.date(column, f"{minutes:+d} minutes") for _, minutes in spans]
    if len(spans) == 1:
        return shifted[0]
    # spans[i + 1] starts where spans[i] ends.
    return case(*[(column < spans[i + 1][0], shifted[i]) for i in range(len(spans) - 1)], else_=shifted[-1])


def offset_spans(tz: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """The zone's UTC offset over [start, end) (naive UTC): [(from, offset in minutes), ...], the
    first from `start`, each next one from the instant (to the minute) the offset changes."""
    def offset(instant: datetime) -> int:
        return int(instant.replace(tzinfo=UTC).astimezone(tz).utcoffset().total_seconds() // 60)

    spans = [(start, offset(start))]
    hour = timedelta(hours=1)
    cursor = start
    while cursor < end:
        step = min(cursor + hour, end)
        if offset(step) != spans[-1][1]:
            low, high = cursor, step  # the change is in (low, high]: narrow it to the minute
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                middle = middle.replace(second=0, microsecond=0)
                if middle <= low:
                    break
                low, high = (low, middle) if offset(middle) != spans[-1][1] else (middle, high)
            spans.append((high, offset(high)))
        cursor = step
    return spans


# ---- local days -----------------------------------------------------------------------------------

def utc_naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The naive UTC instant at which local `day` begins."""
    return utc_naive(datetime.combine(day, time(0), tzinfo=tz))


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    """The local day of a naive UTC instant."""
    return moment.replace(tzinfo=UTC).astimezone(tz).date()


@dataclass(frozen=True)
class Period:
    """The last `days` local days, today included, and the UTC instants that bound them."""

    days: int
    first: date
    last: date
    start: datetime
    end: datetime

    @property
    def dates(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range(self.days)]


def period(days: int, tz: ZoneInfo, now: datetime) -> Period:
    """The `days` local days ending today (in `tz`, at naive UTC `now`)."""
    last = local_date(now, tz)
    first = last - timedelta(days=days - 1)
    return Period(days, first, last, day_start(first, tz), day_start(last + timedelta(days=1), tz))


def parse_period(raw) -> int:
    """A period the reports offer; anything else falls back to the default."""
    try:
        days = int(raw)
    except (TypeError, ValueError):
        return DEFAULT_PERIOD
    return days if days in PERIODS else DEFAULT_PERIOD


# ---- dashboard ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TeamCard:
    """A team's open work: what the dashboard card counts."""

    team: Team
    open: int = 0
    unassigned: int = 0
    urgent: int = 0
    sla_failed: int = 0
    average_open_hours: float | None = None
    satisfaction: "Satisfaction | None" = None  # the ratings of the last SATISFACTION_DAYS


@dataclass(frozen=True)
class Satisfaction:
    """Customers' ratings: how many of each face; the share of satisfied is the headline."""

    label: str = ""
    satisfied: int = 0
    okay: int = 0
    dissatisfied: int = 0

    @property
    def total(self) -> int:
        return self.satisfied + self.okay + self.dissatisfied

    @property
    def percent(self) -> int | None:
        return round(100 * self.satisfied / self.total) if self.total else None


SATISFACTION_DAYS = 30


def satisfaction_by(column, ids, since: datetime, until: datetime | None = None) -> dict:
    """{id of `column` (Rating.team_id or Rating.agent_id): Satisfaction} of ratings given since `since`."""
    if not ids:
        return {}
    stmt = (select(column, Rating.value, func.count()).where(column.in_(list(ids)), Rating.updated_at >= since)
            .group_by(column, Rating.value))
    if until is not None:
        stmt = stmt.where(Rating.updated_at < until)
    return {key: Satisfaction("", *faces) for key, faces in _faces(stmt).items()}


def _faces(stmt) -> dict:
    """{key: (satisfied, okay, dissatisfied)} from rows of (key, rating value, count)."""
    counts: dict = {}
    for key, value, number in db.session.execute(stmt):
        counts.setdefault(key, {})[value] = number
    return {key: (faces.get("satisfied", 0), faces.get("okay", 0), faces.get("dissatisfied", 0))
            for key, faces in counts.items()}


@dataclass(frozen=True)
class Performance:
    """Tickets I closed: today, the daily average of the last days, and the target."""

    closed_today: int
    week_average: float
    target: int

    @property
    def percent(self) -> int:
        """Today against the target, 0–100 (the progress bar)."""
        if self.target <= 0:
            return 100 if self.closed_today else 0
        return min(100, round(100 * self.closed_today / self.target))


@dataclass(frozen=True)
class Overview:
    teams: list[TeamCard]
    my_tickets: list[Ticket]
    my_open: int
    my_average_open_hours: float | None
    teams_average_open_hours: float | None
    performance: Performance
    satisfaction: Satisfaction | None = None  # my tickets' ratings, last SATISFACTION_DAYS


def _hours_since(average_epoch, now: datetime) -> float | None:
    if average_epoch is None:
        return None
    return max(0.0, (now.replace(tzinfo=UTC).timestamp() - float(average_epoch)) / 3600)


def team_cards(teams: list[Team], now: datetime) -> list[TeamCard]:
    """Open, unassigned, urgent and SLA-failed tickets per team, and how long they have been open."""
    if not teams:
        return []
    rows = db.session.execute(
        select(Ticket.team_id, func.count(Ticket.id),
               func.sum(case((Ticket.assignee_id.is_(None), 1), else_=0)),
               func.sum(case((Ticket.priority >= URGENT, 1), else_=0)),
               func.sum(case((Ticket.sla_failed.is_(True), 1), else_=0)),
               func.avg(epoch_seconds(Ticket.created_at)))
        .where(Ticket.team_id.in_([t.id for t in teams]), Ticket.closed_at.is_(None))
        .group_by(Ticket.team_id)).all()
    found = {row[0]: row[1:] for row in rows}
    rated = satisfaction_by(Rating.team_id, [t.id for t in teams if t.use_ratings],
                            now - timedelta(days=SATISFACTION_DAYS))
    cards = []
    for team in teams:
        if team.id not in found:
            cards.append(TeamCard(team, satisfaction=rated.get(team.id)))
            continue
        total, unassigned, urgent, failed, created = found[team.id]
        cards.append(TeamCard(team, total, int(unassigned or 0), int(urgent or 0), int(failed or 0),
                              _hours_since(created, now), rated.get(team.id)))
    return cards


def my_open_tickets(user: User, teams: list[Team], limit: int = MY_TICKETS_SHOWN) -> list[Ticket]:
    """My open tickets in my teams: most urgent first, then the nearest SLA deadline, then the oldest."""
    return list(db.session.scalars(
        select(Ticket).where(Ticket.assignee_id == user.id, Ticket.closed_at.is_(None),
                             Ticket.team_id.in_([t.id for t in teams]))
        .order_by(Ticket.priority.desc(), Ticket.sla_deadline.is_(None), Ticket.sla_deadline,
                  Ticket.created_at, Ticket.id).limit(limit)))


def average_open_hours(teams: list[Team], now: datetime, assignee: User | None = None) -> tuple[int, float | None]:
    """(how many, average hours open) of the open tickets of `teams` (only `assignee`'s if given)."""
    query = select(func.count(Ticket.id), func.avg(epoch_seconds(Ticket.created_at))).where(
        Ticket.team_id.in_([t.id for t in teams]), Ticket.closed_at.is_(None))
    if assignee is not None:
        query = query.where(Ticket.assignee_id == assignee.id)
    count, created = db.session.execute(query).one()
    return count, _hours_since(created, now)


def performance(user: User, teams: list[Team], tz: ZoneInfo, now: datetime) -> Performance:
    """Tickets assigned to me that closed today and over the last days (local days), against the
    highest daily target of my teams."""
    week = period(PERFORMANCE_DAYS, tz, now)
    today_start = day_start(week.last, tz)
    closed_today, closed_week = db.session.execute(
        select(func.sum(case((Ticket.closed_at >= today_start, 1), else_=0)), func.count(Ticket.id))
        .where(Ticket.assignee_id == user.id, Ticket.team_id.in_([t.id for t in teams]),
               Ticket.closed_at >= week.start, Ticket.closed_at < week.end)).one()
    target = max((t.daily_target or 0 for t in teams), default=0)
    return Performance(int(closed_today or 0), round((closed_week or 0) / PERFORMANCE_DAYS, 1), target)


def overview(user: User, teams: list[Team], tz: ZoneInfo, now: datetime) -> Overview:
    """Everything the dashboard shows for `user`, over `teams` (theirs)."""
    my_open, my_hours = average_open_hours(teams, now, assignee=user)
    _, teams_hours = average_open_hours(teams, now)
    mine = satisfaction_by(Rating.agent_id, [user.id], now - timedelta(days=SATISFACTION_DAYS)).get(user.id)
    return Overview(team_cards(teams, now), my_open_tickets(user, teams), my_open, my_hours, teams_hours,
                    performance(user, teams, tz, now), mine)


# ---- reports --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Resolution:
    """How long the tickets closed in a period took, created to closed."""

    count: int
    median_hours: float | None
    p90_hours: float | None
    buckets: list[tuple[str, int]]


@dataclass(frozen=True)
class SlaRow:
    label: str
    reached: int
    failed: int

    @property
    def total(self) -> int:
        return self.reached + self.failed

    @property
    def rate(self) -> int | None:
        """Percent reached, None without outcomes."""
        return round(100 * self.reached / self.total) if self.total else None


@dataclass(frozen=True)
class Report:
    period: Period
    days: list[date]
    created: list[int]
    closed: list[int]
    resolution: Resolution
    sla: list[SlaRow]
    sla_total: SlaRow
    by_stage: list[tuple[str, int]]
    by_priority: list[tuple[str, int]]
    satisfaction: list[Satisfaction] = field(default_factory=list)  # per agent, best first
    satisfaction_total: Satisfaction = Satisfaction("All ratings")

    @property
    def created_total(self) -> int:
        return sum(self.created)

    @property
    def closed_total(self) -> int:
        return sum(self.closed)

    # The charts' geometry (pure functions below), for the _chart_*.html templates.

    def volume_chart(self) -> LineChart:
        return line_chart([f"{d.day} {d:%b}" for d in self.days],
                          [("Created", "series-created", self.created), ("Closed", "series-closed", self.closed)])

    def resolution_bars(self) -> list[Bar]:
        return bars(self.resolution.buckets)

    def stage_bars(self) -> list[Bar]:
        return bars(self.by_stage)

    def priority_bars(self) -> list[Bar]:
        return bars(self.by_priority)

    def sla_arcs(self) -> list[Arc]:
        return donut([("Reached", "series-reached", self.sla_total.reached),
                      ("Failed", "series-failed", self.sla_total.failed)])


def _in_teams(teams: list[Team]):
    return Ticket.team_id.in_([t.id for t in teams])


def per_day(column, teams: list[Team], span: Period, tz: ZoneInfo) -> list[int]:
    """Tickets of `teams` whose `column` (created_at, closed_at) falls on each local day of `span`."""
    day = local_day(column, tz, span.start, span.end)
    rows = db.session.execute(
        select(day, func.count(Ticket.id)).where(_in_teams(teams), column >= span.start, column < span.end)
        .group_by(day)).all()
    counts = {str(key)[:10]: n for key, n in rows}
    return [counts.get(d.isoformat(), 0) for d in span.dates]


def resolution(teams: list[Team], span: Period) -> Resolution:
    """Created-to-closed hours of the tickets closed in `span`: median, 90th percentile, histogram."""
    hours = (epoch_seconds(Ticket.closed_at) - epoch_seconds(Ticket.created_at)) / 3600.0
    closed = and_(_in_teams(teams), Ticket.closed_at >= span.start, Ticket.closed_at < span.end)
    bucket = case(*[(hours < bound, n) for n, (bound, _) in enumerate(RESOLUTION_BUCKETS) if bound is not None],
                  else_=len(RESOLUTION_BUCKETS) - 1)
    counts = dict(db.session.execute(select(bucket, func.count(Ticket.id)).where(closed).group_by(bucket)).all())
    total = sum(counts.values())
    buckets = [(label, counts.get(n, 0)) for n, (_, label) in enumerate(RESOLUTION_BUCKETS)]

    def percentile(share: float) -> float | None:
        # Nearest rank, read by the database from the sorted durations (no percentile function in SQLite).
        if not total:
            return None
        rank = max(math.ceil(share * total) - 1, 0)
        value = db.session.scalar(select(hours).where(closed).order_by(hours).offset(rank).limit(1))
        return max(float(value), 0.0)

    return Resolution(total, percentile(0.5), percentile(0.9), buckets)


def sla_outcomes(teams: list[Team], span: Period) -> list[SlaRow]:
    """Per target, the SLA targets settled in `span`: reached in it, or failed with a deadline in it."""
    settled = or_(and_(TicketSla.status == "reached", TicketSla.reached_at >= span.start,
                       TicketSla.reached_at < span.end),
                  and_(TicketSla.status == "failed", TicketSla.deadline >= span.start, TicketSla.deadline < span.end))
    rows = db.session.execute(
        select(TicketSla.target, TicketSla.status, func.count(TicketSla.id))
        .join(Ticket, Ticket.id == TicketSla.ticket_id).where(_in_teams(teams), settled)
        .group_by(TicketSla.target, TicketSla.status)).all()
    counts = {(target, status): n for target, status, n in rows}
    return [SlaRow(SLA_TARGET_LABELS[t], counts.get((t, "reached"), 0), counts.get((t, "failed"), 0))
            for t in SLA_TARGETS]


def open_by_stage(teams: list[Team]) -> list[tuple[str, int]]:
    """Open tickets per stage, in the stages' order."""
    return [(name, n) for name, n in db.session.execute(
        select(Stage.name, func.count(Ticket.id)).join(Ticket, Ticket.stage_id == Stage.id)
        .where(_in_teams(teams), Ticket.closed_at.is_(None))
        .group_by(Stage.id, Stage.name, Stage.sequence).order_by(Stage.sequence, Stage.id)).all()]


def open_by_priority(teams: list[Team]) -> list[tuple[str, int]]:
    """Open tickets per priority, urgent first (every priority listed, zero included)."""
    counts = dict(db.session.execute(
        select(Ticket.priority, func.count(Ticket.id)).where(_in_teams(teams), Ticket.closed_at.is_(None))
        .group_by(Ticket.priority)).all())
    return [(PRIORITIES[p], counts.get(p, 0)) for p in sorted(PRIORITIES, reverse=True)]


def report(teams: list[Team], days: int, tz: ZoneInfo, now: datetime) -> Report:
    """The reports page over `teams` for the last `days` local days."""
    span = period(days, tz, now)
    sla = sla_outcomes(teams, span)
    total = SlaRow("All targets", sum(r.reached for r in sla), sum(r.failed for r in sla))
    rated, rated_total = satisfaction_rows(teams, span)
    return Report(span, span.dates, per_day(Ticket.created_at, teams, span, tz),
                  per_day(Ticket.closed_at, teams, span, tz), resolution(teams, span), sla, total,
                  open_by_stage(teams), open_by_priority(teams), rated, rated_total)


def satisfaction_rows(teams: list[Team], span: Period) -> tuple[list[Satisfaction], Satisfaction]:
    """Ratings given in the period on `teams`' tickets: per agent (most rated first), and in all."""
    stmt = (select(Rating.agent_id, Rating.value, func.count()).where(
        Rating.team_id.in_([t.id for t in teams]), Rating.updated_at >= span.start, Rating.updated_at < span.end)
        .group_by(Rating.agent_id, Rating.value))
    counts = _faces(stmt)
    names = dict(db.session.execute(select(User.id, User.name).where(User.id.in_([k for k in counts if k]))).all())
    rows = [Satisfaction(names.get(agent_id, "Unassigned"), *faces) for agent_id, faces in counts.items()]
    rows.sort(key=lambda row: (-row.total, row.label))
    total = Satisfaction("All ratings", sum(r.satisfied for r in rows), sum(r.okay for r in rows),
                         sum(r.dissatisfied for r in rows))
    return rows, total


# ---- chart geometry (pure) ------------------------------------------------------------------------

def nice_step(value: float, ticks: int = 4) -> int:
    """The smallest "round" integer step (1, 2, 2.5, 5 × 10ⁿ) such that `ticks` steps reach `value`."""
    raw = max(value, 0) / ticks
    if raw <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * magnitude
        if step >= raw and float(step).is_integer():
            return int(step)
    return int(10 * magnitude)


@dataclass(frozen=True)
class Series:
    name: str
    css: str  # the class that colours it (app.css)
    values: list[int]
    points: list[tuple[float, float]]

    @property
    def polyline(self) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in self.points)


@dataclass(frozen=True)
class LineChart:
    """Coordinates for an SVG line chart of a few series over the same labels."""

    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    maximum: int
    y_ticks: list[tuple[int, float]]
    x_labels: list[tuple[str, float]]
    labels: list[str] = field(default_factory=list)  # one per point (the x labels are a subset)
    series: list[Series] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(v for s in self.series for v in s.values)


def line_chart(labels: list[str], series: list[tuple[str, str, list[int]]], *, width: int = 720,
               height: int = 240, ticks: int = 4, max_x_labels: int = 8) -> LineChart:
    """Place `series` ((name, css class, values), one value per label) on a `width` × `height`
    canvas: y from 0 to a round maximum, x evenly spread (a single point sits in the middle)."""
    left, top, right, bottom = 40.0, 12.0, width - 12.0, height - 28.0
    peak = max((v for _, _, values in series for v in values), default=0)
    step = nice_step(peak, ticks)
    maximum = step * ticks
    count = len(labels)

    def x_at(index: int) -> float:
        return (left + right) / 2 if count <= 1 else left + index * (right - left) / (count - 1)

    def y_at(value: float) -> float:
        return bottom - (bottom - top) * value / maximum

    every = max(1, math.ceil(count / max_x_labels))
    x_labels = [(label, x_at(i)) for i, label in enumerate(labels) if i % every == 0]
    return LineChart(width, height, left, top, right, bottom, maximum,
                     [(step * n, y_at(step * n)) for n in range(ticks + 1)], x_labels, list(labels),
                     [Series(name, css, list(values), [(x_at(i), y_at(v)) for i, v in enumerate(values)])
                      for name, css, values in series])


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    length: float  # 0–100: the share of the longest bar
    percent: int  # of all the bars' total


def bars(items: list[tuple[str, int]]) -> list[Bar]:
    """Horizontal bars scaled to the largest value (all zero: empty bars)."""
    peak = max((v for _, v in items), default=0)
    total = sum(v for _, v in items)
    return [Bar(label, value, 100.0 * value / peak if peak else 0.0, round(100 * value / total) if total else 0)
            for label, value in items]


@dataclass(frozen=True)
class Arc:
    name: str
    css: str
    value: int
    dash: str  # stroke-dasharray: this arc's length, then the rest of the circle
    offset: float  # stroke-dashoffset: where it starts


def donut(parts: list[tuple[str, str, int]], radius: float = 40.0) -> list[Arc]:
    """Arcs of a ring of `radius` (drawn as circle strokes), one per non-zero part, clockwise
    from 12 o'clock when the circle is rotated by -90°; nothing when every part is zero."""
    circumference = 2 * math.pi * radius
    total = sum(v for _, _, v in parts)
    arcs, done = [], 0.0
    if not total:
        return arcs
    for name, css, value in parts:
        if not value:
            continue
        length = circumference * value / total
        arcs.append(Arc(name, css, value, f"{length:.2f} {circumference - length:.2f}", round(-done, 2)))
        done += length
    return arcs
