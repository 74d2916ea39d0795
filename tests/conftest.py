"""Test fixtures.

The suite runs twice (see Makefile): `HILO_TEST_DB=sqlite` is the embedded default
(SQLite file, in-process bus and jobs); `HILO_TEST_DB=postgresql` uses a fresh
PostgreSQL database, Redis (its own db number) for the bus, rate limits and RQ.
Under CI=true a missing service fails the run instead of skipping.
"""
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from flask import g, has_app_context
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from werkzeug import security

from app import create_app
from app.extensions import db, limiter
from app.models import accounts as accounts_models

# Tests create hundreds of users: a cheap hash keeps that fast (production keeps werkzeug's default).
accounts_models.generate_password_hash = lambda password: security.generate_password_hash(
    password, method="pbkdf2:sha256:1000")

ROOT = Path(__file__).resolve().parents[1]
TEST_DB = os.environ.get("HILO_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get("HILO_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("HILO_TEST_REDIS_URL", "redis://127.0.0.1:6379")
IN_CI = os.environ.get("CI") == "true"


def service_missing(what: str, err: Exception):
    message = f"{what} is not reachable: {err}"
    if IN_CI:
        pytest.exit(f"CI=true and {message}", returncode=3)
    pytest.skip(message)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """A database for this run: a temp SQLite file, or a new PostgreSQL database dropped at the end."""
    if TEST_DB == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'hilo-test.db'}"
        return
    name = f"hilo_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as err:
        service_missing("PostgreSQL", err)
    yield re.sub(r"/[^/]*$", f"/{name}", PG_ADMIN_URL)
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(scope="session")
def redis_url():
    """A Redis database number of our own for the PostgreSQL run; None for the embedded run."""
    if TEST_DB == "sqlite":
        return None
    from redis import Redis

    number = int(os.environ.get("HILO_TEST_REDIS_DB", 9))
    url = f"{REDIS_BASE}/{number}"
    try:
        Redis.from_url(url).flushdb()
    except Exception as err:
        service_missing("Redis", err)
    return url


@pytest.fixture(scope="session")
def app(database_url, redis_url, tmp_path_factory):
    """One app for the session, schema built by the real migrations."""
    instance = tmp_path_factory.mktemp("instance")
    os.environ["HILO_INSTANCE_PATH"] = str(instance)
    application = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "UPLOAD_DIR": str(instance / "attachments"),
        "SECRET_KEY": "test-secret",
        "MAX_ATTACHMENT_BYTES": 1024 * 1024,
        "BASE_URL": "http://localhost",
        "REALTIME_PREFIX": f"hilo-test-{os.getpid()}",  # parallel runs on one Redis stay apart
        "SERVER_NAME": None,
        "SUPPORT_FORM_MIN_SECONDS": 0,
    })
    with application.app_context():
        from flask_migrate import upgrade

        upgrade()
    yield application


@pytest.fixture(autouse=True)
def _clean(app):
    """Each test starts with empty tables, an empty Redis db and fresh rate limits."""
    with app.app_context():
        yield
        app.extensions["hilo_presence_pusher"].drain()  # no push of this test after the reset
        backend = app.extensions["hilo_jobs"]
        if hasattr(backend, "wait_idle"):  # no job of this test may run on the next test's rows
            backend.wait_idle()
            with backend._cond:
                backend._heap.clear()  # nor one planned for later
                backend._claims.clear()
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if db.engine.dialect.name == "postgresql":
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(text(f"DELETE FROM {table}"))
        if app.config["REDIS_URL"]:
            from redis import Redis

            Redis.from_url(app.config["REDIS_URL"]).flushdb()
        else:
            from app.services.presence import LocalPresence

            app.extensions["hilo_presence"] = LocalPresence()
        limiter.reset()
        app.extensions["hilo_pagecache"].clear()  # ids start again: no page of this test may be reused


class PerRequestClient(FlaskClient):
    """A test client whose every request starts with an empty `g`, as in production.

    Each test keeps one app context open (`_clean`) and requests reuse it, so what
    extensions cache in `g` would leak from one request (or one client) to the next:
    Flask-Login's current user, Flask-WTF's CSRF token.
    """

    def open(self, *args, **kwargs):
        if has_app_context():
            g.__dict__.clear()
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    return PerRequestClient(app, app.response_class, use_cookies=True)


@pytest.fixture
def make_client(app):
    """Another browser: a fresh client with its own cookies."""
    return lambda: PerRequestClient(app, app.response_class, use_cookies=True)


def _threaded_worker_class():
    from rq import SimpleWorker
    from rq.timeouts import TimerDeathPenalty

    class ThreadedWorker(SimpleWorker):
        """RQ's in-process worker, runnable outside the main thread (signals belong to it)."""

        death_penalty_class = TimerDeathPenalty

        def _install_signal_handlers(self):
            pass

    return ThreadedWorker


@pytest.fixture
def run_jobs(app):
    """Run every queued background job now, with the real backend of this run.

    RQ: a real RQ worker (SimpleWorker, burst) executes the queue in a thread of this process,
    with its own app context and session, as a worker process would: the test's session and
    the objects it holds stay as they were. Embedded: waits for the job thread to go idle.
    """
    def run():
        backend = app.extensions["hilo_jobs"]
        if hasattr(backend, "queue"):
            failure = []

            def work():
                with app.app_context():
                    try:
                        _threaded_worker_class()([backend.queue], connection=backend.redis).work(burst=True)
                    except BaseException as err:  # pragma: no cover - reported below
                        failure.append(err)

            thread = threading.Thread(target=work)
            thread.start()
            thread.join(timeout=60)
            assert not thread.is_alive() and not failure, f"the RQ worker failed: {failure}"
            failed = backend.queue.failed_job_registry.get_job_ids()
            assert not failed, f"background jobs failed (see the log): {failed}"
        else:
            assert backend.wait_idle(timeout=10), "background jobs did not finish"
        db.session.expire_all()

    return run


# ---- factories -----------------------------------------------------------------------------

PASSWORD = "correct horse battery"


def make_user(role: str = "agent", email: str | None = None, name: str | None = None, **fields):
    from app.services import accounts

    user = accounts.create_user(
        email or f"{role}-{secrets.token_hex(3)}@example.com",
        name or f"{role.title()} {secrets.token_hex(2)}",
        role=role,
        password=PASSWORD,
    )
    for key, value in fields.items():
        setattr(user, key, value)
    db.session.commit()
    return user


def make_contact(name: str = "Ada Customer", email: str | None = None, **fields):
    from app.models import Contact

    contact = Contact(name=name, email=email or f"c-{secrets.token_hex(3)}@customer.test", **fields)
    db.session.add(contact)
    db.session.commit()
    return contact


def make_team(name: str | None = None, members=(), leads=(), **fields):
    """A helpdesk team with the default stages (services/helpdesk.create_team), committed."""
    from app.services import helpdesk

    team = helpdesk.create_team(name or f"Team {secrets.token_hex(2)}", members=members, leads=leads, **fields)
    db.session.commit()
    return team


def make_ticket(team, title: str = "Printer on fire", **fields):
    """A ticket of `team` (services/helpdesk.create_ticket takes the keyword arguments), committed."""
    from app.services import helpdesk

    ticket = helpdesk.create_ticket(team, title, **fields)
    db.session.commit()
    return ticket


def login(client, user, password: str = PASSWORD):
    """Sign in through the real form (CSRF is checked in tests too)."""
    page = client.get("/login")
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page.data)
    token = token or re.search(rb'name="csrf-token" content="([^"]+)"', page.data)
    response = client.post("/login", data={
        "email": user.email, "password": password, "csrf_token": token.group(1).decode(),
    })
    assert response.status_code == 302, response.data[:500]
    return response


def csrf_token(client, path: str = "/") -> str:
    """The CSRF token of the current session, read from a page's meta tag."""
    page = client.get(path, follow_redirects=True)
    match = re.search(rb'name="csrf-token" content="([^"]+)"', page.data)
    assert match, "no csrf meta tag on " + path
    return match.group(1).decode()


@pytest.fixture
def users(app):
    """One of each principal kind, for access matrices."""
    from types import SimpleNamespace

    contact = make_contact("Portal Person", "portal@customer.test")
    return SimpleNamespace(
        admin=make_user("admin", "admin@example.com", "Alice Admin"),
        agent=make_user("agent", "agent@example.com", "Bob Agent"),
        agent2=make_user("agent", "agent2@example.com", "Carol Agent"),
        portal=make_user("portal", "portal@customer.test", "Portal Person", contact_id=contact.id),
        portal_contact=contact,
    )


# ---- a live server for browser tests ---------------------------------------------------------

@pytest.fixture(scope="session")
def live_server(app):
    """The session's app served by a threaded werkzeug server on a free port (WebSockets work)."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}"
    yield server
    server.shutdown()


def worker_env_for(app) -> dict:
    """The environment of a `flask` command (worker, mail ingest) on this run's database and
    Redis, with the app's mail settings as the test has them."""
    config = app.config
    env = dict(os.environ)
    env.update({
        "FLASK_APP": "wsgi",
        "DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
        "RQ_QUEUE": config["RQ_QUEUE"],
        "REALTIME_PREFIX": config["REALTIME_PREFIX"],
        "SECRET_KEY": "test-secret",
        "BASE_URL": config["BASE_URL"],
        "MAIL_DOMAIN": config["MAIL_DOMAIN"],
        "MAIL_FROM": config["MAIL_FROM"],
        "MAIL_REPLY_LOCALPART": config["MAIL_REPLY_LOCALPART"],
        "LOG_LEVEL": "WARNING",
    })
    if config["REDIS_URL"]:
        env["REDIS_URL"] = config["REDIS_URL"]
    else:
        env.pop("REDIS_URL", None)
    return env


@pytest.fixture
def worker_env(app, database_url, redis_url, tmp_path):
    """The environment of a `flask worker` process on this run's database and Redis."""
    if not redis_url:
        pytest.skip("the embedded run has no Redis: jobs run in a thread of the web process")
    return {**worker_env_for(app), "HILO_INSTANCE_PATH": str(tmp_path)}


@pytest.fixture
def job_worker(app, redis_url, tmp_path, request):
    """Jobs run while a test drives the live server: a real `flask worker` process with Redis,
    the web process's own job thread in the embedded run (nothing to start)."""
    if not redis_url:
        yield None
        return
    env = request.getfixturevalue("worker_env")
    flask_cli = Path(sys.executable).with_name("flask")
    process = subprocess.Popen([str(flask_cli), "worker"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    yield process
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def chromium_path() -> str | None:
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        service_missing("Chromium", FileNotFoundError("/usr/bin/chromium"))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=path, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
        ])
        yield instance
        instance.close()


@pytest.fixture
def artifacts_dir():
    path = Path(os.environ.get("HILO_ARTIFACTS", Path(tempfile.gettempdir()) / "hilo-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def browser_login(page, base_url: str, user, password: str = PASSWORD):
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


# Counts the WebSocket frames htmx receives on <html data-ws-frames>, so a browser test can wait
# for a connected socket with a locator (the CSP forbids evaluating strings in the page).
WS_PROBE = """
document.addEventListener('htmx:wsAfterMessage', function () {
  var root = document.documentElement;
  root.setAttribute('data-ws-frames', String(Number(root.getAttribute('data-ws-frames') || 0) + 1));
});
"""


def open_page(browser, base_url, user, path, errors):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(WS_PROBE)
    page = context.new_page()
    page.on("pageerror", lambda err: errors.append(f"{user.email}: {err}"))
    browser_login(page, base_url, user)
    page.goto(base_url + path)
    return context, page


def wait_for_socket(app, page, topic: str) -> None:
    """Probe the topic through the bus until the page's socket has received a frame."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    bus = app.extensions["hilo_bus"]
    for _ in range(50):
        bus.send(topic, '<div id="socket-probe" hx-swap-oob="true"></div>')
        try:
            page.locator("html[data-ws-frames]").wait_for(state="attached", timeout=200)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"the page never received {topic}")


@pytest.fixture(scope="session")
def dovecot():
    """A private dovecot IMAP server for the run (tests/imap_server.py; `make dovecot` installs it)."""
    from tests.imap_server import DOVECOT, Dovecot

    if not Path(DOVECOT).exists():
        service_missing("dovecot", FileNotFoundError(DOVECOT))
    server = Dovecot()
    server.start()
    yield server
    server.stop()


class MailSink:
    """A real SMTP server (aiosmtpd) for the tests: it keeps what it accepts, and answers with
    `refuse[address] = "550 5.1.1 No such user"` (or a 4xx) for the addresses a test chooses."""

    def __init__(self):
        self.received: list[dict] = []
        self.refuse: dict[str, str] = {}
        self.arrived = threading.Condition()
        self.hold_at: int | None = None  # hold the answer to the mail after this many, until `release`
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        import asyncio
        import email
        from email import policy

        if self.hold_at is not None and len(self.received) == self.hold_at:
            self.holding.set()
            while not self.release.is_set():  # a client that vanishes meanwhile cancels this:
                await asyncio.sleep(0.01)    # its mail was never accepted, and is not kept
        with self.arrived:
            self.received.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                                  "message": email.message_from_bytes(envelope.content, policy=policy.default)})
            self.arrived.notify_all()
        return "250 Message accepted"

    def wait_for(self, count: int, timeout: float = 15) -> list[dict]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout), \
                f"{len(self.received)} mail(s) arrived, expected {count}"
            return list(self.received)


@pytest.fixture
def smtp_server(app, monkeypatch):
    """A local SMTP server, and the app sending to it (SMTP_URL) for this test."""
    from aiosmtpd.controller import Controller

    sink = MailSink()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setitem(app.config, "SMTP_URL", f"smtp://127.0.0.1:{port}")
    sink.url = app.config["SMTP_URL"]
    yield sink
    from app.services import mailer

    mailer._smtp.close()
    controller.stop()
