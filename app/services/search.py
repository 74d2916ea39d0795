"""Message search (SPEC §2.7): the messages and notes a user may read, newest first, words marked.

One function, `search_messages(user, query, ...)`, over the full-text engine of each database.
Both keep one row per message in a table `message_search`, written by triggers on `messages`
(migration 0004), so messages inserted in bulk (Core, COPY) are searchable too, and both index
the same text, `hilo_search_text(body_html)`: the body with tags and entities replaced by
spaces — the words, never the markup.

- **PostgreSQL**: `message_search.document`, a tsvector with a GIN index, made with the `simple`
  configuration, which neither stems nor drops stop words: right for a product written in
  Spanish, French and English at once (an English stemmer would mangle the other two).
  `hilo_search_text` also turns ASCII punctuation into spaces, so the parser sees words as
  FTS5 does (not hosts or e-mail addresses), and folds accents (`hilo_search_fold`: NFD, then
  combining marks removed), so "telefono" finds "Teléfono".
- **SQLite**: `message_search` is an FTS5 table (unicode61 tokenizer, diacritics removed, prefix
  indexes) whose rowid is the message id. Its triggers call `hilo_search_text`, which SQLite
  lacks: `register_sqlite_functions` adds it (`message_text` below) to every SQLite connection
  the app opens (app/__init__.py).

**The query is words, never syntax.** What the user typed is cut into runs of letters and
digits; quotes, `*`, `-`, `:`, parentheses and `AND`/`OR`/`NEAR` are plain text or ignored.
Every word must occur (case and accents ignored); the last one also matches as a prefix while
it is being typed (no space after it), so results follow the user as they type. Each word is
quoted for the engine, so no input reaches the query parser as an operator.

**Newest first** is by message id (the order messages arrived in); `before` (a message id) gives
the next page. FTS5 walks its index from the newest row and stops after a page. PostgreSQL
searches in two passes (`_find_postgresql`): the newest RECENT_ROWS rows first, which a common
word fills a page from, then the GIN index for the older ones, which a rare word needs — so a
blind guess of the planner's can never make it read every row. The tsquery goes in as a
literal: a plan cached for "any query" would be the wrong one for half of them.

**Access is a SQL filter**, so paging stays right: staff only; `comment` and `note` messages
(never tracking or system lines); and `access.staff_read_condition(user, Message.thread_id)`,
the SQL twin of `access.can_read_thread`. A threaded model that restricts staff with
`staff_can_read(user)` declares the same rule as the classmethod `staff_read_filter(user)`, a
condition on its own table (Discuss channels: public ones, or those the user is a member of;
admins are not exempt). A model with the first and without the second never appears in search.

**Snippets** are made here, in Python, for both databases: the message's text around the first
hit, HTML-escaped, with the query's words wrapped in `<mark>` — our tags are the only markup.
"""
import html
import re
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

from flask import current_app
from markupsafe import Markup, escape
from sqlalchemy import Integer, String, bindparam, column, func, literal_column, select, table, text

from app.extensions import db
from app.models import Message, Thread
from app.services import access, messaging

SEARCHED_KINDS = ("comment", "note")
SNIPPET_CHARS = 220  # about three lines of a result
MAX_WORD_CHARS = 64  # a longer "word" is cut and matched as a prefix
RECENT_ROWS = 5_000  # PostgreSQL: newest index rows tried first (a word in 1 % of messages fills a page)
PREFIX_MIN_CHARS = 2  # the last word matches as a prefix from two letters on

_WORD = re.compile(r"[^\W_]+")  # letters and digits: what both engines call a word
_TAG = re.compile(r"<[^>]*>")  # sanitised HTML: a "<" in the text is always &lt;
# Not models (migration 0004 writes them by hand): enough of each to write the queries.
_PG_SEARCH = table("message_search", column("message_id", Integer), column("document"))
_FTS_SEARCH = table("message_search", column("rowid", Integer))


@dataclass(frozen=True)
class Term:
    word: str
    prefix: bool


@dataclass
class SearchHit:
    """One message found: where it is (title, url at the message) and what matched (snippet)."""

    message: Message
    thread: Thread
    record: object
    title: str
    url: str
    snippet: Markup


@dataclass
class SearchPage:
    query: str  # what was searched (the input, cut to SEARCH_MAX_QUERY_CHARS)
    terms: list[Term] = field(default_factory=list)
    hits: list[SearchHit] = field(default_factory=list)
    has_more: bool = False

    @property
    def next_before(self) -> int | None:
        return self.hits[-1].message.id if self.has_more and self.hits else None


def search_messages(user, query: str, *, thread: Thread | None = None, before_id: int | None = None,
                    limit: int | None = None) -> SearchPage:
    """Messages and notes `user` may read whose text has every word of `query`, newest first.

    `thread` keeps the search to one conversation or record (still access-checked); `before_id`
    returns the page after the one that ended with that message (keyset on the message id).
    Never raises for what a user can type: an empty or wordless query finds nothing.
    """
    config = current_app.config
    limit = limit or config["SEARCH_PAGE_SIZE"]
    query = (query or "")[:config["SEARCH_MAX_QUERY_CHARS"]]
    page = SearchPage(query=query, terms=query_terms(query, config["SEARCH_MAX_WORDS"]))
    readable = access.staff_read_condition(user, Message.thread_id)
    if not page.terms or readable is None:
        return page

    kinds = [kind for kind in access.visible_kinds(user) if kind in SEARCHED_KINDS]
    readable_messages = select(Message).where(Message.kind.in_(kinds), readable)
    if thread is not None:
        readable_messages = readable_messages.where(Message.thread_id == thread.id)
    before_id = min(before_id, 2**31) if before_id is not None else None  # ids are 32-bit (SQLite rejects more)
    find = _find_postgresql if db.engine.dialect.name == "postgresql" else _find_sqlite
    found = find(readable_messages, page.terms, before_id, limit + 1)
    page.has_more = len(found) > limit
    page.hits = _hits(user, found[:limit], page.terms)
    return page


def _find_sqlite(readable_messages, terms: list["Term"], before_id: int | None, count: int) -> list[Message]:
    """The newest `count` matches: FTS5 walks its index newest first and stops once it has them."""
    rowid = _FTS_SEARCH.c.rowid
    stmt = readable_messages.join(_FTS_SEARCH, rowid == Message.id).where(
        literal_column("message_search").op("MATCH")(_fts_query(terms)))
    if before_id is not None:
        stmt = stmt.where(rowid < before_id)
    return list(db.session.scalars(stmt.order_by(rowid.desc()).limit(count)).unique())


def _find_postgresql(readable_messages, terms: list["Term"], before_id: int | None, count: int) -> list[Message]:
    """The newest `count` matches, in two passes whose cost does not hang on the planner's guess.

    "Newest first, stop after a page" has two good plans: walk the newest rows and test each
    (right for a common word) or ask the GIN index for every match and sort them (right for a
    rare one). PostgreSQL picks from its statistics, which are often blind (a word missing from
    them is guessed at 0.5 %, any prefix at 2 %), and a wrong pick reads the whole table: half
    a second at a million messages, for a word that occurs twice. So: first the newest
    RECENT_ROWS index rows only (bounded, whatever the plan), then, if the page is not full,
    the older rows through the GIN index only (its cost grows with the matches, and a word
    that fills few pages among the newest rows has few).
    """
    message_id = _PG_SEARCH.c.message_id
    wanted = func.to_tsquery(literal_column("'simple'::regconfig"), func.hilo_search_fold(
        bindparam("tsquery", _tsquery(terms), type_=String, literal_execute=True)))
    matching = readable_messages.join(_PG_SEARCH, message_id == Message.id).where(
        _PG_SEARCH.c.document.op("@@")(wanted))
    newest = select(message_id).order_by(message_id.desc()).limit(RECENT_ROWS)
    if before_id is not None:
        newest, matching = newest.where(message_id < before_id), matching.where(message_id < before_id)
    floor = db.session.scalar(select(func.min(newest.subquery().c.message_id)))
    if floor is None:
        return []
    found = list(db.session.scalars(
        matching.where(message_id >= floor).order_by(message_id.desc()).limit(count)).unique())
    if len(found) < count:
        # The GIN index, never a pass over every row: no sequential scan, an order (`+ 0`) that
        # no index gives (so the table is not walked by id either), and a plan made for this
        # query's values, not a generic one cached for the statement (psycopg prepares
        # statements it sees often: "load more" of one query, a search people repeat). The
        # guessed row count can look expensive: no parallel workers and no JIT compilation,
        # which cost more (JIT: ~30 ms) than the few matches this pass expects.
        with _planner(enable_seqscan="off", plan_cache_mode="force_custom_plan",
                      max_parallel_workers_per_gather="0", jit="off"):
            found += db.session.scalars(matching.where(message_id < floor)
                                        .order_by((message_id + 0).desc()).limit(count - len(found))).unique()
    return found


@contextmanager
def _planner(**settings):
    """PostgreSQL planner settings for the statements inside, then back to their defaults."""
    db.session.execute(select(*(func.set_config(name, value, True) for name, value in settings.items())))
    yield
    db.session.execute(_RESET_SETTINGS, {"names": list(settings)})


_RESET_SETTINGS = text("SELECT set_config(name, reset_val, false) FROM pg_settings WHERE name IN :names") \
    .bindparams(bindparam("names", expanding=True))


# ---- the query -------------------------------------------------------------------------------

def query_terms(query: str, max_words: int) -> list[Term]:
    """The words of `query` (at most `max_words`, repeats dropped). The last word is a prefix
    while the user is still typing it, that is, when the query ends with it ("tele", not "tele ")."""
    query = unicodedata.normalize("NFC", query or "")
    matches = list(_WORD.finditer(query))
    terms, seen = [], set()
    for match in matches:
        word = match.group()[:MAX_WORD_CHARS]
        if fold(word) in seen:
            continue
        seen.add(fold(word))
        typing = match is matches[-1] and match.end() == len(query) and len(word) >= PREFIX_MIN_CHARS
        terms.append(Term(word, prefix=len(match.group()) > MAX_WORD_CHARS or typing))
        if len(terms) == max_words:
            break
    return terms


def _tsquery(terms: list[Term]) -> str:
    """`'plan' & 'secr':*` — every word quoted (a word has no quote: letters and digits only)."""
    return " & ".join(f"'{t.word}'" + (":*" if t.prefix else "") for t in terms)


def _fts_query(terms: list[Term]) -> str:
    """`"plan" "secr"*` — FTS5 strings, so NEAR, AND, OR, NOT and column names are just words."""
    return " ".join(f'"{t.word}"' + ("*" if t.prefix else "") for t in terms)


# ---- the text and its snippet ----------------------------------------------------------------

def message_text(body_html: str | None) -> str | None:
    """The words of a sanitised body: tags out (a tag separates words), entities decoded,
    whitespace collapsed. The SQLite triggers index this (as `hilo_search_text`); snippets are
    cut from it."""
    if body_html is None:
        return None
    return " ".join(html.unescape(_TAG.sub(" ", body_html)).split())


def register_sqlite_functions(dbapi_connection) -> None:
    """Give a SQLite connection the function the search triggers call (migration 0004)."""
    dbapi_connection.create_function("hilo_search_text", 1, message_text, deterministic=True)


class _Folding(dict):
    """str.translate table: a letter -> its lower-case base letter ("É" -> "e"), one for one."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        parts = unicodedata.normalize("NFD", char)
        base = parts[0] if all(unicodedata.combining(mark) for mark in parts[1:]) else char
        lower = base.lower()
        self[code] = lower if len(lower) == 1 else char
        return self[code]


_FOLDING = _Folding()


def fold(text: str) -> str:
    """Case and accents off, length kept (positions in the folded text are positions in `text`)."""
    return text.translate(_FOLDING)


def highlight(text: str, terms: list[Term], width: int = SNIPPET_CHARS) -> Markup:
    """About `width` characters of `text` around its first hit, escaped, hits in <mark>."""
    folded = fold(text)
    spans = sorted(m.span() for term in terms for m in _term_pattern(term).finditer(folded))
    start, end = _window(text, spans[0] if spans else (0, 0), width)
    out, position = [Markup("…") if start else Markup("")], start
    for span_start, span_end in spans:
        span_start, span_end = max(span_start, position), min(span_end, end)
        if span_start >= span_end:
            continue
        out += [escape(text[position:span_start]), Markup("<mark>"), escape(text[span_start:span_end]),
                Markup("</mark>")]
        position = span_end
    out.append(escape(text[position:end]))
    if end < len(text):
        out.append(Markup("…"))
    return Markup("").join(out)


@lru_cache(maxsize=256)
def _term_pattern(term: Term) -> re.Pattern:
    """A term in folded text: the whole word, or every word it starts (a prefix)."""
    tail = r"[^\W_]*" if term.prefix else r"(?![^\W_])"
    return re.compile(r"(?<![^\W_])" + re.escape(fold(term.word)) + tail)


def _window(text: str, first: tuple[int, int], width: int) -> tuple[int, int]:
    """Where the snippet starts and ends: the first hit a quarter in, cut between words."""
    if len(text) <= width:
        return 0, len(text)
    start = max(0, min(first[0] - width // 4, len(text) - width))
    if start:
        space = text.find(" ", start, first[0])
        start = space + 1 if space != -1 else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", first[1], end)
        end = space if space != -1 else end
    return start, end


# ---- the hits --------------------------------------------------------------------------------

def _hits(user, messages: list[Message], terms: list[Term]) -> list[SearchHit]:
    """Each message with its thread, record, title, link and snippet (one query per model)."""
    from app.services.activities import records_of

    if not messages:
        return []
    threads = {t.id: t for t in db.session.scalars(
        select(Thread).where(Thread.id.in_({m.thread_id for m in messages})))}
    records = records_of(threads.values())
    hits = []
    for message in messages:
        thread, record = threads.get(message.thread_id), records.get(message.thread_id)
        if thread is None or record is None:  # deleted since the query ran
            continue
        hits.append(SearchHit(
            message=message, thread=thread, record=record, title=messaging.record_title(user, record),
            url=messaging.message_url(message, thread),
            snippet=highlight(message_text(message.body_html), terms),
        ))
    return hits


def include_schema_name(name, type_, parent_names) -> bool:
    """Alembic `include_name` hook: the search table of migration 0004 (with its index, or its
    FTS5 shadow tables) is not in the models, so autogenerate and the models-vs-migrations test
    leave it alone."""
    if type_ == "table":
        return not (name == "message_search" or (name or "").startswith("message_search_"))
    return True
