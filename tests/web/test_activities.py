"""The activities pages: the panel in the chatter, scheduling, done, cancel, "My activities"."""
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Activity, Message, Notification
from app.templating import local_today
from tests.conftest import csrf_token, login, make_contact, make_user

HX = {"HX-Request": "true"}


@pytest.fixture
def contact(app):
    contact = make_contact("Ada Customer")
    contact.ensure_thread()
    db.session.commit()
    return contact


@pytest.fixture
def thread(contact):
    return contact.thread


def form_data(client, thread, **values):
    data = {
        "activity-activity_type": "call", "activity-summary": "Call Ada back",
        "activity-due_date": date.today().isoformat(),
        "activity-note": "", "csrf_token": csrf_token(client, "/activities"),
    }
    data.update({f"activity-{k}": v for k, v in values.items()})
    return data


def add_activity(thread, assignee, due=None, **fields):
    activity = Activity(thread_id=thread.id, activity_type=fields.pop("activity_type", "todo"),
                        summary=fields.pop("summary", "Send the quote"),
                        due_date=due or local_today(assignee), assignee_id=assignee.id,
                        created_by_id=assignee.id, **fields)
    db.session.add(activity)
    db.session.commit()
    return activity


def sign_in(client, who, users):
    if who != "anonymous":
        login(client, getattr(users, who))


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(model.id)))


# ---- the panel -----------------------------------------------------------------------------

def test_the_contact_page_shows_the_panel_with_its_activities(client, users, contact, thread):
    add_activity(thread, users.agent, summary="Send the <quote>")
    login(client, users.agent)
    page = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert f'id="activities-{thread.id}"' in page
    assert "Send the &lt;quote&gt;" in page and "due-today" in page
    assert f'href="/threads/{thread.id}/activities/new"' in page  # works without JavaScript too


def test_the_schedule_form_defaults_to_today_and_me_and_lists_staff_only(client, users, thread):
    make_user("agent", name="Gone Agent", active=False)
    login(client, users.agent)
    response = client.get(f"/threads/{thread.id}/activities/new", headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert f'value="{local_today(users.agent).isoformat()}"' in html
    assert re.search(rf'<option selected value="{users.agent.id}">Bob Agent</option>', html)
    assert "Alice Admin" in html and "Carol Agent" in html
    assert "Portal Person" not in html and "Gone Agent" not in html
    for label in ("To-do", "Call", "Meeting", "Email", "Upload document"):
        assert label in html


def test_the_schedule_form_is_a_page_without_javascript(client, users, thread):
    login(client, users.agent)
    page = client.get(f"/threads/{thread.id}/activities/new").get_data(as_text=True)
    assert "<html" in page and "Schedule an activity" in page and "Ada Customer" in page


def test_scheduling_for_a_colleague_returns_the_panel_and_notifies_them(client, users, thread):
    login(client, users.agent)
    due = date.today() + timedelta(days=2)
    response = client.post(f"/threads/{thread.id}/activities", headers=HX,
                           data=form_data(client, thread, assignee_id=str(users.agent2.id), due_date=due.isoformat(),
                                          note="Ask about the PO"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert f'id="activities-{thread.id}"' in html and "Call Ada back" in html and "for Carol Agent" in html
    [activity] = db.session.scalars(select(Activity)).all()
    assert (activity.assignee_id, activity.created_by_id, activity.due_date, activity.note) == \
        (users.agent2.id, users.agent.id, due, "Ask about the PO")
    [note] = db.session.scalars(select(Notification).where(Notification.user_id == users.agent2.id)).all()
    assert note.kind == "activity" and "Bob Agent assigned you" in note.summary


def test_scheduling_without_javascript_redirects_to_the_record(client, users, contact, thread):
    login(client, users.agent)
    response = client.post(f"/threads/{thread.id}/activities",
                           data=form_data(client, thread, assignee_id=str(users.agent.id)))
    assert response.status_code == 302 and response.headers["Location"] == f"/contacts/{contact.id}"
    assert count(Activity) == 1


@pytest.mark.parametrize("values, message", [
    ({"due_date": ""}, "Choose a due date."),
    ({"due_date": "31/12/2026"}, "Not a valid date value."),
    ({"due_date": (date.today() + timedelta(days=6 * 366)).isoformat()}, "within 5 years"),
    ({"activity_type": "lunch"}, "Choose a known activity type."),
    ({"assignee_id": "999999"}, "active staff member"),
    ({"assignee_id": "portal"}, "active staff member"),
    ({"summary": "x" * 201}, "at most 200"),
])
def test_bad_input_comes_back_inline_with_422_and_what_was_typed(client, users, thread, values, message):
    if values.get("assignee_id") == "portal":
        values = {"assignee_id": str(users.portal.id)}
    login(client, users.agent)
    data = form_data(client, thread, note="keep this note", assignee_id=str(users.agent.id))
    data.update({f"activity-{k}": v for k, v in values.items()})
    response = client.post(f"/threads/{thread.id}/activities", headers=HX, data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == f"#activity-form-{thread.id}"
    assert 'class="field-error"' in html and message in html
    assert "keep this note" in html  # nothing typed is lost
    assert count(Activity) == 0


def test_bad_input_without_javascript_is_the_form_page_again(client, users, thread):
    login(client, users.agent)
    data = form_data(client, thread, due_date="", assignee_id=str(users.agent.id))
    response = client.post(f"/threads/{thread.id}/activities", data=data)
    assert response.status_code == 422 and b"<html" in response.data and b"Choose a due date." in response.data


# ---- editing ------------------------------------------------------------------------------

def test_the_edit_form_comes_filled_in_the_panel_or_as_a_page(client, users, thread):
    activity = add_activity(thread, users.agent2, local_today(users.agent2) + timedelta(days=3),
                            summary="Send the quote", note="Use the new price list")
    login(client, users.agent)
    fragment = client.get(f"/activities/{activity.id}/edit", headers=HX).get_data(as_text=True)
    assert "<html" not in fragment and f'action="/activities/{activity.id}"' in fragment
    assert 'value="Send the quote"' in fragment and "Use the new price list" in fragment
    assert f'value="{activity.due_date.isoformat()}"' in fragment
    assert re.search(rf'<option selected value="{users.agent2.id}">|<option value="{users.agent2.id}" selected', fragment)
    assert "Save</button>" in fragment
    page = client.get(f"/activities/{activity.id}/edit").get_data(as_text=True)
    assert "<html" in page and "Edit the activity" in page


def test_rescheduling_returns_the_panel_with_the_new_day(client, users, thread):
    activity = add_activity(thread, users.agent, local_today(users.agent))
    login(client, users.agent)
    later = local_today(users.agent) + timedelta(days=3)
    response = client.post(f"/activities/{activity.id}", headers=HX, data=form_data(
        client, thread, activity_type="email", summary="Send the quote", due_date=later.isoformat(),
        assignee_id=str(users.agent.id)))
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert f'id="activities-{thread.id}"' in html and "In 3 days" in html
    db.session.expire_all()
    saved = db.session.get(Activity, activity.id)
    assert (saved.due_date, saved.activity_type) == (later, "email")


def test_reassigning_notifies_the_new_assignee(client, users, thread):
    activity = add_activity(thread, users.agent, local_today(users.agent))
    login(client, users.agent)
    client.post(f"/activities/{activity.id}", headers=HX,
                data=form_data(client, thread, assignee_id=str(users.agent2.id)))
    [note] = db.session.scalars(select(Notification).where(Notification.user_id == users.agent2.id)).all()
    assert note.activity_id == activity.id and "Bob Agent assigned you" in note.summary


def test_a_bad_edit_is_422_inline_and_changes_nothing(client, users, thread):
    activity = add_activity(thread, users.agent, local_today(users.agent), summary="Send the quote")
    login(client, users.agent)
    response = client.post(f"/activities/{activity.id}", headers=HX, data=form_data(
        client, thread, summary="New words kept", due_date="", assignee_id=str(users.agent.id)))
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and response.headers["HX-Retarget"] == f"#activity-form-{thread.id}"
    assert "Choose a due date." in html and 'value="New words kept"' in html
    db.session.expire_all()
    assert db.session.get(Activity, activity.id).summary == "Send the quote"


def test_editing_without_javascript_goes_back_where_it_came_from(client, users, contact, thread):
    activity = add_activity(thread, users.agent, local_today(users.agent))
    login(client, users.agent)
    data = form_data(client, thread, assignee_id=str(users.agent.id), summary="From the record")
    response = client.post(f"/activities/{activity.id}", data=data)
    assert response.status_code == 302 and response.headers["Location"] == f"/contacts/{contact.id}"
    page = client.get(f"/activities/{activity.id}/edit?view=mine").get_data(as_text=True)
    assert f'action="/activities/{activity.id}?view=mine"' in page
    data["activity-summary"] = "From my list"
    response = client.post(f"/activities/{activity.id}?view=mine", data=data)
    assert response.status_code == 302 and response.headers["Location"] == "/activities"
    assert db.session.get(Activity, activity.id).summary == "From my list"


def test_a_done_or_unknown_activity_cannot_be_edited(client, users, thread):
    done = add_activity(thread, users.agent, local_today(users.agent), done_at=db.func.now())
    login(client, users.agent)
    token = csrf_token(client, "/activities")
    for activity_id in (done.id, 999999):
        assert client.get(f"/activities/{activity_id}/edit").status_code == 404
        assert client.post(f"/activities/{activity_id}", data={"csrf_token": token}).status_code == 404


def test_done_with_feedback_logs_a_note_and_refreshes_the_panel(client, users, thread):
    activity = add_activity(thread, users.agent2, summary="Call Ada")
    login(client, users.agent)
    response = client.post(f"/activities/{activity.id}/done", headers=HX, data={
        "feedback": "She will pay on <Friday>", "view": "thread", "csrf_token": csrf_token(client, "/activities"),
    })
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and f'id="activities-{thread.id}"' in html
    assert "No planned activities" in html
    db.session.expire_all()
    assert db.session.get(Activity, activity.id).done_at is not None
    note = db.session.scalar(select(Message).where(Message.thread_id == thread.id, Message.kind == "note"))
    assert note.author_user_id == users.agent.id  # who did it, not who it was for
    assert "assigned to Carol Agent" in note.body_html and "She will pay on &lt;Friday&gt;" in note.body_html


def test_done_from_my_activities_returns_that_page(client, users, thread):
    done = add_activity(thread, users.agent, summary="First")
    add_activity(thread, users.agent, summary="Second")
    login(client, users.agent)
    response = client.post(f"/activities/{done.id}/done", headers=HX, data={
        "view": "mine", "csrf_token": csrf_token(client, "/activities")})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="my-activities"' in html
    assert "Second" in html and "First" not in html


def test_done_without_javascript_redirects(client, users, contact, thread):
    activity = add_activity(thread, users.agent)
    login(client, users.agent)
    token = csrf_token(client, "/activities")
    response = client.post(f"/activities/{activity.id}/done", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == f"/contacts/{contact.id}"
    response = client.post(f"/activities/{activity.id}/done", data={"csrf_token": token})
    assert response.status_code == 404  # already done: no longer an open activity


def test_feedback_too_long_is_422(client, users, thread):
    activity = add_activity(thread, users.agent)
    login(client, users.agent)
    response = client.post(f"/activities/{activity.id}/done", headers=HX, data={
        "feedback": "x" * 5001, "csrf_token": csrf_token(client, "/activities")})
    assert response.status_code == 422 and b"toast" in response.data
    assert db.session.get(Activity, activity.id).done_at is None


def test_cancel_returns_the_list_and_deletes(client, users, thread):
    activity = add_activity(thread, users.agent)
    login(client, users.agent)
    response = client.post(f"/activities/{activity.id}/cancel", headers=HX,
                           data={"csrf_token": csrf_token(client, "/activities")})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.lstrip().startswith(f'<div id="activity-list-{thread.id}"')
    assert count(Activity) == 0


def test_post_without_csrf_is_refused(client, users, thread):
    activity = add_activity(thread, users.agent)
    login(client, users.agent)
    assert client.post(f"/activities/{activity.id}/cancel").status_code == 400
    assert client.post(f"/threads/{thread.id}/activities", data={"activity-activity_type": "call"}).status_code == 400
    assert count(Activity) == 1


def test_unknown_thread_or_activity_is_404(client, users, thread):
    login(client, users.agent)
    token = csrf_token(client, "/activities")
    assert client.get("/threads/999999/activities/new").status_code == 404
    assert client.post("/threads/999999/activities", data={"csrf_token": token}).status_code == 404
    assert client.post("/activities/999999/done", data={"csrf_token": token}).status_code == 404
    assert client.post("/activities/999999/cancel", data={"csrf_token": token}).status_code == 404


def test_activities_on_a_thread_i_cannot_read_are_404(client, users, thread, monkeypatch):
    activity = add_activity(thread, users.agent)
    login(client, users.agent)
    token = csrf_token(client, "/activities")
    monkeypatch.setattr("app.services.access.can_read_thread", lambda user, t: False)
    assert client.post(f"/activities/{activity.id}/done", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/activities/{activity.id}/cancel", data={"csrf_token": token}).status_code == 404
    assert client.get(f"/activities/{activity.id}/edit").status_code == 404
    assert client.post(f"/activities/{activity.id}", data={"csrf_token": token}).status_code == 404
    assert client.get(f"/threads/{thread.id}/activities/new").status_code == 404
    assert db.session.get(Activity, activity.id).done_at is None


def test_the_panel_refresh_answers_htmx_and_redirects_browsers(client, users, contact, thread):
    login(client, users.agent)
    assert client.get(f"/threads/{thread.id}/activities", headers=HX).status_code == 200
    response = client.get(f"/threads/{thread.id}/activities")
    assert response.status_code == 302 and response.headers["Location"] == f"/contacts/{contact.id}"


# ---- my activities -------------------------------------------------------------------------

def test_my_activities_groups_by_my_day_with_counts_and_links(client, users, contact, thread):
    today = local_today(users.agent)
    add_activity(thread, users.agent, today - timedelta(days=2), summary="Late one")
    add_activity(thread, users.agent, today, summary="Today one")
    add_activity(thread, users.agent, today + timedelta(days=9), summary="Later one")
    add_activity(thread, users.agent2, today, summary="Not mine")
    add_activity(thread, users.agent, today, summary="Finished", done_at=db.func.now())
    login(client, users.agent)
    page = client.get("/activities").get_data(as_text=True)

    groups = {state: page.index(f'id="group-{state}"') for state in ("overdue", "today", "planned")}
    assert groups["overdue"] < page.index("Late one") < groups["today"] < page.index("Today one") \
        < groups["planned"] < page.index("Later one")
    assert "Not mine" not in page and "Finished" not in page
    assert "2 days overdue" in page
    assert re.search(r'class="state-count">1</span>\s*<span class="state-name">Overdue', page)
    assert f'href="/contacts/{contact.id}"' in page


def test_my_activities_empty_state(client, users):
    login(client, users.agent)
    assert b"Nothing to do" in client.get("/activities").data


# ---- who may do what -----------------------------------------------------------------------

ACTIONS = ("schedule", "edit", "done", "cancel", "mine")


@pytest.mark.parametrize("who", ["admin", "agent", "portal", "anonymous"])
@pytest.mark.parametrize("action", ACTIONS)
def test_access_matrix(client, users, thread, who, action):
    activity = add_activity(thread, users.agent2)
    sign_in(client, who, users)
    token = csrf_token(client, "/activities")
    if action == "schedule":
        response = client.post(f"/threads/{thread.id}/activities", headers=HX, data={
            **form_data(client, thread, assignee_id=str(users.agent2.id)), "csrf_token": token})
    elif action == "edit":
        response = client.post(f"/activities/{activity.id}", headers=HX, data={
            **form_data(client, thread, assignee_id=str(users.agent2.id), summary="Edited"), "csrf_token": token})
    elif action == "done":
        response = client.post(f"/activities/{activity.id}/done", headers=HX, data={"csrf_token": token})
    elif action == "cancel":
        response = client.post(f"/activities/{activity.id}/cancel", headers=HX, data={"csrf_token": token})
    else:
        response = client.get("/activities")

    if who in ("admin", "agent"):
        assert response.status_code == 200
    elif who == "portal":
        assert response.status_code == 403
    else:
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    db.session.expire_all()
    changed = {
        "schedule": lambda: count(Activity) == 2,
        "edit": lambda: db.session.get(Activity, activity.id).summary == "Edited",
        "done": lambda: db.session.get(Activity, activity.id).done_at is not None,
        "cancel": lambda: db.session.get(Activity, activity.id) is None,
        "mine": lambda: False,
    }[action]()
    assert changed == (who in ("admin", "agent") and action != "mine")

