"""The search page: results, fragments, paging without JavaScript, bad input, and who finds what."""
import re
from types import SimpleNamespace
from urllib.parse import quote

import pytest

from app.extensions import db
from app.services import discuss, messaging
from tests.conftest import make_contact, make_user
from tests.web.conftest import sign_in

HX = {"HX-Request": "true"}


@pytest.fixture
def world(app, users):
    """A private channel, a DM and a group chat with Dan, a public channel, and a note on a contact.

    Each message carries the shared word "lantern" and a word of its own.
    """
    dan = make_user(name="Dan Member")
    contact = make_contact("Ada Customer")
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        private = discuss.create_channel(users.agent, "secret", private=True, members=[dan])
        public = discuss.create_channel(users.agent, "general")
        dm = discuss.direct_message(users.agent, dan)
        db.session.commit()
        posted = {
            "private": discuss.post(private, users.agent, "Lantern: the privatepelican plan"),
            "dm": discuss.post(dm, users.agent, "Lantern: our dmdolphin secret"),
            "public": discuss.post(public, users.agent, "Lantern: the publicpuffin news"),
            "note": messaging.post_message(contact.ensure_thread(), users.agent, "Lantern: contactcrane note",
                                           kind="note", notify=False),
        }
        db.session.commit()
    return SimpleNamespace(dan=dan, contact=contact, private=private, public=public, dm=dm, posted=posted)


def hits(response) -> list[int]:
    return [int(i) for i in re.findall(r'href="[^"]*#message-(\d+)"', response.get_data(as_text=True))]


# ---- the page --------------------------------------------------------------------------------

def test_the_page_lists_hits_newest_first_with_words_marked_and_links_in_context(client, users, world):
    sign_in(client, users.agent)
    response = client.get("/search?q=lantern")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" in html
    posted = world.posted
    assert hits(response) == [posted[k].id for k in ("note", "public", "dm", "private")]
    assert "<mark>Lantern</mark>: the publicpuffin news" in html
    note = posted["note"]
    assert f'href="/contacts/{world.contact.id}?around={note.id}#message-{note.id}"' in html
    assert f'href="/discuss/c/{world.private.id}?around={posted["private"].id}#message-{posted["private"].id}"' in html
    assert "#secret" in html and "Ada Customer" in html and "Dan Member" in html  # where: channel, record, DM
    assert 'value="lantern"' in html  # the query stays in the box


def test_the_top_bar_has_the_search_box_and_the_page_its_own(client, users):
    sign_in(client, users.agent)
    inbox = client.get("/inbox").get_data(as_text=True)
    assert 'action="/search"' in inbox and "data-search-box" in inbox
    page = client.get("/search").get_data(as_text=True)
    assert page.count("data-search-box") == 1 and "topbar-search" not in page


def test_empty_wordless_and_unmatched_queries_say_so(client, users, world):
    sign_in(client, users.agent)
    assert "Find a message or a note" in client.get("/search").get_data(as_text=True)
    assert "Type a word to search" in client.get("/search?q=%2A%22%28").get_data(as_text=True)
    html = client.get("/search?q=zeppelin").get_data(as_text=True)
    assert "No message matches “zeppelin”" in html


def test_htmx_gets_the_results_alone_and_the_next_rows_alone(app, client, users, world):
    app.config["SEARCH_PAGE_SIZE"] = 2
    try:
        sign_in(client, users.agent)
        results = client.get("/search?q=lantern", headers={**HX, "HX-Target": "search-results"})
        html = results.get_data(as_text=True)
        assert "<html" not in html and 'class="search-hits"' in html and len(hits(results)) == 2
        more = re.search(r'hx-get="([^"]+before=\d+)"', html).group(1).replace("&amp;", "&")
        rows = client.get(more, headers=HX)
        assert "<html" not in rows.get_data(as_text=True) and "search-hits" not in rows.get_data(as_text=True)
        assert hits(rows) == [world.posted["dm"].id, world.posted["private"].id]
        assert "Load older results" not in rows.get_data(as_text=True)
    finally:
        app.config["SEARCH_PAGE_SIZE"] = 20


def test_load_more_works_without_javascript(app, client, users, world):
    app.config["SEARCH_PAGE_SIZE"] = 3
    try:
        sign_in(client, users.agent)
        first = client.get("/search?q=lantern").get_data(as_text=True)
        link = re.search(r'<a class="btn" href="([^"]+)"', first).group(1).replace("&amp;", "&")
        second = client.get(link)
        assert second.status_code == 200 and "<html" in second.get_data(as_text=True)
        assert hits(second) == [world.posted["private"].id]
        assert "Back to the newest" in second.get_data(as_text=True)
    finally:
        app.config["SEARCH_PAGE_SIZE"] = 20


def test_a_search_can_keep_to_one_conversation(client, users, world):
    sign_in(client, users.agent)
    thread_id = world.public.thread.id
    response = client.get(f"/search?q=lantern&thread={thread_id}")
    assert hits(response) == [world.posted["public"].id]
    assert "Only in <strong>#general</strong>" in response.get_data(as_text=True)
    assert hits(client.get(f"/search?q=lantern&channel={world.public.id}")) == [world.posted["public"].id]
    assert client.get("/search?q=lantern&thread=999999").status_code == 404


BAD = ["x" * 10_000, '"', "*", "NEAR(a b)", "a -b", "body:lantern", "(lantern", "lantern AND OR NOT",
       "%00", "%ED%A0%80", "%FF%FE", "😀", "'); DROP TABLE messages; --", "lantern" * 1000, "&q=", "\\"]


@pytest.mark.parametrize("query", BAD)
def test_bad_queries_never_fail(client, users, world, query):
    sign_in(client, users.agent)
    for headers in ({}, {**HX, "HX-Target": "search-results"}):
        response = client.get("/search?q=" + (query if "%" in query else quote(query)), headers=headers)
        assert response.status_code == 200


@pytest.mark.parametrize("args", ["before=abc", "before=-1", "before=0", "before=99999999999999999999999",
                                  "before=2147483648", "thread=abc", "thread=99999999999999999999999",
                                  "channel=-5", "channel=99999999999999999999999", "q=lantern&q=x"])
def test_bad_parameters_are_4xx_or_ignored_never_500(client, users, world, args):
    sign_in(client, users.agent)
    response = client.get(f"/search?q=lantern&{args}")
    assert response.status_code in (200, 404)


# ---- who finds what --------------------------------------------------------------------------

WHO = ("member", "outsider", "admin", "portal", "anonymous")
WHAT = {"private": "privatepelican", "dm": "dmdolphin", "public": "publicpuffin", "note": "contactcrane"}
READS = {
    "member": {"private", "dm", "public", "note"},
    "outsider": {"public", "note"},
    "admin": {"public", "note"},  # not a member: private conversations stay private
    "portal": set(),
    "anonymous": set(),
}


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("what", list(WHAT))
def test_search_finds_only_what_the_user_may_read(client, users, world, who, what):
    user = {"member": world.dan, "outsider": users.agent2, "admin": users.admin, "portal": users.portal,
            "anonymous": None}[who]
    sign_in(client, user)
    message = world.posted[what]
    for headers in ({}, {**HX, "HX-Target": "search-results"}):
        response = client.get(f"/search?q={WHAT[what]}", headers=headers)
        body = response.get_data(as_text=True)
        if who == "anonymous":
            assert response.status_code in (302, 401) and "/login" in response.location and "<mark>" not in body
        elif who == "portal":
            assert response.status_code == 403 and "<mark>" not in body
        else:
            assert response.status_code == 200
            assert (hits(response) == [message.id]) == (what in READS[who])
            assert (f"<mark>{WHAT[what]}</mark>" in body) == (what in READS[who])


@pytest.mark.parametrize("who", ["outsider", "admin", "portal", "anonymous"])
def test_a_private_conversation_cannot_be_the_scope_of_an_outsiders_search(client, users, world, who):
    user = {"outsider": users.agent2, "admin": users.admin, "portal": users.portal, "anonymous": None}[who]
    sign_in(client, user)
    for args in (f"thread={world.private.thread.id}", f"channel={world.private.id}", f"channel={world.dm.id}"):
        response = client.get(f"/search?q=lantern&{args}")
        assert response.status_code in (302, 401, 403, 404)
        assert "#secret" not in response.get_data(as_text=True)


def test_searching_is_rate_limited_per_person(app, client, make_client, users, monkeypatch):
    monkeypatch.setitem(app.config, "SEARCH_RATE_LIMIT", "3 per minute")
    sign_in(client, users.agent)
    assert [client.get("/search?q=lantern", headers=HX).status_code for _ in range(4)] == [200, 200, 200, 429]
    page = client.get("/search?q=lantern")
    assert page.status_code == 429 and "Too many" in page.get_data(as_text=True)
    colleague = make_client()  # same address, another person: not limited
    sign_in(colleague, users.agent2)
    assert colleague.get("/search?q=lantern").status_code == 200
