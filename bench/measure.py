"""Load the real app under gunicorn and measure three requests against a baseline.

    python -m bench.measure --db postgresql --requests 1000 --write-requests 200

Uses the database made by bench/generate.py (its ids are read from bench/out/meta-<db>.json).
Starts gunicorn (gthread, 2 workers x 8 threads) in a subprocess, signs in as an agent
through the real /login form, then sends N requests per route (fewer for the POST) from
CONCURRENCY client threads, each with its own keep-alive connection, after a warm-up:

- static        GET /static/img/logo.svg                       for scale: no database, no Redis
- healthz       GET /healthz                                   the baseline (SELECT 1 + Redis/queue checks)
- contact_page  GET /contacts/<hot contact>                    latest page of a 5,000-message thread
- post_message  POST /chatter/<followed thread>/messages       htmx post, 50 followers to notify

The followers are notified by a background job after each post: with PostgreSQL + Redis a
`flask worker` process runs beside gunicorn (as in production), with SQLite the web
processes' own job thread does. After the posts the run waits until every message has been
delivered and reports how long that took after the last post (`fanout_drained_after_s`).

Latency is measured by the client (request sent -> body read); when the app sends a
`Server-Timing` header its durations are reported too. A route that answers 404 is
reported as "not built" and the run exits non-zero.
"""
import argparse
import http.client
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from bench import OUT, ROOT

BENCH_REDIS_URL = os.environ.get("HILO_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
WORKERS, THREADS = 2, 8
CONCURRENCY = 8
WRITE_REQUESTS = 200  # posts are slow and each adds a message and ~50 notifications
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SERVER_TIMING = re.compile(r"\s*([^;,\s]+)((?:\s*;\s*[^;,]+)*)")


def say(line: str = "") -> None:
    print(line, flush=True)


class RouteUnavailable(Exception):
    """A route the benchmark needs is missing or refuses us (e.g. 404: not built yet)."""


# ---- a small HTTP client (stdlib only: one keep-alive connection per thread) ---------------

@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    seconds: float

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Client:
    """One connection with a cookie jar; reconnects once if the server closed it."""

    def __init__(self, host: str, port: int, cookies: dict | None = None):
        self.host, self.port = host, port
        self.cookies: dict[str, str] = dict(cookies or {})
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, form: dict | None = None, headers: dict | None = None) -> Response:
        headers = dict(headers or {})
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            started = time.perf_counter()
            try:
                self.conn.request(method, path, body=body, headers=headers)
                raw = self.conn.getresponse()
                data = raw.read()
            except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                continue
            seconds = time.perf_counter() - started
            for header in raw.headers.get_all("Set-Cookie") or ():
                for name, morsel in SimpleCookie(header).items():
                    self.cookies[name] = morsel.value
            if raw.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            return Response(raw.status, raw.headers, data, seconds)
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def parse_server_timing(value: str | None) -> dict[str, float]:
    """`total;dur=12.3, db;dur=4;desc="5 queries"` -> {"total": 12.3, "db": 4.0}."""
    metrics: dict[str, float] = {}
    for part in (value or "").split(","):
        match = SERVER_TIMING.match(part)
        if not match or not match.group(1):
            continue
        dur = re.search(r";\s*dur=([0-9.]+)", part)
        if dur:
            metrics[match.group(1)] = float(dur.group(1))
    return metrics


def csrf_from(page: Response) -> str | None:
    match = CSRF_META.search(page.text) or CSRF_INPUT.search(page.text)
    return match.group(1) if match else None


# ---- the server -----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn serving wsgi:app on the benchmark database; logs in bench/out/gunicorn-<db>.log."""

    def __init__(self, meta: dict, workers: int = WORKERS, threads: int = THREADS, job_workers: int = 1,
                 worker_class: str = "gthread", gunicorn_args: tuple[str, ...] = (), log_name: str | None = None,
                 extra_env: dict | None = None, flush_redis: bool = True, redis_url: str = BENCH_REDIS_URL):
        self.meta = meta
        self.port = free_port()
        self.workers, self.threads, self.job_workers = workers, threads, job_workers
        self.worker_class = worker_class
        self.gunicorn_args = tuple(gunicorn_args)  # e.g. ("--worker-connections", "2000") for bench/ws.py
        self.extra_env = dict(extra_env or {})
        self.flush_redis = flush_redis  # False for a second server beside a running one
        self.redis_url = redis_url  # each benchmark its own Redis db: starting a server flushes it
        self.log_path = OUT / (log_name or f"gunicorn-{meta['db']}.log")
        self.proc: subprocess.Popen | None = None
        self.job_procs: list[subprocess.Popen] = []

    def environment(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "SMTP_URL")}
        env.update({
            "DATABASE_URL": self.meta["database_url"],
            "HILO_INSTANCE_PATH": str(OUT / "instance"),
            "SECRET_KEY": "bench-secret",
            "UPLOAD_DIR": str(OUT / "instance" / "attachments"),
            "LOG_LEVEL": "WARNING",
            "LOGIN_RATE_LIMIT": "100000 per minute",  # the client signs in more than 10 times a minute
            "HILO_DEMO_DATA": "0",
            "FLASK_APP": "wsgi",
        })
        if self.meta["db"] == "postgresql":
            env["REDIS_URL"] = self.redis_url
        env.update(self.extra_env)
        return env

    def start(self) -> "Server":
        if self.meta["db"] == "postgresql" and self.flush_redis:
            from redis import Redis

            Redis.from_url(self.redis_url).flushdb()  # our own db number: rate limits, queue, bus
        log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--worker-class", self.worker_class, "--workers", str(self.workers),
             "--threads", str(self.threads), "--bind", f"127.0.0.1:{self.port}", "--log-level", "warning",
             "--timeout", "120", *self.gunicorn_args, "wsgi:app"],
            cwd=ROOT, env=self.environment(), stdout=log, stderr=subprocess.STDOUT,
        )
        if self.meta["db"] == "postgresql":  # the RQ worker(s) that run the follower fan-out
            self.job_procs = [subprocess.Popen([sys.executable, "-m", "flask", "worker"], cwd=ROOT,
                                               env=self.environment(), stdout=log, stderr=subprocess.STDOUT)
                              for _ in range(self.job_workers)]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited ({self.proc.returncode}); see {self.log_path}:\n"
                                 + self.log_path.read_text()[-2000:])
            try:
                client = Client("127.0.0.1", self.port)
                if client.request("GET", "/healthz").status in (200, 503):
                    client.close()
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit(f"gunicorn did not answer within 60 s; see {self.log_path}")

    def stop(self) -> None:
        for proc in (*self.job_procs, self.proc):
            if proc and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---- signing in -----------------------------------------------------------------------------

def sign_in(port: int, email: str, password: str) -> dict:
    """Log in through the real form; returns the session cookies."""
    client = Client("127.0.0.1", port)
    page = client.request("GET", "/login")
    if page.status == 404:
        raise RouteUnavailable("GET /login returned 404 (route not built yet)")
    token = csrf_from(page)
    if token is None:
        raise RouteUnavailable(f"GET /login ({page.status}) has no CSRF token in the page "
                               f"(login form not built yet?): {page.text[:120]!r}")
    answer = client.request("POST", "/login", form={"email": email, "password": password, "csrf_token": token})
    location = answer.headers.get("Location", "")
    if answer.status not in (302, 303) or "/login" in location:
        raise RouteUnavailable(f"POST /login did not sign in (status {answer.status}, "
                               f"Location {location!r}): {answer.text[:200]!r}")
    client.close()
    return client.cookies


def csrf_for(port: int, cookies: dict, path: str) -> tuple[dict, str]:
    """The session's CSRF token from a page's meta tag (and the cookies, if the page updated them)."""
    client = Client("127.0.0.1", port, cookies)
    page = client.request("GET", path)
    client.close()
    token = csrf_from(page)
    if token is None:
        raise RouteUnavailable(f"no csrf-token meta tag on GET {path} (status {page.status})")
    return client.cookies, token


# ---- load -----------------------------------------------------------------------------------

@dataclass
class Route:
    name: str
    method: str
    path: str
    needs_login: bool = True
    htmx: bool = False
    form: object = None  # callable(i) -> dict for POSTs
    ok_statuses: tuple = (200,)
    check: object = None  # callable(Response) -> str | None (why it is wrong)


@dataclass
class Sample:
    seconds: list = field(default_factory=list)
    server: dict = field(default_factory=dict)  # metric name -> [ms]
    statuses: dict = field(default_factory=dict)
    bytes: int = 0
    errors: int = 0
    first_error: str | None = None


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values_ms: list[float]) -> dict:
    return {f"p{p}": round(percentile(values_ms, p), 2) for p in (50, 95, 99)} | {
        "mean": round(sum(values_ms) / len(values_ms), 2), "max": round(max(values_ms), 2)}


def headers_for(route: Route, csrf: str | None) -> dict:
    headers = {}
    if route.htmx:
        headers["HX-Request"] = "true"
    if route.method == "POST" and csrf:
        headers["X-CSRFToken"] = csrf
    return headers


def probe(port: int, route: Route, cookies: dict, csrf: str | None) -> Response:
    """One request first: a missing route fails clearly instead of producing 1,000 errors."""
    client = Client("127.0.0.1", port, cookies)
    form = route.form(-1) if route.form else None
    answer = client.request(route.method, route.path, form=form, headers=headers_for(route, csrf))
    client.close()
    if answer.status == 404:
        raise RouteUnavailable(f"{route.method} {route.path} returned 404 (route not built yet)")
    location = answer.headers.get("Location", "")
    if answer.status in (301, 302, 303) and "/login" in location:
        raise RouteUnavailable(f"{route.method} {route.path} redirected to the login page")
    if answer.status not in route.ok_statuses:
        raise RouteUnavailable(f"{route.method} {route.path} returned {answer.status}: {answer.text[:300]!r}")
    problem = route.check(answer) if route.check else None
    if problem:
        raise RouteUnavailable(f"{route.method} {route.path}: {problem}")
    return answer


def load(port: int, route: Route, requests: int, concurrency: int, cookies: dict, csrf: str | None,
         warmup: int) -> dict:
    """Send `warmup` unrecorded requests, then `requests` recorded ones, from `concurrency` threads."""
    sample = Sample()
    lock = threading.Lock()
    counter = iter(range(requests))
    headers = headers_for(route, csrf)

    def worker(record: bool, count_iter):
        client = Client("127.0.0.1", port, cookies)
        try:
            while True:
                with lock:
                    i = next(count_iter, None)
                if i is None:
                    return
                form = route.form(i) if route.form else None
                try:
                    answer = client.request(route.method, route.path, form=form, headers=headers)
                except Exception as err:  # a broken connection is an error, not a crash
                    with lock:
                        sample.errors += 1
                        sample.first_error = sample.first_error or repr(err)
                    client = Client("127.0.0.1", port, cookies)
                    continue
                if not record:
                    continue
                timing = parse_server_timing(answer.headers.get("Server-Timing"))
                with lock:
                    sample.seconds.append(answer.seconds)
                    sample.statuses[answer.status] = sample.statuses.get(answer.status, 0) + 1
                    sample.bytes += len(answer.body)
                    for name, ms in timing.items():
                        sample.server.setdefault(name, []).append(ms)
                    if answer.status not in route.ok_statuses:
                        sample.errors += 1
                        sample.first_error = sample.first_error or f"{answer.status}: {answer.text[:200]!r}"
        finally:
            client.close()

    warm = iter(range(warmup))  # shared by the threads, like `counter` below
    threads = [threading.Thread(target=worker, args=(False, warm)) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(True, counter)) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started

    done = len(sample.seconds)
    result = {
        "route": route.name, "method": route.method, "path": route.path, "status": "ok",
        "requests": done, "warmup_requests": warmup, "errors": sample.errors, "first_error": sample.first_error,
        "statuses": {str(k): v for k, v in sorted(sample.statuses.items())},
        "concurrency": concurrency, "seconds": round(wall, 2),
        "requests_per_s": round(done / wall, 1) if wall else None,
        "avg_bytes": round(sample.bytes / done) if done else 0,
        "client_ms": summarize([s * 1000 for s in sample.seconds]) if done else None,
        "server_timing_ms": {name: summarize(values) for name, values in sample.server.items()},
    }
    return result


def server_metric(result: dict) -> tuple[str, dict] | None:
    """The Server-Timing entry that stands for the whole request, if the app sends one."""
    timing = result.get("server_timing_ms") or {}
    for name in ("total", "app", "wsgi", "request"):
        if name in timing:
            return name, timing[name]
    return next(iter(timing.items()), None)


def add_ratios(results: list[dict]) -> None:
    """Each route against the baseline (healthz): latency multiples and throughput share."""
    base = next((r for r in results if r["route"] == "healthz" and r["status"] == "ok"), None)
    if base is None:
        return
    for result in results:
        if result["status"] != "ok":
            continue
        ratios = {f"{p}_x": round(result["client_ms"][p] / base["client_ms"][p], 2) for p in ("p50", "p95", "p99")}
        ratios["requests_per_s_share"] = round(result["requests_per_s"] / base["requests_per_s"], 3)
        result["vs_baseline"] = ratios


def messages_on_page(response: Response) -> int:
    return len(re.findall(r'id="message-\d+"', response.text))


def routes_for(meta: dict) -> list[Route]:
    hot, thread = meta["hot_contact_id"], meta["followed_thread_id"]

    def contact_check(answer: Response) -> str | None:
        if "Hot Thread Customer" not in answer.text:
            return "the page does not show the hot contact's name"
        return None

    return [
        # For scale only: no database, no Redis (the client's own ceiling shows here too).
        Route("static", "GET", "/static/img/logo.svg", needs_login=False),
        Route("healthz", "GET", "/healthz", needs_login=False),
        Route("contact_page", "GET", f"/contacts/{hot}", check=contact_check),
        Route("post_message", "POST", f"/chatter/{thread}/messages", htmx=True,
              form=lambda i: {"body": f"Benchmark message {i}: checking in on the order, thanks!",
                              "kind": "comment"},
              ok_statuses=(200, 201, 204)),
    ]


def wait_delivered(meta: dict, timeout: float = 300.0) -> float | None:
    """Seconds until no message waits for its fan-out job any more (None: still waiting)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(meta["database_url"])
    started = time.monotonic()
    try:
        with engine.connect() as conn:
            while time.monotonic() - started < timeout:
                pending = conn.execute(text("SELECT count(*) FROM messages WHERE notify_pending")).scalar()
                conn.commit()
                if not pending:
                    return round(time.monotonic() - started, 2)
                time.sleep(0.1)  # polling another process's progress: there is no event to await
    finally:
        engine.dispose()
    return None


def db_counts(meta: dict) -> dict:
    """Rows the POST route is expected to add (messages in the followed thread, notifications)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(meta["database_url"])
    with engine.connect() as conn:
        counts = {
            "followed_thread_messages": conn.execute(
                text("SELECT count(*) FROM messages WHERE thread_id = :t"), {"t": meta["followed_thread_id"]}
            ).scalar(),
            "notifications": conn.execute(text("SELECT count(*) FROM notifications")).scalar(),
        }
    engine.dispose()
    return counts


def measure(meta: dict, requests: int = 1000, concurrency: int = CONCURRENCY,
            write_requests: int = WRITE_REQUESTS) -> dict:
    """Start the server on `meta`'s database, measure every route, return a result block.

    Reads get `requests` requests; the POST gets `write_requests` (each adds ~50 rows).
    """
    say(f"== measuring {meta['db']}: {meta['contacts']:,} contacts / {meta['messages']:,} messages, "
        f"{requests:,} requests per read route, {write_requests:,} posts, concurrency {concurrency}")
    load_before = os.getloadavg()
    results: list[dict] = []
    with Server(meta) as server:
        cookies, csrf, login_problem = {}, None, None
        try:
            cookies = sign_in(server.port, meta["login_email"], meta["password"])
        except RouteUnavailable as err:
            login_problem = str(err)
            say(f"  ! sign-in failed: {login_problem}")
        for route in routes_for(meta):
            if route.needs_login and login_problem:
                results.append({"route": route.name, "method": route.method, "path": route.path,
                                "status": "unavailable", "reason": f"needs sign-in: {login_problem}"})
                continue
            try:
                if route.method == "POST" and csrf is None:
                    cookies, csrf = csrf_for(server.port, cookies, f"/contacts/{meta['followed_contact_id']}")
                first = probe(server.port, route, cookies, csrf)
            except RouteUnavailable as err:
                say(f"  ! {route.name}: {err}")
                results.append({"route": route.name, "method": route.method, "path": route.path,
                                "status": "unavailable", "reason": str(err)})
                continue
            writes = route.method == "POST"
            count = write_requests if writes else requests
            warmup = concurrency * 2 if writes else max(concurrency * 8, min(200, count // 10))
            before = db_counts(meta) if writes else None
            result = load(server.port, route, count, concurrency, cookies, csrf, warmup)
            if route.name == "contact_page":
                result["messages_on_page"] = messages_on_page(first)
            if before is not None:
                result["fanout_drained_after_s"] = wait_delivered(meta)
                after = db_counts(meta)
                sent = result["requests"] + warmup
                result["rows_added_per_post"] = {k: round((after[k] - before[k]) / sent, 2) for k in after}
            results.append(result)
            say(f"  {route.name:<13} {result['requests_per_s']:>8,.0f} req/s  "
                f"p50 {result['client_ms']['p50']:.1f} ms  p99 {result['client_ms']['p99']:.1f} ms  "
                f"errors {result['errors']}"
                + (f"  fan-out done {result['fanout_drained_after_s']} s after the last post"
                   if writes else ""))
    add_ratios(results)
    return {
        "db": meta["db"], "contacts": meta["contacts"], "messages": meta["messages"],
        # The client shares the machine with the server (and whatever else runs there).
        "load_average": {"before": [round(x, 2) for x in load_before],
                         "after": [round(x, 2) for x in os.getloadavg()]},
        "database_bytes": meta.get("database_bytes"), "generate_seconds": meta.get("seconds"),
        "generate_rows_per_s": {t: v["rows_per_s"] for t, v in meta.get("timings", {}).items()},
        "routes": results,
    }


# ---- output ---------------------------------------------------------------------------------

def fmt(value, spec: str = ",.1f") -> str:
    return "-" if value is None else format(value, spec)


def print_table(run: dict) -> None:
    say()
    say(f"{run['db']}: {run['contacts']:,} contacts, {run['messages']:,} messages"
        + (f", {run['database_bytes'] / 1e6:,.0f} MB" if run.get("database_bytes") else "")
        + f"  (load average before {run['load_average']['before'][0]:.2f})")
    say(f"  {'route':<13} {'n':>6} {'err':>4} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>8}"
        f" {'p50 x':>6} {'p99 x':>6} {'req/s %':>8}  server-timing p50")
    for r in run["routes"]:
        if r["status"] != "ok":
            say(f"  {r['route']:<13} not measured: {r['reason']}")
            continue
        c, v = r["client_ms"], r.get("vs_baseline", {})
        share = v.get("requests_per_s_share")
        metric = server_metric(r)
        server = ", ".join(f"{k} {s['p50']:.1f}" for k, s in r["server_timing_ms"].items()) if metric else "(none)"
        say(f"  {r['route']:<13} {r['requests']:>6} {r['errors']:>4} {fmt(c['p50']):>8}"
            f" {fmt(c['p95']):>8} {fmt(c['p99']):>8} {fmt(r['requests_per_s'], ',.0f'):>8}"
            f" {fmt(v.get('p50_x'), '.1f'):>6} {fmt(v.get('p99_x'), '.1f'):>6}"
            f" {fmt(share * 100 if share is not None else None, '.1f'):>8}  {server}")
        if r.get("messages_on_page") is not None:
            say(f"  {'':<13} page: {r['avg_bytes']:,} bytes, {r['messages_on_page']} messages rendered")
        if r.get("rows_added_per_post"):
            say(f"  {'':<13} rows added per post: {r['rows_added_per_post']}")
        if r["errors"]:
            say(f"  {'':<13} first error: {r['first_error']}")


def machine() -> dict:
    cpu = ""
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
    except OSError:
        pass
    memory_gb = None
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gb": memory_gb, "python": platform.python_version(),
            "platform": platform.platform(), "server": f"gunicorn gthread {WORKERS} workers x {THREADS} threads",
            "client": "bench/measure.py: Python threads, one keep-alive connection each, same machine"}


def write_results(runs: list[dict], path: Path = OUT / "results.json") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(),
                                "runs": runs}, indent=2))
    return path


def load_meta(db: str) -> dict:
    path = OUT / f"meta-{db}.json"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `python -m bench.generate --db {db}` first")
    return json.loads(path.read_text())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--requests", type=int, default=1000, help="measured requests per route")
    parser.add_argument("--write-requests", type=int, default=WRITE_REQUESTS, help="measured posts")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    args = parser.parse_args(argv)
    run = measure(load_meta(args.db), args.requests, args.concurrency, args.write_requests)
    print_table(run)
    say(f"\nwrote {write_results([run])}")
    return 0 if all(r["status"] == "ok" for r in run["routes"]) else 2


if __name__ == "__main__":
    sys.exit(main())
