"""Settings › a team's website form and help center answers: admins only, rules, preview."""
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import FaqArticle, FormField
from tests.conftest import make_team
from tests.web.conftest import sign_in


@pytest.fixture
def team(users):
    team = make_team("Customer Care", members=[users.agent], use_website_form=True)
    team.form_fields = [FormField(key="order", label="Order number", sequence=10),
                        FormField(key="phone", label="Phone", kind="phone", sequence=20)]
    db.session.add(FaqArticle(team=team, title="Reset a password", body="Use the link."))
    db.session.commit()
    return team


def field_data(token, **changes):
    data = {"csrf_token": token, "label": "Country", "key": "country", "kind": "select", "target": "extra",
            "choices": "France\nSpain", "placeholder": "", "help_text": "", "default": "", "visible": "y"}
    data.update(changes)
    return data


@pytest.mark.parametrize("who, expected", [("admin", 200), ("agent", 403), ("portal", 403), (None, 302)])
def test_only_admins(client, users, team, who, expected):
    token = sign_in(client, getattr(users, who) if who else None)
    base = f"/admin/helpdesk/teams/{team.id}"
    assert client.get(f"{base}/website").status_code == expected
    assert client.get(f"{base}/website/preview").status_code == expected
    posted = client.post(f"{base}/website/fields", data=field_data(token))
    assert posted.status_code == (302 if who == "admin" else expected)
    article = client.post(f"{base}/faq/new", data={"csrf_token": token, "title": "Hack", "body": "x", "published": "y"})
    assert article.status_code == (302 if who == "admin" else expected)
    db.session.expire_all()
    assert (db.session.scalar(select(FormField).where(FormField.key == "country")) is not None) is (who == "admin")


def test_adding_reordering_editing_and_removing_fields(client, users, team):
    token = sign_in(client, users.admin)
    base = f"/admin/helpdesk/teams/{team.id}/website"
    assert client.post(f"{base}/fields", data=field_data(token)).status_code == 302
    country = db.session.scalar(select(FormField).where(FormField.key == "country"))
    assert [f.key for f in team.form_fields] == ["order", "phone", "country"]
    client.post(f"{base}/fields/{country.id}/move", data={"csrf_token": token, "direction": "up"})
    db.session.expire_all()
    assert [f.key for f in db.session.get(type(team), team.id).form_fields] == ["order", "country", "phone"]
    preview = client.get(f"{base}/preview").get_data(as_text=True)
    assert preview.index("f_country") < preview.index("f_phone") and "disabled" in preview
    assert client.post(f"{base}/fields/{country.id}", data=field_data(token, label="Land", required="y")).status_code == 302
    db.session.expire_all()
    country = db.session.get(FormField, country.id)
    assert country.label == "Land" and country.required
    public = client.get(f"/support/{team.slug}").get_data(as_text=True)
    assert "Land" in public and '<option value="Spain"' in public
    assert client.post(f"{base}/fields/{country.id}/delete", data={"csrf_token": token}).status_code == 302
    assert db.session.get(FormField, country.id) is None


@pytest.mark.parametrize("changes, message", [
    ({"key": "Bad Key"}, "Use lower-case letters"),
    ({"key": "order"}, "Another field of this form has that name"),
    ({"choices": ""}, "at least one choice"),
    ({"label": ""}, "A field needs a label"),
    ({"kind": "html"}, "Not a valid choice"),
])
def test_bad_field_definitions(client, users, team, changes, message):
    token = sign_in(client, users.admin)
    response = client.post(f"/admin/helpdesk/teams/{team.id}/website/fields", data=field_data(token, **changes))
    assert response.status_code == 422 and message in response.get_data(as_text=True)


def test_another_teams_field_is_404(client, users, team):
    other = make_team("Other")
    token = sign_in(client, users.admin)
    field = team.form_fields[0]
    assert client.post(f"/admin/helpdesk/teams/{other.id}/website/fields/{field.id}/delete",
                       data={"csrf_token": token}).status_code == 404
    assert client.get("/admin/helpdesk/teams/999999/website").status_code == 404


def test_side_text_and_articles_with_live_preview(client, users, team):
    token = sign_in(client, users.admin)
    base = f"/admin/helpdesk/teams/{team.id}"
    assert client.post(f"{base}/website/side-text", data={"csrf_token": token,
                                                          "form_side_text": "**Open** 9–18"}).status_code == 302
    assert "<strong>Open</strong>" in client.get(f"/support/{team.slug}").get_data(as_text=True)
    preview = client.post("/admin/helpdesk/markdown-preview", data={"body": "# Hi <script>x</script>"},
                          headers={"X-CSRFToken": token, "HX-Request": "true"}).get_data(as_text=True)
    assert "<h1>Hi &lt;script&gt;x&lt;/script&gt;</h1>" in preview
    assert client.post(f"{base}/faq/new", data={"csrf_token": token, "title": "", "body": "x"}).status_code == 422
    assert client.post(f"{base}/faq/new", data={"csrf_token": token, "title": "Draft", "body": "x"}).status_code == 302
    draft = db.session.scalar(select(FaqArticle).where(FaqArticle.title == "Draft"))
    assert not draft.published and "Draft</a>" not in client.get("/support").get_data(as_text=True)
    assert client.post(f"{base}/faq/{draft.id}", data={"csrf_token": token, "title": "Live", "body": "x",
                                                       "published": "y"}).status_code == 302
    assert "Live</a>" in client.get("/support").get_data(as_text=True)
    assert client.post(f"{base}/faq/{draft.id}/delete", data={"csrf_token": token}).status_code == 302
    assert db.session.get(FaqArticle, draft.id) is None
