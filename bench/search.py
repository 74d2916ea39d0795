"""Message search speed on the benchmark data: p50/p95 per query, in process and over HTTP.

    python -m bench.search --db postgresql                 # the database of the last bench.generate run
    python -m bench.search --db both --generate --contacts 100000 --messages 1000000
    python -m bench.search --db sqlite --generate --contacts 10000 --messages 100000 --requests 100

The generated bodies use a small vocabulary (bench/generate.py), so every word of it is common;
this script first marks every RARE_EVERY-th message or note with RARE_WORD (an UPDATE, which the
search index or triggers follow), then times `search.search_messages` for an agent:

- common      "invoice": in about two thirds of the messages and notes (as typed: a prefix)
- common_word_done  "invoice " (followed by a space: a whole word)
- rare        RARE_WORD: about one in 12,500 (as a prefix: the user is still typing it)
- rare_word_done  the same followed by a space (a whole word)
- prefix      "inv": the last word as the user types it (a prefix)
- two words   "invoice refund": both must occur
- none        a word that occurs nowhere
- deep page   "invoice", the page after the message halfway down the id range (keyset)

In process (one thread, SQL statements counted) and over HTTP (GET /search?q=... through
gunicorn with bench/measure.py's server and client, concurrency 1 unless told). Results go to
bench/out/search-results.json; docs/benchmarks.md quotes them.
"""
import argparse
import json
import os
import time

from bench import OUT, generate, measure

RARE_WORD = "zanzibar"
RARE_EVERY = 10_000
REPEAT = 50
QUERIES = {
    "common": "invoice",
    "common_word_done": "invoice ",
    "rare": RARE_WORD,
    "rare_word_done": RARE_WORD + " ",  # typed and followed by a space: a whole word, not a prefix
    "prefix": "inv",
    "two_words": "invoice refund",
    "none": "xylophone",
}


def say(line: str = "") -> None:
    print(line, flush=True)


def mark_rare_messages(meta: dict) -> int:
    """Put RARE_WORD into every RARE_EVERY-th message or note (idempotent); returns how many have it."""
    from sqlalchemy import create_engine, text

    engine = create_engine(meta["database_url"])
    if meta["db"] == "sqlite":  # the triggers call the app's function: register it on this connection
        from sqlalchemy import event

        from app.services.search import register_sqlite_functions

        event.listen(engine, "connect", lambda conn, _record: register_sqlite_functions(conn))
    with engine.begin() as conn:
        conn.execute(text(
            "UPDATE messages SET body_html = body_html || :extra WHERE id % :every = 0"
            " AND kind IN ('comment', 'note') AND body_html NOT LIKE :marked"),
            {"extra": f"<p>Shipped via {RARE_WORD.title()}.</p>", "every": RARE_EVERY, "marked": f"%{RARE_WORD.title()}%"})
        count = conn.execute(text("SELECT count(*) FROM messages WHERE body_html LIKE :marked"),
                             {"marked": f"%{RARE_WORD.title()}%"}).scalar()
        if meta["db"] == "postgresql":
            conn.execute(text("ANALYZE messages"))
    engine.dispose()
    return count


SYLLABLES = [c + v for c in "bdfklmnprstvz" for v in "aeiou"]  # 65: words like "kabimo"


def long_tail_word(rank: int) -> str:
    """The rank-th word of a made-up vocabulary (three syllables or more)."""
    rank += len(SYLLABLES) ** 2
    out = []
    while rank:
        rank, digit = divmod(rank, len(SYLLABLES))
        out.append(SYLLABLES[digit])
    return "".join(out)


def enrich_vocabulary(meta: dict, every: int = 5, size: int = 20_000) -> int:
    """Add one word of a long-tail vocabulary (`size` words, Zipf-like) to every `every`-th message.

    bench/generate.py writes from 60 words, so PostgreSQL's statistics see under 100 frequent
    lexemes and fall back to fixed guesses (0.5 % per word, 2 % per prefix) that make it walk the
    newest messages even for a rare word. Real text has a long tail; this gives it one.
    """
    import random

    from sqlalchemy import create_engine, text

    import app  # noqa: F401  (registers hilo_search_text on SQLite connections)

    rng = random.Random(7)
    engine = create_engine(meta["database_url"])
    with engine.begin() as conn:
        ids = conn.execute(text("SELECT id FROM messages WHERE id % :every = 2 AND kind IN ('comment', 'note')"
                                " AND body_html NOT LIKE '%<p>Code %'"), {"every": every}).scalars().all()
        rows = [{"id": i, "extra": f"<p>Code {long_tail_word(int(size ** rng.random()) - 1)}.</p>"} for i in ids]
        if rows:
            conn.execute(text("UPDATE messages SET body_html = body_html || :extra WHERE id = :id"), rows)
        if meta["db"] == "postgresql":
            conn.execute(text("ANALYZE message_search"))
        else:
            conn.execute(text("ANALYZE"))
    engine.dispose()
    return len(rows)


def timed(fn, repeat: int, counter: list[int]) -> dict:
    fn()  # warm-up
    samples, statements = [], []
    for _ in range(repeat):
        before = counter[0]
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
        statements.append(counter[0] - before)
    samples.sort()
    return {"p50_ms": round(measure.percentile(samples, 50), 2), "p95_ms": round(measure.percentile(samples, 95), 2),
            "statements": max(set(statements), key=statements.count), "calls": repeat}


def in_process(meta: dict, repeat: int) -> dict:
    """Time search_messages for each query in one thread; also the hits found and the plan used."""
    os.environ["HILO_INSTANCE_PATH"] = str(OUT / "instance")
    from sqlalchemy import event, select

    from app import create_app
    from app.extensions import db
    from app.models import Message, User
    from app.services import search

    app = create_app({"SQLALCHEMY_DATABASE_URI": meta["database_url"], "REDIS_URL": None,
                      "RATELIMIT_STORAGE_URI": "memory://", "SECRET_KEY": "bench-secret"})
    results: dict[str, dict] = {}
    counter = [0]
    with app.test_request_context("/"):
        event.listen(db.engine, "before_cursor_execute", lambda *_: counter.__setitem__(0, counter[0] + 1))
        agent = db.session.scalar(select(User).where(User.email == meta["login_email"]))
        middle = db.session.scalar(select(Message.id).order_by(Message.id.desc())
                                   .offset(meta["messages"] // 2).limit(1))
        cases = {name: (query, None) for name, query in QUERIES.items()}
        cases["deep_page"] = (QUERIES["common"], middle)
        for name, (query, before) in cases.items():
            page = search.search_messages(agent, query, before_id=before)
            figures = timed(lambda: search.search_messages(agent, query, before_id=before), repeat, counter)
            figures.update(query=query, hits_on_page=len(page.hits), has_more=page.has_more)
            results[name] = figures
            db.session.rollback()
        if meta["db"] == "postgresql":  # the plans PostgreSQL used for the common and the rare word
            for name in ("common", "rare"):
                statements = []
                listener = lambda _c, _cur, sql, params, *_: statements.append((sql, params))  # noqa: E731
                event.listen(db.engine, "before_cursor_execute", listener)
                search.search_messages(agent, QUERIES[name])
                event.remove(db.engine, "before_cursor_execute", listener)
                plans = []
                for sql, params in statements:  # replayed in order: the planner settings too
                    connection = db.session.connection()
                    if not sql.lstrip().startswith("SELECT") or "message_search" not in sql:
                        connection.exec_driver_sql(sql, params)
                        continue
                    plan = connection.exec_driver_sql("EXPLAIN ANALYZE " + sql, params).scalars().all()
                    plans.append(" / ".join(line.strip() for line in plan
                                            if "Scan" in line and "message_search" in line or "Execution" in line))
                results[name]["plans"] = plans
                db.session.rollback()
        db.session.remove()
        db.engine.dispose()
    return results


def over_http(meta: dict, requests: int, concurrency: int) -> dict:
    """GET /search?q=... through gunicorn, signed in as an agent (bench/measure.py's client)."""
    from urllib.parse import urlencode

    results = {}
    with measure.Server(meta) as server:
        cookies = measure.sign_in(server.port, meta["login_email"], meta["password"])
        for name in ("common", "common_word_done", "rare", "rare_word_done", "prefix", "none"):
            route = measure.Route(f"search_{name}", "GET", "/search?" + urlencode({"q": QUERIES[name]}))
            measure.probe(server.port, route, cookies, None)
            result = measure.load(server.port, route, requests, concurrency, cookies, None,
                                  warmup=max(concurrency * 4, 20))
            results[name] = {"query": QUERIES[name], "requests": result["requests"], "errors": result["errors"],
                             "client_ms": result["client_ms"], "requests_per_s": result["requests_per_s"],
                             "server_ms": result["server_timing_ms"].get("app")}
    return results


def run(meta: dict, repeat: int, requests: int, concurrency: int, enrich: bool = False) -> dict:
    say(f"== search on {meta['db']}: {meta['contacts']:,} contacts, {meta['messages']:,} messages")
    started = time.perf_counter()
    rare = mark_rare_messages(meta)
    say(f"  {rare} messages carry {RARE_WORD!r} ({time.perf_counter() - started:.1f} s to mark)")
    if enrich:
        started = time.perf_counter()
        say(f"  {enrich_vocabulary(meta):,} more messages given a long-tail word "
            f"({time.perf_counter() - started:.1f} s)")
    process = in_process(meta, repeat)
    say(f"  in process ({repeat} calls each, one thread):")
    for name, r in process.items():
        say(f"    {name:<14} {r['query']!r:<18} p50 {r['p50_ms']:>8.2f} ms  p95 {r['p95_ms']:>8.2f} ms  "
            f"{r['statements']} statements  {r['hits_on_page']} hits{' +more' if r['has_more'] else ''}")
        for plan in r.get("plans", []):
            say(f"               plan: {plan[:400]}")
    http = over_http(meta, requests, concurrency) if requests else {}
    if http:
        say(f"  over HTTP (gunicorn, concurrency {concurrency}, {requests} requests each):")
        for name, r in http.items():
            c, s = r["client_ms"], r["server_ms"] or {}
            say(f"    {name:<14} p50 {c['p50']:>8.1f} ms  p95 {c['p95']:>8.1f} ms  p99 {c['p99']:>8.1f} ms  "
                f"server p50 {s.get('p50', 0):.1f} ms  errors {r['errors']}")
    return {"db": meta["db"], "contacts": meta["contacts"], "messages": meta["messages"], "rare_messages": rare,
            "long_tail_vocabulary": enrich,
            "concurrency": concurrency, "load_average": [round(x, 2) for x in os.getloadavg()],
            "in_process": process, "http": http}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="postgresql")
    parser.add_argument("--generate", action="store_true", help="make a fresh database first (bench.generate)")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=REPEAT, help="in-process calls per query")
    parser.add_argument("--requests", type=int, default=200, help="HTTP requests per query (0: skip HTTP)")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--long-tail", action="store_true",
                        help="first give every 5th message a word of a 20,000-word vocabulary (see enrich_vocabulary)")
    args = parser.parse_args(argv)
    runs = []
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        meta = generate.generate(db, args.contacts, args.messages) if args.generate else measure.load_meta(db)
        runs.append(run(meta, args.repeat, args.requests, args.concurrency, args.long_tail))
    path = OUT / ("search-results-long-tail.json" if args.long_tail else "search-results.json")
    path.write_text(json.dumps({"measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": measure.machine(),
                                "runs": runs}, indent=2))
    say(f"\nwrote {path}")


if __name__ == "__main__":
    main()
