"""Cached boards, ticket lists and ticket pages (services/pagecache.py): whatever changes a
ticket, its thread or what they show, and wherever it is changed from, the next page shows it;
nobody is served another user's page or another session's CSRF token."""
import re
from datetime import date

import pytest
from sqlalchemy import select, text, update

from app.extensions import db
from app.models import Ticket
from app.services import activities, helpdesk, helpdesk_config, messaging, pagecache, reactions
from tests.conftest import login, make_contact, make_team, make_ticket
from tests.web.conftest import sign_in


@pytest.fixture(autouse=True)
def one_minute(monkeypatch):
    """Every key carries the minute: a test that counts renders must not straddle two."""
    minute = pagecache._minute()
    monkeypatch.setattr(pagecache, "_minute", lambda: minute)
    return minute


@pytest.fixture
def desk(users):
    care = make_team("Customer Care", members=[users.agent, users.agent2])
    ticket = make_ticket(care, "Printer on fire", customer=make_contact("Ada", "ada@engines.test"))
    db.session.commit()
    return type("Desk", (), {"care": care, "ticket": ticket, "thread_id": ticket.ensure_thread().id})


def pages(desk):
    return {"board": f"/helpdesk/teams/{desk.care.id}/board", "list": "/helpdesk/tickets",
            "ticket": f"/helpdesk/tickets/{desk.ticket.id}"}


def rendered(app) -> int:
    """Parts rendered and kept so far, the top bar aside (it shows the bell, which changes apart)."""
    return sum(1 for key in app.extensions["hilo_pagecache"].fragments._items if key[0][0] != "topbar")


def body(client, path) -> str:
    response = client.get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def without_tokens(html: str) -> str:
    """The page with its CSRF tokens blanked (each is signed with the second it was made in)."""
    return re.sub(r"\bI[\w-]{20,}\.[\w-]{6}\.[\w-]{20,}", "token", html)


def test_a_second_view_is_served_from_the_cache(app, client, users, desk):
    sign_in(client, users.agent)
    for path in pages(desk).values():
        first = body(client, path)
        before = rendered(app)
        assert without_tokens(body(client, path)) == without_tokens(first)
        assert rendered(app) == before  # nothing rendered again


def test_a_changed_ticket_renders_its_own_card_and_row_again_only(app, client, make_client, users, desk):
    for n in range(4):
        make_ticket(desk.care, f"Other ticket {n}")
    db.session.commit()
    sign_in(client, users.agent)
    for path in (pages(desk)["board"], pages(desk)["list"]):
        body(client, path)
        before = rendered(app)
        helpdesk.update(db.session.get(Ticket, desk.ticket.id), users.admin, title=f"Toner {path}")
        db.session.commit()
        assert f"Toner {path}" in body(client, path)
        assert rendered(app) == before + 2  # the page around the cards, and the one card (row) that changed
    # A colleague in the same time zone gets their own page, made of the same cards.
    body(client, pages(desk)["board"])  # (the card renamed on the list's turn, on the board too)
    other = make_client()
    sign_in(other, users.agent2)
    before = rendered(app)
    body(other, pages(desk)["board"])
    assert rendered(app) == before + 1


@pytest.mark.parametrize("change, shows", [
    ("title", "Toner everywhere"),
    ("tag", "smoke-damage"),
    ("tag_renamed", "fire-hazard"),
    ("customer_renamed", "Ada Lovelace"),
    ("assignee_renamed", "Roberto Agent"),
    ("stage_renamed", "Being fixed"),
    ("core_update", "Renamed in SQL"),
])
def test_a_change_made_anywhere_shows_on_every_page(app, client, users, desk, change, shows):
    sign_in(client, users.agent)
    for path in pages(desk).values():
        assert shows not in body(client, path)
    ticket = db.session.get(Ticket, desk.ticket.id)
    if change == "title":
        helpdesk.update(ticket, users.admin, title="Toner everywhere")
    elif change == "tag":
        helpdesk.update(ticket, users.admin, tags=helpdesk.tags_named(["smoke-damage"]))
    elif change == "tag_renamed":
        helpdesk.update(ticket, users.admin, tags=helpdesk.tags_named(["hardware"]))
        db.session.commit()
        for path in pages(desk).values():
            body(client, path)
        ticket.tags[0].name = "fire-hazard"
    elif change == "customer_renamed":
        ticket.customer.name = "Ada Lovelace"
    elif change == "assignee_renamed":
        helpdesk.assign(ticket, users.agent, users.admin)
        db.session.commit()
        for path in pages(desk).values():
            body(client, path)
        users.agent.name = "Roberto Agent"
    elif change == "stage_renamed":
        ticket.stage.name = "Being fixed"
    elif change == "core_update":
        db.session.execute(update(Ticket).where(Ticket.id == ticket.id).values(title="Renamed in SQL"))
    db.session.commit()
    for name, path in pages(desk).items():
        assert shows in body(client, path), name


def test_the_conversation_on_the_ticket_page_is_never_stale(app, client, users, desk):
    sign_in(client, users.agent)
    path = pages(desk)["ticket"]
    body(client, path)
    ticket = db.session.get(Ticket, desk.ticket.id)
    thread = ticket.ensure_thread()
    with app.test_request_context(base_url=app.config["BASE_URL"]):  # mail links need a URL
        message = messaging.post_message(thread, users.agent2, "The toner is on the floor", kind="note")
        db.session.commit()
    page = body(client, path)
    assert "The toner is on the floor" in page
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        reactions.toggle_reaction(message, users.agent2, "👍")
        db.session.commit()
    assert "👍" in body(client, path)
    # A star is the viewer's own: starring elsewhere (another session, the API) shows here.
    before = without_tokens(body(client, path))
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        reactions.toggle_star(message, users.agent)
        db.session.commit()
    assert without_tokens(body(client, path)) != before
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        activities.schedule(thread, users.agent2, activity_type="call", due_date=date.today(), assignee=users.agent,
                            summary="Call Ada back")
        db.session.commit()
    assert "Call Ada back" in body(client, path)
    assert "Call Ada back" not in body(client, pages(desk)["list"])  # the list shows no activities …
    board = body(client, pages(desk)["board"])
    assert re.search(r'class="board-activity[^"]*"', board)  # … the board's card counts them


def test_every_user_gets_their_own_page(app, client, make_client, users, desk):
    ticket = db.session.get(Ticket, desk.ticket.id)
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        messaging.post_message(ticket.ensure_thread(), users.agent, "My own note", kind="note")
        db.session.commit()
    sign_in(client, users.agent)
    other = make_client()
    sign_in(other, users.agent2)
    path = pages(desk)["ticket"]
    mine, theirs = body(client, path), body(other, path)
    assert "My own note" in mine and "My own note" in theirs
    # Bob may edit his note, Carol may not: not one page for both.
    assert 'aria-label="Edit note"' in mine and 'aria-label="Edit note"' not in theirs


def test_each_session_gets_its_own_csrf_token_and_it_works(app, make_client, users, desk):
    first, second = make_client(), make_client()
    login(first, users.agent)
    login(second, users.agent)
    for path in pages(desk).values():
        a, b = body(first, path), body(second, path)
        tokens_a = set(re.findall(r'name="csrf_token" value="([^"]+)"', a))
        tokens_b = set(re.findall(r'name="csrf_token" value="([^"]+)"', b))
        assert tokens_a and tokens_b and not tokens_a & tokens_b, path
        assert "\x00" not in a and "csrf-" not in a.replace("csrf-token", "")
    # The token a cached board gave the second session moves a card for it.
    board = body(second, pages(desk)["board"])
    token = re.search(r'name="csrf_token" value="([^"]+)"', board).group(1)
    solved = next(s for s in desk.care.stages if s.name == "Solved")
    response = second.post(f"/helpdesk/board/tickets/{desk.ticket.id}/move",
                           data={"csrf_token": token, "stage_id": solved.id})
    assert response.status_code == 302
    assert "is now in Solved" in body(second, pages(desk)["board"])


def test_a_change_behind_the_sessions_back_shows_within_the_minute(app, client, users, desk, monkeypatch, one_minute):
    sign_in(client, users.agent)
    path = pages(desk)["list"]
    body(client, path)
    with db.engine.begin() as conn:  # a script on a raw connection: no hook sees it
        conn.execute(text("UPDATE helpdesk_tickets SET title = 'Changed by a script' WHERE id = :id"),
                     {"id": desk.ticket.id})
    db.session.commit()  # the test shares the requests' session: it must not hold the old row
    db.session.expire_all()
    assert "Changed by a script" not in body(client, path)
    monkeypatch.setattr(pagecache, "_minute", lambda: one_minute + 1)
    assert "Changed by a script" in body(client, path)


def test_closing_a_stage_in_settings_shows_at_once(app, client, users, desk):
    sign_in(client, users.agent)
    path = pages(desk)["list"]
    stage = db.session.get(Ticket, desk.ticket.id).stage
    assert "Solved" not in body(client, path).split("<tbody>")[1]
    helpdesk_config.update_stage(stage, name="Solved already", teams=stage.teams, is_closing=True)
    db.session.commit()
    assert "Solved already" in body(client, path + "?status=all")


def test_versions_move_before_the_live_events_go_out(app, users, desk):
    """A board told of a change by its socket and reloading at once must not get the old page."""
    from app.services.transaction import on_commit

    versions = app.extensions["hilo_pagecache"].versions
    scope = pagecache.team(desk.care.id)
    before = versions.get([scope])
    seen = []
    db.session.get(Ticket, desk.ticket.id).title = "Moved on"
    on_commit(lambda: seen.append(versions.get([scope])))  # where the live events go out
    db.session.commit()
    assert seen and seen[0] != before


def test_a_missed_sla_target_shows_on_the_ticket_page_and_retires_only_that_ticket(app, client, users):
    from datetime import timedelta

    from app.models import SlaPolicy, TicketSla
    from app.models.base import utcnow
    from app.services import sla

    with app.test_request_context(base_url=app.config["BASE_URL"]):
        team = helpdesk.create_team("Care", members=[users.agent], use_sla=True)
        customer = make_contact("Ada", "ada@engines.test")
        db.session.add(SlaPolicy(team=team, name="Gold", customer=customer, first_reply_hours=4))
        ticket = helpdesk.create_ticket(team, "Printer on fire", customer=customer)
        other = helpdesk.create_ticket(team, "Mouse squeaks")
        db.session.commit()
    sign_in(client, users.agent)
    page, elsewhere = f"/helpdesk/tickets/{ticket.id}", f"/helpdesk/tickets/{other.id}"
    assert "Failed" not in body(client, page)
    body(client, elsewhere)
    count = rendered(app)
    row = db.session.scalars(select(TicketSla).where(TicketSla.ticket_id == ticket.id)).one()
    row.deadline = utcnow() - timedelta(minutes=1)
    db.session.commit()
    body(client, page)  # (its deadline moved: the page was redone once already)
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        assert sla.record_failure(db.session.get(TicketSla, row.id), utcnow())
        sla.summarise(db.session.get(Ticket, ticket.id))
        db.session.commit()
    assert "Failed" in body(client, page)
    before = rendered(app)
    body(client, elsewhere)
    assert rendered(app) == before  # the other ticket's page was not retired by the claim
    assert count < before


@pytest.mark.parametrize("who", ["admin", "agent"])
def test_lists_follow_tickets_of_archived_teams_too(app, client, users, desk, who):
    """Admins read every ticket and members their archived team's: their lists must follow them."""
    desk.care.active = False
    db.session.commit()
    sign_in(client, getattr(users, who))
    assert "Printer on fire" in body(client, "/helpdesk/tickets?status=all")
    helpdesk.update(db.session.get(Ticket, desk.ticket.id), users.admin, title="Printer fixed")
    db.session.commit()
    assert "Printer fixed" in body(client, "/helpdesk/tickets?status=all")


def test_a_rollback_bumps_nothing(app, client, users, desk):
    sign_in(client, users.agent)
    path = pages(desk)["board"]
    body(client, path)
    versions = app.extensions["hilo_pagecache"].versions
    scopes = [pagecache.GLOBAL, pagecache.team(desk.care.id), pagecache.ticket(desk.ticket.id)]
    before = versions.get(scopes)
    db.session.get(Ticket, desk.ticket.id).title = "Never saved"
    db.session.flush()
    db.session.rollback()
    assert versions.get(scopes) == before
    assert "Never saved" not in body(client, path)


def test_turned_off_it_renders_every_time(app, client, users, desk):
    cache = app.extensions["hilo_pagecache"]
    sign_in(client, users.agent)
    cache.enabled = False
    try:
        body(client, pages(desk)["board"])
        assert rendered(app) == 0
    finally:
        cache.enabled = True


def test_the_budget_drops_the_least_recently_used():
    fragments = pagecache.Fragments(max_bytes=10)
    fragments.put("a", "12345")
    fragments.put("b", "12345")
    assert fragments.get("a") == "12345"  # a is now the most recent
    fragments.put("c", "123")
    assert fragments.get("b") is None and fragments.get("a") and fragments.get("c")
    fragments.put("huge", "x" * 11)
    assert fragments.get("huge") is None and fragments.size <= 10


def test_versions_are_shared_through_redis(app, client, users, desk):
    if not app.config["REDIS_URL"]:
        pytest.skip("the embedded run keeps versions in its one process")
    from redis import Redis

    sign_in(client, users.agent)
    path = pages(desk)["list"]
    body(client, path)
    count = rendered(app)
    # Another process bumping the team's version (its own Redis connection) is seen here.
    Redis.from_url(app.config["REDIS_URL"]).incr(f"{app.config['REALTIME_PREFIX']}:pagecache:team:{desk.care.id}")
    body(client, path)
    assert rendered(app) == count + 1


# ---- a whole ticket page (`pagecache.hit`): served before the route reads anything ----------------

def statements_of(app, client, path) -> list[str]:
    seen = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    from sqlalchemy import event

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        body(client, path)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return seen


@pytest.mark.parametrize("page", ["ticket", "board"])
def test_a_kept_page_costs_the_signed_in_user_only(app, client, users, desk, page):
    sign_in(client, users.agent)
    path = pages(desk)[page]
    first = body(client, path)
    statements = statements_of(app, client, path)
    assert len(statements) == 1 and "FROM users" in statements[0]  # the user, with the bell's count
    assert without_tokens(body(client, path)) == without_tokens(first)


def test_a_kept_ticket_list_costs_the_user_and_their_teams(app, client, users, desk):
    sign_in(client, users.agent)
    path = pages(desk)["list"] + "?status=all"
    first = body(client, path)
    statements = statements_of(app, client, path)
    assert len(statements) == 2 and "FROM users" in statements[0] and "team_members" in statements[1]
    assert without_tokens(body(client, path)) == without_tokens(first)


@pytest.mark.parametrize("page, change", [
    *(("ticket", change) for change in ("left_the_team", "demoted_admin", "ticket_moved_team", "deactivated")),
    *(("board", change) for change in ("left_the_team", "demoted_admin", "team_archived", "deactivated")),
])
def test_a_kept_page_is_not_served_to_someone_who_lost_access(app, client, users, desk, page, change):
    reader = users.admin if change == "demoted_admin" else users.agent
    sign_in(client, reader)
    path = pages(desk)[page]
    body(client, path)
    body(client, path)  # kept, and served from the cache
    if change == "left_the_team":
        helpdesk_config.update_team(desk.care, name=desk.care.name, members=[users.agent2], leads=[])
    elif change == "demoted_admin":
        db.session.get(type(users.admin), users.admin.id).role = "agent"
    elif change == "ticket_moved_team":
        elsewhere = make_team("Billing", members=[users.agent2])
        db.session.get(Ticket, desk.ticket.id).team = elsewhere
    elif change == "team_archived":
        helpdesk_config.set_team_active(desk.care, False)
    else:
        db.session.get(type(users.agent), users.agent.id).active = False
    db.session.commit()
    assert client.get(path).status_code in (302, 404)


def test_the_bell_on_a_kept_ticket_page_is_true(app, client, users, desk):
    from app.services import notifications

    sign_in(client, users.agent)
    path = pages(desk)["ticket"]
    assert 'aria-label="Notifications: 0 unread"' in body(client, path)
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        notifications.notify(db.session.get(type(users.agent), users.agent.id), "system", "Look at this")
        db.session.commit()
    assert 'aria-label="Notifications: 1 unread"' in body(client, path)
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        notifications.mark_read(db.session.get(type(users.agent), users.agent.id))
        db.session.commit()
    assert 'aria-label="Notifications: 0 unread"' in body(client, path)


def test_a_flashed_notice_shows_once_and_is_never_kept(app, client, users, desk):
    token = sign_in(client, users.agent)
    path = pages(desk)["ticket"]
    body(client, path)
    response = client.post(path, data={"csrf_token": token, "title": "Printer on fire", "priority": "2",
                                       "team_id": desk.care.id, "stage_id": db.session.get(Ticket, desk.ticket.id).stage_id,
                                       "assignee_id": "", "type_id": "", "tags": ""})
    assert response.status_code == 302
    assert "saved." in body(client, path)
    assert "saved." not in body(client, path)  # shown once: neither kept with the page nor lost
