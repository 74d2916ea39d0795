"""The help center and the website form: what anyone may see and send, bad input, abuse."""
import io
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Attachment, FaqArticle, FormField, Tag, Ticket, TicketType
from app.services import helpcenter
from tests.conftest import make_team
from tests.web.conftest import count, last_mail, link_path, png_bytes

XSS = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "javascript:alert(1)"]


@pytest.fixture
def desk(users):
    team = make_team("Customer Care", members=[users.agent], use_website_form=True, assignment="balanced",
                     description="Account and billing questions.")
    team.form_fields = [
        FormField(key="impact", label="Impact", kind="select", choices="Low\nMedium\nHigh\nUrgent",
                  default="Medium", target="priority", sequence=1, required=True),
        FormField(key="order", label="Order number", kind="text", sequence=2),
        FormField(key="site", label="Website", kind="url", sequence=3),
        FormField(key="phone", label="Phone", kind="phone", target="customer_phone", sequence=4),
        FormField(key="hidden", label="Hidden", kind="text", visible=False, sequence=5),
    ]
    db.session.add(FaqArticle(team=team, title="Reset a password", body="Use **Forgot password**.\n\n<script>x</script>"))
    db.session.add(FaqArticle(team=team, title="Draft answer", body="secret", published=False))
    hidden = make_team("Internal IT", use_website_form=False)
    db.session.add(FaqArticle(team=hidden, title="VPN setup", body="internal"))
    db.session.commit()
    return type("Desk", (), {"team": team, "hidden": hidden})


def form_token(client, slug: str) -> str:
    page = client.get(f"/support/{slug}").get_data(as_text=True)
    return re.search(r'name="started" value="([^"]+)"', page).group(1)


def good(client, desk, **changes) -> dict:
    data = {"started": form_token(client, desk.team.slug), "name": "Ada Lovelace", "email": "ada@engines.test",
            "subject": "Invoice is wrong", "description": "Charged twice in November.", "f_impact": "High",
            "f_order": "HD-1", "f_site": "engines.test", "f_phone": "+44 20 7946 0958"}
    data.update(changes)
    return data


def test_help_center_lists_published_teams_and_answers_only(client, desk):
    html = client.get("/support").get_data(as_text=True)
    assert "Customer Care" in html and "Reset a password" in html
    assert "Internal IT" not in html and "VPN setup" not in html and "Draft answer" not in html
    found = client.get("/support?q=password", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Reset a password" in found and "<html" not in found
    assert "No answer matches" in client.get("/support?q=zeppelin").get_data(as_text=True)


def test_an_article_renders_markdown_without_raw_html(client, desk):
    article = db.session.scalar(select(FaqArticle).where(FaqArticle.title == "Reset a password"))
    html = client.get(f"/support/{desk.team.slug}/faq/{article.id}").get_data(as_text=True)
    assert "<strong>Forgot password</strong>" in html
    assert "<script>x" not in html and "&lt;script&gt;x" in html
    draft = db.session.scalar(select(FaqArticle).where(FaqArticle.title == "Draft answer"))
    vpn = db.session.scalar(select(FaqArticle).where(FaqArticle.title == "VPN setup"))
    assert client.get(f"/support/{desk.team.slug}/faq/{draft.id}").status_code == 404
    assert client.get(f"/support/{desk.team.slug}/faq/{vpn.id}").status_code == 404  # another team's
    assert client.get(f"/support/{desk.hidden.slug}/faq/{vpn.id}").status_code == 404


def test_markdown_links_cannot_run_script():
    html = str(helpcenter.render_markdown("[click](javascript:alert(1)) <img src=x onerror=alert(1)>"))
    assert "href" not in html and "<img" not in html  # shown as text, never a link or an element


def test_an_excerpt_is_the_answers_text_without_markup():
    article = FaqArticle(body="## Steps\n\nUse **Forgot password** on the [sign-in page](https://x.test).\n\n<b>x</b>")
    assert helpcenter.excerpt(article) == "Steps Use Forgot password on the sign-in page. <b>x</b>"
    assert helpcenter.excerpt(FaqArticle(body="word " * 100), 20) == "word word word word…"


@pytest.mark.parametrize("slug_of", ["hidden", "missing"])
def test_unpublished_or_unknown_forms_are_404(client, desk, slug_of):
    slug = desk.hidden.slug if slug_of == "hidden" else "no-such-team"
    assert client.get(f"/support/{slug}").status_code == 404
    assert client.get(f"/support/{slug}/embed").status_code == 404
    assert client.post(f"/support/{slug}", data={"name": "x"}).status_code == 404


def test_the_form_shows_visible_fields_in_order_with_defaults(client, desk):
    html = client.get(f"/support/{desk.team.slug}").get_data(as_text=True)
    assert html.index('name="f_impact"') < html.index('name="f_order"') < html.index('name="f_phone"')
    assert 'name="f_hidden"' not in html
    assert '<option value="Medium" selected>' in html
    assert "X-Frame-Options" not in client.get(f"/support/{desk.team.slug}/embed").headers
    assert client.get(f"/support/{desk.team.slug}").headers["X-Frame-Options"] == "SAMEORIGIN"


def test_submitting_opens_a_ticket_and_mails_the_receipt(client, desk, users):
    response = client.post(f"/support/{desk.team.slug}", data={
        **good(client, desk), "attachments": [(io.BytesIO(png_bytes()), "screen.png"),
                                              (io.BytesIO(b"%PDF-1.4 invoice"), "invoice.pdf")]})
    assert response.status_code == 303
    ticket = db.session.scalar(select(Ticket))
    assert ticket.title == "Invoice is wrong" and ticket.source == "web" and ticket.team_id == desk.team.id
    assert ticket.priority == 2  # "High", mapped to the priority
    assert ticket.assignee_id == users.agent.id  # the team's assignment applied
    assert ticket.extra_data == {"Order number": "HD-1", "Website": "https://engines.test"}
    assert ticket.customer.email == "ada@engines.test" and ticket.customer.phone == "+44 20 7946 0958"
    assert sorted(a.filename for a in db.session.scalars(select(Attachment))) == ["invoice.pdf", "screen.png"]
    thanks = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"#{ticket.id}" in thanks and "ada@engines.test" in thanks
    mail = last_mail("receipt")
    assert mail.to == "ada@engines.test" and f"#{ticket.id}" in mail.subject
    assert mail.auto_submitted and mail.reply_to
    assert client.get(link_path(mail)).status_code == 200  # the access link opens the ticket


def test_htmx_submission_redirects_and_errors_swap_inline(client, desk):
    data = good(client, desk, email="not-an-address", subject="", f_site="ftp:/x", f_phone="call me",
                f_impact="Catastrophic")
    response = client.post(f"/support/{desk.team.slug}", data=data, headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and html.strip().startswith("<form")
    for message in ("Enter an email address", "Give your request a subject", "Website: enter a web address",
                    "Phone: enter a phone number", "Impact: pick one of the choices"):
        assert message in html
    assert "Charged twice in November." in html and 'value="Ada Lovelace"' in html  # nothing typed is lost
    assert count(Ticket) == 0
    ok = client.post(f"/support/{desk.team.slug}", data=good(client, desk), headers={"HX-Request": "true"})
    assert ok.status_code == 200 and ok.headers["HX-Redirect"].startswith("/support/thanks/")


def test_required_fields_and_a_page_without_javascript(client, desk):
    response = client.post(f"/support/{desk.team.slug}", data=good(client, desk, name="", description="", f_impact=""))
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" in html
    assert "Tell us your name." in html and "Describe what you need." in html and "Impact is required." in html


@pytest.mark.parametrize("name, data, problem", [
    ("page.html", b"<html><script>alert(1)</script>", "this type of file cannot be sent"),
    ("run.exe", b"MZ\x90\x00", "this type of file cannot be sent"),
    ("logo.svg", b"<svg onload=alert(1)>", "this type of file cannot be sent"),
    ("fake.png", b"<html>not a png</html>", "is not the image its name says"),
    ("empty.pdf", b"", "is empty"),
])
def test_bad_attachments_are_refused_with_the_reason(client, desk, name, data, problem):
    response = client.post(f"/support/{desk.team.slug}",
                           data={**good(client, desk), "attachments": [(io.BytesIO(data), name)]})
    assert response.status_code == 422 and problem in response.get_data(as_text=True)
    assert count(Ticket) == 0 and count(Attachment) == 0


def test_attachment_size_and_count_limits(app, client, desk, monkeypatch):
    monkeypatch.setitem(app.config, "SUPPORT_MAX_ATTACHMENT_BYTES", 1000)
    big = client.post(f"/support/{desk.team.slug}",
                      data={**good(client, desk), "attachments": [(io.BytesIO(b"x" * 1001), "big.txt")]})
    assert big.status_code == 422 and "larger than" in big.get_data(as_text=True)
    many = [(io.BytesIO(b"note"), f"n{i}.txt") for i in range(app.config["SUPPORT_MAX_ATTACHMENTS"] + 1)]
    response = client.post(f"/support/{desk.team.slug}", data={**good(client, desk), "attachments": many})
    assert response.status_code == 422 and "Attach at most" in response.get_data(as_text=True)
    assert count(Ticket) == 0


def test_honeypot_and_tampered_or_hasty_forms_create_nothing(app, client, desk, monkeypatch):
    assert client.post(f"/support/{desk.team.slug}", data=good(client, desk, hp_note="http://spam.test")).status_code == 422
    assert client.post(f"/support/{desk.team.slug}", data=good(client, desk, started="forged")).status_code == 422
    assert client.post(f"/support/{desk.team.slug}", data={**good(client, desk), "started": ""}).status_code == 422
    other = make_team("Other", use_website_form=True)
    assert client.post(f"/support/{desk.team.slug}",
                       data=good(client, desk, started=form_token(client, other.slug))).status_code == 422
    monkeypatch.setitem(app.config, "SUPPORT_FORM_MIN_SECONDS", 60)
    hasty = client.post(f"/support/{desk.team.slug}", data=good(client, desk))
    assert hasty.status_code == 422 and "That was quick" in hasty.get_data(as_text=True)
    assert count(Ticket) == 0


def test_a_burst_from_one_address_creates_at_most_the_limit(app, client, desk, monkeypatch):
    monkeypatch.setitem(app.config, "SUPPORT_FORM_IP_LIMIT", "2000 per minute")
    data = good(client, desk)
    statuses = [client.post(f"/support/{desk.team.slug}", data=data).status_code for _ in range(1000)]
    assert statuses.count(303) == 3 and statuses.count(429) == 997  # "3 per minute" per address
    assert count(Ticket) == 3
    refused = client.post(f"/support/{desk.team.slug}", data=data)
    assert refused.status_code == 429 and "Charged twice in November." in refused.get_data(as_text=True)
    # Another address from the same machine still gets through.
    assert client.post(f"/support/{desk.team.slug}", data=good(client, desk, email="bea@engines.test")).status_code == 303


def test_a_burst_from_one_ip_is_cut_by_the_ip_limit(client, desk):
    statuses = [client.post(f"/support/{desk.team.slug}",
                            data=good(client, desk, email=f"bot{i}@spam.test")).status_code for i in range(30)]
    assert statuses.count(303) == 10 and set(statuses[10:]) == {429}  # "10 per minute" per IP


def test_mapped_type_and_existing_tags_only(client, desk):
    db.session.add_all([TicketType(name="Billing"), Tag(name="invoice")])
    desk.team.form_fields.append(FormField(key="kind", label="Kind", kind="select", choices="Billing\nOther",
                                           target="type", sequence=6))
    desk.team.form_fields.append(FormField(key="topics", label="Topics", kind="text", target="tags", sequence=7))
    db.session.commit()
    assert client.post(f"/support/{desk.team.slug}", data=good(client, desk, f_kind="Billing",
                                                                 f_topics="invoice, made-up")).status_code == 303
    ticket = db.session.scalar(select(Ticket))
    assert ticket.type.name == "Billing" and [t.name for t in ticket.tags] == ["invoice"]
    assert db.session.scalar(select(Tag).where(Tag.name == "made-up")) is None


@pytest.mark.parametrize("payload", XSS)
def test_hostile_input_is_escaped_on_the_staff_and_customer_pages(client, make_client, desk, users, payload):
    assert client.post(f"/support/{desk.team.slug}", data=good(
        client, desk, name=payload, subject=f"Help {payload}", description=payload, f_order=payload)).status_code == 303
    ticket = db.session.scalar(select(Ticket))
    customer_page = client.get(link_path(last_mail("receipt"))).get_data(as_text=True)
    staff = make_client()
    from tests.conftest import login

    login(staff, users.agent)
    staff_page = staff.get(f"/helpdesk/tickets/{ticket.id}").get_data(as_text=True)
    for html in (customer_page, staff_page):
        assert "<script>alert(1)" not in html and "<img src=x onerror" not in html


def test_the_same_customer_is_reused(client, desk):
    for subject, email in (("One", "ada@engines.test"), ("Two", "Ada@Engines.test ")):
        assert client.post(f"/support/{desk.team.slug}", data=good(client, desk, subject=subject,
                                                                     email=email)).status_code == 303
    tickets = list(db.session.scalars(select(Ticket)))
    assert len(tickets) == 2 and tickets[0].customer_id == tickets[1].customer_id


def test_thanks_needs_a_signed_token(client, desk):
    assert client.get("/support/thanks/1").status_code == 404
    assert client.get("/support/thanks/MQ.forged.sig").status_code == 404
