"""The board's socket topic `helpdesk-team:<id>` against a live server: its team's members and
admins receive the cards; anyone else is refused at subscription (close code 1008)."""
import pytest

from app.extensions import db
from app.services import board, helpdesk
from tests.web.test_ws import assert_refused, connect, receive_matching, session_cookie, wait_until_subscribed


@pytest.fixture
def care(app, users):
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        team = helpdesk.create_team("Customer Care", members=[users.agent])
        helpdesk.create_team("Billing", members=[users.agent2])
        db.session.commit()
    return team


@pytest.mark.parametrize("who", ["agent2", "portal", "anonymous"])
def test_a_board_socket_is_refused_outside_the_team(live_server, make_client, users, care, who):
    user = None if who == "anonymous" else getattr(users, who)
    assert_refused(connect(live_server, session_cookie(make_client, user), board.topic(care.id)))


@pytest.mark.parametrize("topic", ["helpdesk-team:999999", "helpdesk-team:abc", "helpdesk-team:"])
def test_a_board_socket_of_no_team_is_refused(live_server, make_client, users, care, topic):
    assert_refused(connect(live_server, session_cookie(make_client, users.admin), topic))


@pytest.mark.parametrize("who", ["agent", "admin"])
def test_an_archived_teams_board_socket_is_refused(live_server, make_client, users, care, who):
    care.active = False
    db.session.commit()
    assert_refused(connect(live_server, session_cookie(make_client, getattr(users, who)), board.topic(care.id)))


def test_one_refused_topic_refuses_the_socket(live_server, make_client, users, care):
    """A member of Billing asking for both boards gets neither."""
    billing = helpdesk.teams_of(users.agent2)[0]
    topics = f"{board.topic(billing.id)},{board.topic(care.id)}"
    assert_refused(connect(live_server, session_cookie(make_client, users.agent2), topics))


@pytest.mark.parametrize("who", ["agent", "admin"])
def test_a_member_or_an_admin_receives_the_teams_cards(app, live_server, make_client, users, care, who):
    topic = board.topic(care.id)
    ws = connect(live_server, session_cookie(make_client, getattr(users, who)), topic)
    try:
        wait_until_subscribed(app, ws, topic)
        with app.test_request_context(base_url=app.config["BASE_URL"]):
            ticket = helpdesk.create_ticket(care, "Printer on fire")
            db.session.commit()
        frame = receive_matching(ws, f'id="card-{ticket.id}"')
        assert "Printer on fire" in frame and "beforeend:#cards-" in frame
    finally:
        ws.close()
