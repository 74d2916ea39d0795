"""services/helpdesk_stats.py: the dashboard's and reports' numbers, on small exact data sets.

Timestamps are set by hand around a fixed NOW. Local days are checked in New York across its
change to summer time (2026-03-08, 07:00 UTC), where a UTC date or a single offset would put
tickets on the wrong day; the same data read in UTC shows the zone is what moves them.
"""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Rating, SlaPolicy, Stage, TicketSla
from app.services import helpdesk, helpdesk_stats
from app.services.helpdesk_stats import Performance, SlaRow

pytestmark = pytest.mark.usefixtures("request_ctx")

NOW = datetime(2026, 3, 10, 15, 0)  # naive UTC: 11:00 in New York (EDT, UTC-4)
NEW_YORK = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture
def care(users):
    team = helpdesk.create_team("Customer Care", members=[users.agent, users.agent2])
    db.session.commit()
    return team


@pytest.fixture
def billing(users):
    """A team `users.agent` is not in."""
    team = helpdesk.create_team("Billing", members=[users.agent2])
    db.session.commit()
    return team


def stage(name: str) -> Stage:
    return db.session.scalar(select(Stage).where(Stage.name == name))


def ticket(team, created: datetime, *, closed: datetime | None = None, stage_name: str | None = None,
           sla_failed: bool = False, sla_deadline: datetime | None = None, **fields):
    """A ticket created at `created` (naive UTC); with `closed`, closed then in "Solved"."""
    row = helpdesk.create_ticket(team, "Printer on fire", **fields)
    row.created_at = created
    if closed is not None:
        row.stage, row.closed_at = stage("Solved"), closed
    elif stage_name:
        row.stage = stage(stage_name)
    row.sla_failed, row.sla_deadline = sla_failed, sla_deadline
    db.session.commit()
    return row


# ---- local days -----------------------------------------------------------------------------------

def test_a_period_ends_today_in_the_users_zone_and_is_bounded_in_utc():
    span = helpdesk_stats.period(7, NEW_YORK, NOW)
    assert (span.first.isoformat(), span.last.isoformat()) == ("2026-03-04", "2026-03-10")
    assert span.start == datetime(2026, 3, 4, 5, 0)  # midnight EST
    assert span.end == datetime(2026, 3, 11, 4, 0)  # midnight EDT
    assert [d.day for d in span.dates] == [4, 5, 6, 7, 8, 9, 10]
    # 02:00 UTC on the 10th is still the 9th in New York: the period ends on the 9th.
    assert helpdesk_stats.period(1, NEW_YORK, datetime(2026, 3, 10, 2, 0)).last.day == 9


def test_offset_spans_find_the_change_to_the_minute():
    span = helpdesk_stats.period(7, NEW_YORK, NOW)
    assert helpdesk_stats.offset_spans(NEW_YORK, span.start, span.end) == [
        (span.start, -300), (datetime(2026, 3, 8, 7, 0), -240)]
    assert helpdesk_stats.offset_spans(UTC, span.start, span.end) == [(span.start, 0)]


@pytest.mark.parametrize("raw, days", [("7", 7), ("30", 30), (90, 90), ("365", 30), ("-5", 30), ("x", 30),
                                       (None, 30), ("", 30)])
def test_only_the_offered_periods_are_taken(raw, days):
    assert helpdesk_stats.parse_period(raw) == days


# ---- dashboard ------------------------------------------------------------------------------------

def test_team_cards_count_open_work_only(users, care, billing):
    ticket(care, NOW - 2 * HOUR, priority=3)
    ticket(care, NOW - 4 * HOUR, priority=1, assignee=users.agent, sla_failed=True)
    ticket(care, NOW - 9 * HOUR, closed=NOW - HOUR, priority=3, sla_failed=True)  # closed: not counted
    empty = helpdesk.create_team("Returns")
    db.session.commit()

    cards = helpdesk_stats.team_cards([care, empty], NOW)
    assert [c.team.name for c in cards] == ["Customer Care", "Returns"]
    assert (cards[0].open, cards[0].unassigned, cards[0].urgent, cards[0].sla_failed) == (2, 1, 1, 1)
    assert cards[0].average_open_hours == pytest.approx(3.0)
    assert (cards[1].open, cards[1].unassigned, cards[1].urgent, cards[1].sla_failed) == (0, 0, 0, 0)
    assert cards[1].average_open_hours is None
    assert helpdesk_stats.team_cards([], NOW) == []


def test_my_tickets_come_most_urgent_then_nearest_deadline_then_oldest(users, care):
    mine = {"assignee": users.agent}
    late = ticket(care, NOW - HOUR, priority=1, **mine)
    far = ticket(care, NOW - HOUR, priority=1, sla_deadline=NOW + 2 * HOUR, **mine)
    near = ticket(care, NOW - HOUR, priority=1, sla_deadline=NOW + HOUR, **mine)
    urgent = ticket(care, NOW - HOUR, priority=3, **mine)
    old = ticket(care, NOW - 5 * HOUR, priority=1, **mine)
    ticket(care, NOW - HOUR, closed=NOW, priority=3, **mine)
    ticket(care, NOW - HOUR, priority=3, assignee=users.agent2)

    found = helpdesk_stats.my_open_tickets(users.agent, [care])
    assert [t.id for t in found] == [urgent.id, near.id, far.id, old.id, late.id]
    assert [t.id for t in helpdesk_stats.my_open_tickets(users.agent, [care], limit=2)] == [urgent.id, near.id]


def test_average_open_hours_of_the_teams_and_of_mine(users, care):
    ticket(care, NOW - 2 * HOUR, assignee=users.agent)
    ticket(care, NOW - 6 * HOUR, assignee=users.agent)
    ticket(care, NOW - 10 * HOUR)
    ticket(care, NOW - 100 * HOUR, closed=NOW - HOUR, assignee=users.agent)

    count, hours = helpdesk_stats.average_open_hours([care], NOW, assignee=users.agent)
    assert count == 2 and hours == pytest.approx(4.0)
    count, hours = helpdesk_stats.average_open_hours([care], NOW)
    assert count == 3 and hours == pytest.approx(6.0)
    assert helpdesk_stats.average_open_hours([care], NOW, assignee=users.agent2) == (0, None)


def test_the_dashboard_of_an_agent_leaves_out_the_teams_they_are_not_in(users, care, billing):
    mine = ticket(care, NOW - 2 * HOUR, assignee=users.agent)
    ticket(billing, NOW - 50 * HOUR, priority=3)
    stale = ticket(care, NOW - 30 * HOUR, assignee=users.agent)
    stale.team = billing  # assigned to me, but in a team I am not in
    db.session.commit()

    agent = helpdesk_stats.overview(users.agent, helpdesk.teams_of(users.agent), UTC, NOW)
    assert [c.team.name for c in agent.teams] == ["Customer Care"]
    assert [t.id for t in agent.my_tickets] == [mine.id]
    assert agent.my_open == 1 and agent.my_average_open_hours == pytest.approx(2.0)
    assert agent.teams_average_open_hours == pytest.approx(2.0)

    admin = helpdesk_stats.overview(users.admin, helpdesk.teams_of(users.admin), UTC, NOW)
    assert {c.team.name: c.open for c in admin.teams} == {"Billing": 2, "Customer Care": 1}
    assert admin.teams_average_open_hours == pytest.approx((2 + 50 + 30) / 3)


CLOSINGS = [  # (closed at, naive UTC) of tickets assigned to the agent
    NOW - HOUR,                     # today, however counted
    datetime(2026, 3, 10, 4, 0),    # 00:00 in New York: today there
    datetime(2026, 3, 10, 3, 59),   # 23:59 on the 9th in New York, today in UTC
    datetime(2026, 3, 4, 5, 0),     # 00:00 on the 4th in New York: the week's first day
    datetime(2026, 3, 4, 4, 59),    # the 3rd in New York (outside the week), the 4th in UTC
]


@pytest.mark.parametrize("tz, today, week_average", [(NEW_YORK, 2, round(4 / 7, 1)), (UTC, 3, round(5 / 7, 1))])
def test_my_performance_counts_local_days(users, care, tz, today, week_average):
    for closed in CLOSINGS:
        ticket(care, closed - 3 * HOUR, closed=closed, assignee=users.agent)
    ticket(care, NOW - 2 * HOUR, closed=NOW - HOUR, assignee=users.agent2)  # someone else's
    ticket(care, NOW - 2 * HOUR, assignee=users.agent)  # still open
    ticket(care, datetime(2026, 3, 2), closed=datetime(2026, 3, 2, 12), assignee=users.agent)  # last week

    result = helpdesk_stats.performance(users.agent, [care], tz, NOW)
    assert (result.closed_today, result.week_average, result.target) == (today, week_average, 5)


def test_the_daily_target_is_the_highest_of_my_teams(users, care):
    returns = helpdesk.create_team("Returns", members=[users.agent])
    returns.daily_target, care.daily_target = 8, 3
    db.session.commit()
    for _ in range(2):
        ticket(care, NOW - 2 * HOUR, closed=NOW - HOUR, assignee=users.agent)

    result = helpdesk_stats.performance(users.agent, [care, returns], UTC, NOW)
    assert (result.closed_today, result.target, result.percent) == (2, 8, 25)


@pytest.mark.parametrize("closed_today, target, percent", [(0, 0, 0), (2, 0, 100), (12, 8, 100), (1, 3, 33),
                                                           (0, 5, 0)])
def test_the_progress_bar_never_divides_by_zero_nor_overflows(closed_today, target, percent):
    assert Performance(closed_today, 0.0, target).percent == percent


def test_no_team_gives_an_empty_dashboard_and_report(users):
    overview = helpdesk_stats.overview(users.agent, [], NEW_YORK, NOW)
    assert (overview.teams, overview.my_tickets, overview.my_open) == ([], [], 0)
    assert overview.my_average_open_hours is None and overview.teams_average_open_hours is None
    assert (overview.performance.closed_today, overview.performance.week_average,
            overview.performance.target, overview.performance.percent) == (0, 0.0, 0, 0)
    report = helpdesk_stats.report([], 7, NEW_YORK, NOW)
    assert report.created == report.closed == [0] * 7
    assert (report.resolution.count, report.resolution.median_hours, report.resolution.p90_hours) == (0, None, None)
    assert all(n == 0 for _, n in report.resolution.buckets)
    assert report.sla_total.rate is None and all(row.rate is None for row in report.sla)
    assert report.by_stage == [] and [n for _, n in report.by_priority] == [0, 0, 0, 0]


# ---- reports --------------------------------------------------------------------------------------

CREATIONS = [  # naive UTC, and the New York day each falls on (None: before the week)
    (datetime(2026, 3, 4, 4, 59), None),
    (datetime(2026, 3, 4, 5, 0), 4),
    (datetime(2026, 3, 8, 4, 30), 7),   # 23:30 EST on the 7th
    (datetime(2026, 3, 8, 6, 59), 8),   # 01:59 EST, a minute before the change
    (datetime(2026, 3, 8, 7, 0), 8),    # 03:00 EDT
    (datetime(2026, 3, 10, 3, 30), 9),  # 23:30 EDT on the 9th
    (datetime(2026, 3, 10, 4, 0), 10),
]


@pytest.mark.parametrize("tz, created, closed", [
    (NEW_YORK, [1, 0, 0, 1, 2, 1, 1], [0, 0, 0, 0, 1, 0, 1]),
    (UTC, [2, 0, 0, 0, 3, 0, 2], [0, 0, 0, 0, 0, 1, 1]),
])
def test_created_and_closed_per_local_day(users, care, billing, tz, created, closed):
    for moment, _ in CREATIONS:
        ticket(care, moment)
    before = datetime(2026, 3, 1)  # created before the week: only their closing counts
    ticket(care, before, closed=datetime(2026, 3, 9, 3, 0))  # 23:00 on the 8th in New York
    ticket(care, before, closed=NOW - HOUR)
    ticket(billing, NOW - HOUR, closed=NOW)  # not a team of the report

    report = helpdesk_stats.report([care], 7, tz, NOW)
    assert [d.day for d in report.days] == [4, 5, 6, 7, 8, 9, 10]
    assert report.created == created and report.closed == closed
    assert report.created_total == sum(created) and report.closed_total == sum(closed)


def test_the_new_york_days_of_each_creation(care):
    """The CASE of local_day on SQLite (and the time zone on PostgreSQL) put each ticket on its day."""
    for moment, _ in CREATIONS:
        ticket(care, moment)
    report = helpdesk_stats.report([care], 7, NEW_YORK, NOW)
    expected = [sum(1 for _, day in CREATIONS if day == d.day) for d in report.days]
    assert report.created == expected


def test_resolution_time_of_the_tickets_closed_in_the_period(users, care, billing):
    closed = NOW - DAY
    for hours in (0.5, 1, 4, 30, 200):  # an exact hour lands in the bucket it starts
        ticket(care, closed - timedelta(hours=hours), closed=closed)
    ticket(care, NOW - 40 * DAY, closed=NOW - 31 * DAY)  # closed before the period
    ticket(care, NOW - 300 * HOUR)  # still open
    ticket(billing, closed - 10 * HOUR, closed=closed)

    result = helpdesk_stats.report([care], 30, UTC, NOW).resolution
    assert result.count == 5
    assert result.buckets == [("Under 1 h", 1), ("1–4 h", 1), ("4–8 h", 1), ("8–24 h", 0), ("1–3 days", 1),
                              ("3–7 days", 0), ("Over 7 days", 1)]
    assert result.median_hours == pytest.approx(4.0) and result.p90_hours == pytest.approx(200.0)


def sla_row(team, policy, target, status, *, deadline=None, reached_at=None):
    row = TicketSla(ticket_id=ticket(team, NOW - 50 * DAY).id, policy=policy, target=target, status=status,
                    started_at=NOW - 50 * DAY, deadline=deadline, reached_at=reached_at)
    db.session.add(row)
    db.session.commit()
    return row


def test_sla_success_rate_counts_targets_settled_in_the_period(care, billing):
    gold = SlaPolicy(team=care, name="Gold", first_reply_hours=4, resolution_hours=24)
    other = SlaPolicy(team=billing, name="Gold", next_reply_hours=4)
    db.session.add_all([gold, other])
    sla_row(care, gold, "first_reply", "reached", reached_at=NOW - DAY)
    sla_row(care, gold, "first_reply", "reached", reached_at=NOW - 2 * DAY, deadline=NOW + DAY)
    sla_row(care, gold, "first_reply", "failed", deadline=NOW - 2 * DAY)
    sla_row(care, gold, "resolution", "failed", deadline=NOW - 3 * DAY)
    sla_row(care, gold, "resolution", "reached", reached_at=NOW - 40 * DAY)  # before the period
    sla_row(care, gold, "resolution", "failed", deadline=NOW - 31 * DAY)  # before the period
    sla_row(care, gold, "resolution", "ongoing", deadline=NOW - HOUR)  # not settled yet
    sla_row(billing, other, "next_reply", "reached", reached_at=NOW - DAY)  # another team

    report = helpdesk_stats.report([care], 30, UTC, NOW)
    assert report.sla == [SlaRow("First reply", 2, 1), SlaRow("Next reply", 0, 0), SlaRow("Resolution", 0, 1)]
    assert [row.rate for row in report.sla] == [67, None, 0]
    assert (report.sla_total.reached, report.sla_total.failed, report.sla_total.rate) == (2, 2, 50)


def test_open_tickets_by_stage_and_priority(care, billing):
    ticket(care, NOW - HOUR, priority=0)
    ticket(care, NOW - HOUR, priority=3)
    ticket(care, NOW - HOUR, priority=3, stage_name="In progress")
    ticket(care, NOW - HOUR, priority=2, closed=NOW)
    ticket(billing, NOW - HOUR, priority=1)

    report = helpdesk_stats.report([care], 30, UTC, NOW)
    assert report.by_stage == [("New", 2), ("In progress", 1)]
    assert report.by_priority == [("Urgent", 2), ("High", 0), ("Medium", 0), ("Low", 1)]


def test_a_team_without_tickets_reports_zeros(care):
    report = helpdesk_stats.report([care], 90, NEW_YORK, NOW)
    assert len(report.days) == 90 and report.created_total == report.closed_total == 0
    assert report.resolution.median_hours is None and report.sla_total.rate is None
    assert report.volume_chart().empty
    assert [(b.label, b.length, b.percent) for b in report.priority_bars()] == [
        ("Urgent", 0.0, 0), ("High", 0.0, 0), ("Medium", 0.0, 0), ("Low", 0.0, 0)]
    assert report.sla_arcs() == []



# ---- customer satisfaction ------------------------------------------------------------------------

def rated(team, agent, value: str, when: datetime):
    row = ticket(team, when - DAY, closed=when, assignee=agent)
    db.session.add(Rating(ticket_id=row.id, team_id=team.id, agent_id=agent.id if agent else None,
                          value=value, created_at=when, updated_at=when))
    db.session.commit()


def test_satisfaction_per_team_agent_and_period(users, care, billing):
    care.use_ratings = True
    for value in ("satisfied", "satisfied", "okay"):
        rated(care, users.agent, value, NOW - DAY)
    rated(care, users.agent2, "dissatisfied", NOW - 2 * DAY)
    rated(care, None, "satisfied", NOW - 3 * DAY)
    rated(care, users.agent, "dissatisfied", NOW - 40 * DAY)  # before the period
    rated(billing, users.agent2, "satisfied", NOW - DAY)  # a team outside the report

    report = helpdesk_stats.report([care], 30, UTC, NOW)
    assert [(r.label, r.satisfied, r.okay, r.dissatisfied) for r in report.satisfaction] == [
        (users.agent.name, 2, 1, 0), (users.agent2.name, 0, 0, 1), ("Unassigned", 1, 0, 0)]
    assert (report.satisfaction_total.total, report.satisfaction_total.percent) == (5, 60)

    overview = helpdesk_stats.overview(users.agent, [care], UTC, NOW)
    assert (overview.satisfaction.total, overview.satisfaction.percent) == (3, 67)
    [card] = overview.teams
    assert (card.satisfaction.total, card.satisfaction.percent) == (5, 60)


def test_no_ratings_read_as_none_not_zero(users, care):
    care.use_ratings = True
    db.session.commit()
    overview = helpdesk_stats.overview(users.agent, [care], UTC, NOW)
    assert overview.satisfaction is None and overview.teams[0].satisfaction is None
    report = helpdesk_stats.report([care], 30, UTC, NOW)
    assert report.satisfaction == [] and report.satisfaction_total.percent is None
