"""services/activities.py: scheduling, colours on the assignee's day, done, cancel, reminders."""
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Activity, Message, Notification
from app.models.base import utcnow
from app.services import activities, jobs
from app.services.activities import ActivityError
from app.templating import local_today
from tests.conftest import make_contact, make_user

# 20:00 UTC on 10 March 2026: already 09:00 on the 11th in Auckland (NZDT, UTC+13),
# still 13:00 on the 10th in Los Angeles (PDT, UTC-7).
NOW = datetime(2026, 3, 10, 20, 0)


@pytest.fixture(autouse=True)
def request_context(app):
    """Services render fragments with url_for, as they do in views and jobs."""
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        yield


@pytest.fixture
def thread(app):
    contact = make_contact("Ada Customer")
    thread = contact.ensure_thread()
    db.session.commit()
    return thread


@pytest.fixture
def planned_jobs(monkeypatch):
    """Record what `schedule` queues instead of queueing it."""
    calls = []
    monkeypatch.setattr(jobs, "enqueue", lambda func, *args, at=None, **kw: calls.append((func, args, at)))
    return calls


def add_activity(thread, assignee, due_date, **fields):
    """An activity row as it would stand at some point in its life (no side effects)."""
    activity = Activity(thread_id=thread.id, activity_type=fields.pop("activity_type", "call"),
                        summary=fields.pop("summary", "Call back"), due_date=due_date,
                        assignee_id=assignee.id, created_by_id=assignee.id, **fields)
    db.session.add(activity)
    db.session.commit()
    return activity


def notifications_of(user):
    return list(db.session.scalars(select(Notification).where(Notification.user_id == user.id)
                                   .order_by(Notification.id)))


# ---- colours on the assignee's day ----------------------------------------------------------

@pytest.mark.parametrize("due, auckland, los_angeles", [
    (date(2026, 3, 9), "overdue", "overdue"),
    (date(2026, 3, 10), "overdue", "today"),
    (date(2026, 3, 11), "today", "planned"),
    (date(2026, 3, 12), "planned", "planned"),
])
def test_state_follows_the_assignees_time_zone(thread, due, auckland, los_angeles):
    kiwi = make_user(timezone="Pacific/Auckland")
    angeleno = make_user(timezone="America/Los_Angeles")
    assert activities.state(add_activity(thread, kiwi, due), NOW) == auckland
    assert activities.state(add_activity(thread, angeleno, due), NOW) == los_angeles


def test_an_unknown_time_zone_counts_as_utc(thread):
    user = make_user(timezone="Mars/Olympus_Mons")
    assert activities.day_of(user, NOW) == date(2026, 3, 10)


def test_counts_by_thread_places_each_activity_on_its_assignees_day(thread):
    kiwi = make_user(timezone="Pacific/Auckland")
    angeleno = make_user(timezone="America/Los_Angeles")
    add_activity(thread, kiwi, date(2026, 3, 10))       # overdue in Auckland
    add_activity(thread, angeleno, date(2026, 3, 10))   # today in LA
    add_activity(thread, kiwi, date(2026, 3, 11))       # today in Auckland
    add_activity(thread, angeleno, date(2026, 4, 1))    # planned
    add_activity(thread, angeleno, date(2026, 3, 1), done_at=utcnow())  # done: not counted
    other = make_contact("Other").ensure_thread()
    quiet = make_contact("Quiet").ensure_thread()
    db.session.commit()
    add_activity(other, angeleno, date(2026, 5, 1))

    counts = activities.counts_by_thread([thread.id, other.id, quiet.id], now=NOW)

    assert (counts[thread.id].overdue, counts[thread.id].today, counts[thread.id].planned) == (1, 2, 1)
    assert counts[thread.id].total == 4 and counts[thread.id].state == "overdue"
    assert counts[other.id].total == 1 and counts[other.id].state == "planned"
    assert quiet.id not in counts
    assert activities.counts_by_thread([]) == {}


def test_my_activities_groups_open_ones_on_my_day(thread):
    me = make_user(timezone="Pacific/Auckland")
    someone = make_user()
    overdue = add_activity(thread, me, date(2026, 3, 10))
    today = add_activity(thread, me, date(2026, 3, 11))
    later = add_activity(thread, me, date(2026, 6, 1))
    add_activity(thread, me, date(2026, 3, 11), done_at=utcnow())
    add_activity(thread, someone, date(2026, 3, 11))

    groups = activities.my_activities(me, now=NOW)

    assert [r.activity.id for r in groups["overdue"]] == [overdue.id]
    assert [r.activity.id for r in groups["today"]] == [today.id]
    assert [r.activity.id for r in groups["planned"]] == [later.id]
    assert groups["today"][0].record.name == "Ada Customer"


# ---- scheduling ------------------------------------------------------------------------------

def test_scheduling_for_someone_else_notifies_them_and_plans_the_reminder(thread, planned_jobs):
    author = make_user(name="Alice Admin")
    assignee = make_user(name="Bob Agent", timezone="Pacific/Auckland")
    due = local_today(assignee) + timedelta(days=3)

    activity = activities.schedule(thread, author, activity_type="call", due_date=due, assignee=assignee,
                                   summary="  Call about the invoice ", note="Ask for the PO number")
    db.session.commit()

    assert (activity.summary, activity.note, activity.created_by_id) == ("Call about the invoice", "Ask for the PO number", author.id)
    [note] = notifications_of(assignee)
    assert note.kind == "activity" and note.activity_id == activity.id and note.thread_id == thread.id
    assert note.summary.startswith("Alice Admin assigned you “Call about the invoice” on Ada Customer")
    assert notifications_of(author) == []
    [(func, args, at)] = planned_jobs
    assert func.__name__ == "send_reminder_job" and args == (activity.id,)
    # 08:00 in Auckland on the due day, as naive UTC.
    assert at == activities.reminder_at(activity)
    local = at.replace(tzinfo=timezone.utc).astimezone(activities.user_tz(assignee))
    assert (local.date(), local.hour, local.minute) == (due, 8, 0)
    assert activity.reminded_at is None


def test_scheduling_for_myself_notifies_nobody(thread, planned_jobs):
    me = make_user()
    activities.schedule(thread, me, activity_type="todo", due_date=local_today(me) + timedelta(days=1), assignee=me)
    db.session.commit()
    assert notifications_of(me) == []
    assert len(planned_jobs) == 1


def test_an_activity_due_today_or_earlier_needs_no_separate_reminder(thread, planned_jobs):
    me = make_user(timezone="Pacific/Kiritimati")  # UTC+14: 08:00 today has passed for most of the UTC day
    activity = activities.schedule(thread, me, activity_type="todo", due_date=local_today(me) - timedelta(days=1),
                                   assignee=me)
    db.session.commit()
    assert activity.reminded_at is not None
    assert planned_jobs == []


@pytest.mark.parametrize("change, field", [
    ({"activity_type": "lunch"}, "activity_type"),
    ({"due_date": None}, "due_date"),
    ({"due_date": date.today() + timedelta(days=6 * 365)}, "due_date"),
    ({"due_date": date.today() - timedelta(days=6 * 365)}, "due_date"),
    ({"assignee": None}, "assignee_id"),
    ({"summary": "x" * 201}, "summary"),
])
def test_schedule_refuses_bad_input_naming_the_field(thread, planned_jobs, change, field):
    me = make_user()
    values = {"activity_type": "todo", "due_date": date.today(), "assignee": me, **change}
    with pytest.raises(ActivityError) as err:
        activities.schedule(thread, me, **values)
    assert err.value.field == field
    db.session.rollback()
    assert db.session.scalar(select(func.count(Activity.id))) == 0


@pytest.mark.parametrize("role, active", [("portal", True), ("agent", False)])
def test_only_active_staff_can_be_assigned(thread, planned_jobs, role, active):
    me = make_user()
    other = make_user(role, active=active)
    with pytest.raises(ActivityError, match="active staff"):
        activities.schedule(thread, me, activity_type="todo", due_date=date.today(), assignee=other)


def test_five_years_ahead_is_still_fine(thread, planned_jobs):
    me = make_user()
    activity = activities.schedule(thread, me, activity_type="todo", assignee=me,
                                   due_date=local_today(me) + timedelta(days=5 * 365))
    assert activity.id


# ---- done and cancel -----------------------------------------------------------------------

def test_mark_done_logs_an_internal_note_by_whoever_did_it(thread, planned_jobs):
    author = make_user(name="Alice Admin")
    assignee = make_user(name="Bob Agent")
    colleague = make_user(name="Carol Agent")
    activity = activities.schedule(thread, author, activity_type="call", due_date=date.today(), assignee=assignee,
                                   summary="Call <Ada>")
    db.session.commit()

    activities.mark_done(activity, colleague, "She agreed.\n<script>alert(1)</script>")
    db.session.commit()

    assert activity.done_at is not None and activity.feedback.startswith("She agreed.")
    note = db.session.scalar(select(Message).where(Message.thread_id == thread.id))
    assert note.kind == "note" and note.author_user_id == colleague.id
    assert "Call done" in note.body_html and "Call &lt;Ada&gt;" in note.body_html
    assert "assigned to Bob Agent" in note.body_html
    assert "She agreed." in note.body_html and "<script" not in note.body_html
    # The assignment line has nothing left to say.
    assert all(n.read_at is not None for n in notifications_of(assignee))
    assert activities.open_activities(thread) == []
    with pytest.raises(ActivityError):
        activities.mark_done(activity, colleague)


def test_mark_done_by_the_assignee_without_feedback(thread, planned_jobs):
    me = make_user()
    activity = activities.schedule(thread, me, activity_type="meeting", due_date=date.today(), assignee=me)
    db.session.commit()
    activities.mark_done(activity, me)
    db.session.commit()
    note = db.session.scalar(select(Message).where(Message.thread_id == thread.id))
    assert "Meeting done" in note.body_html and "assigned to" not in note.body_html
    assert "Feedback" not in note.body_html and activity.feedback is None


def test_cancel_deletes_the_activity_and_its_inbox_lines(thread, planned_jobs):
    author = make_user()
    assignee = make_user()
    activity = activities.schedule(thread, author, activity_type="todo", due_date=date.today(), assignee=assignee)
    db.session.commit()
    assert len(notifications_of(assignee)) == 1

    activities.cancel(activity)
    db.session.commit()

    assert db.session.scalar(select(func.count(Activity.id))) == 0
    assert notifications_of(assignee) == []


# ---- editing: reschedule, reassign, reword ---------------------------------------------------

def edit_with(activity, editor, **changes):
    values = {"activity_type": activity.activity_type, "due_date": activity.due_date,
              "assignee": activity.assignee, "summary": activity.summary, "note": activity.note}
    values.update(changes)
    return activities.edit(activity, editor, **values)


def test_rescheduling_plans_a_new_reminder_and_the_old_one_stays_silent(thread, planned_jobs):
    me = make_user(timezone="Pacific/Auckland")
    today = local_today(me)
    activity = activities.schedule(thread, me, activity_type="call", due_date=today + timedelta(days=1), assignee=me)
    db.session.commit()
    first_moment = activities.reminder_at(activity)
    planned_jobs.clear()

    edit_with(activity, me, due_date=today + timedelta(days=5), summary="Call after the holidays")
    db.session.commit()

    assert (activity.due_date, activity.summary) == (today + timedelta(days=5), "Call after the holidays")
    [(func, args, at)] = planned_jobs
    assert func.__name__ == "send_reminder_job" and args == (activity.id,)
    assert at == activities.reminder_at(activity) > first_moment
    # The job planned for the first moment finds the activity moved and sends nothing.
    assert activities.send_reminder(activity.id, now=first_moment) is False
    assert notifications_of(me) == []


def test_moving_a_reminded_activity_reminds_again(thread, planned_jobs):
    me = make_user()
    activity = add_activity(thread, me, local_today(me) - timedelta(days=1), reminded_at=utcnow())
    edit_with(activity, me, due_date=local_today(me) + timedelta(days=2))
    db.session.commit()
    assert activity.reminded_at is None and len(planned_jobs) == 1


def test_rewording_alone_keeps_the_reminder_as_it_was(thread, planned_jobs):
    me = make_user()
    activity = add_activity(thread, me, local_today(me) + timedelta(days=2))
    edit_with(activity, me, summary="Better words", note="More detail", activity_type="email")
    db.session.commit()
    assert (activity.summary, activity.note, activity.activity_type) == ("Better words", "More detail", "email")
    assert planned_jobs == []


def test_reassigning_moves_the_inbox_line_to_the_new_assignee(thread, planned_jobs):
    lead, first, second = make_user(name="Alice Admin"), make_user(name="Bob Agent"), make_user(name="Carol Agent")
    activity = activities.schedule(thread, lead, activity_type="todo", due_date=local_today(first) + timedelta(days=1),
                                   assignee=first, summary="Send the quote")
    db.session.commit()
    assert len(notifications_of(first)) == 1

    edit_with(activity, lead, assignee=second)
    db.session.commit()

    assert activity.assignee_id == second.id
    assert notifications_of(first) == []
    [note] = notifications_of(second)
    assert note.activity_id == activity.id
    assert note.summary.startswith("Alice Admin assigned you “Send the quote” on Ada Customer")


def test_taking_an_activity_over_notifies_nobody(thread, planned_jobs):
    first, me = make_user(), make_user()
    activity = add_activity(thread, first, local_today(first) + timedelta(days=1))
    edit_with(activity, me, assignee=me)
    db.session.commit()
    assert notifications_of(me) == [] and activity.assignee_id == me.id


@pytest.mark.parametrize("change, field", [
    ({"activity_type": "lunch"}, "activity_type"),
    ({"due_date": None}, "due_date"),
    ({"assignee": None}, "assignee_id"),
    ({"summary": "x" * 201}, "summary"),
])
def test_an_edit_refuses_bad_input_naming_the_field(thread, planned_jobs, change, field):
    me = make_user()
    activity = add_activity(thread, me, local_today(me))
    with pytest.raises(ActivityError) as err:
        edit_with(activity, me, **change)
    assert err.value.field == field


def test_a_done_activity_cannot_be_edited(thread, planned_jobs):
    me = make_user()
    activity = add_activity(thread, me, local_today(me), done_at=utcnow())
    with pytest.raises(ActivityError, match="already done"):
        edit_with(activity, me, summary="Too late")


def test_viewers_of_the_thread_get_the_new_list_after_commit(thread, planned_jobs):
    from app.services import realtime

    me = make_user()
    with realtime.subscribe([f"thread:{thread.id}"]) as sub:
        activities.schedule(thread, me, activity_type="todo", due_date=local_today(me), assignee=me,
                            summary="Live one")
        realtime.publish_now(f"thread:{thread.id}", "sentinel")
        assert sub.get(timeout=5) == "sentinel"
        db.session.commit()
        event = sub.get(timeout=5)
    assert event.lstrip().startswith(f'<div id="activity-list-{thread.id}"') and 'hx-swap-oob="true"' in event
    assert "Live one" in event and "due-today" in event
    assert 'name="csrf_token"' not in event  # one fragment for every viewer: htmx sends each one's token


# ---- reminders -----------------------------------------------------------------------------

def test_reminder_moment_is_the_due_day_morning_in_the_assignees_zone(thread):
    kiwi = make_user(timezone="Pacific/Auckland")
    angeleno = make_user(timezone="America/Los_Angeles")
    assert activities.reminder_at(add_activity(thread, kiwi, date(2026, 3, 11))) == datetime(2026, 3, 10, 19, 0)
    assert activities.reminder_at(add_activity(thread, angeleno, date(2026, 3, 11))) == datetime(2026, 3, 11, 15, 0)


def test_reminder_is_sent_once_and_only_when_its_time_has_come(thread):
    kiwi = make_user(timezone="Pacific/Auckland")
    activity = add_activity(thread, kiwi, date(2026, 3, 11), summary="Send the quote")

    assert activities.send_reminder(activity.id, now=datetime(2026, 3, 10, 18, 59)) is False
    assert activities.send_reminder(activity.id, now=NOW) is True
    db.session.commit()
    assert activities.send_reminder(activity.id, now=NOW + timedelta(hours=1)) is False
    db.session.commit()

    [note] = notifications_of(kiwi)
    assert note.kind == "activity" and note.activity_id == activity.id
    assert note.summary == "Reminder: Send the quote is due today (Ada Customer)"
    assert activity.reminded_at == NOW


def test_no_reminder_for_a_done_or_cancelled_activity(thread):
    user = make_user()
    done = add_activity(thread, user, date(2026, 3, 10), done_at=utcnow())
    assert activities.send_reminder(done.id, now=NOW) is False
    assert activities.send_reminder(999_999, now=NOW) is False
    assert notifications_of(user) == []


def test_a_reminder_claimed_elsewhere_is_not_sent_again(thread):
    """The claim is a conditional UPDATE: a row a concurrent sweep marked meanwhile is skipped."""
    user = make_user()
    activity = add_activity(thread, user, date(2026, 3, 10))
    assert db.session.get(Activity, activity.id).reminded_at is None  # this session saw it unclaimed...
    with db.engine.begin() as conn:                                    # ...then another process claims it
        conn.execute(Activity.__table__.update().where(Activity.__table__.c.id == activity.id)
                     .values(reminded_at=NOW))
    assert activities.send_reminder(activity.id, now=NOW) is False
    assert notifications_of(user) == []


def test_an_overdue_reminder_says_when_it_was_due(thread):
    user = make_user(timezone="America/Los_Angeles")
    activity = add_activity(thread, user, date(2026, 3, 2), summary="", activity_type="email")
    assert activities.send_reminder(activity.id, now=NOW)
    [note] = notifications_of(user)
    assert note.summary == "Reminder: Email was due on 2 Mar 2026 (Ada Customer)"


def test_sweep_sends_every_due_reminder_once(thread):
    kiwi = make_user(timezone="Pacific/Auckland")
    angeleno = make_user(timezone="America/Los_Angeles")
    due_in_auckland = add_activity(thread, kiwi, date(2026, 3, 11))         # 08:00 NZDT passed at 19:00 UTC
    not_yet_in_la = add_activity(thread, angeleno, date(2026, 3, 11))        # 08:00 PDT is 15:00 UTC on the 11th
    overdue = add_activity(thread, angeleno, date(2026, 3, 1))
    add_activity(thread, kiwi, date(2026, 3, 9), reminded_at=datetime(2026, 3, 8, 19, 0))  # already sent
    add_activity(thread, kiwi, date(2026, 3, 9), done_at=utcnow())                          # done
    inactive = make_user(timezone="UTC", active=False)
    add_activity(thread, inactive, date(2026, 3, 1))

    assert activities.send_due_reminders(NOW) == 2
    db.session.commit()
    assert activities.send_due_reminders(NOW) == 0
    db.session.commit()

    reminded = {n.activity_id for n in db.session.scalars(select(Notification))}
    assert reminded == {due_in_auckland.id, overdue.id}
    assert db.session.get(Activity, not_yet_in_la.id).reminded_at is None
    # Next day, the one in Los Angeles comes due.
    assert activities.send_due_reminders(datetime(2026, 3, 11, 15, 0)) == 1


def test_sweep_walks_through_more_than_one_batch(thread, monkeypatch):
    monkeypatch.setattr(activities, "SWEEP_BATCH", 2)
    user = make_user()
    for _ in range(5):
        add_activity(thread, user, date(2026, 3, 1))
    assert activities.send_due_reminders(NOW) == 5


def test_cli_remind_runs_the_sweep(app, thread):
    from app.jobs.activities import init_cli

    if "activities" not in app.cli.commands:  # until app/cli.py registers it
        init_cli(app)
    user = make_user()
    add_activity(thread, user, date(2000, 1, 3))
    result = app.test_cli_runner().invoke(args=["activities", "remind"])
    assert result.exit_code == 0, result.output
    assert "1 reminder(s) sent." in result.output
    db.session.expire_all()
    assert len(notifications_of(user)) == 1
