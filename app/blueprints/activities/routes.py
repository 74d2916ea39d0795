"""Activities (SPEC §1.7): the panel in the chatter and the "My activities" page.

Every view answers htmx with a fragment (the panel, its list, or the page body) and a
plain request with a full page or a redirect, so everything works without JavaScript.
"""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app import staff_required, wants_fragment
from app.blueprints.activities import bp
from app.blueprints.activities.forms import ActivityForm, DoneForm
from app.extensions import db
from app.models import Activity, Thread
from app.services import access, activities, messaging
from app.services.activities import ActivityError
from app.templating import local_today

FORM_PREFIX = "activity"


def get_thread(thread_id: int) -> Thread:
    """The thread, or 404 if it does not exist or the user may not read it."""
    thread = db.session.get(Thread, thread_id)
    if not access.can_read_thread(current_user, thread):
        abort(404)
    return thread


def get_activity(activity_id: int) -> Activity:
    """An open activity on a thread the user may read, else 404."""
    activity = activities.get_open(activity_id)
    if activity is None or not access.can_read_thread(current_user, db.session.get(Thread, activity.thread_id)):
        abort(404)
    return activity


@bp.app_template_global("thread_activities")
def thread_activities(thread: Thread) -> list[Activity]:
    """For the chatter's include of `activities/_thread_panel.html`."""
    return activities.open_activities(thread)


def _new_form(formdata=None) -> ActivityForm:
    form = ActivityForm(formdata=formdata, prefix=FORM_PREFIX, assignees=activities.assignable_users())
    if formdata is None:
        form.due_date.data = local_today(current_user)
        form.assignee_id.data = str(current_user.id)
    return form


def _edit_form(activity: Activity, formdata=None) -> ActivityForm:
    form = ActivityForm(formdata=formdata, prefix=FORM_PREFIX, assignees=activities.assignable_users(),
                        obj=None if formdata is not None else activity)
    if formdata is None:
        form.assignee_id.data = str(activity.assignee_id)
    return form


def _record_url(thread: Thread) -> str | None:
    record = thread.record
    return messaging.record_url(record) if record is not None else None


def _panel(thread: Thread, form=None, status: int = 200):
    return render_template("activities/_thread_panel.html", thread=thread, form=form,
                           activities=activities.open_activities(thread)), status


@bp.get("/activities")
@staff_required
def mine():
    """My open activities across records, grouped Overdue / Today / Planned."""
    groups = activities.my_activities(current_user)
    template = "activities/_mine.html" if wants_fragment() else "activities/mine.html"
    return render_template(template, groups=groups, today=local_today(current_user))


@bp.get("/threads/<int:thread_id>/activities")
@staff_required
def panel(thread_id: int):
    """The activity panel of one thread (htmx refresh, or the form's Discard)."""
    thread = get_thread(thread_id)
    if not wants_fragment():
        return redirect(_record_url(thread) or url_for(".mine"))
    return _panel(thread)


@bp.get("/threads/<int:thread_id>/activities/new")
@staff_required
def new(thread_id: int):
    """The schedule form: into the panel's form slot, or as a page without JavaScript."""
    thread = get_thread(thread_id)
    return _form_response(thread, _new_form())


@bp.post("/threads/<int:thread_id>/activities")
@staff_required
def create(thread_id: int):
    """Schedule an activity; errors come back inline (422) with what was typed."""
    thread = get_thread(thread_id)
    form = _new_form(request.form)
    if form.validate():
        try:
            activity = activities.schedule(
                thread, current_user, activity_type=form.activity_type.data, due_date=form.due_date.data,
                assignee=form.assignee, summary=form.summary.data, note=form.note.data,
            )
        except ActivityError as err:
            db.session.rollback()
            _attach_error(form, err)
        else:
            db.session.commit()
            if wants_fragment():
                return _panel(thread)
            flash(f"Activity scheduled for {activity.assignee.name}.", "success")
            return redirect(_record_url(thread) or url_for(".mine"))
    return _form_response(thread, form, status=422)


@bp.get("/activities/<int:activity_id>/edit")
@staff_required
def edit(activity_id: int):
    """The form to reschedule, reassign or reword an open activity (panel slot, or a page)."""
    activity = get_activity(activity_id)
    thread = db.session.get(Thread, activity.thread_id)
    return _form_response(thread, _edit_form(activity), activity)


@bp.post("/activities/<int:activity_id>")
@staff_required
def save(activity_id: int):
    """Save an edited activity; errors come back inline (422) with what was typed."""
    activity = get_activity(activity_id)
    thread = db.session.get(Thread, activity.thread_id)
    form = _edit_form(activity, request.form)
    if form.validate():
        try:
            activities.edit(
                activity, current_user, activity_type=form.activity_type.data, due_date=form.due_date.data,
                assignee=form.assignee, summary=form.summary.data, note=form.note.data,
            )
        except ActivityError as err:
            db.session.rollback()
            _attach_error(form, err)
        else:
            db.session.commit()
            return _after_change(thread, request.args.get("view", "thread"), "Activity saved.")
    return _form_response(thread, form, activity, status=422)


def _form_response(thread: Thread, form: ActivityForm, activity: Activity | None = None, status: int = 200):
    """The schedule/edit form: into the panel's form slot (htmx), else as a page of its own."""
    if wants_fragment():
        headers = {"HX-Retarget": f"#activity-form-{thread.id}", "HX-Reswap": "innerHTML"} if status != 200 else {}
        return render_template("activities/_form.html", thread=thread, form=form, activity=activity), status, headers
    return render_template("activities/new.html", thread=thread, form=form, activity=activity,
                           record=thread.record, record_url=_record_url(thread)), status


def _attach_error(form, err: ActivityError) -> None:
    field = getattr(form, err.field, None) if err.field else None
    if field is not None:
        field.errors = [*field.errors, str(err)]
    else:
        form.form_errors.append(str(err))


@bp.post("/activities/<int:activity_id>/done")
@staff_required
def done(activity_id: int):
    """Mark an activity done with optional feedback (logged in the thread by whoever did it)."""
    activity = get_activity(activity_id)
    thread = db.session.get(Thread, activity.thread_id)
    form = DoneForm(request.form)
    if not form.validate():
        abort(422, " ".join(form.feedback.errors))
    try:
        activities.mark_done(activity, current_user, form.feedback.data or "")
    except (ActivityError, messaging.MessageError) as err:
        db.session.rollback()
        abort(422, str(err))
    db.session.commit()
    return _after_change(thread, form.view.data, "Activity marked done.")


@bp.post("/activities/<int:activity_id>/cancel")
@staff_required
def cancel(activity_id: int):
    """Cancel (delete) an open activity."""
    activity = get_activity(activity_id)
    thread = db.session.get(Thread, activity.thread_id)
    activities.cancel(activity)
    db.session.commit()
    view = request.form.get("view", "thread")
    if view == "thread" and wants_fragment():
        return render_template("activities/_list.html", thread=thread,
                               activities=activities.open_activities(thread))
    return _after_change(thread, view, "Activity cancelled.")


def _after_change(thread: Thread, view: str, message: str):
    if wants_fragment():
        if view == "mine":
            return render_template("activities/_mine.html", groups=activities.my_activities(current_user),
                                   today=local_today(current_user))
        return _panel(thread)
    flash(message, "success")
    if view == "mine":
        return redirect(url_for(".mine"))
    return redirect(_record_url(thread) or url_for(".mine"))
