"""Settings pages for inbound mail: the mail aliases, and the log of every mail that came in."""
import re
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import InboundMail, MailAlias
from app.services import inbound, mailer, mailgate
from app.templating import filesize
from tests.conftest import csrf_token, login
from tests.web.conftest import count

MAIL = Path(__file__).resolve().parents[1] / "mail"
XSS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", '"><svg onload=alert(1)>']
RAW_MARKUP = ["<script>alert", "<img src=x", "<svg onload", 'hx-get="/admin/delete-all"']


@pytest.fixture(autouse=True)
def mail_settings(app, monkeypatch):
    """Our mail domain for these tests: support@hilo.test and friends."""
    monkeypatch.setitem(app.config, "MAIL_DOMAIN", "hilo.test")
    monkeypatch.setitem(app.config, "MAIL_FROM", "notifications@hilo.test")
    monkeypatch.setitem(app.config, "MAIL_REPLY_LOCALPART", "reply")


def make_raw(subject="Where is my order?", sender="Ada Customer <ada@customer.test>", to="support@hilo.test",
             text="Hello,\nmy order did not arrive.", html=None, cc=None, message_id=None, in_reply_to=None,
             files=()) -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, to, subject
    if cc:
        mail["Cc"] = cc
    if message_id:
        mail["Message-ID"] = message_id
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
    mail["Date"] = "Thu, 06 Mar 2025 17:59:58 +0100"
    if text is not None:
        mail.set_content(text)
    if html is not None:
        if text is None:
            mail.set_content(html, subtype="html")
        else:
            mail.add_alternative(html, subtype="html")
    for name, data in files:
        mail.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return mail.as_bytes()


def ingest(app, raw: bytes) -> InboundMail:
    """The mail through the real gateway; the row it left."""
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        outcome = mailgate.ingest(raw)
    assert outcome.inbound_id, outcome
    return db.session.get(InboundMail, outcome.inbound_id)


def make_inbound(status: str, reason: str | None, raw: bytes = b"", **fields) -> InboundMail:
    """A stored mail in a state the gateway reaches only with effort (a report, a mail too large)."""
    mail = InboundMail(dedupe_key=f"test:{status}:{reason}:{len(raw)}", status=status, reason=reason,
                       raw=raw, size=len(raw), **fields)
    db.session.add(mail)
    db.session.commit()
    return mail


@pytest.fixture
def support(app):
    alias = MailAlias(local_part="support", target="contact")
    db.session.add(alias)
    db.session.commit()
    return alias


@pytest.fixture
def catchall(app):
    return ingest(app, make_raw(subject="Lost mail", to="nobody@hilo.test", message_id="<lost.1@customer.test>"))


def admin(client, users):
    login(client, users.admin)
    return client


def post(client, path, data=None, **kwargs):
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client, "/profile")}, **kwargs)


HTMX = {"HX-Request": "true"}


# ---- who may open these pages ----------------------------------------------------------------

ROUTES = [
    ("GET", "/admin/aliases", 200),
    ("POST", "/admin/aliases", 302),
    ("GET", "/admin/aliases/{alias}", 302),
    ("GET", "/admin/aliases/{alias}/edit", 200),
    ("POST", "/admin/aliases/{alias}", 302),
    ("POST", "/admin/aliases/{alias}/delete", 302),
    ("GET", "/admin/inbound", 200),
    ("GET", "/admin/inbound?status=catchall&q=lost&page=1", 200),
    ("GET", "/admin/inbound/{mail}", 200),
    ("GET", "/admin/inbound/{mail}/original", 200),
    ("POST", "/admin/inbound/{mail}/reprocess", 302),
]
FORMS = {
    "/admin/aliases": {"local_part": "sales", "target": "contact"},
    "/admin/aliases/{alias}": {"target": "contact"},  # "active" unticked: would switch it off
}


@pytest.mark.parametrize("method, template, admin_status", ROUTES)
@pytest.mark.parametrize("who", ["anonymous", "portal", "agent", "admin"])
def test_mail_settings_are_for_admins_only(client, users, support, catchall, who, method, template, admin_status):
    path = template.format(alias=support.id, mail=catchall.id)
    if who == "anonymous":
        token = csrf_token(client, "/login")
    else:
        login(client, getattr(users, who))
        token = csrf_token(client, "/profile")
    data = {**FORMS.get(template, {}), "csrf_token": token}
    response = client.get(path) if method == "GET" else client.post(path, data=data)
    if who == "anonymous":
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")
    elif who in ("portal", "agent"):
        assert response.status_code == 403
        assert b"Not allowed" in response.data
    else:
        assert response.status_code == admin_status, response.data[:400]
    if who != "admin":
        assert b"Lost mail" not in response.data and b"support@hilo.test" not in response.data
        db.session.expire_all()
        alias = db.session.get(MailAlias, support.id)
        assert alias is not None and alias.active  # nothing changed
        assert db.session.scalar(select(MailAlias).where(MailAlias.local_part == "sales")) is None


@pytest.mark.parametrize("path", ["/admin/aliases/999999", "/admin/aliases/999999/edit", "/admin/inbound/999999",
                                  "/admin/inbound/999999/original"])
def test_unknown_records_are_404(client, users, path):
    admin(client, users)
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("path", ["/admin/aliases/999999", "/admin/aliases/999999/delete"])
def test_posting_to_an_unknown_alias_is_404(client, users, path):
    admin(client, users)
    assert post(client, path, {"target": "contact"}).status_code == 404


def test_settings_navigation_has_both_pages(client, users):
    html = admin(client, users).get("/admin/users").get_data(as_text=True)
    assert 'href="/admin/aliases"' in html and ">Mail aliases<" in html
    assert 'href="/admin/inbound"' in html and ">Inbound mail<" in html
    page = client.get("/admin/inbound").get_data(as_text=True)
    assert re.search(r'<a href="/admin/inbound" aria-current="page">Inbound mail</a>', page)
    page = client.get("/admin/aliases").get_data(as_text=True)
    assert re.search(r'<a href="/admin/aliases" aria-current="page">Mail aliases</a>', page)


# ---- aliases -------------------------------------------------------------------------------------

def test_no_aliases_explains_what_an_alias_is(client, users):
    html = admin(client, users).get("/admin/aliases").get_data(as_text=True)
    assert "No aliases yet" in html and "An alias is an address" in html
    assert "@hilo.test" in html  # the form shows the domain
    assert 'value="contact">Contact conversation</option>' in html


def test_admin_creates_an_alias_and_sees_it_listed(client, users):
    admin(client, users)
    response = post(client, "/admin/aliases", {"local_part": "  Sales.Team ", "target": "contact"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/aliases"
    alias = db.session.scalar(select(MailAlias).where(MailAlias.local_part == "sales.team"))
    assert alias is not None and alias.target == "contact" and alias.active
    html = client.get("/admin/aliases").get_data(as_text=True)
    assert "sales.team@hilo.test takes mail in now." in html  # the flash message
    row = re.search(rf'<tr id="alias-{alias.id}">.*?</tr>', html, re.S).group(0)
    assert "sales.team@hilo.test" in row and "Contact conversation" in row and "Active" in row
    assert ">0</td>" in row and "Delete" in row


@pytest.mark.parametrize("local_part, target, message", [
    ("", "contact", "Enter the part of the address before the @."),
    ("bad name", "contact", "Use letters, digits, dots, hyphens and underscores only"),
    ("sales!", "contact", "Use letters, digits, dots, hyphens and underscores only"),
    (".sales", "contact", "no dot at the start"),
    ("sales.", "contact", "no dot at the start"),
    ("sa..les", "contact", "twice in a row"),
    ("jos\u00e9", "contact", "Use letters, digits, dots, hyphens and underscores only"),
    ("sales+vip", "contact", "“+” is kept for reply addresses"),
    ("a" * 65, "contact", "At most 64 characters."),
    ("support@hilo.test", "contact", "Enter only the part before the @: the domain is always hilo.test."),
    ("reply", "contact", "reply@hilo.test is reserved"),
    ("notifications", "contact", "notifications@hilo.test is reserved"),
    ("postmaster", "contact", "postmaster@hilo.test is reserved"),
    ("Mailer-Daemon", "contact", "mailer-daemon@hilo.test is reserved"),
    ("abuse", "contact", "abuse@hilo.test is reserved"),
    ("SUPPORT", "contact", "support@hilo.test is already an alias."),
    ("sales", "ticket", "Choose what the alias creates from the list."),
    ("sales", "", "Choose what the alias creates from the list."),
])
def test_creating_an_alias_refuses_bad_input_and_keeps_it(client, users, support, local_part, target, message):
    admin(client, users)
    before = count(MailAlias)
    response = post(client, "/admin/aliases", {"local_part": local_part, "target": target})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html
    assert 'class="field-error"' in html and 'aria-invalid="true"' in html  # inline, on its field
    if local_part.strip():
        assert f'value="{local_part.strip().lower()}"' in html  # what was typed stays
    assert count(MailAlias) == before


def test_the_reserved_names_follow_the_configuration(client, users, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_REPLY_LOCALPART", "answers")
    monkeypatch.setitem(app.config, "MAIL_FROM", "robot@hilo.test")
    admin(client, users)
    for name in ("answers", "robot"):
        response = post(client, "/admin/aliases", {"local_part": name, "target": "contact"})
        assert response.status_code == 422 and f"{name}@hilo.test is reserved" in response.get_data(as_text=True)
    assert post(client, "/admin/aliases", {"local_part": "reply", "target": "contact"}).status_code == 302


def test_creating_an_alias_needs_the_csrf_token(client, users):
    admin(client, users)
    response = client.post("/admin/aliases", data={"local_part": "sales", "target": "contact"})
    assert response.status_code == 400
    assert count(MailAlias) == 0


def test_an_alias_counts_the_conversations_it_started(app, client, users, support):
    ingest(app, make_raw(message_id="<one@customer.test>"))
    ingest(app, make_raw(sender="Bo <bo@customer.test>", message_id="<two@customer.test>"))
    html = admin(client, users).get("/admin/aliases").get_data(as_text=True)
    row = re.search(rf'<tr id="alias-{support.id}">.*?</tr>', html, re.S).group(0)
    assert ">2</td>" in row
    assert '<button type="submit"' not in row and 'aria-disabled="true"' in row  # no delete: deactivate


def test_edit_without_javascript_shows_the_row_as_a_form_then_saves(client, users, support):
    admin(client, users)
    html = client.get(f"/admin/aliases/{support.id}/edit").get_data(as_text=True)
    assert "<html" in html and 'class="row-editing"' in html
    assert f'action="/admin/aliases/{support.id}"' in html and 'name="active"' in html
    response = post(client, f"/admin/aliases/{support.id}", {"target": "contact"})  # "active" unticked
    assert response.status_code == 302 and response.headers["Location"] == "/admin/aliases"
    db.session.refresh(support)
    assert not support.active
    html = client.get("/admin/aliases").get_data(as_text=True)
    assert "support@hilo.test is saved." in html and ">Inactive<" in html


def test_edit_with_htmx_swaps_the_row_only(client, users, support):
    support.active = False
    db.session.commit()
    admin(client, users)
    form = client.get(f"/admin/aliases/{support.id}/edit", headers=HTMX).get_data(as_text=True)
    assert "<html" not in form
    assert f'<tr id="alias-{support.id}" class="row-editing">' in form and 'hx-target="closest tr"' in form
    saved = post(client, f"/admin/aliases/{support.id}", {"target": "contact", "active": "y"}, headers=HTMX)
    assert saved.status_code == 200
    row = saved.get_data(as_text=True)
    assert "<html" not in row and f'<tr id="alias-{support.id}">' in row and ">Active<" in row
    db.session.refresh(support)
    assert support.active
    cancel = client.get(f"/admin/aliases/{support.id}", headers=HTMX).get_data(as_text=True)
    assert f'<tr id="alias-{support.id}">' in cancel and "<html" not in cancel
    assert client.get(f"/admin/aliases/{support.id}").headers["Location"] == "/admin/aliases"


@pytest.mark.parametrize("headers", [{}, HTMX])
def test_edit_refuses_an_unknown_target(client, users, support, headers):
    admin(client, users)
    response = post(client, f"/admin/aliases/{support.id}", {"target": "nonsense", "active": "y"}, headers=headers)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Choose what the alias creates from the list." in html and 'class="row-editing"' in html
    assert ("<html" in html) is (not headers)
    db.session.expire_all()
    assert db.session.get(MailAlias, support.id).target == "contact"


def test_deleting_an_unused_alias(client, users, support):
    admin(client, users)
    response = post(client, f"/admin/aliases/{support.id}/delete")
    assert response.status_code == 302
    assert count(MailAlias) == 0
    html = client.get("/admin/aliases").get_data(as_text=True)
    assert "support@hilo.test is deleted" in html and "No aliases yet" in html


def test_deleting_with_htmx_redirects_the_page(client, users, support):
    admin(client, users)
    response = post(client, f"/admin/aliases/{support.id}/delete", headers=HTMX)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/admin/aliases"
    assert count(MailAlias) == 0


@pytest.mark.parametrize("headers", [{}, HTMX])
def test_an_alias_that_started_conversations_is_deactivated_not_deleted(app, client, users, support, headers):
    mail = ingest(app, make_raw(message_id="<one@customer.test>"))
    assert mail.alias_id == support.id
    admin(client, users)
    response = post(client, f"/admin/aliases/{support.id}/delete", headers=headers)
    assert response.status_code == 409
    assert "has started 1 conversation: deactivate it instead" in response.get_data(as_text=True)
    assert count(MailAlias) == 1


def test_aliases_page_never_echoes_markup(client, users):
    admin(client, users)
    html = post(client, "/admin/aliases", {"local_part": XSS[2], "target": XSS[0]}).get_data(as_text=True)
    for raw in RAW_MARKUP:
        assert raw not in html
    assert "&#34;&gt;&lt;svg onload=alert(1)&gt;" in html


# ---- the inbound list ------------------------------------------------------------------------------

@pytest.fixture
def log(app, support):
    """One mail of each kind the gateway stores, oldest first."""
    created = ingest(app, make_raw(subject="Where is my order?", message_id="<order.1@customer.test>"))
    routed = ingest(app, make_raw(subject="Re: Where is my order?", message_id="<order.2@customer.test>",
                                  in_reply_to="<order.1@customer.test>", text="Any news?"))
    lost = ingest(app, make_raw(subject="Lost mail", sender="Bob <bob@elsewhere.test>", to="sales@hilo.test",
                                message_id="<lost.1@elsewhere.test>"))
    forged = ingest(app, make_raw(subject="Forged", sender="Eve <eve@evil.test>", to="reply+t1-000000000000@hilo.test",
                                  message_id="<forged@evil.test>"))
    junk = ingest(app, b"this is not a mail at all\n")
    return {"created": created, "routed": routed, "lost": lost, "forged": forged, "junk": junk}


def tab_count(html: str, label: str) -> int:
    return int(re.search(rf">{re.escape(label)}\s*<span class=\"count-pill[^\"]*\">(\d+)</span>", html).group(1))


def test_inbound_lists_every_mail_newest_first_with_what_happened(client, users, log):
    assert [m.status for m in log.values()] == ["created", "routed", "catchall", "catchall", "unparseable"]
    html = admin(client, users).get("/admin/inbound").get_data(as_text=True)
    order = [html.index(f'href="/admin/inbound/{log[k].id}"') for k in ("junk", "forged", "lost", "routed", "created")]
    assert order == sorted(order)
    assert "No alias for this address" in html and "Reply token did not verify" in html
    assert "Reply to a mail of the conversation" in html and "New conversation from mail to support@hilo.test" in html
    assert "No mail header found" in html
    assert "sales@hilo.test" in html and "bob@elsewhere.test" in html  # recipients, sender
    # The conversation the mail went to, opened at its message.
    message_id = log["created"].chatter_message_id
    assert re.search(rf'href="/contacts/\d+\?around={message_id}#message-{message_id}">Ada Customer<', html)
    tabs = ("All", "Catch-all", "Unparseable", "Routed", "New conversation", "Bounce reports")
    assert [tab_count(html, tab) for tab in tabs] == [5, 2, 1, 1, 1, 0]
    assert 'class="count-pill count-pill-warn">2<' in html and 'class="count-pill count-pill-danger">1<' in html


@pytest.mark.parametrize("query, shown, hidden", [
    ({"status": "catchall"}, ["Lost mail", "Forged"], ["Where is my order?", "(no subject)"]),
    ({"status": "unparseable"}, ["(no subject)"], ["Lost mail"]),
    ({"status": "created"}, ["Where is my order?"], ["Re: Where", "Lost mail"]),
    ({"status": "routed"}, ["Re: Where is my order?"], ["Lost mail"]),
    ({"q": "bob@else"}, ["Lost mail"], ["Forged", "Where is my order?"]),
    ({"q": "ORDER"}, ["Where is my order?", "Re: Where is my order?"], ["Lost mail"]),
    ({"q": "order", "status": "routed"}, ["Re: Where is my order?"], ["Lost mail", ">Where is my order?<"]),
    ({"q": "%"}, [], ["Lost mail"]),
    ({"status": "nonsense"}, ["Lost mail", "Forged", "Where is my order?"], []),
])
def test_inbound_filters_by_status_and_searches_sender_and_subject(client, users, log, query, shown, hidden):
    html = admin(client, users).get("/admin/inbound", query_string=query).get_data(as_text=True)
    table = html[html.index('id="inbound-list"'):]
    for text in shown:
        assert text in table, text
    for text in hidden:
        assert text not in table, text
    if not shown:
        assert "No mail matches" in html and "Clear the search" in html


def test_tab_counts_follow_the_search_and_tabs_keep_it(client, users, log):
    html = admin(client, users).get("/admin/inbound?q=order").get_data(as_text=True)
    assert tab_count(html, "All") == 2 and tab_count(html, "Catch-all") == 0
    assert 'href="/admin/inbound?status=catchall&amp;q=order"' in html
    assert 'class="count-pill">0<' in html and "count-pill-warn" not in html


def test_htmx_search_gets_the_list_only(client, users, log):
    admin(client, users)
    html = client.get("/admin/inbound?q=lost", headers=HTMX).get_data(as_text=True)
    assert "<html" not in html and html.lstrip().startswith('<div id="inbound-list">')
    assert "Lost mail" in html and "Forged" not in html
    restored = client.get("/admin/inbound?q=lost", headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert b"<html" in restored.data


def test_inbound_is_paginated_and_pages_keep_the_filters(app, client, users, monkeypatch):
    monkeypatch.setitem(app.config, "LIST_PAGE_SIZE", 2)
    for n in range(5):
        ingest(app, make_raw(subject=f"Stray {n}", to="nobody@hilo.test", message_id=f"<stray.{n}@customer.test>"))
    admin(client, users)
    first = client.get("/admin/inbound?status=catchall&q=stray").get_data(as_text=True)
    assert "Stray 4" in first and "Stray 3" in first and "Stray 2" not in first
    assert 'href="/admin/inbound?status=catchall&amp;q=stray&amp;page=2"' in first
    last = client.get("/admin/inbound?status=catchall&q=stray&page=3").get_data(as_text=True)
    assert "Stray 0" in last and "5–5 of 5" in last
    assert client.get("/admin/inbound?page=abc").status_code == 200
    assert client.get("/admin/inbound?page=99").status_code == 200


@pytest.mark.parametrize("status, empty", [("", "No mail yet"), ("catchall", "Nothing in the catch-all"),
                                           ("unparseable", "Nothing unparseable"), ("dsn", "No mail with this status")])
def test_empty_inbound_says_so(client, users, status, empty):
    html = admin(client, users).get("/admin/inbound", query_string={"status": status}).get_data(as_text=True)
    assert empty in html


def test_every_reason_of_the_gateway_has_plain_words(app):
    """The reasons mailgate and mailparse give (literal ones, read from their source) all have words."""
    services = Path(mailgate.__file__).parent
    gate = (services / "mailgate.py").read_text()
    literal = set(re.findall(r'return "\w+", "([^"]+)"', gate)) | set(re.findall(r'Outcome\("\w+", "([^"]+)"\)', gate))
    literal |= set(re.findall(r'MailParseError\("([^"]+)"\)', (services / "mailparse.py").read_text()))
    literal.discard("the same bytes came before")  # a duplicate: not stored again
    literal |= {"in-reply-to", "references"}  # the `via` of the thread anchors
    assert {"unknown-recipient", "bad-token", "loop", "rate limit", "auto", "bounce", "no sender"} <= literal
    for reason in literal:
        assert reason in inbound.REASONS, f"mailgate's reason {reason!r} has no plain words"
    assert inbound.reason_text("created", "alias support") == "New conversation from mail to support@hilo.test"
    assert inbound.reason_text("created", "forward to sales").startswith("Forwarded to sales@hilo.test")
    assert inbound.reason_text("dsn", "report on <x@hilo.test>") == "Delivery report about a mail Hilo sent"
    assert inbound.reason_text("catchall", "larger than 40 MB") == "Too large to read (larger than 40 MB)"
    assert inbound.reason_text("unparseable", "expected bytes, got str").startswith("Could not be read as mail")
    assert inbound.reason_text("catchall", "something new") == "something new"


# ---- one mail ------------------------------------------------------------------------------------

def test_mail_page_shows_headers_text_attachments_and_the_conversation(app, client, users, support):
    mail = ingest(app, make_raw(cc="Zoe <zoe@customer.test>", message_id="<order.1@customer.test>",
                                files=[("invoice.pdf", b"%PDF-1.4 fake")]))
    html = admin(client, users).get(f"/admin/inbound/{mail.id}").get_data(as_text=True)
    assert "Ada Customer &lt;ada@customer.test&gt;" in html
    assert "support@hilo.test" in html and "Zoe &lt;zoe@customer.test&gt;" in html
    assert "&lt;order.1@customer.test&gt;" in html  # Message-ID
    assert "06 Mar 2025" in html and filesize(mail.size) in html
    assert "my order did not arrive." in html
    assert "invoice.pdf" in html and "application/octet-stream" in html
    assert f'href="/admin/inbound/{mail.id}/original"' in html and "Download original (.eml)" in html
    assert "New conversation" in html and "New conversation from mail to support@hilo.test" in html
    assert f"around={mail.chatter_message_id}" in html and ">Ada Customer</a>" in html
    assert f'href="/admin/aliases#alias-{support.id}">support@hilo.test<' in html


def test_the_address_it_was_delivered_to_shows_when_the_headers_do_not_say(app, client, users, support):
    bcc = ingest(app, b"Delivered-To: support@hilo.test\n"
                 + make_raw(to="friend@customer.test", message_id="<bcc@c.test>"))
    plain = ingest(app, make_raw(message_id="<plain@c.test>"))
    admin(client, users)
    assert "Delivered to</dt><dd>support@hilo.test<" in client.get(f"/admin/inbound/{bcc.id}").get_data(as_text=True)
    assert "Delivered to" not in client.get(f"/admin/inbound/{plain.id}").get_data(as_text=True)


def test_a_catchall_mail_says_why(client, users, catchall):
    html = admin(client, users).get(f"/admin/inbound/{catchall.id}").get_data(as_text=True)
    assert "Catch-all" in html and "No alias for this address" in html
    assert "Lost mail" in html and "my order did not arrive." in html
    assert ">Conversation<" not in html


def test_an_html_only_mail_is_shown_as_text(app, client, users):
    mail = ingest(app, make_raw(to="nobody@hilo.test", text=None, message_id="<html.1@customer.test>",
                                html="<p>Hello <b>team</b></p><p>Second&nbsp;line</p>"))
    html = admin(client, users).get(f"/admin/inbound/{mail.id}").get_data(as_text=True)
    assert "only an HTML part" in html
    assert re.search(r'<pre class="mail-text">Hello team\s+Second\xa0line</pre>', html)
    assert "&lt;b&gt;team&lt;/b&gt;" in html  # the source, escaped


@pytest.mark.parametrize("raw, reason", [(b"", "The message is empty"),
                                         (b"not a mail \xff\x00 at all\n", "No mail header found")])
def test_an_unparseable_mail_still_shows(app, client, users, raw, reason):
    mail = ingest(app, raw)
    assert mail.status == "unparseable"
    admin(client, users)
    response = client.get(f"/admin/inbound/{mail.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Hilo could not read this as mail." in html and reason in html
    assert f"{mail.size} B" in html and "Download original (.eml)" in html
    if raw:
        assert "not a mail \u00ff\ufffd at all" in html  # the beginning, as text; the NUL made visible
    else:
        assert "It is empty." in html
    download = client.get(f"/admin/inbound/{mail.id}/original")
    assert download.status_code == 200 and download.data == raw


def test_a_mail_too_large_is_not_read(client, users, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_MAX_BYTES", 64)
    mail = make_inbound("catchall", "larger than 1 MB", make_raw(subject="Huge"), subject="Huge",
                        sender="ada@customer.test")
    html = admin(client, users).get(f"/admin/inbound/{mail.id}").get_data(as_text=True)
    assert "Hilo did not read this mail." in html and "Too large to read (larger than 1 MB)" in html
    assert "ada@customer.test" in html and "Subject: Huge" in html  # the raw beginning


def test_a_bounce_report_links_the_mail_it_is_about(client, users):
    sent = mailer.send_mail("gone@customer.test", "Your invoice", "body")
    db.session.commit()
    report = make_inbound("dsn", f"report on {sent.message_id}", make_raw(subject="Undelivered Mail"),
                          subject="Undelivered Mail", sender="mailer-daemon@mx.customer.test")
    html = admin(client, users).get(f"/admin/inbound/{report.id}").get_data(as_text=True)
    assert "Bounce report" in html and "Delivery report about a mail Hilo sent" in html
    assert f'href="/admin/outbox/{sent.id}">Your invoice<' in html


def test_the_original_is_a_download_never_a_page(app, client, users, catchall):
    response = admin(client, users).get(f"/admin/inbound/{catchall.id}/original")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"] == f'attachment; filename="inbound-{catchall.id}.eml"'
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.data == catchall.raw


# ---- what a hostile sender writes is shown, never run -------------------------------------------

def test_hostile_mail_is_escaped_on_every_page(app, client, users, support):
    crafted = make_raw(subject=" ".join(XSS), sender=f'"{XSS[1]}" <mallory@evil.test>', to="nobody@hilo.test",
                       text="\n".join(XSS), html="<p>" + "".join(XSS) + "</p>", message_id="<crafted@evil.test>",
                       files=[(f"{XSS[1]}.png", b"\x89PNG"), (f"{XSS[2]}.txt", b"x")])
    mails = [ingest(app, crafted), ingest(app, (MAIL / "xss_payloads.eml").read_bytes())]
    assert [m.status for m in mails] == ["catchall", "created"]
    admin(client, users)
    pages = ["/admin/inbound", "/admin/inbound?status=catchall", "/admin/inbound?q=script",
             "/admin/aliases", *(f"/admin/inbound/{m.id}" for m in mails)]
    for url in pages:
        html = client.get(url).get_data(as_text=True)
        for raw in RAW_MARKUP:
            assert raw not in html, f"{raw} unescaped on {url}"
    detail = client.get(f"/admin/inbound/{mails[0].id}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail  # subject, text: shown as text
    assert "&lt;img src=x onerror=alert(1)&gt; &lt;mallory@evil.test&gt;" in detail  # the sender's name
    assert "&lt;img src=x onerror=alert(1)&gt;.png" in detail  # an attachment's name
    assert "&lt;svg onload=alert(1)&gt;" in detail
    listing = client.get("/admin/inbound").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing  # the subject in the list


# ---- processing a caught mail again ------------------------------------------------------------

def test_a_caught_mail_goes_to_its_alias_once_the_alias_exists(app, client, users, catchall):
    admin(client, users)
    page = client.get(f"/admin/inbound/{catchall.id}").get_data(as_text=True)
    assert "Process again" in page
    still = post(client, f"/admin/inbound/{catchall.id}/reprocess", follow_redirects=True)
    assert still.status_code == 200 and "Still in the catch-all: No alias for this address" in still.get_data(as_text=True)
    db.session.add(MailAlias(local_part="nobody", target="contact"))
    db.session.commit()
    done = post(client, f"/admin/inbound/{catchall.id}/reprocess", follow_redirects=True)
    assert "Processed again: New conversation from mail to nobody@hilo.test" in done.get_data(as_text=True)
    db.session.expire_all()
    mail = db.session.get(InboundMail, catchall.id)
    assert mail.status == "created" and mail.thread_id and mail.chatter_message_id
    assert "Process again" not in client.get(f"/admin/inbound/{catchall.id}").get_data(as_text=True)
    assert post(client, f"/admin/inbound/{catchall.id}/reprocess").status_code == 409  # done once


def test_processing_again_needs_the_csrf_token(client, users, catchall):
    admin(client, users)
    assert client.post(f"/admin/inbound/{catchall.id}/reprocess").status_code == 400
    assert db.session.get(InboundMail, catchall.id).status == "catchall"


# ---- aliases that open a team's tickets ----------------------------------------------------------

def test_an_alias_can_open_a_teams_tickets(app, client, users):
    from app.services import helpdesk

    with app.test_request_context():
        care = helpdesk.create_team("Customer Care", members=[users.agent])
        archived = helpdesk.create_team("Old Team", active=False)
    db.session.commit()
    admin(client, users)
    page = client.get("/admin/aliases").get_data(as_text=True)
    assert f'value="ticket:{care.id}"' in page and "Ticket for Customer Care" in page and "Old Team" not in page
    for bad in ("ticket", f"ticket:{archived.id}", "ticket:999", "ticket:x", "contact:1"):
        response = post(client, "/admin/aliases", {"local_part": "help", "target": bad})
        assert response.status_code == 422, bad
    assert post(client, "/admin/aliases", {"local_part": "help", "target": f"ticket:{care.id}"}).status_code == 302
    alias = db.session.scalar(select(MailAlias).where(MailAlias.local_part == "help"))
    assert (alias.target, alias.team_id) == ("ticket", care.id)
    assert "Ticket for Customer Care" in client.get("/admin/aliases").get_data(as_text=True)
    edit = client.get(f"/admin/aliases/{alias.id}/edit").get_data(as_text=True)
    assert re.search(rf"<option[^>]*selected[^>]*value=\"ticket:{care.id}\"|<option[^>]*value=\"ticket:{care.id}\"[^>]*selected", edit)
    assert post(client, f"/admin/aliases/{alias.id}", {"target": "contact", "active": "y"}).status_code == 302
    db.session.expire_all()
    assert (alias.target, alias.team_id) == ("contact", None)
