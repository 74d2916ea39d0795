"""Bulk data for the benchmarks: contacts, their threads, messages, followers, notifications.

    python -m bench.generate --db postgresql --contacts 100000 --messages 1000000

Builds a fresh database (PostgreSQL: `hilo_bench`, dropped and created; SQLite: a file
under bench/out/), creates the schema with the real migrations, then loads rows in bulk:
PostgreSQL through COPY (psycopg), SQLite through executemany in batches. Row ids are
assigned here, so related rows are written without reading anything back.

Fixed shapes the benchmarks rely on (ids recorded in bench/out/meta-<db>.json):
- contact 1 ("hot"): its thread has exactly HOT_MESSAGES messages, spread through time;
- contact 2 ("followed"): its thread has FOLLOWERS agent followers;
- users: one admin and FOLLOWERS agents, all with the password AGENT_PASSWORD.
The other messages are spread at random over the other contacts' threads.
"""
import argparse
import json
import os
import random
import re
import secrets
import time
from datetime import datetime, timedelta

from sqlalchemy import create_engine, text

from bench import OUT

from app.models.base import utcnow
from app.services.bulkload import ts, writer_for

PG_ADMIN_URL = os.environ.get("HILO_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PG_DB_NAME = "hilo_bench"
INSTANCE = OUT / "instance"  # secret key, uploads of the benchmark app

HOT_CONTACT_ID = 1
HOT_MESSAGES = 5_000
FOLLOWED_CONTACT_ID = 2
FOLLOWERS = 50
AGENT_PASSWORD = "bench-password"
LOGIN_EMAIL = "agent01@bench.test"
SEED = 20261123

# Share of each message kind; tracking lines carry one TrackingValue each.
KIND_WEIGHTS = (("comment", 0.55), ("note", 0.25), ("notification", 0.08), ("tracking", 0.12))
READ_SHARE = 0.85  # of generated notifications already read

FIRST = ("Ada Alan Grace Linus Ken Barbara Edsger Frances Donald Margaret Dennis Radia John Sophie "
         "Tim Hedy Katherine Niklaus Bjarne Guido Yukihiro Anders Rasmus Brendan Larry Joan Ivan "
         "Lynn Mary Claude").split()
LAST = ("Lovelace Turing Hopper Torvalds Thompson Liskov Dijkstra Allen Knuth Hamilton Ritchie "
        "Perlman McCarthy Wilson Berners-Lee Lamarr Johnson Wirth Stroustrup Rossum Matsumoto "
        "Hejlsberg Lerdorf Eich Wall Clarke Sutherland Conway Shaw Shannon").split()
COMPANIES = [f"{w} {s}" for w in ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay",
                                  "Stark", "Wayne", "Tyrell", "Cyberdyne") for s in ("Ltd", "GmbH", "SA", "Inc")]
WORDS = ("the order invoice delivery arrived yesterday please could you check again thanks refund "
         "account password reset access update shipping address billing question issue ticket "
         "team support customer replaced broken package tracking number week today tomorrow "
         "meeting call follow up confirm quote contract renewal license seats upgrade plan").split()
TRACKED = (("name", "Name"), ("email", "Email"), ("phone", "Phone"), ("company", "Company"))


def say(line: str) -> None:
    print(line, flush=True)


# ---- the database ---------------------------------------------------------------------------

def pg_url(name: str) -> str:
    return re.sub(r"/[^/]*$", f"/{name}", PG_ADMIN_URL)


def create_database(db: str, name: str = PG_DB_NAME) -> str:
    """Drop and create the benchmark database (PostgreSQL: `name`, SQLite: bench/out/`name`.db);
    returns its SQLAlchemy URL."""
    OUT.mkdir(parents=True, exist_ok=True)
    if db == "sqlite":
        path = OUT / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        return f"sqlite:///{path}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return pg_url(name)


def migrate(url: str):
    """Build the schema with the real migrations; returns the app's table metadata."""
    os.environ["HILO_INSTANCE_PATH"] = str(INSTANCE)
    from app import create_app
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None,
                      "RATELIMIT_STORAGE_URI": "memory://", "SECRET_KEY": "bench"})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    return db.metadata


def check_columns(metadata, table: str, columns: tuple[str, ...]) -> None:
    """Fail clearly when the schema gained a required column this generator does not fill."""
    missing = [c.name for c in metadata.tables[table].columns
               if not c.nullable and c.server_default is None and c.name not in columns]
    if missing:
        raise SystemExit(f"bench/generate.py: {table} has new required columns {missing}; add them here.")


# ---- the data -------------------------------------------------------------------------------

def bodies(rng: random.Random, count: int) -> list[str]:
    """Sanitised-looking HTML bodies of varied length (what text_to_html produces)."""
    out = []
    for _ in range(count):
        paragraphs = []
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
            words = rng.choices(WORDS, k=rng.randint(4, 60))
            paragraphs.append("<p>" + " ".join(words).capitalize() + ".</p>")
        out.append("".join(paragraphs))
    return out


def plan_threads(rng: random.Random, contacts: int, messages: int, hot: int) -> list[int]:
    """The thread of each message, in time order: `hot` in thread 1, the rest spread at random."""
    rest = rng.choices(range(2, contacts + 1), k=messages - hot) if contacts > 1 else []
    plan = [HOT_CONTACT_ID] * hot + rest
    rng.shuffle(plan)
    return plan


def agent_of(thread_id: int, first_agent: int) -> int:
    """The agent who follows (and mostly answers) a contact's thread."""
    return first_agent + thread_id % FOLLOWERS


def generate(db: str, contacts: int, messages: int, hot: int = HOT_MESSAGES) -> dict:
    """Create and fill the benchmark database; returns (and saves) what the load client needs."""
    if contacts < 2:
        raise SystemExit("need at least 2 contacts (the hot one and the followed one)")
    hot = min(hot, messages)
    rng = random.Random(SEED)
    started = time.perf_counter()
    say(f"== generating {db}: {contacts:,} contacts, {messages:,} messages "
        f"(hot thread {hot:,}, {FOLLOWERS} followers)")
    url = create_database(db)
    metadata = migrate(url)
    schema_s = time.perf_counter() - started
    say(f"  schema (migrations) {schema_s:.1f} s")

    writer = writer_for(url, say)
    timings: dict[str, dict] = {}

    def write(table, columns, rows, total):
        check_columns(metadata, table, columns)
        seconds = writer.write(table, columns, rows, total)
        timings[table] = {"rows": total, "seconds": round(seconds, 2),
                          "rows_per_s": round(total / seconds) if seconds else None}

    now = utcnow().replace(microsecond=0)
    start = now - timedelta(days=730)
    step = (now - timedelta(hours=1) - start).total_seconds() / max(messages, 1)

    # Users: one admin, FOLLOWERS agents (one hash: hashing is slow on purpose).
    from werkzeug.security import generate_password_hash

    password_hash = generate_password_hash(AGENT_PASSWORD)
    user_cols = ("id", "email", "name", "password_hash", "role", "active", "session_token",
                 "signature", "timezone", "notify_by", "created_at")
    users = [(1, "admin@bench.test", "Bench Admin", password_hash, "admin", True, secrets.token_hex(16),
              "", "UTC", "inbox", ts(start))]
    users += [(1 + i, f"agent{i:02d}@bench.test", f"{FIRST[i % len(FIRST)]} Agent{i:02d}", password_hash,
               "agent", True, secrets.token_hex(16), "", "UTC", "inbox", ts(start))
              for i in range(1, FOLLOWERS + 1)]
    write("users", user_cols, users, len(users))
    first_agent = 2

    # Contacts and their threads (thread id == contact id).
    names = [""] + [f"{FIRST[i % len(FIRST)]} {LAST[(i // len(FIRST)) % len(LAST)]}" for i in range(contacts)]
    names[HOT_CONTACT_ID] = "Hot Thread Customer"
    names[FOLLOWED_CONTACT_ID] = "Much Followed Customer"
    created = ts(start)

    def contact_rows():
        for cid in range(1, contacts + 1):
            yield (cid, names[cid], f"c{cid}@customer{cid % 97}.test", f"+1 555 {cid:07d}",
                   COMPANIES[cid % len(COMPANIES)], None, "", created, created)

    write("contacts", ("id", "name", "email", "phone", "company", "job_title", "notes", "created_at",
                       "updated_at"), contact_rows(), contacts)

    plan = plan_threads(rng, contacts, messages, hot)
    last_index: dict[int, int] = {}
    for index, thread_id in enumerate(plan):
        last_index[thread_id] = index

    def thread_rows():
        for tid in range(1, contacts + 1):
            last = last_index.get(tid)
            yield (tid, "contact", tid, created, ts(start + timedelta(seconds=last * step)) if last is not None else None)

    write("threads", ("id", "res_model", "res_id", "created_at", "last_message_at"), thread_rows(), contacts)

    def follower_rows():
        fid = 0
        for tid in range(1, contacts + 1):
            agents = (range(first_agent, first_agent + FOLLOWERS) if tid == FOLLOWED_CONTACT_ID
                      else (agent_of(tid, first_agent),))
            for user_id in agents:
                fid += 1
                yield (fid, tid, user_id, None, created)

    write("followers", ("id", "thread_id", "user_id", "contact_id", "created_at"), follower_rows(),
          contacts - 1 + FOLLOWERS)

    # Messages, in time order; tracking values and notifications are collected on the way.
    pool = bodies(rng, 500)
    system_lines = [f"<p>Activity done: {label}</p>" for label in ("Call", "Meeting", "To-do", "Email")]
    kinds = [k for k, _ in KIND_WEIGHTS]
    cumulative, acc = [], 0.0
    for _, weight in KIND_WEIGHTS:
        acc += weight
        cumulative.append(acc)
    tracking: list[tuple] = []
    notifications: list[tuple] = []

    def message_rows():
        random_ = rng.random
        randrange = rng.randrange
        for index, tid in enumerate(plan):
            mid = index + 1
            when = ts(start + timedelta(seconds=index * step))
            r = random_()
            kind = kinds[0] if r < cumulative[0] else kinds[1] if r < cumulative[1] else \
                kinds[2] if r < cumulative[2] else kinds[3]
            agent = agent_of(tid, first_agent)
            if kind == "comment":
                if random_() < 0.5:  # the customer wrote; their agent is notified
                    yield (mid, tid, kind, None, tid, pool[randrange(500)], when)
                    notifications.append((len(notifications) + 1, agent, "message", tid, mid,
                                          f"{names[tid]} on {names[tid]}", when,
                                          when if random_() < READ_SHARE else None))
                else:
                    yield (mid, tid, kind, agent, None, pool[randrange(500)], when)
            elif kind == "note":
                yield (mid, tid, kind, first_agent + randrange(FOLLOWERS), None, pool[randrange(500)], when)
            elif kind == "notification":
                yield (mid, tid, kind, None, None, system_lines[randrange(4)], when)
            else:
                yield (mid, tid, kind, agent, None, "", when)
                field, label = TRACKED[randrange(4)]
                tracking.append((len(tracking) + 1, mid, field, label, f"old {field}", f"new {field}"))

    write("messages", ("id", "thread_id", "kind", "author_user_id", "author_contact_id", "body_html",
                       "created_at"), message_rows(), len(plan))
    write("tracking_values", ("id", "message_id", "field", "field_label", "old_value", "new_value"),
          iter(tracking), len(tracking))
    write("notifications", ("id", "user_id", "kind", "thread_id", "message_id", "summary", "created_at",
                            "read_at"), iter(notifications), len(notifications))
    writer.finish()
    size = writer.size_bytes()
    writer.close()

    seconds = time.perf_counter() - started
    message_timing = timings["messages"]
    say(f"  done in {seconds:.1f} s; messages at {message_timing['rows_per_s'] or 0:,} rows/s; "
        f"database {size / 1e6:,.0f} MB")
    meta = {
        "db": db, "database_url": url, "contacts": contacts, "messages": len(plan),
        "hot_contact_id": HOT_CONTACT_ID, "hot_thread_id": HOT_CONTACT_ID, "hot_messages": hot,
        "followed_contact_id": FOLLOWED_CONTACT_ID, "followed_thread_id": FOLLOWED_CONTACT_ID,
        "followers": FOLLOWERS, "login_email": LOGIN_EMAIL, "password": AGENT_PASSWORD,
        "rows": {table: t["rows"] for table, t in timings.items()},
        "timings": timings, "schema_seconds": round(schema_s, 2), "seconds": round(seconds, 1),
        "database_bytes": size,
    }
    (OUT / f"meta-{db}.json").write_text(json.dumps(meta, indent=2))
    return meta


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--hot", type=int, default=HOT_MESSAGES, help="messages in the hot thread")
    args = parser.parse_args(argv)
    generate(args.db, args.contacts, args.messages, args.hot)


if __name__ == "__main__":
    main()
