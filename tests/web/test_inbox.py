"""The notification inbox: list, filters, load more, open, mark read (one / all), access."""
import re

import pytest

from app.extensions import db
from app.models import Message, Notification
from tests.conftest import csrf_token, login, make_contact

HX = {"HX-Request": "true"}


@pytest.fixture
def thread(app):
    thread = make_contact("Ada Customer").ensure_thread()
    db.session.commit()
    return thread


def add(user, summary="Something happened", *, thread=None, message=None, kind="message", read=False):
    notification = Notification(user_id=user.id, kind=kind, summary=summary,
                                thread_id=thread.id if thread else None,
                                message_id=message.id if message else None,
                                read_at=db.func.now() if read else None)
    db.session.add(notification)
    db.session.commit()
    return notification


def add_message(thread, author, body_html="<p>Hello</p>", kind="comment"):
    message = Message(thread_id=thread.id, kind=kind, author_user_id=author.id, body_html=body_html)
    db.session.add(message)
    db.session.commit()
    return message


def read_at(notification_id):
    db.session.expire_all()
    return db.session.get(Notification, notification_id).read_at


def test_inbox_lists_my_notifications_newest_first(client, users, thread):
    message = add_message(thread, users.agent2, "<p>Could you <b>call</b> her?</p><script>x()</script>")
    add(users.agent, "Older one", thread=thread, read=True)
    add(users.agent, "Carol Agent mentioned you on Ada Customer", thread=thread, message=message, kind="mention")
    add(users.agent2, "Not for Bob")
    login(client, users.agent)
    page = client.get("/inbox").get_data(as_text=True)

    assert page.index("Carol Agent mentioned you") < page.index("Older one")
    assert "Not for Bob" not in page
    assert "Could you call her?" in page and "<b>call</b>" not in page and "x()" not in page
    assert "Ada Customer" in page and "Mention" in page
    assert re.search(r'class="inbox-row is-unread kind-mention"', page)
    assert re.search(r'class="inbox-row\s+kind-message"', page)  # the read one is not bold
    assert re.search(r'id="inbox-count"[^>]*>1<', page)  # the sidebar count
    for placeholder in ("Starred", "Channels", "Direct messages"):
        assert placeholder in page


def test_unread_filter(client, users):
    add(users.agent, "Seen", read=True)
    add(users.agent, "Fresh")
    login(client, users.agent)
    page = client.get("/inbox?filter=unread").get_data(as_text=True)
    assert "Fresh" in page and "Seen" not in page
    fragment = client.get("/inbox?filter=unread", headers={**HX, "HX-Target": "inbox-main"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="inbox-main"') and "Fresh" in fragment
    assert "Fresh" in client.get("/inbox?filter=bogus").get_data(as_text=True)


def test_empty_states(client, users):
    login(client, users.agent)
    assert b"Your inbox is empty" in client.get("/inbox").data
    assert b"All caught up" in client.get("/inbox?filter=unread").data


def test_load_more_pages_through_older_notifications(client, users, app, monkeypatch):
    monkeypatch.setitem(app.config, "LIST_PAGE_SIZE", 2)
    made = [add(users.agent, f"note number {i}") for i in range(5)]
    login(client, users.agent)
    page = client.get("/inbox").get_data(as_text=True)
    assert "note number 4" in page and "note number 3" in page and "note number 2" not in page
    more = re.search(r'hx-get="(/inbox\?[^"]*before=[^"]+)"', page.replace("&amp;", "&")).group(1)
    assert f"before={made[3].id}" in more
    fragment = client.get(more, headers=HX).get_data(as_text=True)
    assert "<html" not in fragment and "note number 2" in fragment and "note number 1" in fragment
    assert "note number 3" not in fragment and 'class="inbox-more"' in fragment
    last = client.get(f"/inbox?before={made[1].id}", headers=HX).get_data(as_text=True)
    assert "note number 0" in last and 'class="inbox-more"' not in last


def test_open_marks_read_and_goes_to_the_message_on_its_record(client, users, thread):
    message = add_message(thread, users.agent2)
    notification = add(users.agent, thread=thread, message=message)
    login(client, users.agent)
    response = client.get(f"/inbox/{notification.id}/open")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/contacts/{thread.res_id}#message-{message.id}"
    assert read_at(notification.id) is not None


def test_open_a_notification_without_a_record_goes_back_to_the_inbox(client, users):
    notification = add(users.agent, "System alert", kind="system")
    login(client, users.agent)
    response = client.get(f"/inbox/{notification.id}/open")
    assert response.status_code == 302 and response.headers["Location"] == "/inbox"
    assert read_at(notification.id) is not None


def test_open_a_record_i_can_no_longer_read_says_so(client, users, thread, monkeypatch):
    notification = add(users.agent, thread=thread)
    login(client, users.agent)
    monkeypatch.setattr("app.services.access.can_read_thread", lambda user, t: False)
    response = client.get(f"/inbox/{notification.id}/open", follow_redirects=True)
    assert b"no longer available" in response.data


def test_mark_one_read_returns_the_row_read(client, users):
    notification = add(users.agent, "Ping")
    login(client, users.agent)
    token = csrf_token(client, "/inbox")
    response = client.post(f"/inbox/{notification.id}/read", headers=HX, data={"csrf_token": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and f'id="notification-{notification.id}"' in html
    assert "is-unread" not in html and read_at(notification.id) is not None


def test_mark_one_read_in_the_unread_view_removes_the_row(client, users):
    notification = add(users.agent, "Ping")
    login(client, users.agent)
    response = client.post(f"/inbox/{notification.id}/read", headers=HX,
                           data={"csrf_token": csrf_token(client, "/inbox"), "filter": "unread"})
    assert response.status_code == 200 and response.data.strip() == b""


def test_mark_one_read_without_javascript_redirects(client, users):
    notification = add(users.agent, "Ping")
    login(client, users.agent)
    response = client.post(f"/inbox/{notification.id}/read", data={"csrf_token": csrf_token(client, "/inbox")})
    assert response.status_code == 302 and response.headers["Location"] == "/inbox?filter=all"


def test_mark_all_read(client, users):
    mine = [add(users.agent, f"n{i}") for i in range(3)]
    theirs = add(users.agent2, "theirs")
    login(client, users.agent)
    response = client.post("/inbox/read-all", headers=HX, data={"csrf_token": csrf_token(client, "/inbox")})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.lstrip().startswith('<section id="inbox-main"')
    assert "is-unread" not in html
    assert all(read_at(n.id) is not None for n in mine) and read_at(theirs.id) is None
    response = client.post("/inbox/read-all", data={"csrf_token": csrf_token(client, "/inbox")}, follow_redirects=True)
    assert b"Nothing unread." in response.data


def test_mark_read_needs_csrf(client, users):
    notification = add(users.agent, "Ping")
    login(client, users.agent)
    assert client.post(f"/inbox/{notification.id}/read").status_code == 400
    assert client.post("/inbox/read-all").status_code == 400
    assert read_at(notification.id) is None


def test_a_pushed_row_loads_itself_escaped_with_a_working_form(client, users, thread):
    """New rows arrive over the socket as placeholders that GET this fragment."""
    message = add_message(thread, users.agent2, "<p>Call <b>her</b></p>")
    mine = add(users.agent, '<img src=x onerror="alert(1)"> mentioned you', thread=thread, message=message,
               kind="mention")
    login(client, users.agent)
    row = client.get(f"/inbox/{mine.id}/row", headers=HX).get_data(as_text=True)
    assert row.lstrip().startswith("<li") and f'id="notification-{mine.id}"' in row
    assert "<img" not in row and "&lt;img" in row
    assert "Call her" in row and "<b>" not in row
    assert 'name="csrf_token"' in row  # fetched by its owner: the mark-read form carries their token
    assert client.get("/inbox/999999/row", headers=HX).status_code == 404


def test_the_bell_shows_the_unread_count(client, users):
    for i in range(3):
        add(users.agent, f"n{i}")
    login(client, users.agent)
    page = client.get("/activities").get_data(as_text=True)
    assert re.search(r'id="bell"[^>]*data-count="3"', page.replace("\n", " "))


# ---- who may do what -----------------------------------------------------------------------

ACTIONS = ("inbox", "row", "open", "mark_read", "mark_all_read", "row_other", "open_other", "mark_read_other")


@pytest.mark.parametrize("who", ["admin", "agent", "portal", "anonymous"])
@pytest.mark.parametrize("action", ACTIONS)
def test_access_matrix(client, users, thread, who, action):
    owner = users.admin if who == "admin" else users.agent
    mine = add(owner, "Mine", thread=thread)
    others = add(users.agent2, "Someone else's", thread=thread)
    if who != "anonymous":
        login(client, getattr(users, who))
    token = csrf_token(client, "/inbox")
    response = {
        "inbox": lambda: client.get("/inbox"),
        "row": lambda: client.get(f"/inbox/{mine.id}/row", headers=HX),
        "row_other": lambda: client.get(f"/inbox/{others.id}/row", headers=HX),
        "open": lambda: client.get(f"/inbox/{mine.id}/open"),
        "mark_read": lambda: client.post(f"/inbox/{mine.id}/read", data={"csrf_token": token}, headers=HX),
        "mark_all_read": lambda: client.post("/inbox/read-all", data={"csrf_token": token}, headers=HX),
        "open_other": lambda: client.get(f"/inbox/{others.id}/open"),
        "mark_read_other": lambda: client.post(f"/inbox/{others.id}/read", data={"csrf_token": token}, headers=HX),
    }[action]()

    if who == "anonymous":
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    elif who == "portal":
        assert response.status_code == 403
    elif action.endswith("_other"):
        assert response.status_code == 404  # even an admin does not read another user's inbox
    else:
        assert response.status_code in (200, 302)
    assert read_at(others.id) is None
    staff = who in ("admin", "agent")
    assert (read_at(mine.id) is not None) == (staff and action in ("open", "mark_read", "mark_all_read"))
