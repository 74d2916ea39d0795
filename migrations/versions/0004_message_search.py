"""Message search: a `message_search` table kept by triggers (tsvector + GIN on PostgreSQL, FTS5 on SQLite)

Revision ID: 0004
Revises: 0003

One row per message in `message_search`, written by triggers on `messages` (insert, update of
body_html, delete), so rows inserted in bulk with Core or COPY are searchable too; the rows that
exist already are indexed here. Both engines index the same text, `hilo_search_text(body_html)`:
the body with tags and entities replaced by spaces — the words, not the markup.

- PostgreSQL: `message_search(message_id, document tsvector)` with a GIN index on `document`.
  `hilo_search_text` also turns ASCII punctuation into spaces (so the parser sees plain words, as
  FTS5's tokenizer does, rather than hosts, e-mail addresses or paths) and folds accents
  (`hilo_search_fold`: NFD, combining marks removed); `hilo_search_document` is its tsvector with
  the 'simple' configuration (no stemming, no stop words: the text is Spanish, French and English).
  New rows are indexed by a statement trigger (one INSERT ... SELECT per statement, so a COPY of a
  million rows is one pass); an edited body by a row trigger; a deleted message by the foreign key.
- SQLite: `message_search`, a contentless FTS5 table (unicode61, diacritics removed, prefix
  indexes for 2 and 3 characters) whose rowid is the message id. SQLite has no regexp_replace: the triggers call
  `hilo_search_text`, a Python function the app registers on every SQLite connection
  (app.services.search.register_sqlite_functions, from app/__init__.py).

PostgreSQL 11 or later (EXECUTE FUNCTION in triggers); accents are folded only in a UTF8
database (normalize() needs it), elsewhere they are kept. None of this is in the models: app.services.search.include_schema_name hides it from
autogenerate and from the models-vs-migrations test.
"""
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# Combining marks (accents) left alone by NFD: general, extended, supplement, for symbols, half marks.
COMBINING_MARKS = r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def _upgrade_postgresql():
    utf8 = op.get_bind().exec_driver_sql("SHOW server_encoding").scalar() == "UTF8"
    fold = f"regexp_replace(normalize(value, NFD), '{COMBINING_MARKS}', '', 'g')" if utf8 else "value"
    op.execute(f"""
        CREATE FUNCTION hilo_search_fold(value text) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS $$ SELECT {fold} $$
    """)
    op.execute(r"""
        CREATE FUNCTION hilo_search_text(html text) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS $$ SELECT hilo_search_fold(regexp_replace(
            regexp_replace(html, '<[^>]*>|&[#a-zA-Z0-9]+;', ' ', 'g'),
            '[!-/:-@\[-`{-~]+', ' ', 'g')) $$
    """)
    op.execute("""
        CREATE FUNCTION hilo_search_document(html text) RETURNS tsvector
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS $$ SELECT to_tsvector('simple'::regconfig, hilo_search_text(html)) $$
    """)
    op.execute("""
        CREATE TABLE message_search (
            message_id integer PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
            document tsvector NOT NULL
        )
    """)
    op.execute("INSERT INTO message_search (message_id, document) "
               "SELECT id, hilo_search_document(body_html) FROM messages")
    op.execute("CREATE INDEX ix_message_search_document ON message_search USING gin (document)")
    op.execute("""
        CREATE FUNCTION hilo_message_search_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO message_search (message_id, document)
            SELECT id, hilo_search_document(body_html) FROM new_messages;
            RETURN NULL;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER message_search_insert AFTER INSERT ON messages
        REFERENCING NEW TABLE AS new_messages FOR EACH STATEMENT
        EXECUTE FUNCTION hilo_message_search_insert()
    """)
    op.execute("""
        CREATE FUNCTION hilo_message_search_update() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE message_search SET document = hilo_search_document(NEW.body_html)
            WHERE message_id = NEW.id;
            RETURN NULL;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER message_search_update AFTER UPDATE OF body_html ON messages
        FOR EACH ROW WHEN (OLD.body_html IS DISTINCT FROM NEW.body_html)
        EXECUTE FUNCTION hilo_message_search_update()
    """)


def _upgrade_sqlite():
    op.get_bind().exec_driver_sql("SELECT hilo_search_text('')")  # fails clearly if the app did not register it
    # Contentless (content=''): the text is in `messages` already. An entry is removed by giving
    # FTS5 the text it indexed, which `hilo_search_text(old.body_html)` recomputes: a migration
    # that changes that function must rebuild this table (drop, create, fill).
    op.execute("CREATE VIRTUAL TABLE message_search USING fts5(body, content = '', "
               "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')")
    op.execute("INSERT INTO message_search (rowid, body) SELECT id, hilo_search_text(body_html) FROM messages")
    op.execute("""
        CREATE TRIGGER message_search_insert AFTER INSERT ON messages BEGIN
            INSERT INTO message_search (rowid, body) VALUES (new.id, hilo_search_text(new.body_html));
        END
    """)
    op.execute("""
        CREATE TRIGGER message_search_update AFTER UPDATE OF body_html ON messages BEGIN
            INSERT INTO message_search (message_search, rowid, body)
                VALUES ('delete', old.id, hilo_search_text(old.body_html));
            INSERT INTO message_search (rowid, body) VALUES (new.id, hilo_search_text(new.body_html));
        END
    """)
    op.execute("""
        CREATE TRIGGER message_search_delete AFTER DELETE ON messages BEGIN
            INSERT INTO message_search (message_search, rowid, body)
                VALUES ('delete', old.id, hilo_search_text(old.body_html));
        END
    """)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER message_search_update ON messages")
        op.execute("DROP TRIGGER message_search_insert ON messages")
        op.execute("DROP TABLE message_search")
        for function in ("hilo_message_search_update()", "hilo_message_search_insert()",
                         "hilo_search_document(text)", "hilo_search_text(text)", "hilo_search_fold(text)"):
            op.execute(f"DROP FUNCTION {function}")
        return
    for trigger in ("message_search_insert", "message_search_update", "message_search_delete"):
        op.execute(f"DROP TRIGGER {trigger}")
    op.execute("DROP TABLE message_search")
