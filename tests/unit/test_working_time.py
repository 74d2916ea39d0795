"""services/working_time.py: deadlines in working hours, worked examples then properties.

The examples pin what an agent would read off a wall calendar (nights, weekends, holidays,
pauses, DST days in four zones). The properties check the algebra on random calendars around
DST changes, compare `working_time_between` with a brute force that counts quarter-hours, and
compare both functions with `reference_add` / `reference_between`: the plain day-by-day walk
the service used before it kept converted spans per calendar.
"""
from bisect import bisect_left
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.working_time import Calendar, add_working_time, working_time_between

UTC = timezone.utc
MADRID = ZoneInfo("Europe/Madrid")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
ADELAIDE = ZoneInfo("Australia/Adelaide")
WEEKDAYS = ["09:00-17:00"] * 5 + ["", ""]
OFFICE = Calendar.parse("Europe/Madrid", WEEKDAYS)
SPLIT = Calendar.parse("Europe/Madrid", ["09:00-13:00, 15:00-19:00"] * 5 + ["", ""])
H = timedelta(hours=1)
US = timedelta(microseconds=1)


def at(zone, *args):
    """A local wall-clock time in `zone` (first occurrence if ambiguous)."""
    return datetime(*args, tzinfo=zone)


def every_day(tz, text):
    """A calendar with the same intervals on all seven days."""
    return Calendar.parse(tz, [text] * 7)


# --- worked examples (Europe/Madrid unless said; 2025-03-07 is a Friday) ---

@pytest.mark.parametrize("start, hours, due", [
    (at(MADRID, 2025, 3, 7, 15), 4, at(MADRID, 2025, 3, 10, 11)),  # over the weekend
    (at(MADRID, 2025, 3, 7, 13), 4, at(MADRID, 2025, 3, 7, 17)),  # ends at the end of the day
    (at(MADRID, 2025, 3, 11, 22), 2, at(MADRID, 2025, 3, 12, 11)),  # starts at night
    (at(MADRID, 2025, 3, 11, 5), 2, at(MADRID, 2025, 3, 11, 11)),  # starts before the office opens
    (at(MADRID, 2025, 3, 8, 12), 1, at(MADRID, 2025, 3, 10, 10)),  # starts on Saturday
    (at(MADRID, 2025, 3, 7, 15), 0.5, at(MADRID, 2025, 3, 7, 15, 30)),
    (at(MADRID, 2025, 3, 7, 15), 40, at(MADRID, 2025, 3, 14, 15)),  # a whole week
    (at(UTC, 2025, 3, 7, 14), 4, at(MADRID, 2025, 3, 10, 11)),  # the start's zone does not matter
])
def test_office_hours(start, hours, due):
    assert add_working_time(start, hours, OFFICE) == due
    assert working_time_between(start, due, OFFICE) == hours * H


@pytest.mark.parametrize("hours", [4, 4.0, Decimal("4"), timedelta(hours=4)])
def test_targets_may_be_int_float_decimal_or_timedelta(hours):
    assert add_working_time(at(MADRID, 2025, 3, 7, 15), hours, OFFICE) == at(MADRID, 2025, 3, 10, 11)


@pytest.mark.parametrize("start, hours, due", [
    (at(MADRID, 2025, 3, 10, 12), 3, at(MADRID, 2025, 3, 10, 17)),  # 1 h before lunch, 2 after
    (at(MADRID, 2025, 3, 10, 12), 6, at(MADRID, 2025, 3, 11, 10)),
    (at(MADRID, 2025, 3, 10, 13, 30), 1, at(MADRID, 2025, 3, 10, 16)),  # starts at lunch
    (at(MADRID, 2025, 3, 10, 12), 1, at(MADRID, 2025, 3, 10, 13)),  # ends as lunch starts
])
def test_split_shifts(start, hours, due):
    assert add_working_time(start, hours, SPLIT) == due


def test_holidays_have_no_working_time():
    calendar = Calendar.parse("Europe/Madrid", WEEKDAYS, holidays={date(2025, 3, 12)})
    assert add_working_time(at(MADRID, 2025, 3, 12, 10), 1, calendar) == at(MADRID, 2025, 3, 13, 10)
    assert add_working_time(at(MADRID, 2025, 3, 11, 16), 2, calendar) == at(MADRID, 2025, 3, 13, 10)


def test_a_special_day_opens_a_saturday():
    calendar = Calendar.parse("Europe/Madrid", WEEKDAYS, special_days={date(2025, 3, 15): "10:00-14:00"})
    assert add_working_time(at(MADRID, 2025, 3, 14, 16), 2, calendar) == at(MADRID, 2025, 3, 15, 11)
    assert add_working_time(at(MADRID, 2025, 3, 14, 16), 6, calendar) == at(MADRID, 2025, 3, 17, 10)


def test_a_short_christmas_eve_then_christmas():
    calendar = Calendar.parse("Europe/Madrid", WEEKDAYS, holidays={date(2025, 12, 25)},
                              special_days={date(2025, 12, 24): "09:00-13:00"})
    # Tuesday 16-17 (1 h), Wednesday 9-13 (4 h), Thursday closed, Friday 9-10 (1 h).
    assert add_working_time(at(MADRID, 2025, 12, 23, 16), 6, calendar) == at(MADRID, 2025, 12, 26, 10)


def test_a_special_day_can_close_a_weekday():
    calendar = Calendar.parse("Europe/Madrid", WEEKDAYS, special_days={date(2025, 3, 10): ""})
    assert add_working_time(at(MADRID, 2025, 3, 7, 15), 4, calendar) == at(MADRID, 2025, 3, 11, 11)


def test_a_long_target_over_holidays():
    calendar = Calendar.parse("Europe/Madrid", WEEKDAYS, holidays={
        date(2025, 1, 1), date(2025, 1, 6), date(2025, 4, 18), date(2025, 5, 1)})
    # 62 working days from 2 January to Monday 31 March, then 4 hours on Tuesday 1 April.
    due = add_working_time(at(MADRID, 2025, 1, 1), 500, calendar)
    assert due == at(MADRID, 2025, 4, 1, 13)
    assert working_time_between(at(MADRID, 2025, 1, 1), due, calendar) == 500 * H


# --- zero hours: the first working moment at or after the start ---

@pytest.mark.parametrize("start, due", [
    (at(MADRID, 2025, 3, 7, 15), at(MADRID, 2025, 3, 7, 15)),
    (at(MADRID, 2025, 3, 7, 9), at(MADRID, 2025, 3, 7, 9)),
    (at(MADRID, 2025, 3, 7, 17), at(MADRID, 2025, 3, 10, 9)),  # intervals are [start, end)
    (at(MADRID, 2025, 3, 7, 23), at(MADRID, 2025, 3, 10, 9)),
])
def test_zero_hours_is_the_next_working_moment(start, due):
    assert add_working_time(start, 0, OFFICE) == due


# --- pauses (stages waiting on the customer) ---

def test_a_pause_over_the_weekend_moves_the_deadline():
    start = at(MADRID, 2025, 3, 7, 15)
    waiting = [(at(MADRID, 2025, 3, 7, 16), at(MADRID, 2025, 3, 11, 10))]
    # 1 h on Friday, paused until Tuesday 10:00, then 3 h.
    assert add_working_time(start, 4, OFFICE, waiting) == at(MADRID, 2025, 3, 11, 13)
    assert working_time_between(start, at(MADRID, 2025, 3, 11, 13), OFFICE, waiting) == 4 * H


def test_a_pause_outside_working_hours_changes_nothing():
    night = [(at(MADRID, 2025, 3, 7, 18), at(MADRID, 2025, 3, 10, 8))]
    assert add_working_time(at(MADRID, 2025, 3, 7, 15), 4, OFFICE, night) == at(MADRID, 2025, 3, 10, 11)


def test_overlapping_unsorted_pauses_are_merged():
    start = at(MADRID, 2025, 3, 10, 9)
    pauses = [(at(MADRID, 2025, 3, 10, 11), at(MADRID, 2025, 3, 10, 12)),
              (at(MADRID, 2025, 3, 10, 10), at(MADRID, 2025, 3, 10, 11, 30))]
    assert add_working_time(start, 2, OFFICE, pauses) == at(MADRID, 2025, 3, 10, 13)


@pytest.mark.parametrize("paused_at, due", [
    (at(MADRID, 2025, 3, 7, 16), None),  # the clock stops before the target is met
    (at(MADRID, 2025, 3, 8, 10), None),  # paused on Saturday: the clock never runs again
    (at(MADRID, 2025, 3, 7, 14), None),  # paused before the start
    (at(MADRID, 2025, 3, 10, 11), at(MADRID, 2025, 3, 10, 11)),  # met as the pause starts
    (at(MADRID, 2025, 3, 10, 12), at(MADRID, 2025, 3, 10, 11)),  # paused after the deadline
])
def test_an_open_ended_pause(paused_at, due):
    assert add_working_time(at(MADRID, 2025, 3, 7, 15), 4, OFFICE, [(paused_at, None)]) == due


def test_zero_hours_inside_an_open_pause_has_no_deadline():
    assert add_working_time(at(MADRID, 2025, 3, 7, 15), 0, OFFICE, [(at(MADRID, 2025, 3, 7, 12), None)]) is None


def test_an_open_pause_stops_the_count():
    start, paused_at = at(MADRID, 2025, 3, 7, 15), at(MADRID, 2025, 3, 7, 16)
    assert working_time_between(start, at(MADRID, 2025, 3, 14, 16), OFFICE, [(paused_at, None)]) == H


# --- DST: real time elapsed inside each wall-clock interval ---

@pytest.mark.parametrize("zone, text, day, hours", [
    (MADRID, "01:00-04:00", date(2025, 3, 29), 3),
    (MADRID, "01:00-04:00", date(2025, 3, 30), 2),  # 02:00-03:00 does not exist
    (MADRID, "01:00-04:00", date(2025, 10, 26), 4),  # 02:00-03:00 happens twice
    (MADRID, "02:00-02:30", date(2025, 3, 30), 0),  # an interval the clock jumps over
    (MADRID, "02:30-04:00", date(2025, 3, 30), 1),  # from the jump (03:00) to 04:00
    (MADRID, "00:00-02:30", date(2025, 10, 26), 2.5),  # ends at the first 02:30
    (MADRID, "02:30-04:00", date(2025, 10, 26), 2.5),  # starts at the first 02:30
    (MADRID, "00:00-24:00", date(2025, 3, 30), 23),
    (MADRID, "00:00-24:00", date(2025, 10, 26), 25),
    (NEW_YORK, "00:00-03:00", date(2025, 3, 9), 2),
    (NEW_YORK, "00:00-03:00", date(2025, 11, 2), 4),  # 01:00-02:00 happens twice
    (ADELAIDE, "00:00-24:00", date(2025, 4, 6), 25),
    (ADELAIDE, "00:00-24:00", date(2025, 10, 5), 23),
    (ZoneInfo("Australia/Lord_Howe"), "00:00-24:00", date(2025, 4, 6), 24.5),  # a 30-minute change
])
def test_working_time_on_dst_days(zone, text, day, hours):
    calendar = every_day(zone.key, text)
    midnight = datetime.combine(day, time(0), zone)
    assert working_time_between(midnight, midnight + timedelta(days=1), calendar) == hours * H


@pytest.mark.parametrize("text, start, hours, due_utc", [
    ("01:00-04:00", at(MADRID, 2025, 3, 30, 1), 1.5, at(UTC, 2025, 3, 30, 1, 30)),  # 03:30 CEST
    ("02:00-04:00", at(MADRID, 2025, 3, 30, 0), 0, at(UTC, 2025, 3, 30, 1)),  # the jump itself
    ("01:00-04:00", at(MADRID, 2025, 10, 26, 1), 3.5, at(UTC, 2025, 10, 26, 2, 30)),  # 03:30 CET
    ("00:00-04:00", at(NEW_YORK, 2025, 11, 2, 0), 2.5, at(UTC, 2025, 11, 2, 6, 30)),  # the second 01:30
])
def test_deadlines_on_dst_nights(text, start, hours, due_utc):
    assert add_working_time(start, hours, every_day(start.tzinfo.key, text)) == due_utc


def test_office_hours_across_dst_keep_the_wall_clock():
    # Friday 15:00 CET + 4 h is Monday 11:00 CEST: 09:00 UTC, where a week earlier it was 10:00 UTC.
    assert add_working_time(at(MADRID, 2025, 3, 28, 15), 4, OFFICE) == at(UTC, 2025, 3, 31, 9)
    assert add_working_time(at(MADRID, 2025, 10, 24, 15), 4, OFFICE) == at(UTC, 2025, 10, 27, 10)
    new_york = Calendar.parse("America/New_York", WEEKDAYS)
    assert add_working_time(at(NEW_YORK, 2025, 3, 7, 15), 4, new_york) == at(UTC, 2025, 3, 10, 15)


def test_zones_with_half_hour_offsets():
    kolkata = Calendar.parse("Asia/Kolkata", WEEKDAYS)
    assert add_working_time(at(KOLKATA, 2025, 3, 10, 16, 30), 1, kolkata) == at(UTC, 2025, 3, 11, 4)
    adelaide = Calendar.parse("Australia/Adelaide", WEEKDAYS)
    # Friday 15:00 ACDT (+10:30), Monday 11:00 ACST (+09:30) after the clocks went back.
    assert add_working_time(at(ADELAIDE, 2025, 4, 4, 15), 4, adelaide) == at(UTC, 2025, 4, 7, 1, 30)


# --- always, errors, parsing ---

def test_always_counts_every_instant():
    start = at(NEW_YORK, 2025, 11, 2, 0, 45)  # 1.5 real hours later the wall clock reads 01:15 again
    assert add_working_time(start, 1.5, Calendar.always()) == at(UTC, 2025, 11, 2, 6, 15)
    assert working_time_between(start, at(NEW_YORK, 2025, 11, 3), Calendar.always()) == 24.25 * H


def test_time_overdue_is_negative():
    start, due = at(MADRID, 2025, 3, 7, 15), at(MADRID, 2025, 3, 10, 11)
    assert working_time_between(due, start, OFFICE) == -4 * H


def test_results_are_utc():
    due = add_working_time(at(MADRID, 2025, 3, 7, 15), 4, OFFICE)
    assert due.tzinfo is UTC


@pytest.mark.parametrize("call, message", [
    (lambda: add_working_time(datetime(2025, 3, 7, 15), 1, OFFICE), "no time zone"),
    (lambda: working_time_between(datetime(2025, 3, 7), at(MADRID, 2025, 3, 8), OFFICE), "no time zone"),
    (lambda: add_working_time(at(MADRID, 2025, 3, 7), -1, OFFICE), "cannot be negative"),
    (lambda: add_working_time(at(MADRID, 2025, 3, 7), 1, OFFICE,
                              [(at(MADRID, 2025, 3, 7, 12), at(MADRID, 2025, 3, 7, 11))]), "ends"),
])
def test_bad_arguments_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_calendar_with_too_little_time_gives_up():
    # Open only on one day in the past: no deadline ever, and the search must end.
    calendar = Calendar.parse("Europe/Madrid", [""] * 7, special_days={date(2020, 1, 1): "09:00-17:00"})
    with pytest.raises(ValueError, match="no deadline within"):
        add_working_time(at(MADRID, 2025, 3, 7), 1, calendar)


@pytest.mark.parametrize("tz, week, special_days, message", [
    ("Europe/Madrid", ["09:00-13:00, 12:00-17:00"] + [""] * 6, {}, "Monday: 12:00-17:00 overlaps"),
    ("Europe/Madrid", ["", "15:00-19:00, 09:00-13:00"] + [""] * 5, {}, "Tuesday: 09:00-13:00 overlaps or comes before"),
    ("Europe/Madrid", ["09:00-09:00"] + [""] * 6, {}, "Monday: 09:00-09:00 is empty"),
    ("Europe/Madrid", ["17:00-09:00"] + [""] * 6, {}, "ends before it starts"),
    ("Europe/Madrid", ["9 to 5"] + [""] * 6, {}, "Monday: '9 to 5' is not like 09:00-17:00"),
    ("Europe/Madrid", ["09:00-25:00"] + [""] * 6, {}, "25:00 is not a time of day"),
    ("Europe/Madrid", ["24:00-24:00"] + [""] * 6, {}, "24:00 is not a time of day"),
    ("Europe/Madrid", WEEKDAYS, {date(2025, 3, 15): "14:00-10:00"}, "2025-03-15: 14:00-10:00"),
    ("Europe/Madrid", WEEKDAYS[:6], {}, "a week has 7 days"),
    ("Europe/Madrid", [""] * 7, {}, "no working time"),
    ("Mars/Olympus_Mons", WEEKDAYS, {}, "unknown time zone 'Mars/Olympus_Mons'"),
    ("Europe", WEEKDAYS, {}, "unknown time zone"),
    ("", WEEKDAYS, {}, "unknown time zone"),
])
def test_invalid_calendars_are_explained(tz, week, special_days, message):
    with pytest.raises(ValueError, match=message):
        Calendar.parse(tz, week, special_days=special_days)


def test_a_day_cannot_be_both_holiday_and_special():
    with pytest.raises(ValueError, match="2025-12-24 is both a holiday and a special day"):
        Calendar.parse("Europe/Madrid", WEEKDAYS, holidays={date(2025, 12, 24)},
                       special_days={date(2025, 12, 24): "09:00-13:00"})


def test_calendar_times_are_whole_minutes():
    with pytest.raises(ValueError, match="hours and minutes"):
        Calendar("UTC", (((time(9, 0, 30), time(17)),),) + ((),) * 6)


def test_parse_reads_what_admins_type():
    whole_day = ((time(0), time(0)),)
    evening = ((time(9), time(13)), (time(20), time(0)))
    parsed = Calendar.parse("UTC", ["00:00-24:00", " 9:00 - 13:00 ; 20:00\u201324:00", "09:00-13:00, 20:00-00:00"]
                            + [""] * 4)
    assert parsed == Calendar("UTC", (whole_day, evening, evening) + ((),) * 4)


# --- properties ---

QUARTER = timedelta(minutes=15)
# Each zone with the UTC instants of its 2025 DST changes (all on the quarter-hour), or a quiet day.
ANCHORS = [(zone, at(UTC, *moment)) for zone, moment in [
    ("Europe/Madrid", (2025, 3, 30, 1)), ("Europe/Madrid", (2025, 10, 26, 1)),
    ("America/New_York", (2025, 3, 9, 7)), ("America/New_York", (2025, 11, 2, 6)),
    ("Australia/Adelaide", (2025, 4, 5, 16, 30)), ("Australia/Adelaide", (2025, 10, 4, 16, 30)),
    ("Australia/Lord_Howe", (2025, 4, 5, 15)), ("Australia/Lord_Howe", (2025, 10, 4, 15, 30)),
    ("Pacific/Chatham", (2025, 4, 5, 14)), ("Pacific/Chatham", (2025, 9, 27, 14)),
    ("Asia/Kolkata", (2025, 6, 16, 0)), ("UTC", (2025, 6, 16, 0))]]
PROPERTY = settings(max_examples=60, deadline=None, database=None)  # keeps the file well under 20 s


def quarter_intervals(points):
    """Sorted quarter-hours of a day (96 is the ending midnight), paired into intervals."""
    points = sorted(points)[:len(points) // 2 * 2]
    times = [time(p // 4 % 24, p % 4 * 15) for p in points]
    return tuple(zip(times[::2], times[1::2]))


# Strategies are built once: building them for every example costs more than the code under test.
QUARTERS = st.integers(0, 96) | st.integers(4, 16)  # often 01:00-04:00, where clocks change
DAY_INTERVALS = st.sets(QUARTERS, max_size=6).map(quarter_intervals)
WEEKS = st.tuples(*[DAY_INTERVALS] * 7).filter(any)
DAY_CHANGES = st.dictionaries(st.integers(-2, 12), st.none() | DAY_INTERVALS, max_size=4)  # None: a holiday
PAUSE_QUARTERS = st.lists(st.tuples(st.integers(-96, 5 * 96), st.integers(-1, 3 * 96)), max_size=3)
SHIFTS = st.timedeltas(min_value=timedelta(days=-4), max_value=timedelta(days=4))
QUARTER_SHIFTS = st.integers(-96, 0).map(lambda q: q * QUARTER)  # up to a day before the change


@st.composite
def scenarios(draw, on_quarters=False):
    """(start, calendar, pauses) within days of a DST change: holidays and special days around
    the start, pauses that may overlap or stay open (a length of -1)."""
    tz, anchor = draw(st.sampled_from(ANCHORS))
    start = anchor + draw(QUARTER_SHIFTS if on_quarters else SHIFTS)
    changes = draw(DAY_CHANGES)
    calendar = Calendar(
        tz=tz,
        week=draw(WEEKS),
        holidays=frozenset(start.date() + timedelta(days=k) for k, spans in changes.items() if spans is None),
        special_days={start.date() + timedelta(days=k): spans for k, spans in changes.items() if spans is not None},
    )
    pauses = [(start + QUARTER * offset, None if length < 0 else start + QUARTER * (offset + length))
              for offset, length in draw(PAUSE_QUARTERS)]
    return start, calendar, pauses


# Sparse calendars have 15 minutes a week: 40 hours stay inside the 5-year search limit.
targets = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=40))
positive_targets = st.timedeltas(min_value=US, max_value=timedelta(hours=40))


@PROPERTY
@given(scenarios(), targets)
def test_deadline_and_elapsed_working_time_agree(scenario, hours):
    start, calendar, pauses = scenario
    due = add_working_time(start, hours, calendar, pauses)
    if due is not None:
        assert due.tzinfo is UTC and due >= start
        assert working_time_between(start, due, calendar, pauses) == hours


@PROPERTY
@given(scenarios(), targets, targets)
def test_deadlines_grow_with_the_target(scenario, a, b):
    start, calendar, pauses = scenario
    sooner, later = (add_working_time(start, h, calendar, pauses) for h in sorted([a, b]))
    assert later is None or (sooner is not None and sooner <= later)


@PROPERTY
@given(scenarios(), targets)
def test_the_clock_runs_right_up_to_the_deadline(scenario, hours):
    start, calendar, pauses = scenario
    due = add_working_time(start, hours, calendar, pauses)
    if due is None:
        return
    if hours:  # inside a working interval, or at its end
        assert working_time_between(due - US, due, calendar, pauses) == US
    else:  # the first working moment
        assert working_time_between(start, due, calendar, pauses) == timedelta(0)
        assert working_time_between(due, due + US, calendar, pauses) == US


@PROPERTY
@given(scenarios(), targets, positive_targets)
def test_adding_twice_is_adding_the_sum(scenario, a, b):
    start, calendar, pauses = scenario
    halfway = add_working_time(start, a, calendar, pauses)
    both = add_working_time(start, a + b, calendar, pauses)
    if halfway is None:
        assert both is None
    else:
        assert add_working_time(halfway, b, calendar, pauses) == both


@PROPERTY
@given(scenarios(), targets)
def test_pauses_only_push_the_deadline_later(scenario, hours):
    start, calendar, pauses = scenario
    paused = add_working_time(start, hours, calendar, pauses)
    assert paused is None or paused >= add_working_time(start, hours, calendar)


@PROPERTY
@given(scenarios(), st.timedeltas(min_value=-3 * H, max_value=3 * H), st.timedeltas(max_value=3 * H, min_value=-3 * H))
def test_elapsed_working_time_adds_up(scenario, ab, bc):
    a, calendar, pauses = scenario
    b, c = a + ab, a + ab + bc
    assert (working_time_between(a, b, calendar, pauses) + working_time_between(b, c, calendar, pauses)
            == working_time_between(a, c, calendar, pauses))
    assert working_time_between(b, a, calendar, pauses) == -working_time_between(a, b, calendar, pauses)


def brute_force_working_time(a, b, calendar, pauses):
    """Working time from `a` to `b`, quarter-hour by quarter-hour, for instants, intervals, pauses
    and DST changes all on the quarter-hour.

    A quarter works when the highest time the clock has read so far falls in an interval of that
    reading's date: a fall-back's repeated hour keeps the clock's highest reading, a jump over an
    interval skips it. That is "the first instant the clock reads a time", seen the other way.
    """
    zone = ZoneInfo(calendar.tz)
    elapsed, highest = timedelta(0), datetime.min
    moment = a - timedelta(days=1)  # a day of readings before `a` to know the highest
    while moment < b:
        highest = max(highest, moment.astimezone(zone).replace(tzinfo=None))
        working = any(start <= highest.time() and (end == time(0) or highest.time() < end)
                      for start, end in calendar.intervals_on(highest.date()))
        paused = any(p <= moment and (q is None or moment < q) for p, q in pauses)
        if moment >= a and working and not paused:
            elapsed += QUARTER
        moment += QUARTER
    return elapsed


@settings(PROPERTY, max_examples=200)  # fewer miss an interval that starts or ends as clocks change
@given(scenarios(on_quarters=True), st.integers(96, 2 * 96))
def test_elapsed_working_time_matches_a_brute_force_count(scenario, quarters):
    # Starting up to a day before a DST change, 1 to 2 days long: the change is always inside.
    start, calendar, pauses = scenario
    end = start + QUARTER * quarters
    assert working_time_between(start, end, calendar, pauses) == brute_force_working_time(start, end, calendar, pauses)


# --- the fast path against the day-by-day reference ---

def reference_add(start, hours, calendar, pauses=()):
    """add_working_time as it was: walk the local dates one by one, converting each interval."""
    start = start.astimezone(UTC)
    remaining = hours if isinstance(hours, timedelta) else timedelta(hours=float(hours))
    horizon = start + timedelta(days=5 * 366)
    stops = _reference_merged(pauses)
    for begins, ends in _reference_without(_reference_spans(calendar, start, horizon), stops):
        if remaining <= ends - begins:
            return begins + remaining
        remaining -= ends - begins
    if stops and stops[-1][1] == datetime.max.replace(tzinfo=UTC) and stops[-1][0] < horizon:
        return None
    raise ValueError("no deadline within the search limit")


def reference_between(a, b, calendar, pauses=()):
    """working_time_between as it was."""
    a, b = a.astimezone(UTC), b.astimezone(UTC)
    if b < a:
        return -reference_between(b, a, calendar, pauses)
    spans = _reference_without(_reference_spans(calendar, a, b), _reference_merged(pauses))
    return sum((ends - begins for begins, ends in spans), timedelta())


def _reference_spans(calendar, since, until):
    zone = ZoneInfo(calendar.tz)
    day, last = _reference_reading(since, zone).date(), _reference_reading(until, zone).date()
    while day <= last:
        for start, end in calendar.intervals_on(day):
            wall_end = datetime.combine(day + timedelta(days=1) if end == time(0) else day, end)
            begins = max(_reference_first_instant(datetime.combine(day, start), zone), since)
            ends = min(_reference_first_instant(wall_end, zone), until)
            if begins < ends:
                yield begins, ends
        day += timedelta(days=1)


def _reference_without(spans, stops):
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
            if stop[1] == datetime.max.replace(tzinfo=UTC):
                return
            begins = stop[1]


def _reference_merged(pauses):
    merged = []
    for begins, ends in sorted((a.astimezone(UTC), datetime.max.replace(tzinfo=UTC) if b is None
                                else b.astimezone(UTC)) for a, b in pauses):
        if merged and begins <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], ends))
        else:
            merged.append((begins, ends))
    return merged


def _reference_first_instant(wall, zone):
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _reference_reading(instant, zone) == wall:
        return instant
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    seconds = range(int((instant - before).total_seconds()) + 1)
    jump = bisect_left(seconds, True,
                       key=lambda s: _reference_reading(before + timedelta(seconds=s), zone) >= wall)
    return before + timedelta(seconds=jump)


def _reference_reading(instant, zone):
    return instant.astimezone(zone).replace(tzinfo=None)


def outcome(compute, *args):
    """What a computation gives, a refusal (too little working time) included."""
    try:
        return compute(*args)
    except ValueError:
        return "no deadline"


# DST changes of 2025, in UTC: Paris springs forward on 30 March and falls back on 26 October.
DST_CHANGES = [(zone, at(UTC, *moment)) for zone, moment in [
    ("Europe/Paris", (2025, 3, 30, 1)), ("Europe/Paris", (2025, 10, 26, 1)),
    ("America/New_York", (2025, 3, 9, 7)), ("America/New_York", (2025, 11, 2, 6)),
    ("Australia/Lord_Howe", (2025, 4, 5, 15)), ("Australia/Lord_Howe", (2025, 10, 4, 15, 30)),
    ("Pacific/Chatham", (2025, 4, 5, 14)), ("Asia/Kolkata", (2025, 6, 16, 0))]]
# Quarter-hours make deadlines, pauses and interval edges meet exactly; microseconds, nowhere.
NEAR = st.integers(-3 * 96, 3 * 96).map(lambda q: q * QUARTER) | SHIFTS
FAR = st.integers(-90 * 96, 90 * 96).map(lambda q: q * QUARTER)
FAR_CHANGES = st.dictionaries(st.integers(-10, 60), st.none() | DAY_INTERVALS, max_size=8)
FAR_PAUSES = st.lists(st.tuples(st.integers(-2 * 96, 20 * 96), st.none() | st.integers(0, 6 * 96)), max_size=4)
HOURS = st.sampled_from([0, 1, 4, 8, 24, 40]) | st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=120))


@st.composite
def far_scenarios(draw):
    """(start, calendar, pauses): starts on or weeks away from a DST change, holidays and special
    days over the two months after it, pauses up to three weeks ahead (None: still open)."""
    tz, change = draw(st.sampled_from(DST_CHANGES))
    start = change + draw(NEAR | FAR)
    changes = draw(FAR_CHANGES)
    local = start.astimezone(ZoneInfo(tz)).date()
    calendar = Calendar(
        tz=tz,
        week=draw(WEEKS),
        holidays=frozenset(local + timedelta(days=k) for k, spans in changes.items() if spans is None),
        special_days={local + timedelta(days=k): spans for k, spans in changes.items() if spans is not None},
    )
    pauses = [(start + QUARTER * offset, None if length is None else start + QUARTER * (offset + length))
              for offset, length in draw(FAR_PAUSES)]
    return start, calendar, pauses


@settings(PROPERTY, max_examples=150)
@given(far_scenarios(), HOURS)
def test_deadlines_match_the_day_by_day_reference(scenario, hours):
    start, calendar, pauses = scenario
    assert (outcome(add_working_time, start, hours, calendar, pauses)
            == outcome(reference_add, start, hours, calendar, pauses))
    assert outcome(add_working_time, start, hours, calendar) == outcome(reference_add, start, hours, calendar)


@settings(PROPERTY, max_examples=100)
@given(far_scenarios(), HOURS, st.integers(-8, 8))
def test_pauses_that_start_or_end_at_the_deadline_match_the_reference(scenario, hours, quarters):
    # Random pauses seldom meet the deadline exactly: add one that starts (or ends) right there.
    start, calendar, pauses = scenario
    due = outcome(reference_add, start, hours, calendar, pauses)
    if due is None or due == "no deadline":
        return
    edge = sorted([due, due + quarters * QUARTER])
    pauses = [*pauses, (edge[0], edge[1] if quarters else None)]
    assert (outcome(add_working_time, start, hours, calendar, pauses)
            == outcome(reference_add, start, hours, calendar, pauses))


@pytest.mark.parametrize("text", ["00:00-24:00", "00:00-04:00, 20:00-24:00", "01:00-04:00"])
@pytest.mark.parametrize("day", [date(2025, 3, 30), date(2025, 10, 26), date(2025, 6, 16)])
@pytest.mark.parametrize("hours", [0, 1, 24])
def test_queries_at_midnight_on_a_new_calendar_match_the_reference(text, day, hours):
    # A calendar converts from the local date of its first query: its edge is that midnight.
    paris = ZoneInfo("Europe/Paris")
    for start in (datetime.combine(day, time(0), paris), datetime.combine(day + timedelta(days=1), time(0), paris)):
        calendar = every_day("Europe/Paris", text)
        assert add_working_time(start, hours, calendar) == reference_add(start, hours, calendar)
        calendar = every_day("Europe/Paris", text)
        assert (working_time_between(start, start + hours * H, calendar)
                == reference_between(start, start + hours * H, calendar))

@settings(PROPERTY, max_examples=150)
@given(far_scenarios(), st.timedeltas(min_value=timedelta(days=-20), max_value=timedelta(days=20)))
def test_elapsed_working_time_matches_the_day_by_day_reference(scenario, length):
    start, calendar, pauses = scenario
    assert working_time_between(start, start + length, calendar, pauses) == reference_between(
        start, start + length, calendar, pauses)


QUERIES = st.lists(st.tuples(st.integers(-4000, 4000) | st.integers(-30, 30), st.integers(0, 24 * 60 - 1), HOURS),
                   min_size=2, max_size=6)


@settings(PROPERTY, max_examples=40)
@given(st.sampled_from(DST_CHANGES), WEEKS, QUERIES)
def test_one_calendar_answers_queries_years_apart(change, week, queries):
    # One calendar keeps what it converted: later queries grow it backwards and forwards, or
    # start afresh more than five years away, and must still agree with the reference.
    tz, moment = change
    calendar = Calendar(tz=tz, week=week, holidays=frozenset({moment.date() + timedelta(days=1)}))
    for days, minutes, hours in queries:
        start = moment + timedelta(days=days, minutes=minutes)
        assert outcome(add_working_time, start, hours, calendar) == outcome(reference_add, start, hours, calendar)
        end = start + timedelta(days=days % 9)
        assert working_time_between(start, end, calendar) == reference_between(start, end, calendar)


def test_a_long_count_across_years_matches_the_reference():
    calendar = Calendar.parse("Europe/Paris", ["08:00-12:00, 13:30-17:30"] * 5 + ["09:00-12:00", ""],
                              holidays={date(2026, 1, 1), date(2026, 5, 1), date(2026, 12, 25)})
    start, end = at(UTC, 2023, 6, 1, 9, 17), at(UTC, 2029, 2, 1, 16)
    pauses = [(at(UTC, 2025, 3, 30), at(UTC, 2025, 4, 30))]
    assert working_time_between(start, end, calendar, pauses) == reference_between(start, end, calendar, pauses)
    assert add_working_time(start, 9000, calendar, pauses) == reference_add(start, 9000, calendar, pauses)


def test_always_is_one_shared_calendar():
    assert Calendar.always() is Calendar.always()
