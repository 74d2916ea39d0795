"""Settings › Helpdesk: teams, stages, types and tags, working calendars, SLA policies (admins only)."""
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import SlaPolicy, Stage, Tag, Team, TicketType, WorkingCalendar
from tests.conftest import make_team, make_ticket
from tests.web.conftest import count, sign_in

WEEK = {f"day_{i}": "09:00-13:00, 15:00-19:00" for i in range(5)}


@pytest.fixture
def team(app, users):
    return make_team("Support", members=[users.agent], leads=[users.agent2])


def stage_named(name: str) -> Stage:
    return db.session.scalar(select(Stage).where(Stage.name == name))


def paths(team):
    stage = team.stages[0]
    return [("GET", "/admin/helpdesk/teams"), ("GET", f"/admin/helpdesk/teams/{team.id}"),
            ("GET", "/admin/helpdesk/teams/new"), ("POST", f"/admin/helpdesk/teams/{team.id}/archive"),
            ("GET", "/admin/helpdesk/stages"), ("GET", f"/admin/helpdesk/stages/{stage.id}"),
            ("POST", f"/admin/helpdesk/stages/{stage.id}/move"), ("GET", "/admin/helpdesk/labels"),
            ("POST", "/admin/helpdesk/tags"), ("GET", "/admin/helpdesk/calendars"),
            ("GET", "/admin/helpdesk/calendars/new"), ("GET", "/admin/helpdesk/sla"),
            ("GET", f"/admin/helpdesk/teams/{team.id}/sla/new")]


@pytest.mark.parametrize("who, expected", [("admin", 200), ("agent", 403), ("agent2", 403), ("portal", 403),
                                           (None, 302)])
def test_only_admins_reach_the_helpdesk_settings(client, users, team, who, expected):
    token = sign_in(client, getattr(users, who) if who else None)
    for method, path in paths(team):
        if method == "GET":
            response = client.get(path)
        else:
            response = client.post(path, data={"csrf_token": token, "direction": "down", "tag-name": "vip"})
        allowed = (200, 302) if expected == 200 else (expected,)
        assert response.status_code in allowed, (method, path, response.status_code)
        if who is None:
            assert "/login" in response.headers["Location"]
    if expected != 200:
        db.session.expire_all()
        assert db.session.get(Team, team.id).active and count(Tag) == 0  # nothing changed


def test_an_admin_creates_a_team_with_members_and_a_lead(client, users):
    token = sign_in(client, users.admin)
    response = client.post("/admin/helpdesk/teams/new", data={
        "csrf_token": token, "name": "  Billing  ", "members": [users.agent.id, users.agent2.id],
        "leads": [users.agent2.id], "assignment": "balanced", "use_email": "y", "use_sla": "y",
        "calendar": "", "daily_target": "8"})
    assert response.status_code == 302
    team = db.session.scalar(select(Team).where(Team.name == "Billing"))
    assert team.assignment == "balanced" and team.use_sla and team.daily_target == 8
    assert {(m.user.email, m.is_lead) for m in team.members} == {("agent@example.com", False),
                                                                   ("agent2@example.com", True)}
    assert [s.name for s in team.stages][:2] == ["New", "In progress"]


@pytest.mark.parametrize("data, message", [
    ({"name": ""}, "name"),
    ({"name": "Support"}, "already a team"),
    ({"name": "Other", "daily_target": "-3"}, "arget"),
    ({"name": "Other", "assignment": "lottery"}, "Not a valid choice"),
])
def test_a_refused_team_says_why_and_keeps_the_input(client, users, team, data, message):
    token = sign_in(client, users.admin)
    form = {"csrf_token": token, "assignment": "manual", "daily_target": "5", "calendar": "",
            "description": "kept text", **data}
    response = client.post("/admin/helpdesk/teams/new", data=form)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page and "kept text" in page
    assert count(Team) == 1


def test_archiving_a_team_stops_new_tickets(client, users, team):
    token = sign_in(client, users.admin)
    assert client.post(f"/admin/helpdesk/teams/{team.id}/archive", data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    assert not db.session.get(Team, team.id).active


def test_unknown_records_are_404(client, users):
    token = sign_in(client, users.admin)
    for path in ("/admin/helpdesk/teams/999", "/admin/helpdesk/stages/999", "/admin/helpdesk/calendars/999",
                 "/admin/helpdesk/sla/999"):
        assert client.get(path).status_code == 404, path
    assert client.post("/admin/helpdesk/tags/999", data={"csrf_token": token}).status_code == 404


def test_a_stage_moves_in_the_order(client, users, team):
    token = sign_in(client, users.admin)
    new, progress = stage_named("New"), stage_named("In progress")
    assert client.post(f"/admin/helpdesk/stages/{new.id}/move",
                       data={"csrf_token": token, "direction": "down"}).status_code in (200, 302)
    db.session.expire_all()
    assert stage_named("New").sequence > stage_named("In progress").sequence


def test_a_stage_with_tickets_is_deleted_only_by_moving_them(client, users, team):
    ticket = make_ticket(team, "Broken")
    token = sign_in(client, users.admin)
    new = stage_named("New")
    refused = client.post(f"/admin/helpdesk/stages/{new.id}/delete", data={"csrf_token": token, "move_to": ""})
    assert refused.status_code == 422 and stage_named("New") is not None
    target = stage_named("In progress")
    moved = client.post(f"/admin/helpdesk/stages/{new.id}/delete", data={"csrf_token": token, "move_to": target.id})
    assert moved.status_code == 302
    db.session.expire_all()
    assert stage_named("New") is None and db.session.get(type(ticket), ticket.id).stage_id == target.id


def test_a_stage_email_names_only_known_placeholders(client, users, team):
    token = sign_in(client, users.admin)
    stage = stage_named("Solved")
    form = {"csrf_token": token, "name": "Solved", "teams": [team.id], "is_closing": "y", "mail_subject": "Solved"}
    refused = client.post(f"/admin/helpdesk/stages/{stage.id}", data={**form, "mail_body": "Hi {{ticket.secret}}"})
    assert refused.status_code == 422 and "ticket.secret" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert stage_named("Solved").mail_body == ""
    # Anything that is not a placeholder's name is plain text (never evaluated).
    saved = client.post(f"/admin/helpdesk/stages/{stage.id}",
                        data={**form, "mail_body": "{{ticket.ref}} is solved {{ ''.__class__ }}"})
    assert saved.status_code == 302
    db.session.expire_all()
    assert stage_named("Solved").mail_body == "{{ticket.ref}} is solved {{ ''.__class__ }}"


def test_types_and_tags_are_added_renamed_and_refused_when_taken(client, users):
    token = sign_in(client, users.admin)
    assert client.post("/admin/helpdesk/types", data={"csrf_token": token, "type-name": "Bug"}).status_code == 302
    again = client.post("/admin/helpdesk/types", data={"csrf_token": token, "type-name": "bug"})
    assert again.status_code == 422 and "already" in again.get_data(as_text=True)
    assert client.post("/admin/helpdesk/tags", data={"csrf_token": token, "tag-name": "vip",
                                                     "tag-color": "3"}).status_code == 302
    tag = db.session.scalar(select(Tag))
    assert tag.color == 3
    bad = client.post("/admin/helpdesk/tags", data={"csrf_token": token, "tag-name": "x", "tag-color": "99"})
    assert bad.status_code == 422
    assert count(TicketType) == 1 and count(Tag) == 1


def test_a_calendar_with_a_split_shift_is_saved_and_previewed(client, users, team):
    token = sign_in(client, users.admin)
    response = client.post("/admin/helpdesk/calendars/new", data={
        "csrf_token": token, "name": "Madrid office", "tz": "Europe/Madrid", **WEEK,
        "holidays": "2026-12-25\n", "special_days": "2026-12-24 09:00-13:00"})
    assert response.status_code == 302
    calendar = db.session.scalar(select(WorkingCalendar))
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "falls due" in page
    from app.services import sla

    parsed = sla.parse_calendar(calendar.tz, calendar.week, calendar.holidays, calendar.special_days)
    assert len(parsed.week[0]) == 2 and parsed.week[5] == ()


@pytest.mark.parametrize("data, field_text", [
    ({"tz": "Mars/Olympus"}, "not a time zone"),
    ({"day_2": "19:00-09:00"}, "Wednesday"),
    ({"holidays": "25/12/2026"}, "is not a date"),
    ({"special_days": "tomorrow 09:00-13:00"}, "is not a date"),
])
def test_a_bad_calendar_says_where_and_keeps_what_was_typed(client, users, data, field_text):
    token = sign_in(client, users.admin)
    form = {"csrf_token": token, "name": "Office", "tz": "Europe/Madrid", **WEEK, **data}
    response = client.post("/admin/helpdesk/calendars/new", data=form)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_text in page and "09:00-13:00, 15:00-19:00" in page
    assert count(WorkingCalendar) == 0


def test_a_policy_is_saved_and_its_team_tickets_get_deadlines(client, users, team):
    db.session.get(Team, team.id).use_sla = True
    db.session.commit()
    ticket = make_ticket(team, "Slow printer", priority=2)
    token = sign_in(client, users.admin)
    response = client.post(f"/admin/helpdesk/teams/{team.id}/sla/new", data={
        "csrf_token": token, "name": "High", "min_priority": "2", "first_reply_hours": "4",
        "resolution_stage": "", "escalate_action": "", "active": "y"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert count(SlaPolicy) == 1
    db.session.expire_all()
    assert db.session.get(type(ticket), ticket.id).sla_deadline is not None


@pytest.mark.parametrize("data, message", [
    ({"first_reply_hours": "-1"}, "negative"),
    ({}, "at least one target"),
    ({"first_reply_hours": "4", "escalate_hours": "1", "escalate_action": ""}, "scalat"),
])
def test_a_refused_policy_says_why(client, users, team, data, message):
    token = sign_in(client, users.admin)
    form = {"csrf_token": token, "name": "Gold", "min_priority": "0", "resolution_stage": "",
            "escalate_action": "", **data}
    response = client.post(f"/admin/helpdesk/teams/{team.id}/sla/new", data=form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert count(SlaPolicy) == 0
