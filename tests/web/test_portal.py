"""The customer portal: signing in by link, my tickets, a ticket's public conversation, replies,
closing, the per-ticket links of mails, ratings — and who may see what."""
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Message, Notification, OutboxMail, Rating, Ticket, User
from app.services import accounts, customer_links, helpdesk, helpdesk_stats, messaging, portal
from tests.conftest import make_contact, make_team, make_ticket, make_user
from tests.web.conftest import count, last_mail, link_path, sign_in


@pytest.fixture(autouse=True)
def _request(app):
    """Posting a message renders its live fragment, which builds URLs."""
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        yield


@pytest.fixture
def desk(users):
    team = make_team("Customer Care", members=[users.agent], use_website_form=True, customers_may_close=True,
                     use_ratings=True)
    other = make_contact("Bea Other", "bea@other.test")
    mine = make_ticket(team, "My printer", customer=users.portal_contact, assignee=users.agent)
    theirs = make_ticket(team, "Their printer", customer=other)
    thread = mine.ensure_thread()
    messaging.post_message(thread, users.agent, "Have you tried turning it off?", notify=False)
    messaging.post_message(thread, users.agent, "Internal: customer is on the old plan", kind="note", notify=False)
    note = db.session.scalar(select(Message).where(Message.kind == "note"))
    db.session.commit()
    return type("Desk", (), {"team": team, "mine": mine, "theirs": theirs, "other": other, "note": note})


def closing(team):
    return next(s for s in team.stages if s.is_closing)


# ---- signing in ---------------------------------------------------------------------------------

def request_link(client, email):
    token = sign_in(client, None)
    return client.post("/my/login", data={"email": email, "csrf_token": token})


def test_a_known_customer_gets_a_one_time_link(client, users, desk):
    contact = make_contact("Cy New", "cy@new.test")
    response = request_link(client, "CY@new.test ")
    assert response.status_code == 200 and "Check your mail" in response.get_data(as_text=True)
    mail = last_mail("portal-login")
    assert mail.to == "cy@new.test" and mail.auto_submitted
    path = link_path(mail)
    confirm = client.get(path)  # a mail scanner opening the link signs nobody in
    assert confirm.status_code == 200 and count(User) == 4
    token = re.search(r'name="csrf_token" value="([^"]+)"', confirm.get_data(as_text=True)).group(1)
    signed = client.post(path, data={"csrf_token": token})
    assert signed.status_code == 302 and signed.headers["Location"] == "/my/tickets"
    user = db.session.scalar(select(User).where(User.email == "cy@new.test"))
    assert user.role == "portal" and user.contact_id == contact.id and user.password_hash is None
    again = make_client_post(client, path)
    assert again.status_code == 400 and "already used" in again.get_data(as_text=True)


def make_client_post(client, path):
    client.post("/logout", data={"csrf_token": sign_in(client, None)})
    return client.post(path, data={"csrf_token": sign_in(client, None)})


@pytest.mark.parametrize("email", ["nobody@unknown.test", "agent@example.com", "not an address"])
def test_no_link_for_strangers_or_staff_and_the_same_answer(client, users, desk, email):
    response = request_link(client, email)
    if email == "not an address":
        assert response.status_code == 422
    else:
        assert response.status_code == 200 and "Check your mail" in response.get_data(as_text=True)
    assert last_mail("portal-login") is None


def test_bad_and_expired_links_say_so(app, client, users, desk, monkeypatch):
    request_link(client, users.portal.email)
    path = link_path(last_mail("portal-login"))
    assert client.get(path[:-3] + "abc").status_code == 400
    monkeypatch.setitem(app.config, "PORTAL_LOGIN_MAX_AGE", -1)
    expired = client.get(path)
    assert expired.status_code == 400 and "expired" in expired.get_data(as_text=True)


def test_sign_in_requests_are_rate_limited(client, users, desk):
    statuses = [request_link(client, f"x{i}@unknown.test").status_code for i in range(6)]
    assert statuses[:5] == [200] * 5 and statuses[5] == 429


def test_a_customer_may_set_a_password(client, users, desk):
    token = sign_in(client, users.portal)
    assert client.post("/my/account", data={"password": "short", "confirm": "short",
                                             "csrf_token": token}).status_code == 422
    ok = client.post("/my/account", data={"password": "a sturdy passphrase 42", "confirm": "a sturdy passphrase 42",
                                          "csrf_token": token})
    assert ok.status_code == 302
    assert client.get("/my/tickets").status_code == 200  # still signed in
    assert db.session.get(User, users.portal.id).check_password("a sturdy passphrase 42")


# ---- my tickets ---------------------------------------------------------------------------------

def test_my_tickets_lists_mine_only_with_filters(client, users, desk):
    sign_in(client, users.portal)
    html = client.get("/my/tickets").get_data(as_text=True)
    assert "My printer" in html and "Their printer" not in html
    helpdesk.move(desk.mine, closing(desk.team), users.agent)
    db.session.commit()
    assert "No open requests" in client.get("/my/tickets").get_data(as_text=True)
    assert "My printer" in client.get("/my/tickets?state=closed").get_data(as_text=True)
    assert "My printer" in client.get(f"/my/tickets?state=all&q=%23{desk.mine.id}").get_data(as_text=True)
    assert "No ticket matches" in client.get("/my/tickets?state=all&q=zeppelin").get_data(as_text=True)
    fragment = client.get("/my/tickets?state=all", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "My printer" in fragment


@pytest.mark.parametrize("who, expected", [(None, 302), ("agent", 302), ("portal", 200)])
def test_my_tickets_is_for_customers(client, users, desk, who, expected):
    sign_in(client, getattr(users, who) if who else None)
    response = client.get("/my/tickets")
    assert response.status_code == expected
    if who == "agent":
        assert response.headers["Location"] == "/helpdesk/tickets"


def test_the_ticket_page_shows_the_public_conversation_only(client, users, desk):
    sign_in(client, users.portal)
    html = client.get(f"/my/tickets/{desk.mine.id}").get_data(as_text=True)
    assert "Have you tried turning it off?" in html
    assert "Internal: customer is on the old plan" not in html and "Assigned to" not in html


# ---- who may open what: pages, actions, files, by account and by link --------------------------

def shared(ticket):
    return customer_links.make_token(ticket)


@pytest.mark.parametrize("who", ["owner", "other_customer", "agent", None])
@pytest.mark.parametrize("action", ["page", "reply", "close"])
def test_signed_in_access_matrix(client, users, desk, who, action):
    if who == "other_customer":
        user = make_user("portal", "bea@other.test", contact_id=desk.other.id)
    else:
        user = {"owner": users.portal, "agent": users.agent, None: None}[who]
    token = sign_in(client, user)
    path = f"/my/tickets/{desk.mine.id}" + ("" if action == "page" else f"/{action}")
    response = (client.get(path) if action == "page"
                else client.post(path, data={"body": "Sneaky", "csrf_token": token}))
    expected = {"owner": 200 if action == "page" else 303, "other_customer": 404, "agent": 302, None: 302}[who]
    assert response.status_code == expected
    db.session.expire_all()
    if who != "owner":
        assert db.session.scalar(select(Message).where(Message.body_html.contains("Sneaky"))) is None
        assert not db.session.get(Ticket, desk.mine.id).is_closed


@pytest.mark.parametrize("case", ["tampered", "other_ticket_id", "expired", "customer_changed", "rating_token"])
def test_bad_access_links_are_404(app, client, users, desk, monkeypatch, case):
    token = shared(desk.mine)
    if case == "tampered":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif case == "other_ticket_id":
        token = accounts.signer(customer_links.ACCESS).dumps({"t": desk.theirs.id, "c": users.portal_contact.id})
    elif case == "expired":
        monkeypatch.setitem(app.config, "TICKET_LINK_MAX_AGE", -1)
    elif case == "customer_changed":
        desk.mine.customer = desk.other
        db.session.commit()
    elif case == "rating_token":
        token = customer_links.make_token(desk.mine, customer_links.RATING)
    csrf = sign_in(client, None)
    assert client.get(f"/my/ticket/{token}").status_code == 404
    assert client.post(f"/my/ticket/{token}/reply", data={"body": "x", "csrf_token": csrf}).status_code == 404
    assert client.post(f"/my/ticket/{token}/close", data={"csrf_token": csrf}).status_code == 404


def test_files_by_link_only_of_that_ticket_and_never_notes(client, users, desk):
    mine, theirs = desk.mine.ensure_thread(), desk.theirs.ensure_thread()
    public = messaging.post_message(mine, users.agent, "Manual", files=[_file("manual.pdf")], notify=False)
    note = messaging.post_message(mine, users.agent, "Note", kind="note", files=[_file("secret.pdf")], notify=False)
    other = messaging.post_message(theirs, users.agent, "Theirs", files=[_file("theirs.pdf")], notify=False)
    db.session.commit()
    token = shared(desk.mine)
    sign_in(client, None)
    assert client.get(f"/my/ticket/{token}/files/{public.attachments[0].id}").status_code == 200
    assert client.get(f"/my/ticket/{token}/files/{note.attachments[0].id}").status_code == 404
    assert client.get(f"/my/ticket/{token}/files/{other.attachments[0].id}").status_code == 404
    assert client.get(f"/my/ticket/{token}/files/999999").status_code == 404
    assert "secret.pdf" not in client.get(f"/my/ticket/{token}").get_data(as_text=True)


def _file(name: str, data: bytes = b"%PDF-1.4 hello"):
    from werkzeug.datastructures import FileStorage

    return FileStorage(io.BytesIO(data), filename=name)


# ---- replying, reopening, closing --------------------------------------------------------------

def test_a_reply_by_link_lands_in_the_thread_and_notifies_the_agent(client, users, desk):
    token = shared(desk.mine)
    csrf = sign_in(client, None)
    response = client.post(f"/my/ticket/{token}/reply", data={
        "csrf_token": csrf, "body": "Still broken, photo attached", "files": [(io.BytesIO(b"%PDF-1.4 x"), "photo.pdf")]})
    assert response.status_code == 303
    message = db.session.scalar(select(Message).where(Message.body_html.contains("Still broken")))
    assert message.author_contact_id == users.portal_contact.id and message.attachments[0].filename == "photo.pdf"
    messaging.deliver(message.id)
    db.session.commit()
    assert db.session.scalar(select(Notification).where(Notification.user_id == users.agent.id,
                                                        Notification.message_id == message.id)) is not None
    # The customer is never mailed their own words.
    assert db.session.scalar(select(OutboxMail).where(OutboxMail.to == users.portal_contact.email,
                                                      OutboxMail.chatter_message_id == message.id)) is None


def test_empty_or_bad_replies_keep_the_text(client, users, desk):
    token = sign_in(client, users.portal)
    empty = client.post(f"/my/tickets/{desk.mine.id}/reply", data={"body": "  ", "csrf_token": token})
    assert empty.status_code == 422
    bad = client.post(f"/my/tickets/{desk.mine.id}/reply", data={
        "body": "Here is the log", "files": [(io.BytesIO(b"<html>"), "x.html")], "csrf_token": token})
    assert bad.status_code == 422 and "Here is the log" in bad.get_data(as_text=True)


@pytest.mark.parametrize("reopen", [True, False])
def test_a_reply_to_a_closed_ticket_reopens_it_per_team(client, users, desk, reopen):
    desk.team.reopen_on_reply = reopen
    helpdesk.move(desk.mine, closing(desk.team), users.agent)
    db.session.commit()
    token = sign_in(client, users.portal)
    assert client.post(f"/my/tickets/{desk.mine.id}/reply", data={"body": "It broke again",
                                                                   "csrf_token": token}).status_code == 303
    db.session.expire_all()
    assert db.session.get(Ticket, desk.mine.id).is_closed is (not reopen)


def test_staff_replies_mail_the_customer_an_access_link(users, desk):
    message = messaging.post_message(desk.mine.ensure_thread(), users.agent, "Fixed, please check.")
    messaging.deliver(message.id)
    db.session.commit()
    mail = db.session.scalar(select(OutboxMail).where(OutboxMail.chatter_message_id == message.id))
    assert "/my/ticket/" in mail.body_text and "/my/ticket/" in mail.body_html


@pytest.mark.parametrize("may_close", [True, False])
def test_closing_per_team_setting(client, users, desk, may_close):
    desk.team.customers_may_close = may_close
    db.session.commit()
    token = sign_in(client, users.portal)
    page = client.get(f"/my/tickets/{desk.mine.id}").get_data(as_text=True)
    assert ("close</button>" in page) is may_close
    response = client.post(f"/my/tickets/{desk.mine.id}/close", data={"csrf_token": token})
    assert response.status_code == (303 if may_close else 422)
    db.session.expire_all()
    assert db.session.get(Ticket, desk.mine.id).is_closed is may_close


# ---- ratings -------------------------------------------------------------------------------------

def test_closing_asks_for_a_rating_once(users, desk):
    helpdesk.move(desk.mine, closing(desk.team), users.agent)
    db.session.commit()
    mails = list(db.session.scalars(select(OutboxMail).where(OutboxMail.kind == "rating")))
    assert len(mails) == 1 and mails[0].to == users.portal_contact.email and mails[0].auto_submitted
    assert mails[0].body_text.count("/my/rate/") == 3
    helpdesk.reopen(desk.mine)
    helpdesk.move(desk.mine, closing(desk.team), users.agent)  # closed again within the hour
    db.session.commit()
    assert len(list(db.session.scalars(select(OutboxMail).where(OutboxMail.kind == "rating")))) == 1


def test_no_rating_mail_when_the_team_does_not_ask(users, desk):
    desk.team.use_ratings = False
    helpdesk.move(desk.mine, closing(desk.team), users.agent)
    db.session.commit()
    assert last_mail("rating") is None


def test_rating_by_the_mail_link(client, users, desk):
    helpdesk.move(desk.mine, closing(desk.team), users.agent)
    db.session.commit()
    face = re.search(r"http://localhost(/my/rate/\S+\?value=okay)", last_mail("rating").body_text).group(1)
    sign_in(client, None)
    page = client.get(face)
    assert page.status_code == 200 and count(Rating) == 0  # opening the link records nothing
    assert 'value="okay" checked' in page.get_data(as_text=True)
    path = face.split("?")[0]
    token = sign_in(client, None)
    assert client.post(path, data={"value": "great", "csrf_token": token}).status_code == 422
    assert client.post(path, data={"value": "okay", "comment": "Slow but fine", "csrf_token": token}).status_code == 200
    assert client.post(path, data={"value": "satisfied", "comment": "Actually great",
                                   "csrf_token": token}).status_code == 200
    rating = db.session.scalar(select(Rating))
    assert (rating.value, rating.comment, rating.agent_id, rating.team_id) == (
        "satisfied", "Actually great", users.agent.id, desk.team.id)
    assert count(Rating) == 1
    lines = [m.body_html for m in db.session.scalars(select(Message).where(Message.kind == "notification"))]
    assert any("rated this ticket" in line for line in lines) and any("changed their rating" in line for line in lines)
    faces = helpdesk_stats.satisfaction_by(Rating.team_id, [desk.team.id], rating.updated_at - timedelta(days=1))
    assert (faces[desk.team.id].percent, faces[desk.team.id].total) == (100, 1)
    staff = sign_in(client, users.agent) and client.get(f"/helpdesk/tickets/{desk.mine.id}").get_data(as_text=True)
    assert "Satisfied" in staff and "Actually great" in staff


def test_rating_links_do_not_open_other_tickets_and_open_tickets_wait(client, users, desk):
    token = customer_links.make_token(desk.mine, customer_links.RATING)
    sign_in(client, None)
    assert client.get(f"/my/rate/{customer_links.make_token(desk.mine)}").status_code == 404  # an access token
    assert client.get(f"/my/rate/{token}x").status_code == 404
    csrf = sign_in(client, None)
    response = client.post(f"/my/rate/{token}", data={"value": "okay", "csrf_token": csrf})
    assert response.status_code == 422 and "once it is closed" in response.get_data(as_text=True)


def test_portal_service_reply_checks_files(users, desk):
    with pytest.raises(portal.PortalError):
        portal.reply(desk.mine, "hello", [_file("bad.exe", b"MZ")])
