"""Activities: things to do about a record, with a type, a due day and an assignee (SPEC §1.7).

`check_*` validate and raise `ActivityError` (a reason for the user, naming the field),
`schedule` / `edit` / `mark_done` / `cancel` change data, live updates and jobs go out after commit.
A due date is a day in the ASSIGNEE's time zone: the colour (overdue, today, planned)
and the reminder (on the due day, at ACTIVITY_REMINDER_HOUR local time) follow their clock.
Nothing here commits: the caller (view, job, CLI) does.
"""
import html
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from flask import current_app, render_template
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import ACTIVITY_TYPES, Activity, Notification, Thread, User
from app.models.base import utcnow
from app.services import jobs, messaging, notifications, realtime
from app.templating import local_today, user_tz

MAX_YEARS_AHEAD = 5
MAX_SUMMARY_CHARS = 200
MAX_NOTE_CHARS = 5_000
MAX_FEEDBACK_CHARS = 5_000
DEFAULT_REMINDER_HOUR = 8
SWEEP_BATCH = 500
STATES = ("overdue", "today", "planned")


class ActivityError(ValueError):
    """Why an activity cannot be scheduled or changed; `field` names the form field at fault."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


# ---- reading -------------------------------------------------------------------------------

def assignable_users() -> list[User]:
    """Who may be given an activity: active staff, by name."""
    return list(db.session.scalars(
        select(User).where(User.active.is_(True), User.role.in_(("admin", "agent"))).order_by(User.name)
    ))


def day_of(user: User, now: datetime | None = None) -> date:
    """The user's local date at `now` (naive UTC; default: the present)."""
    if now is None:
        return local_today(user)
    return now.replace(tzinfo=timezone.utc).astimezone(user_tz(user)).date()


def state(activity: Activity, now: datetime | None = None) -> str:
    """overdue | today | planned, on the assignee's local day."""
    return activity.state(day_of(activity.assignee, now))


def open_activities(thread: Thread) -> list[Activity]:
    """The thread's activities still to do, soonest first."""
    return list(db.session.scalars(
        select(Activity).where(Activity.thread_id == thread.id, Activity.done_at.is_(None))
        .order_by(Activity.due_date, Activity.id)
    ).unique())


def get_open(activity_id: int) -> Activity | None:
    activity = db.session.get(Activity, activity_id)
    return activity if activity is not None and activity.done_at is None else None


@dataclass
class ActivityCounts:
    """Open activities of one record, per state, for kanban cards and lists."""

    overdue: int = 0
    today: int = 0
    planned: int = 0

    @property
    def total(self) -> int:
        return self.overdue + self.today + self.planned

    @property
    def state(self) -> str | None:
        """The most urgent state present (the colour of the card's clock), None when empty."""
        return next((s for s in STATES if getattr(self, s)), None)


def counts_by_thread(thread_ids, now: datetime | None = None) -> dict[int, ActivityCounts]:
    """Open-activity counts per thread id (threads without any are left out). One query.

    Each activity is placed on its own assignee's day, as the panel colours it.
    """
    ids = list({int(i) for i in thread_ids})
    if not ids:
        return {}
    rows = db.session.execute(
        select(Activity.thread_id, Activity.due_date, User.timezone)
        .join(User, User.id == Activity.assignee_id)
        .where(Activity.thread_id.in_(ids), Activity.done_at.is_(None))
    )
    counts: dict[int, ActivityCounts] = {}
    today_in: dict[str | None, date] = {}
    moment = (now or utcnow()).replace(tzinfo=timezone.utc)
    for thread_id, due, tz_name in rows:
        if tz_name not in today_in:
            today_in[tz_name] = moment.astimezone(_zone(tz_name)).date()
        today = today_in[tz_name]
        bucket = "overdue" if due < today else "today" if due == today else "planned"
        entry = counts.setdefault(thread_id, ActivityCounts())
        setattr(entry, bucket, getattr(entry, bucket) + 1)
    return counts


@dataclass
class MyActivity:
    activity: Activity
    record: object
    state: str

    @property
    def url(self) -> str:
        return messaging.record_url(self.record)


def my_activities(user: User, now: datetime | None = None, limit: int = 500) -> dict[str, list[MyActivity]]:
    """`user`'s open activities across records, grouped overdue / today / planned (their day)."""
    rows = list(db.session.scalars(
        select(Activity).options(joinedload(Activity.thread))
        .where(Activity.assignee_id == user.id, Activity.done_at.is_(None))
        .order_by(Activity.due_date, Activity.id).limit(limit)
    ).unique())
    records = records_of([a.thread for a in rows])
    today = day_of(user, now)
    groups: dict[str, list[MyActivity]] = {s: [] for s in STATES}
    for activity in rows:
        record = records.get(activity.thread_id)
        if record is None:  # a record deleted without its thread: nothing to open
            continue
        current = activity.state(today)
        groups[current].append(MyActivity(activity, record, current))
    return groups


def records_of(threads) -> dict[int, object]:
    """thread id -> its record, one query per record model instead of one per thread."""
    from app.models import ThreadMixin

    by_model: dict[str, dict[int, int]] = defaultdict(dict)
    for thread in threads:
        if thread is not None:
            by_model[thread.res_model][thread.res_id] = thread.id
    found = {}
    for model_name, res_to_thread in by_model.items():
        model = ThreadMixin.registry.get(model_name)
        if model is None:
            continue
        for record in db.session.scalars(select(model).where(model.id.in_(list(res_to_thread)))):
            found[res_to_thread[record.id]] = record
    return found


# ---- checks --------------------------------------------------------------------------------

def check_type(activity_type: str) -> str:
    if activity_type not in ACTIVITY_TYPES:
        raise ActivityError("Choose a known activity type.", "activity_type")
    return activity_type


def check_due_date(due_date: date | None, today: date) -> date:
    """A due day is required and within MAX_YEARS_AHEAD years of today, either way."""
    if due_date is None:
        raise ActivityError("Choose a due date.", "due_date")
    limit = timedelta(days=365 * MAX_YEARS_AHEAD + MAX_YEARS_AHEAD // 4 + 1)
    if abs(due_date - today) > limit:
        raise ActivityError(f"Choose a due date within {MAX_YEARS_AHEAD} years of today.", "due_date")
    return due_date


def check_assignee(assignee: User | None) -> User:
    if assignee is None or not assignee.active or not assignee.is_staff:
        raise ActivityError("Assign the activity to an active staff member.", "assignee_id")
    return assignee


def _check_length(value: str, limit: int, field: str, what: str) -> str:
    value = (value or "").strip()
    if len(value) > limit:
        raise ActivityError(f"The {what} is too long (at most {limit:,} characters).", field)
    return value


# ---- changes -------------------------------------------------------------------------------

def schedule(thread: Thread, author: User, *, activity_type: str, due_date: date | None,
             assignee: User | None, summary: str = "", note: str = "") -> Activity:
    """Plan an activity on `thread`; notify the assignee if it is not the author; set the reminder.

    The due date is checked against the author's today (what they see in the form).
    """
    activity = Activity(
        thread_id=thread.id,
        activity_type=check_type(activity_type),
        summary=_check_length(summary, MAX_SUMMARY_CHARS, "summary", "summary"),
        note=_check_length(note, MAX_NOTE_CHARS, "note", "note"),
        due_date=check_due_date(due_date, local_today(author)),
        assignee_id=check_assignee(assignee).id,
        created_by_id=author.id,
    )
    db.session.add(activity)
    db.session.flush()
    db.session.refresh(activity)
    if assignee.id != author.id:
        record = thread.record
        where = getattr(record, "display_name", "a record")
        notifications.notify(
            assignee, "activity",
            f"{author.name} assigned you {title(activity)} on {where}, due {due_label(activity)}",
            thread=thread, activity=activity,
        )
    _plan_reminder(activity)
    publish_panel(thread)
    return activity


def edit(activity: Activity, editor: User, *, activity_type: str, due_date: date | None,
         assignee: User | None, summary: str = "", note: str = "") -> Activity:
    """Change an open activity: reschedule it, reassign it, or reword it.

    A new due day plans a new reminder (one already sent counts again); a new assignee
    takes over the inbox line (the previous one's lines about it go away) and is notified
    unless they made the change. Returns the activity; not committed.
    """
    if activity.done_at is not None:
        raise ActivityError("This activity is already done.")
    activity_type = check_type(activity_type)
    summary = _check_length(summary, MAX_SUMMARY_CHARS, "summary", "summary")
    note = _check_length(note, MAX_NOTE_CHARS, "note", "note")
    due_date = check_due_date(due_date, local_today(editor))
    assignee = check_assignee(assignee)
    thread = db.session.get(Thread, activity.thread_id)
    previous = activity.assignee
    moved = due_date != activity.due_date or assignee.id != previous.id
    activity.activity_type, activity.summary, activity.note = activity_type, summary, note
    activity.due_date, activity.assignee_id = due_date, assignee.id
    db.session.flush()
    db.session.refresh(activity)
    if assignee.id != previous.id:
        had_unread = bool(_activity_notification_ids(activity, unread_only=True))
        db.session.execute(Notification.__table__.delete().where(Notification.activity_id == activity.id))
        if had_unread:
            notifications.push_bell(previous.id)
        if assignee.id != editor.id:
            where = getattr(thread.record, "display_name", "a record")
            notifications.notify(
                assignee, "activity",
                f"{editor.name} assigned you {title(activity)} on {where}, due {due_label(activity)}",
                thread=thread, activity=activity,
            )
    if moved:
        activity.reminded_at = None
        _plan_reminder(activity)
    publish_panel(thread)
    return activity


def mark_done(activity: Activity, user: User, feedback: str = "") -> None:
    """Close `activity` with optional feedback, logged as an internal note in its thread by `user`.

    Anyone who can read the record may do it (as in Odoo); the note names who did it and,
    when that is not the assignee, whom it was assigned to.
    """
    if activity.done_at is not None:
        raise ActivityError("This activity is already done.")
    feedback = _check_length(feedback, MAX_FEEDBACK_CHARS, "feedback", "feedback")
    activity.done_at = utcnow()
    activity.feedback = feedback or None
    thread = db.session.get(Thread, activity.thread_id)
    messaging.post_message(thread, user, done_note_html(activity, user), kind="note", is_html=True)
    # The assignment and reminder lines have nothing left to say.
    notifications.mark_read(activity.assignee, _activity_notification_ids(activity))
    publish_panel(thread)


def cancel(activity: Activity) -> None:
    """Delete an open activity (its inbox lines go with it)."""
    if activity.done_at is not None:
        raise ActivityError("A done activity cannot be cancelled.")
    thread = db.session.get(Thread, activity.thread_id)
    had_unread = bool(_activity_notification_ids(activity, unread_only=True))
    assignee_id = activity.assignee_id
    db.session.execute(
        Notification.__table__.delete().where(Notification.activity_id == activity.id)
    )
    db.session.delete(activity)
    db.session.flush()
    if had_unread:
        notifications.push_bell(assignee_id)
    publish_panel(thread)


def _activity_notification_ids(activity: Activity, unread_only: bool = False) -> list[int]:
    stmt = select(Notification.id).where(Notification.activity_id == activity.id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return list(db.session.scalars(stmt))


def done_note_html(activity: Activity, user: User) -> str:
    """The thread line for a done activity: "✓ Call done: summary", the note, the feedback."""
    esc = html.escape
    head = f"<p><strong>✓ {esc(activity.type_label)} done</strong>"
    if activity.summary:
        head += f": {esc(activity.summary)}"
    if activity.assignee_id != user.id:
        head += f" <small>(assigned to {esc(activity.assignee.name)})</small>"
    parts = [head + "</p>"]
    if activity.note:
        parts.append(f"<p><small>{_lines(activity.note)}</small></p>")
    if activity.feedback:
        parts.append(f"<p><em>Feedback:</em> {_lines(activity.feedback)}</p>")
    return "".join(parts)


def _lines(text: str) -> str:
    return html.escape(text).replace("\r\n", "\n").replace("\n", "<br>")


def title(activity: Activity) -> str:
    """What the activity is, for a sentence: its summary, else its type ("a call")."""
    return f"“{activity.summary}”" if activity.summary else f"a {activity.type_label.lower()}"


def due_label(activity: Activity, today: date | None = None) -> str:
    """"today", "tomorrow", "yesterday" or "on 3 Mar 2027", on the assignee's day."""
    today = today or local_today(activity.assignee)
    delta = (activity.due_date - today).days
    if delta == 0:
        return "today"
    if delta == 1:
        return "tomorrow"
    if delta == -1:
        return "yesterday"
    return "on " + activity.due_date.strftime("%-d %b %Y")


def publish_panel(thread: Thread) -> None:
    """Push the thread's activity list to everyone viewing it (after commit).

    Only the list is replaced, never the form area, so a form being typed survives.
    """
    fragment = render_template("activities/_list.html", thread=thread,
                               activities=open_activities(thread), oob=True, live=True)
    realtime.publish(f"thread:{thread.id}", fragment)


# ---- reminders -----------------------------------------------------------------------------

def reminder_hour() -> int:
    return int(current_app.config.get("ACTIVITY_REMINDER_HOUR", DEFAULT_REMINDER_HOUR))


def reminder_at(activity: Activity) -> datetime:
    """When the reminder is due: the due day at the reminder hour in the assignee's zone (naive UTC)."""
    local = datetime.combine(activity.due_date, time(reminder_hour()), tzinfo=user_tz(activity.assignee))
    return local.astimezone(timezone.utc).replace(tzinfo=None)


def _plan_reminder(activity: Activity) -> None:
    """Queue the reminder for its moment; one already past counts as given.

    A past moment means the activity is due today or earlier: its author knows, and an
    assignee who is someone else was just notified of it. The sweep covers lost jobs.
    """
    when = reminder_at(activity)
    if when <= utcnow():
        activity.reminded_at = utcnow()
        return
    from app.jobs.activities import send_reminder_job

    jobs.enqueue(send_reminder_job, activity.id, at=when)


def send_reminder(activity_id: int, now: datetime | None = None) -> bool:
    """Remind the assignee of one activity if its moment has come: exactly once, ever.

    Idempotent and safe against a concurrent sweep: the claim on `reminded_at` is one
    conditional UPDATE, so only one transaction can win it. Returns whether it notified.
    """
    now = now or utcnow()
    activity = db.session.get(Activity, activity_id)
    if activity is None or activity.done_at is not None or activity.reminded_at is not None:
        return False
    if reminder_at(activity) > now:  # rescheduled or the assignee moved zone: the sweep will come
        return False
    claimed = db.session.execute(
        update(Activity).where(Activity.id == activity.id, Activity.reminded_at.is_(None),
                               Activity.done_at.is_(None))
        .values(reminded_at=now).execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        return False
    db.session.refresh(activity)
    assignee = activity.assignee
    if not assignee.active:
        return False
    thread = db.session.get(Thread, activity.thread_id)
    record = thread.record
    where = getattr(record, "display_name", "a record")
    today = day_of(assignee, now)
    due = due_label(activity, today)
    verb = "is due today" if due == "today" else f"was due {due}" if activity.due_date < today else f"is due {due}"
    summary = activity.summary or activity.type_label
    notifications.notify(assignee, "activity", f"Reminder: {summary} {verb} ({where})",
                         thread=thread, activity=activity)
    return True


def send_due_reminders(now: datetime | None = None) -> int:
    """The periodic sweep: send every reminder whose moment has passed and was not sent.

    Catches jobs lost by a restart of the embedded backend or a flushed queue. Idempotent.
    Returns how many reminders went out.
    """
    now = now or utcnow()
    # Nowhere on Earth is more than a day ahead of UTC: later due days cannot be due yet.
    horizon = now.date() + timedelta(days=1)
    sent = 0
    last_id = 0
    while True:
        batch = list(db.session.scalars(
            select(Activity.id).where(Activity.done_at.is_(None), Activity.reminded_at.is_(None),
                                      Activity.due_date <= horizon, Activity.id > last_id)
            .order_by(Activity.id).limit(SWEEP_BATCH)
        ))
        for activity_id in batch:
            sent += send_reminder(activity_id, now)
        if len(batch) < SWEEP_BATCH:
            return sent
        last_id = batch[-1]


def _zone(name: str | None):
    from zoneinfo import ZoneInfo

    try:
        return ZoneInfo(name or "UTC")
    except Exception:
        return ZoneInfo("UTC")
