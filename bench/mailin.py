"""Inbound mail: how many mails/s one process stores and routes, next to bare parsing.

    python -m bench.mailin                 # 2,000 mails on PostgreSQL
    python -m bench.mailin --mails 5000 --db sqlite

A fresh database (`hilo_bench_mailin`, real migrations) with two aliases and 50 conversations we
mailed from. The mails are the corpus of tests/mail, made unique per round (a new Message-ID,
and replies pointed at our conversations), in the corpus's mix: new mails to aliases, replies by
Message-ID, by token and by marker, bounces, auto-replies, bulk, junk. One process calls
`mailgate.ingest` on each (parse, store raw, route, write the message and its attachments,
publish it live, commit); on PostgreSQL the jobs it queues go to Redis (db 15) for workers, as in
production. Bare `email.message_from_bytes` runs on the same bytes first. Prints mails/s and
the ratios.
Results are appended to bench/out/mailin-results.json.
"""
import argparse
import cProfile
import email
import email.policy
import json
import os
import pstats
import re
import sys
import time

from bench import OUT, ROOT
from bench.generate import create_database

DB_NAME = "hilo_bench_mailin"
RESULTS = OUT / "mailin-results.json"
REDIS_URL = os.environ.get("HILO_BENCH_MAILIN_REDIS_URL", "redis://127.0.0.1:6379/15")
CORPUS = ROOT / "tests" / "mail"
THREADS = 50


def corpus() -> list[tuple[str, bytes]]:
    return sorted((path.name, path.read_bytes()) for path in CORPUS.glob("*.eml"))


def variants(mails, rounds: int, tokens: dict[int, str]) -> list[bytes]:
    """`rounds` copies of the corpus, each mail with a fresh Message-ID and our anchors filled in."""
    out = []
    for n in range(rounds):
        thread = n % THREADS + 1
        for name, raw in mails:
            raw = re.sub(rb"(?im)^(Message-ID:\s*<)([^>]*)>", lambda m: m.group(1) + f"r{n}.".encode() + m.group(2) + b">",
                         raw, count=1)
            raw = raw.replace(b"<hilo.out1@hilo.test>", f"<hilo.out{thread}@hilo.test>".encode())
            raw = raw.replace(b"t1-0123456789ab", tokens[thread].encode()).replace(b"t2-0123456789ab", tokens[thread].encode())
            out.append(raw)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--mails", type=int, default=2000, help="about this many (whole rounds of the corpus)")
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--profile", action="store_true", help="print where the gateway's time goes")
    parser.add_argument("--profile-sort", default="cumulative", help="pstats order: cumulative, tottime")
    args = parser.parse_args(argv)

    if args.db == "sqlite":  # its own file: not the search benchmark's database
        path = OUT / "hilo-mailin.db"
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        OUT.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{path}"
    else:
        url = create_database("postgresql", DB_NAME)
    os.environ.update({"DATABASE_URL": url, "SECRET_KEY": "bench-secret", "MAIL_DOMAIN": "hilo.test",
                       "MAIL_FROM": "notifications@hilo.test", "HILO_INSTANCE_PATH": str(OUT / "instance"),
                       "UPLOAD_DIR": str(OUT / "mailin-attachments")})
    # As in production with PostgreSQL: jobs (notifying followers, mailing them) go to Redis for the
    # workers, and are not run in this process; they are not part of ingesting.
    if args.db == "postgresql":
        from redis import Redis

        os.environ.update({"REDIS_URL": REDIS_URL, "RQ_QUEUE": "hilo-bench-mailin", "REALTIME_PREFIX": "hilo-bench-mailin"})
        Redis.from_url(REDIS_URL).flushdb()
    else:
        os.environ.pop("REDIS_URL", None)
    import logging

    logging.disable(logging.INFO)
    from app import create_app
    from app.extensions import db
    from app.models import MailAlias, Message, OutboxMail, User
    from app.services import mailer, mailgate, messaging
    from app.services.contacts import for_address

    app = create_app()
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        with app.test_request_context(base_url=app.config["BASE_URL"]):
            agent = User(email="agent@bench.test", name="Bench Agent", role="agent")
            db.session.add_all([agent, MailAlias(local_part="support"), MailAlias(local_part="sales")])
            db.session.flush()
            tokens = {}
            for n in range(1, THREADS + 1):
                thread = for_address(f"Customer {n}", f"customer{n}@customer.test").ensure_thread()
                message = messaging.post_message(thread, agent, f"Answer {n}", notify=False)
                message.message_id = f"<hilo.out{n}@hilo.test>"
                db.session.add(OutboxMail(message_id=message.message_id, sender="notifications@hilo.test",
                                          to=f"customer{n}@customer.test", subject="x", body_text="x",
                                          chatter_message_id=message.id))
                tokens[n] = mailer.thread_token(thread.id)
            db.session.commit()
            mails = corpus()
            batch = variants(mails, max(1, args.mails // len(mails)), tokens)
            # Bare parsing first (warms the same imports), then the gateway.
            started = time.perf_counter()
            for raw in batch:
                email.message_from_bytes(raw, policy=email.policy.compat32)
            bare_compat = time.perf_counter() - started
            started = time.perf_counter()
            for raw in batch:
                email.message_from_bytes(raw, policy=email.policy.default)
            bare_default = time.perf_counter() - started
            statuses: dict[str, int] = {}
            profiler = cProfile.Profile() if args.profile else None
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            for raw in batch:
                outcome = mailgate.ingest(raw)
                statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
            gateway = time.perf_counter() - started
            if profiler:
                profiler.disable()
                pstats.Stats(profiler).sort_stats(args.profile_sort).print_stats(40)
            messages = db.session.scalar(db.select(db.func.count(Message.id)))
    count = len(batch)
    result = {"at": time.strftime("%Y-%m-%d %H:%M:%S"), "db": args.db, "mails": count,
              "ingest_per_second": round(count / gateway, 1),
              "bare_compat32_per_second": round(count / bare_compat, 1),
              "bare_default_per_second": round(count / bare_default, 1),
              "ratio_to_compat32": round(gateway / bare_compat, 1),
              "ratio_to_default": round(gateway / bare_default, 2), "statuses": statuses, "messages": messages}
    print(f"{count:,} mails on {args.db}, one process: ingest {result['ingest_per_second']:,} mails/s; "
          f"bare parsing {result['bare_compat32_per_second']:,}/s (compat32), "
          f"{result['bare_default_per_second']:,}/s (policy.default)")
    print(f"ingest takes {result['ratio_to_compat32']}x bare compat32 parsing, {result['ratio_to_default']}x "
          f"policy.default; routes: {statuses}")
    OUT.mkdir(parents=True, exist_ok=True)
    history = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    RESULTS.write_text(json.dumps(history + [result], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
