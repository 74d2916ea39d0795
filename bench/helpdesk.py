"""Helpdesk at size: the board, the list and a ticket page under load, the SLA sweep, deadlines.

    python -m bench.helpdesk --db postgresql                  # 100k tickets x 10 messages
    python -m bench.helpdesk --db both --tickets 20000        # smaller, both databases
    python -m bench.helpdesk --db postgresql --reuse          # measure the last seeded database
    python -m bench.helpdesk --db both --seed-only            # seed now, measure later with --reuse
    python -m bench.helpdesk --reuse --page-cache-mb 0 --no-sweep   # every page rendered afresh (a miss)

Each database gets a fresh copy (`hilo_bench_helpdesk`), built with the migrations and filled by
the same code as `flask demo seed` (10 teams, 5 agents each, every ticket open: the first team
holds a tenth of them, so 10,000 at the default size). Then:

1. gunicorn (gthread, 2 workers x 8 threads, with an RQ worker on PostgreSQL + Redis) serves it
   and a lead of the first team signs in; from 8 client threads each route gets N requests after
   a warm-up, next to /healthz in the same run: the team's board (first paint), the ticket list
   (default and filtered), one ticket's page. p50/p95 and the ratio to /healthz are printed.
2. `wrk -t2 -c8 -d10s` on the list and the ticket page as that agent (requests/s), when wrk is
   installed (Debian: `apt-get install wrk`) — the peer comparison of docs/benchmarks.md.
3. In process: the SLA sweep's scan with nothing due over every open target, then sweeps that
   record SWEEP_BREACHES failures (each tracked in its thread, assignee and leads notified).
4. In process: deadline computations per second on a split-shift calendar in Europe/Paris with
   holidays (DST crossings and weekends included).

Figures go to bench/out/helpdesk-<db>.json; docs/benchmarks.md quotes them.
"""
import argparse
import json
import random
import re
import shutil
import subprocess
import time
from datetime import date, datetime, timedelta, timezone

from bench import OUT, generate, measure

DB_NAME = "hilo_bench_helpdesk"
PASSWORD = "bench-password"
SWEEP_BREACHES = 2_000
DEADLINES = 50_000
WRK = ("-t2", "-c8", "-d10s")


def say(line: str = "") -> None:
    print(line, flush=True)


def app_for(url: str, redis_url: str | None):
    from app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": redis_url, "SECRET_KEY": "bench-secret",
                       "RATELIMIT_STORAGE_URI": redis_url or "memory://", "LOG_LEVEL": "WARNING"})


def seed(db: str, tickets: int, per_ticket: int) -> dict:
    """A fresh database with the helpdesk data set; returns what the measurements need."""
    say(f"== seeding {db}: {tickets:,} tickets x {per_ticket} messages")
    url = generate.create_database(db, DB_NAME)
    generate.migrate(url)
    from app.extensions import db as sqla
    from app.models import Ticket
    from app.services.seed import seed_helpdesk

    app = app_for(url, None)
    with app.app_context():
        result = seed_helpdesk(tickets, per_ticket, teams=10, agents_per_team=5, closed_share=0.0,
                               password=PASSWORD, echo=say)
        team = result.teams[0]
        from sqlalchemy import select

        ticket_id = sqla.session.scalar(select(Ticket.id).where(Ticket.team_id == team).order_by(Ticket.id.desc()))
        sqla.engine.dispose()
    meta = {"db": db, "database_url": url, "tickets": tickets, "messages_per_ticket": per_ticket,
            "team_id": team, "open_in_team": result.open_in_first_team, "ticket_id": ticket_id,
            "login_email": result.login_email, "password": PASSWORD, "seed_seconds": result.seconds,
            "rows": result.rows}
    say(f"  seeded in {result.seconds} s")
    (OUT / f"helpdesk-meta-{db}.json").write_text(json.dumps(meta, indent=2))
    return meta


def routes(meta: dict) -> list[measure.Route]:
    team, ticket = meta["team_id"], meta["ticket_id"]

    def has(text: str):
        return lambda answer: None if text in answer.text else f"the page lacks {text!r}"

    return [
        measure.Route("healthz", "GET", "/healthz", needs_login=False),
        measure.Route("board", "GET", f"/helpdesk/teams/{team}/board", check=has('class="board')),
        measure.Route("list", "GET", "/helpdesk/tickets", check=has("tickets")),
        measure.Route("list_filtered", "GET", f"/helpdesk/tickets?team={team}&filter=urgent&sort=sla",
                      check=has("tickets")),
        measure.Route("list_search", "GET", f"/helpdesk/tickets?team={team}&q=invoice", check=has("tickets")),
        measure.Route("ticket_page", "GET", f"/helpdesk/tickets/{ticket}", check=has(f"#{ticket}")),
    ]


def measure_http(meta: dict, requests: int, page_cache_mb: int | None = None) -> dict:
    out = {"routes": [], "wrk": [], "page_cache_mb": page_cache_mb}
    env = {} if page_cache_mb is None else {"PAGE_CACHE_MB": str(page_cache_mb)}
    with measure.Server(meta, log_name=f"gunicorn-helpdesk-{meta['db']}.log", extra_env=env) as server:
        cookies = measure.sign_in(server.port, meta["login_email"], meta["password"])
        for route in routes(meta):
            jar = cookies if route.needs_login else {}
            measure.probe(server.port, route, jar, None)
            result = measure.load(server.port, route, requests, measure.CONCURRENCY, jar, None,
                                  warmup=min(100, requests // 5))
            out["routes"].append(result)
        measure.add_ratios(out["routes"])
        if shutil.which("wrk"):
            cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
            for name, path in (("list", "/helpdesk/tickets"), ("ticket_page", f"/helpdesk/tickets/{meta['ticket_id']}"),
                               ("healthz", "/healthz")):
                out["wrk"].append(run_wrk(server.port, name, path, cookie))
        else:
            say("  wrk is not installed (apt-get install wrk): skipping the peer comparison")
    return out


def run_wrk(port: int, name: str, path: str, cookie: str) -> dict:
    """`wrk -t2 -c8 -d10s` with the agent's session cookie; requests/s, latency and non-2xx."""
    done = subprocess.run(["wrk", *WRK, "--latency", "-H", f"Cookie: {cookie}", f"http://127.0.0.1:{port}{path}"],
                          capture_output=True, text=True, timeout=60)
    text = done.stdout
    rate = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    p50 = re.search(r"50%\s+([0-9.]+)(us|ms|s)", text)
    p99 = re.search(r"99%\s+([0-9.]+)(us|ms|s)", text)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    result = {"route": name, "path": path, "args": " ".join(WRK), "requests_per_s": float(rate.group(1)) if rate else None,
              "p50_ms": _ms(p50), "p99_ms": _ms(p99), "non_2xx": int(bad.group(1)) if bad else 0}
    return result


def _ms(match) -> float | None:
    if not match:
        return None
    value, unit = float(match.group(1)), match.group(2)
    return round(value / 1000 if unit == "us" else value * 1000 if unit == "s" else value, 2)


def measure_sweep(meta: dict, breaches: int) -> dict:
    """The sweep over every open target: the scan with nothing due, then `breaches` failures."""
    from sqlalchemy import func, select, update

    from app.extensions import db
    from app.jobs.sla import sweep_sla_job
    from app.models import TicketSla
    from app.models.base import utcnow
    from app.services import sla

    redis_url = measure.BENCH_REDIS_URL if meta["db"] == "postgresql" else None
    if redis_url:
        from redis import Redis

        Redis.from_url(redis_url).flushdb()
    app = app_for(meta["database_url"], redis_url)
    with app.app_context(), app.test_request_context(base_url="http://localhost"):
        ongoing = db.session.scalar(select(func.count(TicketSla.id)).where(TicketSla.status == "ongoing"))
        scans = []
        for _ in range(20):
            started = time.perf_counter()
            due = sla.due_targets()
            scans.append(time.perf_counter() - started)
        assert not due, f"{len(due)} targets already due: the seed left the sweep work"
        # Push the first `breaches` ongoing deadlines a minute into the past, as an outage would.
        ids = list(db.session.scalars(select(TicketSla.id).where(TicketSla.status == "ongoing",
                                                                TicketSla.deadline.is_not(None))
                                      .order_by(TicketSla.deadline).limit(breaches)))
        db.session.execute(update(TicketSla).where(TicketSla.id.in_(ids))
                           .values(deadline=utcnow() - timedelta(minutes=1)))
        db.session.commit()
        started = time.perf_counter()
        sweeps, recorded = 0, 0
        while True:
            done = sweep_sla_job()
            if not done:
                break
            sweeps += 1
            recorded += done
        seconds = time.perf_counter() - started
        db.engine.dispose()
    scan_ms = sorted(s * 1000 for s in scans)
    return {"ongoing_targets": ongoing, "open_tickets": meta["tickets"],
            "scan_nothing_due_ms": {"p50": round(scan_ms[len(scan_ms) // 2], 2), "max": round(scan_ms[-1], 2)},
            "breaches": len(ids), "recorded": recorded, "sweeps": sweeps, "seconds": round(seconds, 2),
            "breaches_per_s": round(recorded / seconds, 1) if seconds else None,
            "sweep_limit": sla.SWEEP_LIMIT}


def measure_deadlines(count: int) -> dict:
    """Deadline computations per second (a pure function: no database)."""
    from app.services import sla

    calendar = sla.parse_calendar("Europe/Paris", "\n".join(("08:00-12:00, 13:30-17:30",) * 5 + ("09:00-12:00", "")),
                                  "\n".join(str(date(2026, m, d)) for m, d in ((1, 1), (5, 1), (7, 14), (12, 25))))
    rng = random.Random(7)
    base = datetime(2026, 3, 1, tzinfo=timezone.utc)
    starts = [base + timedelta(minutes=rng.randrange(60 * 24 * 300)) for _ in range(count)]
    hours = [rng.choice((1, 4, 8, 24, 40)) for _ in range(count)]
    pauses = ((base + timedelta(days=40), base + timedelta(days=41, hours=3)),)
    out = {}
    for label, with_pauses in (("plain", ()), ("with a pause", pauses)):
        started = time.perf_counter()
        for start, h in zip(starts, hours):
            sla.deadline_of(start.replace(tzinfo=None), h, calendar, with_pauses)
        seconds = time.perf_counter() - started
        out[label] = {"count": count, "seconds": round(seconds, 3), "per_s": round(count / seconds)}
    return out


def report(meta: dict, http: dict | None, sweep: dict, deadlines: dict) -> None:
    say(f"\n== {meta['db']}: {meta['tickets']:,} open tickets x {meta['messages_per_ticket']} messages; "
        f"team {meta['team_id']} holds {meta['open_in_team']:,}"
        + (f"; PAGE_CACHE_MB={http['page_cache_mb']}" if http and http["page_cache_mb"] is not None else ""))
    if http:
        say(f"  {'route':<14} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>8} {'p95 x healthz':>14}")
        for r in http["routes"]:
            c = r["client_ms"]
            ratio = r.get("vs_baseline", {}).get("p95_x", "")
            say(f"  {r['route']:<14} {c['p50']:>8.1f} {c['p95']:>8.1f} {c['p99']:>8.1f} {r['requests_per_s']:>8.0f} "
                f"{ratio:>14}" + (f"  errors {r['errors']}: {r['first_error']}" if r["errors"] else ""))
        for w in http["wrk"]:
            say(f"  wrk {w['args']} {w['route']:<12} {w['requests_per_s'] or 0:>8.0f} req/s  "
                f"p50 {w['p50_ms']} ms  p99 {w['p99_ms']} ms  non-2xx {w['non_2xx']}")
    if sweep:
        say(f"  SLA sweep: scan of {sweep['ongoing_targets']:,} ongoing targets with nothing due "
            f"p50 {sweep['scan_nothing_due_ms']['p50']} ms; {sweep['recorded']:,} breaches recorded in "
            f"{sweep['seconds']} s over {sweep['sweeps']} sweeps ({sweep['breaches_per_s']}/s)")
    for label, d in deadlines.items():
        say(f"  deadlines ({label}): {d['per_s']:,}/s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="postgresql")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--messages-per-ticket", type=int, default=10)
    parser.add_argument("--requests", type=int, default=1000, help="measured requests per route")
    parser.add_argument("--breaches", type=int, default=SWEEP_BREACHES)
    parser.add_argument("--reuse", action="store_true", help="measure the database seeded by the last run")
    parser.add_argument("--no-http", action="store_true", help="only the in-process measurements")
    parser.add_argument("--seed-only", action="store_true", help="seed the databases, measure later with --reuse")
    parser.add_argument("--page-cache-mb", type=int, default=None,
                        help="the server's PAGE_CACHE_MB (0: every page rendered afresh, as on a cache miss)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the SLA sweep (it records breaches)")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    deadlines = measure_deadlines(DEADLINES)
    for db in (("sqlite", "postgresql") if args.db == "both" else (args.db,)):
        if args.reuse:
            meta = json.loads((OUT / f"helpdesk-meta-{db}.json").read_text())
        else:
            meta = seed(db, args.tickets, args.messages_per_ticket)
            if args.seed_only:
                continue
        http = None if args.no_http else measure_http(meta, args.requests, args.page_cache_mb)
        sweep = None if args.no_sweep else measure_sweep(meta, args.breaches)
        report(meta, http, sweep, deadlines)
        path = OUT / f"helpdesk-{db}.json"
        path.write_text(json.dumps({"measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": measure.machine(),
                                    "meta": meta, "http": http, "sla_sweep": sweep, "deadlines": deadlines}, indent=2))
        say(f"  wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
