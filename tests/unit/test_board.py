"""services/board.py: a team's columns (counts, order, folded stages, pages) and the session hooks
that publish changed cards on `helpdesk-team:<id>` after the commit, and only then."""
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Activity, Stage
from app.services import board, helpdesk
from app.services.helpdesk import HelpdeskError

pytestmark = pytest.mark.usefixtures("request_ctx")

DEADLINE = datetime(2026, 3, 10, 12, 0, 0, 123456)


@pytest.fixture
def care(users):
    team = helpdesk.create_team("Customer Care", members=[users.agent])
    db.session.commit()
    return team


@pytest.fixture
def billing(users):
    """Another team on the same default stages."""
    team = helpdesk.create_team("Billing", members=[users.agent2])
    db.session.commit()
    return team


def stage(name: str) -> Stage:
    return db.session.scalar(select(Stage).where(Stage.name == name))


def ticket(team, title: str = "Printer on fire", *, priority: int = 0, deadline: datetime | None = None,
           stage_name: str | None = None):
    row = helpdesk.create_ticket(team, title, priority=priority)
    row.sla_deadline = deadline
    if stage_name:
        helpdesk.move(row, stage(stage_name), None)
    db.session.commit()
    return row


@pytest.fixture
def column(care, billing):
    """Seven cards in New, in the board's order: priority, then the nearest deadline (none
    last), then the oldest; and a ticket of Billing in the same (shared) stage."""
    cards = [ticket(care, "a", priority=3, deadline=DEADLINE + timedelta(hours=1)),
             ticket(care, "b", priority=3, deadline=DEADLINE + timedelta(hours=1)),
             ticket(care, "c", priority=3),
             ticket(care, "d", priority=2, deadline=DEADLINE),
             ticket(care, "e", priority=2),
             ticket(care, "f", priority=2),
             ticket(care, "g", priority=0, deadline=DEADLINE + timedelta(days=5))]
    ticket(billing, "elsewhere", priority=3)
    return cards


def titles(tickets) -> str:
    return "".join(t.title for t in tickets)


# ---- reading -----------------------------------------------------------------------------------

def test_cards_come_by_priority_then_deadline_then_age(care, column):
    column[6].priority = 3  # now the most urgent, deadline after a's: third
    db.session.commit()
    found, more = board.cards(care, stage("New"))
    assert titles(found) == "abgcdef" and more is None


def test_a_column_pages_through_every_card_once(care, column):
    seen, pages, after = [], [], None
    while True:
        page, after = board.cards(care, stage("New"), after=after, limit=2)
        pages.append(titles(page))
        seen += page
        if after is None:
            break
    assert pages == ["ab", "cd", "ef", "g"]  # cursors after a deadline, a tie, no deadline
    assert [t.id for t in seen] == [t.id for t in column]


def test_a_full_last_page_has_no_further_cursor(care, column):
    page, after = board.cards(care, stage("New"), after=board.cursor_of(column[4]), limit=2)
    assert titles(page) == "fg" and after is None


@pytest.mark.parametrize("cursor", ["junk", "1~~", "x~~1", "3~not a date~5", "1~2~3~4"])
def test_a_junk_cursor_is_refused(care, column, cursor):
    with pytest.raises(HelpdeskError, match="does not exist"):
        board.cards(care, stage("New"), after=cursor)


def test_columns_follow_the_stages_with_counts_of_the_team_only(care, billing, monkeypatch, column):
    monkeypatch.setattr(board, "PAGE_SIZE", 2)
    ticket(care, "working", stage_name="In progress")
    ticket(care, "done", stage_name="Solved")
    ticket(care, "dropped", stage_name="Cancelled")

    columns = board.columns(care)
    assert [(c.stage.name, c.count) for c in columns] == [
        ("New", 7), ("In progress", 1), ("Waiting on customer", 0), ("Solved", 1), ("Cancelled", 1)]
    by_name = {c.stage.name: c for c in columns}
    assert titles(by_name["New"].cards) == "ab" and by_name["New"].more == board.cursor_of(column[1])
    assert titles(by_name["In progress"].cards) == "working" and by_name["In progress"].more is None
    assert titles(by_name["Solved"].cards) == "done"  # closed tickets stay on the board
    assert by_name["Waiting on customer"].cards == []
    folded = by_name["Cancelled"]
    assert folded.stage.is_folded and folded.cards == [] and folded.more is None  # count only
    assert board.stage_counts(care) == {stage("New").id: 7, stage("In progress").id: 1,
                                        stage("Solved").id: 1, stage("Cancelled").id: 1}
    assert board.stage_counts(billing) == {stage("New").id: 1}


def test_the_first_page_of_columns_matches_the_column_pages(care, column, monkeypatch):
    monkeypatch.setattr(board, "PAGE_SIZE", 3)
    new = next(c for c in board.columns(care) if c.stage.name == "New")
    page, more = board.cards(care, stage("New"), limit=3)
    assert [t.id for t in new.cards] == [t.id for t in page] and new.more == more


def test_stage_of_team_takes_only_the_teams_own_stages(care, billing):
    only_billing = Stage(name="Billing only", sequence=60)
    only_billing.teams = [billing]
    db.session.add(only_billing)
    db.session.commit()
    new = stage("New")
    assert board.stage_of_team(care, str(new.id)) is new
    assert board.stage_of_team(care, f" {new.id} ") is new
    for raw in (only_billing.id, "abc", "", None, "-1", "99999999"):
        with pytest.raises(HelpdeskError, match="not a stage of Customer Care"):
            board.stage_of_team(care, raw)


def test_activity_badges_count_open_activities_and_flag_overdue_ones(users, care, column):
    today = date(2026, 3, 10)
    overdue, due_today, quiet = column[0], column[1], column[2]

    def activity(row, due, done=False):
        db.session.add(Activity(thread_id=row.ensure_thread().id, summary="Call back", due_date=due,
                                assignee_id=users.agent.id, done_at=datetime(2026, 3, 9) if done else None))

    activity(overdue, today + timedelta(days=1))
    activity(overdue, today - timedelta(days=1))
    activity(due_today, today)
    activity(quiet, today - timedelta(days=3), done=True)
    db.session.commit()

    badges = board.activity_badges([overdue, due_today, quiet], today=today)
    assert set(badges) == {overdue.id, due_today.id}
    assert (badges[overdue.id].count, badges[overdue.id].overdue) == (2, True)
    assert (badges[due_today.id].count, badges[due_today.id].overdue) == (1, False)
    assert board.activity_badges([]) == {}


# ---- live updates ------------------------------------------------------------------------------

def board_events(events) -> list[tuple[str, str]]:
    return [(topic, html) for topic, html in events if topic.startswith("helpdesk-team:")]


@pytest.fixture
def counted(monkeypatch):
    """The team ids whose column counts were computed, in order."""
    calls = []
    original = board.stage_counts

    def spy(team):
        calls.append(team.id)
        return original(team)

    monkeypatch.setattr(board, "stage_counts", spy)
    return calls


def test_a_moved_card_goes_out_on_its_team_topic_after_the_commit(users, care, column, events):
    moved = column[3]
    events.clear()
    helpdesk.move(moved, stage("In progress"), users.agent)
    db.session.flush()
    assert board_events(events) == []  # nothing before the commit
    db.session.commit()

    [(topic, html)] = board_events(events)
    assert topic == board.topic(care.id) == f"helpdesk-team:{care.id}"
    assert f'<div id="card-{moved.id}" hx-swap-oob="delete"></div>' in html
    assert f'hx-swap-oob="beforeend:#cards-{stage("In progress").id}"' in html
    assert f'id="count-{stage("New").id}" hx-swap-oob="true">6<' in html
    assert f'id="count-{stage("In progress").id}" hx-swap-oob="true">1<' in html
    assert f'id="count-{stage("Solved").id}" hx-swap-oob="true">0<' in html  # empty columns too
    assert "csrf_token" not in html  # rendered once for every viewer


def test_a_bulk_change_counts_each_team_once_per_commit(users, care, column, events, counted):
    events.clear()
    helpdesk.bulk_change(column[:3], users.agent, stage=stage("In progress"))
    db.session.commit()
    assert counted == [care.id]
    found = board_events(events)
    assert len(found) == 3 and {topic for topic, _ in found} == {board.topic(care.id)}
    assert all(f'id="count-{stage("In progress").id}" hx-swap-oob="true">3<' in html for _, html in found)

    helpdesk.update(column[4], users.agent, priority=3)
    db.session.commit()
    assert counted == [care.id, care.id]  # a new commit counts anew


def test_a_card_changing_team_leaves_the_old_board_and_joins_the_new(users, care, billing, column, events, counted):
    moved = column[0]
    events.clear()
    helpdesk.update(moved, users.agent, team=billing)
    db.session.commit()
    topics = dict(board_events(events))
    assert set(topics) == {board.topic(care.id), board.topic(billing.id)}
    assert sorted(counted) == sorted([care.id, billing.id])
    old, new = topics[board.topic(care.id)], topics[board.topic(billing.id)]
    assert f'id="card-{moved.id}" hx-swap-oob="delete"' in old and "beforeend" not in old
    assert f'id="count-{stage("New").id}" hx-swap-oob="true">6<' in old
    assert f'hx-swap-oob="beforeend:#cards-{stage("New").id}"' in new
    assert f'id="count-{stage("New").id}" hx-swap-oob="true">2<' in new


def test_nothing_is_published_for_a_rolled_back_change(users, care, column, events):
    events.clear()
    helpdesk.update(column[0], users.agent, priority=1)
    db.session.flush()  # the hook has seen it
    db.session.rollback()
    db.session.commit()
    assert board_events(events) == []

    helpdesk.update(column[1], users.agent, title="Only this one")
    db.session.commit()
    [(_, html)] = board_events(events)  # the rolled-back card is not remembered for later
    assert f'id="card-{column[1].id}"' in html and f'id="card-{column[0].id}"' not in html


def test_a_deleted_ticket_leaves_its_board(care, column, events):
    gone = column[6]
    gone_id = gone.id
    events.clear()
    db.session.delete(gone)
    db.session.commit()
    [(topic, html)] = board_events(events)
    assert topic == board.topic(care.id)
    assert f'<div id="card-{gone_id}" hx-swap-oob="delete"></div>' in html and "beforeend" not in html


def test_a_new_activity_refreshes_its_card(users, care, column, events):
    events.clear()
    db.session.add(Activity(thread_id=column[2].ensure_thread().id, summary="Call back",
                            due_date=date.today() - timedelta(days=1), assignee_id=users.agent.id))
    db.session.commit()
    [(topic, html)] = board_events(events)
    assert topic == board.topic(care.id)
    assert f'id="card-{column[2].id}"' in html and "board-activity is-overdue" in html
