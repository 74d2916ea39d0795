"""services/search.py: words found on both engines, snippets, hostile input, access in SQL, paging."""
import os
import re
import secrets
from types import SimpleNamespace

import pytest
from flask_login import AnonymousUserMixin
from sqlalchemy import create_engine, insert, inspect, text

from app.extensions import db
from app.models import Channel, Message
from app.services import discuss, messaging, search
from tests.conftest import PG_ADMIN_URL, TEST_DB, make_contact, make_user


pytestmark = pytest.mark.usefixtures("request_ctx")


@pytest.fixture
def thread():
    return make_contact("Zoé Cliente", "zoe@cliente.test").ensure_thread()


def post(thread, author, body, kind="comment", is_html=False):
    message = messaging.post_message(thread, author, body, kind=kind, notify=False, is_html=is_html)
    db.session.commit()
    return message


def found(user, query, **kwargs) -> list[int]:
    return [hit.message.id for hit in search.search_messages(user, query, **kwargs).hits]


# ---- words -----------------------------------------------------------------------------------

@pytest.mark.parametrize("query", ["telefono", "TELÉFONO", "Teléfono", "funciona", "zoe", "ZOÉ",
                                   "teléfono funciona", "funciona teléfono", "l'école", "ecole", "ÉCOLE"])
def test_words_are_found_whatever_their_case_and_accents(users, thread, query):
    message = post(thread, users.agent, "El teléfono de Zoé no funciona desde l'école.")
    assert found(users.agent, query) == [message.id]


@pytest.mark.parametrize("query, hit", [
    ("telef", True),          # the last word is a prefix: results follow the typing
    ("funciona telef", True),
    ("telef funciona", False),  # the other words are whole words
    ("elefono", False),       # a prefix, not a substring
    ("t", False),             # one letter is a word, not a prefix
    ("telef ", False),        # a space after it: the word is complete
    ("teléfono ", True),
    ("funciona ordenador", False),  # every word must be there
])
def test_the_last_word_matches_as_a_prefix_and_every_word_must_match(users, thread, query, hit):
    message = post(thread, users.agent, "El teléfono no funciona.")
    assert found(users.agent, query) == ([message.id] if hit else [])


@pytest.mark.parametrize("query", ["ana", "example", "com", "mail", "e-mail", "v2", "invoice_2024", "2024"])
def test_punctuation_separates_words_on_both_engines(users, thread, query):
    message = post(thread, users.agent, "Write to ana@example.com (e-mail), re: v2.1 of invoice_2024.pdf")
    assert found(users.agent, query) == [message.id]


@pytest.mark.parametrize("query", ["href", "strong", "noopener", "nofollow", "amp", "lt"])
def test_the_markup_is_not_searched(users, thread, query):
    post(thread, users.agent, "<p><strong>Bold</strong> see <a href='https://hilo.test'>link</a> a &lt; b &amp; c</p>",
         kind="note", is_html=True)
    assert found(users.agent, query) == []
    assert found(users.agent, "bold link") != []


def test_snippets_escape_the_text_and_mark_the_words(users, thread):
    post(thread, users.agent, "Careful: <script>alert('pwned')</script> & <b>plan</b> B")
    [hit] = search.search_messages(users.agent, "script plan").hits
    snippet = str(hit.snippet)
    assert "<script>" not in snippet and "<b>" not in snippet
    assert "&lt;<mark>script</mark>&gt;alert(&#39;pwned&#39;)" in snippet
    assert "&amp; &lt;b&gt;<mark>plan</mark>&lt;/b&gt; B" in snippet
    assert set(re.findall(r"</?[a-z]+", snippet)) == {"<mark", "</mark"}


def test_the_snippet_of_a_long_message_is_cut_around_the_first_hit(users, thread):
    body = " ".join(["filler"] * 200 + ["needle", "here"] + ["filler"] * 200)
    post(thread, users.agent, body)
    [hit] = search.search_messages(users.agent, "needle").hits
    snippet = str(hit.snippet)
    assert snippet.startswith("…") and snippet.endswith("…")
    assert "<mark>needle</mark> here" in snippet and len(snippet) < search.SNIPPET_CHARS + 40


def test_highlighting_marks_whole_words_of_a_prefix_and_folds_accents():
    terms = search.query_terms("zoe tele", 8)
    snippet = str(search.highlight("Zoé: teléfono, telegrama; hotel zoe", terms))
    assert snippet == "<mark>Zoé</mark>: <mark>teléfono</mark>, <mark>telegrama</mark>; hotel <mark>zoe</mark>"


HOSTILE = ['"', '""', "'", "*", "-", ":", "(", ")", "()", "a*", "*a", "-plan", "plan -", "body:plan",
           "NEAR(plan secret)", "plan AND secret", "plan OR", "NOT plan", "AND", "^plan", "plan:*", "!plan",
           "plan & secret", "plan | secret", "plan <-> secret", "'plan'", "\\", "%", "_", "\x00", "\ud800",
           "😀", "中文", "½", "x" * 10_000, "plan " * 2_000, "é" * 3_000, " ", "\n\t", "NULL", "');--"]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_are_words_and_never_raise(users, thread, query):
    post(thread, users.agent, "The secret plan, step 2")
    page = search.search_messages(users.agent, query)
    assert isinstance(page.hits, list)
    assert db.session.execute(text("SELECT 1")).scalar() == 1  # the transaction is still usable


def test_operators_are_read_as_words(users, thread):
    message = post(thread, users.agent, "Plan near the secret door, and not the other one")
    assert found(users.agent, "NEAR plan") == [message.id]
    assert found(users.agent, '"secret plan"') == [message.id]  # no phrase syntax: both words, any order
    assert found(users.agent, "plan -door") == [message.id]  # no exclusion
    assert found(users.agent, "plan OR nothing") == []  # no OR: every word must be there


def test_a_query_is_cut_to_its_first_words(app, users, thread):
    message = post(thread, users.agent, "alpha beta")
    words = " ".join(f"w{i}" for i in range(50))
    assert found(users.agent, "alpha beta " + words) == []
    page = search.search_messages(users.agent, "alpha   beta alpha " + "x" * 100 + " y")
    assert [t.word for t in page.terms] == ["alpha", "beta", "x" * search.MAX_WORD_CHARS, "y"]
    assert [t.prefix for t in page.terms] == [False, False, True, False]  # a cut word is a prefix
    assert found(users.agent, "alpha BETA beta") == [message.id]
    assert len(search.search_messages(users.agent, "y" * 10_000).query) == app.config["SEARCH_MAX_QUERY_CHARS"]


def test_a_word_longer_than_the_cut_is_found_by_its_start(users, thread):
    long_word = "a" + "b" * 99
    message = post(thread, users.agent, f"ID {long_word}")
    assert found(users.agent, long_word + " id") == [message.id]


# ---- kinds -----------------------------------------------------------------------------------

def test_messages_and_notes_are_found_system_and_tracking_lines_are_not(users, thread):
    comment = post(thread, users.agent, "Pelican comment")
    note = post(thread, users.agent, "Pelican note", kind="note")
    post(thread, None, "Pelican system line", kind="notification")
    contact = thread.record
    before = messaging.snapshot(contact)
    contact.name = "Pelican Corp"
    messaging.track_changes(contact, before, users.agent)
    db.session.execute(text("UPDATE messages SET body_html = '<p>Pelican tracked</p>' WHERE kind = 'tracking'"))
    db.session.commit()
    assert found(users.agent, "pelican") == [note.id, comment.id]
    assert found(users.admin, "pelican note") == [note.id]


# ---- keeping the index in step ---------------------------------------------------------------

def assert_index_in_step():
    """One index entry per message, holding what the message says now."""
    if db.engine.dialect.name == "postgresql":
        stale = db.session.execute(text(
            "SELECT count(*) FROM messages m FULL JOIN message_search s ON s.message_id = m.id"
            " WHERE s.document IS DISTINCT FROM hilo_search_document(m.body_html)")).scalar()
        assert stale == 0
    else:
        db.session.execute(text("INSERT INTO message_search (message_search) VALUES ('integrity-check')"))
        entries = db.session.execute(text("SELECT count(*) FROM message_search_docsize")).scalar()
        assert entries == db.session.execute(text("SELECT count(*) FROM messages")).scalar()



def test_an_edited_message_is_found_by_its_new_words_only(users, thread):
    message = post(thread, users.agent, "The old wording", kind="note")
    message.body_html = "<p>The new phrasing</p>"
    db.session.commit()
    assert found(users.agent, "phrasing") == [message.id]
    assert found(users.agent, "wording") == []
    db.session.execute(text("UPDATE messages SET body_html = '<p>Third take</p>' WHERE id = :id"), {"id": message.id})
    db.session.commit()
    assert found(users.agent, "take") == [message.id] and found(users.agent, "phrasing") == []
    assert_index_in_step()


def test_a_deleted_message_is_not_found(users, thread):
    keep = post(thread, users.agent, "Walrus one", kind="note")
    gone = post(thread, users.agent, "Walrus two", kind="note")
    messaging.delete_message(gone)
    db.session.commit()
    assert found(users.agent, "walrus") == [keep.id]
    assert_index_in_step()


def test_a_deleted_record_takes_its_messages_out_of_search(users, thread):
    post(thread, users.agent, "Narwhal")
    db.session.delete(thread)
    db.session.commit()
    assert found(users.agent, "narwhal") == []
    assert_index_in_step()


def test_rows_inserted_in_bulk_with_core_are_found(users, thread):
    db.session.execute(insert(Message), [
        {"thread_id": thread.id, "kind": "comment", "body_html": f"<p>Bulk row {i} okapi</p>"} for i in range(3)])
    db.session.commit()
    assert len(found(users.agent, "okapi")) == 3
    assert_index_in_step()


# ---- paging and scope ------------------------------------------------------------------------

@pytest.mark.parametrize("recent_rows", [5_000, 3, 1])
def test_pages_are_newest_first_and_keyset(users, thread, monkeypatch, recent_rows):
    """(PostgreSQL tries the newest `RECENT_ROWS` first, then the GIN index: both passes here.)"""
    monkeypatch.setattr(search, "RECENT_ROWS", recent_rows)
    ids = []
    for i in range(5):
        ids.append(post(thread, users.agent, f"Heron number {i}").id)
        post(thread, users.agent, f"Egret number {i}")
    first = search.search_messages(users.agent, "heron", limit=2)
    assert [h.message.id for h in first.hits] == ids[:2:-1][:2] == [ids[4], ids[3]]
    assert first.has_more and first.next_before == ids[3]
    second = search.search_messages(users.agent, "heron", limit=2, before_id=first.next_before)
    third = search.search_messages(users.agent, "heron", limit=2, before_id=second.next_before)
    assert [h.message.id for h in second.hits] == [ids[2], ids[1]]
    assert [h.message.id for h in third.hits] == [ids[0]] and not third.has_more and third.next_before is None


def test_the_planner_settings_of_the_second_pass_do_not_outlive_it(users, thread, monkeypatch):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's two passes")
    names = ("enable_seqscan", "plan_cache_mode", "max_parallel_workers_per_gather", "jit")
    before = {name: db.session.execute(text(f"SHOW {name}")).scalar() for name in names}
    monkeypatch.setattr(search, "RECENT_ROWS", 1)
    old = post(thread, users.agent, "Osprey")
    post(thread, users.agent, "Something else")
    assert found(users.agent, "osprey") == [old.id]  # found by the second pass
    assert {name: db.session.execute(text(f"SHOW {name}")).scalar() for name in names} == before


def test_a_search_can_keep_to_one_thread(users, thread):
    other = make_contact("Other").ensure_thread()
    mine = post(thread, users.agent, "Ibis here")
    post(other, users.agent, "Ibis there")
    assert found(users.agent, "ibis", thread=thread) == [mine.id]
    assert len(found(users.agent, "ibis")) == 2


def test_hits_name_their_conversation_and_link_to_the_message_in_context(users, thread):
    channel = discuss.create_channel(users.agent, "general")
    db.session.commit()
    in_channel = discuss.post(channel, users.agent, "Quokka in the channel")
    on_record = post(thread, users.agent, "Quokka on the record")
    db.session.commit()
    hits = {h.message.id: h for h in search.search_messages(users.agent, "quokka").hits}
    assert hits[in_channel.id].title == "#general"
    assert hits[in_channel.id].url == f"/discuss/c/{channel.id}?around={in_channel.id}#message-{in_channel.id}"
    assert hits[on_record.id].title == "Zoé Cliente"
    assert hits[on_record.id].url == f"/contacts/{thread.res_id}?around={on_record.id}#message-{on_record.id}"


# ---- who finds what --------------------------------------------------------------------------

@pytest.fixture
def chats(users):
    """A private channel (agent, Dan), a DM (agent, Dan), a group (agent, Dan, Carol), a public one."""
    dan = make_user(name="Dan Member")
    channels = {
        "private": discuss.create_channel(users.agent, "secret", private=True, members=[dan]),
        "public": discuss.create_channel(users.agent, "general"),
        "dm": discuss.direct_message(users.agent, dan),
        "group": discuss.group_chat(dan, [users.agent, users.agent2]),
    }
    db.session.commit()
    posted = {name: discuss.post(channel, users.agent, f"Lynx in {name}") for name, channel in channels.items()}
    db.session.commit()
    return SimpleNamespace(dan=dan, channels=channels, posted=posted)


@pytest.mark.parametrize("who, sees", [
    ("dan", {"private", "public", "dm", "group"}),
    ("agent2", {"public", "group"}),
    ("admin", {"public"}),  # admins are not members: privacy is the point of a private channel
    ("portal", set()),
    ("anonymous", set()),
])
@pytest.mark.parametrize("recent_rows", [5_000, 1])
def test_conversations_are_found_by_those_who_may_read_them(users, chats, who, sees, recent_rows, monkeypatch):
    monkeypatch.setattr(search, "RECENT_ROWS", recent_rows)
    user = {"dan": chats.dan, "agent2": users.agent2, "admin": users.admin, "portal": users.portal,
            "anonymous": AnonymousUserMixin()}[who]
    assert set(found(user, "lynx")) == {chats.posted[name].id for name in sees}


def test_leaving_a_private_channel_ends_its_search_hits(users, chats):
    assert chats.posted["private"].id in found(chats.dan, "lynx")
    discuss.leave(chats.channels["private"], chats.dan)
    db.session.commit()
    assert chats.posted["private"].id not in found(chats.dan, "lynx")


def test_portal_users_find_nothing_even_on_their_own_record(users):
    thread = users.portal_contact.ensure_thread()
    post(thread, users.agent, "Marmot for the customer")
    assert found(users.agent, "marmot") and found(users.portal, "marmot") == []


def test_a_model_that_restricts_staff_without_a_sql_filter_is_left_out(users, chats, monkeypatch):
    monkeypatch.delattr(Channel, "staff_read_filter")
    assert found(users.agent, "lynx") == []


# ---- the schema ------------------------------------------------------------------------------

def test_the_migration_indexes_existing_rows_and_goes_down_and_up_again(app, tmp_path):
    """On a database of its own: messages written before 0004 are found after it; every migration
    since goes down and up again."""
    from flask_migrate import downgrade, upgrade

    from app import create_app
    from app.models import User

    if TEST_DB == "sqlite":
        url, drop = f"sqlite:///{tmp_path / 'migrate.db'}", None
    else:
        name = f"hilo_test_migrate_{os.getpid()}_{secrets.token_hex(3)}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = re.sub(r"/[^/]*$", f"/{name}", PG_ADMIN_URL)

        def drop():
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    other = create_app({**{k: app.config[k] for k in ("SECRET_KEY", "BASE_URL")},
                        "SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None, "RATELIMIT_STORAGE_URI": "memory://",
                        "TESTING": True, "SERVER_NAME": None})
    try:
        with other.app_context(), other.test_request_context():
            upgrade(revision="0003")
            db.session.execute(text(
                "INSERT INTO users (id, email, name, password_hash, role, active, session_token, signature,"
                " timezone, notify_by, created_at) VALUES (1, 'a@x.test', 'A', '', 'agent', true, 't', '', 'UTC',"
                " 'inbox', CURRENT_TIMESTAMP)"))
            db.session.execute(text(
                "INSERT INTO contacts (id, name, email, notes, created_at, updated_at)"
                " VALUES (1, 'C', 'c@x.test', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            db.session.execute(text(
                "INSERT INTO threads (id, res_model, res_id, created_at) VALUES (1, 'contact', 1, CURRENT_TIMESTAMP)"))
            db.session.execute(text(
                "INSERT INTO messages (id, thread_id, kind, body_html, created_at, notify_pending)"
                " VALUES (1, 1, 'comment', '<p>Written before search existed</p>', CURRENT_TIMESTAMP, false)"))
            db.session.commit()
            upgrade()  # to the head: the search service reads every record model's table
            agent = db.session.get(User, 1)
            assert found(agent, "existed") == [1]
            db.session.rollback()  # (PostgreSQL: our reads must not hold locks the DROPs wait for)
            downgrade(revision="0003")
            assert not {n for n in inspect(db.engine).get_table_names() if n.startswith("message_search")}
            upgrade()
            assert found(agent, "existed") == [1]
            db.session.rollback()
            db.session.remove()
            db.engine.dispose()
    finally:
        if drop:
            drop()
