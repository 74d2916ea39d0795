"""Server-side cost of the two benchmarked actions, measured in process, without HTTP.

    python -m bench.services --db postgresql

Runs the service functions the routes call, in one thread, on the benchmark database, and
counts SQL statements: the figures say where the time of a request goes when the app sends
no Server-Timing header. Posts are rolled back, so nothing is written and no event leaves
(after-commit callbacks are dropped on rollback).

- contact page request:  GET /contacts/<hot> through Flask's test client (routing, sign-in,
                        queries, templates; no network, no gunicorn)
- thread_page (first):  newest page of the hot 5,000-message thread (keyset pagination)
- thread_page (deep):   the page 2,500 messages down
- load whole thread:    all 5,000 messages, for contrast with paging
- unread_count:         the bell count of the signed-in agent
- post_message:         a comment on the 50-follower thread, then rollback (what the POST does)
- deliver (fan-out):    the job that follows each post: 49 notifications and bells, rolled back
"""
import argparse
import json
import os
import time

from bench import OUT

REPEAT = 30


def say(line: str = "") -> None:
    print(line, flush=True)


def timed(fn, repeat: int, counter: list[int], reset=None) -> dict:
    """Median and p95 of `fn()` in ms, and SQL statements per call (the most common count)."""
    fn()  # warm-up: template compilation, first-use caches
    if reset:
        reset()
    samples, statements = [], []
    for _ in range(repeat):
        before = counter[0]
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
        statements.append(counter[0] - before)
        if reset:
            reset()
    samples.sort()
    return {"p50_ms": round(samples[len(samples) // 2], 2),
            "p95_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.95))], 2),
            "statements": max(set(statements), key=statements.count), "calls": repeat}


def profile(meta: dict, repeat: int = REPEAT) -> dict:
    """Time the service calls on `meta`'s database; returns {name: figures or {"error": ...}}."""
    os.environ["HILO_INSTANCE_PATH"] = str(OUT / "instance")
    from flask_login import login_user
    from sqlalchemy import event, select

    from app import create_app
    from app.extensions import db
    from app.models import Message, Thread, User
    from app.services import access, messaging, notifications

    app = create_app({"SQLALCHEMY_DATABASE_URI": meta["database_url"], "REDIS_URL": None,
                      "RATELIMIT_STORAGE_URI": "memory://", "SECRET_KEY": "bench-secret"})
    results: dict[str, dict] = {}
    counter = [0]

    with app.test_request_context("/"):
        def count(*_args):
            counter[0] += 1

        event.listen(db.engine, "before_cursor_execute", count)
        agent = db.session.scalar(select(User).where(User.email == meta["login_email"]))
        login_user(agent)
        hot = db.session.get(Thread, meta["hot_thread_id"])
        followed = db.session.get(Thread, meta["followed_thread_id"])
        kinds = access.visible_kinds(agent)
        deep_id = db.session.scalar(select(Message.id).where(Message.thread_id == hot.id)
                                    .order_by(Message.id.desc()).offset(2500).limit(1))

        def post():
            return messaging.post_message(followed, agent, "Benchmark: checking in on the order, thanks!",
                                          kind="comment")

        posted = []

        def post_for_delivery():
            db.session.rollback()
            posted[:] = [post().id]

        def deliver():
            if not messaging.deliver(posted[0]):
                raise RuntimeError("nothing was delivered")
            db.session.flush()

        client = app.test_client()
        with client.session_transaction() as session:  # signed in as Flask-Login would do it
            session["_user_id"] = agent.get_id()
            session["_fresh"] = True

        def contact_page():
            response = client.get(f"/contacts/{meta['hot_contact_id']}")
            if response.status_code != 200:
                raise RuntimeError(f"GET /contacts/{meta['hot_contact_id']} returned {response.status_code}")

        cases = {
            "contact_page_request": (contact_page, None),
            "thread_page_first": (lambda: messaging.thread_page(hot, kinds), None),
            "thread_page_deep": (lambda: messaging.thread_page(hot, kinds, before_id=deep_id), None),
            "load_whole_thread": (lambda: list(db.session.scalars(
                select(Message).where(Message.thread_id == hot.id)).unique()), None),
            "unread_count": (lambda: notifications.unread_count(agent.id), None),
            "post_message_50_followers": (lambda: post() and db.session.flush(), db.session.rollback),
            "deliver_50_followers": (deliver, post_for_delivery),
        }
        for name, (fn, reset) in cases.items():
            try:
                if name == "deliver_50_followers":
                    post_for_delivery()
                results[name] = timed(fn, repeat if name != "load_whole_thread" else max(3, repeat // 5),
                                      counter, reset)
            except Exception as err:  # a service still being written must not stop the run
                db.session.rollback()
                results[name] = {"error": f"{type(err).__name__}: {err}"[:300]}
        db.session.rollback()
        event.remove(db.engine, "before_cursor_execute", count)
        db.session.remove()
        db.engine.dispose()
    return results


def print_profile(meta: dict, results: dict) -> None:
    say(f"  in-process service timings ({meta['db']}, {meta['messages']:,} messages; one thread, no HTTP)")
    for name, r in results.items():
        if "error" in r:
            say(f"    {name:<26} failed: {r['error']}")
        else:
            say(f"    {name:<26} p50 {r['p50_ms']:>8.2f} ms   p95 {r['p95_ms']:>8.2f} ms   "
                f"{r['statements']:>4} SQL statements")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--repeat", type=int, default=REPEAT)
    args = parser.parse_args(argv)
    meta = json.loads((OUT / f"meta-{args.db}.json").read_text())
    print_profile(meta, profile(meta, args.repeat))


if __name__ == "__main__":
    main()
