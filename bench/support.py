"""The public side under load: the help center, a team's website form and its submission.

    python -m bench.support --db both               # 20k tickets, 200 answers, both databases
    python -m bench.support --db postgresql --requests 2000

Each database gets a fresh copy (`hilo_bench_support`), built with the migrations and filled by
the same code as `flask demo seed` (10 teams, 5 agents each, 20,000 tickets); the first team's
form is published with three fields (a choice mapped to the priority, an order number, a phone)
and 200 help-center answers. Then, from 8 client threads on loopback, each route gets N requests
after a warm-up, next to the bare routes in the same run:

- static        GET /static/img/logo.svg       for scale: no database
- healthz       GET /healthz                   the bare route (SELECT 1 + Redis/queue checks)
- help_center   GET /support                   published teams, the latest answers
- faq_search    GET /support?q=…               htmx: the answers matching a word
- form_page     GET /support/<team>            the form, its fields and side text
- submission    POST /support/<team>           a new ticket each time: contact found or made,
                                               assignment, SLA, the receipt queued (303)

The form's limits are lifted for the load (SUPPORT_FORM_IP_LIMIT and _EMAIL_LIMIT). A second
server with the default limits (one process on SQLite, as `make run`; two sharing Redis on
PostgreSQL) then takes a burst of BURST posts from one address and one client, 8 at a time: the
tickets it creates and the 429s it answers are counted.

Figures go to bench/out/support-<db>.json; docs/benchmarks.md quotes them.
"""
import argparse
import json
import re
import time

from bench import OUT, generate, measure

DB_NAME = "hilo_bench_support"
PASSWORD = "bench-password"
BURST = 1_000
WORDS = ("password", "invoice", "delivery", "refund", "account", "printer", "login", "order")
LIFTED = {"SUPPORT_FORM_MIN_SECONDS": "0", "SUPPORT_FORM_IP_LIMIT": "10000000 per minute",
          "SUPPORT_FORM_EMAIL_LIMIT": "10000000 per minute"}


def say(line: str = "") -> None:
    print(line, flush=True)


def seed(db: str, tickets: int, answers: int) -> dict:
    say(f"== seeding {db}: {tickets:,} tickets, {answers} help-center answers")
    url = generate.create_database(db, DB_NAME)
    generate.migrate(url)
    from app import create_app
    from app.extensions import db as sqla
    from app.models import FaqArticle, FormField, Team
    from app.services.seed import seed_helpdesk

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None, "SECRET_KEY": "bench-secret",
                      "RATELIMIT_STORAGE_URI": "memory://", "LOG_LEVEL": "WARNING"})
    with app.app_context():
        result = seed_helpdesk(tickets, 3, teams=10, agents_per_team=5, closed_share=0.3, password=PASSWORD,
                               echo=say)
        team = sqla.session.get(Team, result.teams[0])
        team.use_website_form, team.use_ratings = True, True
        team.form_side_text = "We answer **within one working day**, Monday to Friday.\n\n- Your order number\n- A screenshot"
        team.form_fields = [
            FormField(key="impact", label="Impact", kind="select", choices="Low\nMedium\nHigh\nUrgent",
                      default="Medium", target="priority", sequence=1, required=True),
            FormField(key="order", label="Order number", kind="text", sequence=2, placeholder="HD-1234"),
            FormField(key="phone", label="Phone", kind="phone", target="customer_phone", sequence=3),
        ]
        for i in range(answers):
            word = WORDS[i % len(WORDS)]
            sqla.session.add(FaqArticle(team=team, sequence=i, title=f"How do I fix my {word} problem ({i})?",
                                        body=f"## Steps\n\n1. Open **Settings**.\n2. Check the {word}.\n\n"
                                             + "More detail on what to try next. " * 20))
        sqla.session.commit()
        meta = {"db": db, "database_url": url, "tickets": tickets, "answers": answers, "team_slug": team.slug,
                "seed_seconds": result.seconds}
        sqla.engine.dispose()
    say(f"  seeded in {result.seconds} s")
    return meta


def form_token(port: int, slug: str) -> str:
    client = measure.Client("127.0.0.1", port)
    page = client.request("GET", f"/support/{slug}")
    client.close()
    match = re.search(r'name="started" value="([^"]+)"', page.text)
    if page.status != 200 or not match:
        raise measure.RouteUnavailable(f"GET /support/{slug} ({page.status}) has no form token")
    return match.group(1)


def submission(token: str, senders: int):
    def form(i: int) -> dict:
        n = i % senders if i >= 0 else senders
        return {"started": token, "hp_note": "", "name": f"Customer {n}", "email": f"customer{n}@bench-customers.example.com",
                "subject": f"Request {i}: the printer prints blank pages",
                "description": "Since this morning every page comes out blank. " * 5,
                "f_impact": "High", "f_order": f"HD-{i}", "f_phone": "+33 1 23 45 67 89"}
    return form


def routes(meta: dict, token: str) -> list[measure.Route]:
    slug = meta["team_slug"]

    def has(text: str):
        return lambda answer: None if text in answer.text else f"the page lacks {text!r}"

    return [
        measure.Route("static", "GET", "/static/img/logo.svg", needs_login=False),
        measure.Route("healthz", "GET", "/healthz", needs_login=False),
        measure.Route("help_center", "GET", "/support", needs_login=False, check=has("Submit a ticket")),
        measure.Route("faq_search", "GET", "/support?q=invoice", needs_login=False, htmx=True,
                      check=has("invoice problem")),
        measure.Route("form_page", "GET", f"/support/{slug}", needs_login=False, check=has("Order number")),
        measure.Route("submission", "POST", f"/support/{slug}", needs_login=False, form=submission(token, 500),
                      ok_statuses=(303,)),
    ]


def measure_load(meta: dict, requests: int, write_requests: int) -> list[dict]:
    results = []
    with measure.Server(meta, log_name=f"gunicorn-support-{meta['db']}.log", extra_env=LIFTED) as server:
        token = form_token(server.port, meta["team_slug"])
        for route in routes(meta, token):
            count = write_requests if route.method == "POST" else requests
            measure.probe(server.port, route, {}, None)
            results.append(measure.load(server.port, route, count, measure.CONCURRENCY, {}, None,
                                        warmup=min(100, count // 5)))
    measure.add_ratios(results)
    return results


def measure_burst(meta: dict, count: int) -> dict:
    """`count` posts from one address and one client against the default limits."""
    from sqlalchemy import create_engine, text

    engine = create_engine(meta["database_url"])
    with engine.connect() as conn:
        before = conn.scalar(text("SELECT count(*) FROM helpdesk_tickets"))
    # SQLite is the embedded default: one process, its limits in memory (several processes would
    # each keep their own counts); PostgreSQL runs with Redis, where every process shares them.
    workers = 1 if meta["db"] == "sqlite" else measure.WORKERS
    with measure.Server(meta, workers=workers, log_name=f"gunicorn-support-burst-{meta['db']}.log",
                        extra_env={"SUPPORT_FORM_MIN_SECONDS": "0"}) as server:
        token = form_token(server.port, meta["team_slug"])
        route = measure.Route("burst", "POST", f"/support/{meta['team_slug']}", needs_login=False,
                              form=lambda i: {**submission(token, 1)(0), "subject": f"Spam {i}"},
                              ok_statuses=(303, 429))
        result = measure.load(server.port, route, count, measure.CONCURRENCY, {}, None, warmup=0)
    with engine.connect() as conn:
        created = conn.scalar(text("SELECT count(*) FROM helpdesk_tickets")) - before
    engine.dispose()
    return {"posts": count, "created": created, "statuses": result["statuses"],
            "requests_per_s": result["requests_per_s"], "client_ms": result["client_ms"]}


def report(meta: dict, results: list[dict], burst: dict) -> None:
    say(f"== {meta['db']}: {meta['tickets']:,} tickets, {meta['answers']} answers")
    for r in results:
        ratio = r.get("vs_baseline", {})
        say(f"  {r['route']:<12} {r['requests_per_s']:>8.0f} req/s  p50 {r['client_ms']['p50']:>7.2f} ms  "
            f"p95 {r['client_ms']['p95']:>7.2f} ms  ({ratio.get('p95_x', '-')}x healthz p95, "
            f"{ratio.get('requests_per_s_share', '-')} of its req/s)  errors {r['errors']}")
    say(f"  burst: {burst['posts']:,} posts from one address -> {burst['created']} tickets, statuses "
        f"{burst['statuses']}, {burst['requests_per_s']:.0f} req/s, p95 {burst['client_ms']['p95']} ms")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="postgresql")
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--answers", type=int, default=200)
    parser.add_argument("--requests", type=int, default=1000, help="measured requests per GET route")
    parser.add_argument("--write-requests", type=int, default=500, help="measured submissions")
    parser.add_argument("--burst", type=int, default=BURST)
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    for db in (("sqlite", "postgresql") if args.db == "both" else (args.db,)):
        meta = seed(db, args.tickets, args.answers)
        results = measure_load(meta, args.requests, args.write_requests)
        burst = measure_burst(meta, args.burst)
        report(meta, results, burst)
        path = OUT / f"support-{db}.json"
        path.write_text(json.dumps({"measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": measure.machine(),
                                    "meta": meta, "routes": results, "burst": burst}, indent=2))
        say(f"  wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
