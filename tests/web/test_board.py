"""The helpdesk board: who may see and change it, moves (stale, foreign, junk), stars, quick create,
lazy columns, the live card on the team's topic, and a page whose queries don't grow with tickets."""
import pytest
from sqlalchemy import event, select

from app.extensions import db
from app.models import Message, Stage, Ticket
from app.services import board, helpdesk, realtime
from tests.conftest import make_contact, make_user
from tests.web.conftest import sign_in

HTMX = {"HX-Request": "true"}


@pytest.fixture
def world(app, users):
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        care = helpdesk.create_team("Customer Care", members=[users.agent])
        billing = helpdesk.create_team("Billing", members=[users.agent2])
        ticket = helpdesk.create_ticket(care, "Printer on fire", customer=make_contact("Ada", "ada@c.test"),
                                        priority=2, tags=helpdesk.tags_named(["hardware"]))
        foreign = Stage(name="Billing only", sequence=60)
        foreign.teams = [billing]
        db.session.add(foreign)
    db.session.commit()
    stages = {s.name: s for s in care.stages}
    return type("World", (), {"care": care, "billing": billing, "ticket": ticket, "stages": stages,
                              "foreign": foreign})


def arrived(received, timeout: float = 5.0) -> bool:
    """Whether something came on the bus (through Redis it comes on another thread, a moment later)."""
    import time

    end = time.monotonic() + timeout
    while not received and time.monotonic() < end:
        time.sleep(0.02)
    return bool(received)


def fresh(ticket_id: int) -> Ticket:
    db.session.expire_all()
    return db.session.get(Ticket, ticket_id)


ROUTES = [
    ("GET", "/helpdesk/teams/{team}/board"),
    ("GET", "/helpdesk/teams/{team}/board/stages/{new}"),
    ("POST", "/helpdesk/board/tickets/{t}/move"),
    ("POST", "/helpdesk/board/tickets/{t}/priority"),
    ("POST", "/helpdesk/board/tickets/{t}/assignee"),
    ("POST", "/helpdesk/teams/{team}/board/stages/{new}/tickets"),
]


@pytest.mark.parametrize("method, template", ROUTES)
@pytest.mark.parametrize("who, expected", [
    ("admin", {"GET": 200, "POST": 302}), ("agent", {"GET": 200, "POST": 302}),
    ("agent2", {"GET": 404, "POST": 404}), ("portal", {"GET": 403, "POST": 403}), (None, {"GET": 302, "POST": 302}),
])
def test_who_may_see_and_change_the_board(client, users, world, method, template, who, expected):
    token = sign_in(client, getattr(users, who) if who else None)
    path = template.format(team=world.care.id, t=world.ticket.id, new=world.stages["New"].id)
    if method == "GET":
        response = client.get(path)
    else:
        response = client.post(path, data={"csrf_token": token, "stage_id": world.stages["Solved"].id,
                                           "priority": "3", "assignee_id": users.agent.id, "title": "Quick one"})
    assert response.status_code == expected[method]
    if who in ("agent2", "portal", None):
        assert "Printer on fire" not in response.get_data(as_text=True)
        ticket = fresh(world.ticket.id)
        assert (ticket.stage.name, ticket.priority) == ("New", 2)  # nothing changed
        assert db.session.scalar(select(Ticket).where(Ticket.title == "Quick one")) is None
    if who is None:
        assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("who, expected", [("admin", 302), ("agent", 302), ("agent2", 302), ("portal", 403)])
def test_the_board_home_opens_my_first_team(client, users, world, who, expected):
    sign_in(client, getattr(users, who))
    response = client.get("/helpdesk/board")
    assert response.status_code == expected
    if who == "agent":
        assert response.headers["Location"].endswith(f"/helpdesk/teams/{world.care.id}/board")


def test_the_board_home_without_a_team_says_so(client, users, world):
    other = make_user("agent")
    sign_in(client, other)
    response = client.get("/helpdesk/board")
    assert response.status_code == 200
    assert "not in a helpdesk team yet" in response.get_data(as_text=True)


def test_the_board_shows_columns_counts_cards_in_order(client, users, world):
    with client.application.test_request_context():
        low = helpdesk.create_ticket(world.care, "Low one", priority=0)
        urgent = helpdesk.create_ticket(world.care, "Urgent one", priority=3)
    db.session.commit()
    sign_in(client, users.agent)
    page = client.get(f"/helpdesk/teams/{world.care.id}/board").get_data(as_text=True)
    assert [name in page for name in ("New", "In progress", "Solved", "Cancelled")] == [True] * 4
    assert f'id="count-{world.stages["New"].id}" aria-label="3 tickets">3<' in page
    assert page.index("Urgent one") < page.index("Printer on fire") < page.index("Low one")
    assert "hardware" in page and "Ada" in page and f"card-{urgent.id}" in page and low.ref in page
    assert "helpdesk-team:%d" % world.care.id in page  # the socket's topic
    assert 'class="board-column is-folded"' in page  # Cancelled is folded


def test_a_move_goes_through_and_is_tracked(client, users, world):
    token = sign_in(client, users.agent)
    progress = world.stages["In progress"]
    response = client.post(f"/helpdesk/board/tickets/{world.ticket.id}/move", headers=HTMX, data={
        "csrf_token": token, "stage_id": progress.id, "from_stage": world.stages["New"].id})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert f'hx-swap-oob="beforeend:#cards-{progress.id}"' in body and f'id="count-{progress.id}"' in body
    ticket = fresh(world.ticket.id)
    assert ticket.stage_id == progress.id
    kinds = db.session.scalars(select(Message.kind).where(Message.thread_id == ticket.ensure_thread().id)).all()
    assert "tracking" in kinds  # the move is in the ticket's thread


def test_a_stale_drag_answers_409_with_the_truth(client, users, world):
    token = sign_in(client, users.agent)
    with client.application.test_request_context():
        helpdesk.move(world.ticket, world.stages["In progress"], users.agent2)
    db.session.commit()
    response = client.post(f"/helpdesk/board/tickets/{world.ticket.id}/move", headers=HTMX, data={
        "csrf_token": token, "stage_id": world.stages["Solved"].id, "from_stage": world.stages["New"].id})
    assert response.status_code == 409
    body = response.get_data(as_text=True)
    assert "moved meanwhile" in body and "In progress" in body
    assert f'beforeend:#cards-{world.stages["In progress"].id}' in body
    assert fresh(world.ticket.id).stage.name == "In progress"


@pytest.mark.parametrize("stage_id, message", [
    ("foreign", "not a stage of Customer Care"), ("junk", "not a stage"), ("", "not a stage"), ("999999", "not a stage"),
])
def test_bad_moves_are_refused_and_the_card_snaps_back(client, users, world, stage_id, message):
    token = sign_in(client, users.agent)
    raw = {"foreign": str(world.foreign.id), "junk": "abc"}.get(stage_id, stage_id)
    response = client.post(f"/helpdesk/board/tickets/{world.ticket.id}/move", headers=HTMX,
                           data={"csrf_token": token, "stage_id": raw})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert message in body and f'beforeend:#cards-{world.stages["New"].id}' in body
    assert fresh(world.ticket.id).stage.name == "New"


def test_an_unknown_ticket_is_a_404(client, users, world):
    token = sign_in(client, users.agent)
    response = client.post("/helpdesk/board/tickets/999999/move", data={"csrf_token": token, "stage_id": "1"})
    assert response.status_code == 404


def test_a_move_without_javascript_redirects_to_the_board(client, users, world):
    token = sign_in(client, users.agent)
    response = client.post(f"/helpdesk/board/tickets/{world.ticket.id}/move", data={
        "csrf_token": token, "stage_id": world.stages["Solved"].id, "from_stage": world.stages["New"].id})
    assert response.status_code == 302 and f"/teams/{world.care.id}/board" in response.headers["Location"]
    assert fresh(world.ticket.id).is_closed
    bad = client.post(f"/helpdesk/board/tickets/{world.ticket.id}/move", data={"csrf_token": token, "stage_id": "x"},
                      follow_redirects=True)
    assert "not a stage" in bad.get_data(as_text=True)


@pytest.mark.parametrize("raw, status, priority", [("3", 200, 3), ("0", 200, 0), ("4", 422, 2), ("x", 422, 2),
                                                    ("", 422, 2)])
def test_stars_set_the_priority(client, users, world, raw, status, priority):
    token = sign_in(client, users.agent)
    response = client.post(f"/helpdesk/board/tickets/{world.ticket.id}/priority", headers=HTMX,
                           data={"csrf_token": token, "priority": raw})
    assert response.status_code == status
    assert fresh(world.ticket.id).priority == priority
    if status == 422:
        assert "Priority is 0" in response.get_data(as_text=True)


def test_assigning_a_non_member_is_refused(client, users, world):
    token = sign_in(client, users.agent)
    response = client.post(f"/helpdesk/board/tickets/{world.ticket.id}/assignee", headers=HTMX,
                           data={"csrf_token": token, "assignee_id": users.agent2.id})
    assert response.status_code == 422 and "not a member" in response.get_data(as_text=True)
    junk = client.post(f"/helpdesk/board/tickets/{world.ticket.id}/assignee", headers=HTMX,
                       data={"csrf_token": token, "assignee_id": "zz"})
    assert junk.status_code == 422
    assert fresh(world.ticket.id).assignee_id is None


def test_quick_create_puts_the_ticket_in_the_column(client, users, world):
    token = sign_in(client, users.agent)
    progress = world.stages["In progress"]
    response = client.post(f"/helpdesk/teams/{world.care.id}/board/stages/{progress.id}/tickets", headers=HTMX,
                           data={"csrf_token": token, "title": "  Phone call ", "customer_email": "Eve@C.test"})
    assert response.status_code == 200
    ticket = db.session.scalar(select(Ticket).where(Ticket.title == "Phone call"))
    assert ticket.stage_id == progress.id and ticket.customer.email.lower() == "eve@c.test" and ticket.team_id == world.care.id
    assert f"card-{ticket.id}" in response.get_data(as_text=True)


@pytest.mark.parametrize("data, message", [({"title": " ", "customer_email": "kept@c.test"}, "needs a title"),
                                           ({"title": "Kept title", "customer_email": "not-an-email"}, "not valid")])
def test_quick_create_refusals_keep_what_was_typed(client, users, world, data, message):
    token = sign_in(client, users.agent)
    path = f"/helpdesk/teams/{world.care.id}/board/stages/{world.stages['New'].id}/tickets"
    for headers in (HTMX, {}):
        response = client.post(path, headers=headers, data={"csrf_token": token, **data})
        assert response.status_code == 422
        body = response.get_data(as_text=True)
        assert message in body and f'value="{data["customer_email"]}"' in body
    assert db.session.scalar(select(Ticket).where(Ticket.title == "Kept title")) is None


def test_quick_create_in_another_teams_stage_is_refused(client, users, world):
    token = sign_in(client, users.agent)
    response = client.post(f"/helpdesk/teams/{world.care.id}/board/stages/{world.foreign.id}/tickets", headers=HTMX,
                           data={"csrf_token": token, "title": "Nope"})
    assert response.status_code == 422 and "not a stage of Customer Care" in response.get_data(as_text=True)


def test_long_columns_load_page_by_page(client, users, world, monkeypatch):
    monkeypatch.setattr(board, "PAGE_SIZE", 3)
    with client.application.test_request_context():
        for n in range(7):
            helpdesk.create_ticket(world.care, f"Bulk {n}", priority=n % 3)
    db.session.commit()
    sign_in(client, users.agent)
    new = world.stages["New"].id
    page = client.get(f"/helpdesk/teams/{world.care.id}/board").get_data(as_text=True)
    seen = page.count('class="board-card ')
    assert seen == 3 and 'hx-trigger="revealed"' in page
    path = f"/helpdesk/teams/{world.care.id}/board/stages/{new}"
    cursor = page.split(f"{path}?after=")[1].split('"')[0].replace("%7E", "~")
    titles = []
    while cursor:
        more = client.get(path, query_string={"after": cursor}).get_data(as_text=True)
        titles += [t for t in (f"Bulk {n}" for n in range(7)) if t in more]
        cursor = more.split(f"{path}?after=")[1].split('"')[0].replace("%7E", "~") if "?after=" in more else None
    assert len(titles) + seen == 8  # every card once
    assert client.get(path, query_string={"after": "junk"}).status_code == 404
    assert client.get(f"/helpdesk/teams/{world.care.id}/board/stages/{world.foreign.id}").status_code == 404


def test_the_board_page_queries_do_not_grow_with_tickets(client, users, world):
    sign_in(client, users.agent)
    path = f"/helpdesk/teams/{world.care.id}/board"

    def statements() -> int:
        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert client.get(path).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(seen)

    with client.application.test_request_context():  # one card of every kind first
        helpdesk.create_ticket(world.care, "Seed", assignee=users.agent, customer=make_contact("S", "s@c.test"))
        helpdesk.move(helpdesk.create_ticket(world.care, "Seed 2", assignee=users.agent,
                                             tags=helpdesk.tags_named(["t0"])), world.stages["In progress"], None)
    db.session.commit()
    few = statements()
    with client.application.test_request_context():
        for n in range(60):
            ticket = helpdesk.create_ticket(world.care, f"Many {n}", priority=n % 4, assignee=users.agent,
                                            customer=make_contact(f"C{n}", f"c{n}@c.test"),
                                            tags=helpdesk.tags_named([f"t{n % 5}"]))
            if n % 3 == 0:
                helpdesk.move(ticket, world.stages["In progress"], None)
    db.session.commit()
    assert statements() == few


def test_every_change_of_a_ticket_is_published_on_its_team_topic(app, users, world):
    received = []
    with realtime.subscribe([board.topic(world.care.id), board.topic(world.billing.id)],
                            lambda topic, html: received.append((topic, html))):
        with app.test_request_context():
            helpdesk.update(world.ticket, users.agent, priority=3)
        db.session.commit()
        assert arrived(received) and received[-1][0] == board.topic(world.care.id)
        assert f'id="card-{world.ticket.id}"' in received[-1][1] and "hx-swap-oob" in received[-1][1]
        assert "csrf_token" not in received[-1][1]  # each viewer's htmx sends their own
        received.clear()
        with app.test_request_context():
            helpdesk.update(world.ticket, users.agent, title="Rolled back")
        db.session.rollback()
        assert received == []  # nothing announced that did not happen
        # Changed outside any request (a job, the mail listener): still published.
        helpdesk.update(world.ticket, None, team=world.billing)
        db.session.commit()
        import time
        end = time.monotonic() + 5
        while len({t for t, _ in received}) < 2 and time.monotonic() < end:
            time.sleep(0.02)
        topics = {topic for topic, _ in received}
        assert topics == {board.topic(world.care.id), board.topic(world.billing.id)}
        old = next(html for topic, html in received if topic == board.topic(world.care.id))
        assert 'hx-swap-oob="delete"' in old and "beforeend" not in old  # gone from the old team's board


def test_a_new_activity_refreshes_the_card_badge(app, users, world):
    from datetime import date, timedelta

    from app.models import Activity

    received = []
    with realtime.subscribe([board.topic(world.care.id)], lambda topic, html: received.append(html)):
        db.session.add(Activity(thread_id=world.ticket.ensure_thread().id, summary="Call back",
                                due_date=date.today() - timedelta(days=2), assignee_id=users.agent.id))
        db.session.commit()
        assert arrived(received)
    assert "board-activity is-overdue" in received[-1]
