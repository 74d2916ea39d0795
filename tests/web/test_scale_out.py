"""Scale-out: two gunicorn processes share PostgreSQL and Redis, and a message posted through
one reaches a socket held by the other (docs/operations.md, "Scaling out").

Nothing is faked here: the test starts two real gunicorn processes (gthread, as `make run` and
docs/operations.md do) and a real `flask worker`, on this run's PostgreSQL database and Redis.
People sign in through the processes' own /login forms. Only the PostgreSQL pass runs it: the
embedded default (SQLite, in-process bus and jobs) is one process by design.
"""
import http.client
import re
import socket
import subprocess
import sys
import time
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest
from simple_websocket import Client, ConnectionClosed

from app.extensions import db
from tests.conftest import PASSWORD, ROOT, TEST_DB, make_user

pytestmark = pytest.mark.skipif(
    TEST_DB != "postgresql",
    reason="scale-out needs PostgreSQL and Redis: the SQLite run is the embedded default, "
           "one process with an in-process bus and job thread by design")

POLICY_VIOLATION = 1008
START_TIMEOUT = 60.0  # seconds for a process to answer /healthz (two cores, a busy CI machine)
CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
CSRF_META = re.compile(r'name="csrf-token" content="([^"]+)"')


# ---- the processes ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppProcess:
    """One gunicorn serving wsgi:app, with its output in a log file shown when a test fails."""

    def __init__(self, name: str, env: dict, log_dir):
        self.name, self.port = name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", "1",
             "--threads", "16", "--bind", f"127.0.0.1:{self.port}", "--graceful-timeout", "5",
             "--log-level", "warning", "--access-logfile", "-", "wsgi:app"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, deadline: float) -> None:
        """Poll /healthz until it answers 200 (the database and Redis are reachable)."""
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                answer = conn.getresponse()
                last = f"{answer.status} {answer.read()[:300]!r}"
                conn.close()
                if answer.status == 200:
                    return
            except OSError as err:
                last = repr(err)
            time.sleep(0.1)  # polling another process's start: there is no event to wait on
        raise AssertionError(f"{self.name} not ready after {START_TIMEOUT:.0f} s ({last}):\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()[-4000:] or "(empty log)"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture
def app_processes(worker_env, job_worker, tmp_path, request):
    """Two gunicorn processes on this run's database and Redis (and `job_worker` beside them).

    `worker_env` is the same environment the job worker gets: one DATABASE_URL, REDIS_URL,
    SECRET_KEY and REALTIME_PREFIX for every process, as in production."""
    failed_before = request.session.testsfailed
    processes = []
    try:
        processes = [AppProcess(name, worker_env, tmp_path) for name in ("process-1", "process-2")]
        deadline = time.monotonic() + START_TIMEOUT
        for process in processes:
            process.wait_ready(deadline)
        yield processes
    finally:
        for process in processes:
            process.stop()
        if request.session.testsfailed > failed_before:  # shown with the failure report
            for process in processes:
                sys.stderr.write(f"\n---- {process.name} (gunicorn) log ----\n{process.log()}\n")
            if job_worker is not None and job_worker.poll() is not None:
                sys.stderr.write(f"\n---- flask worker exited ----\n{job_worker.stderr.read()[-4000:]}\n")


# ---- a person's HTTP client ----------------------------------------------------------------------

class Browser:
    """Keeps the session cookie like a browser does (cookies ignore the port: one jar for both)."""

    def __init__(self):
        self.cookies: dict[str, str] = {}

    def request(self, base: str, method: str, path: str, form: dict | None = None,
                headers: dict | None = None) -> tuple[int, dict, str]:
        host, port = base.removeprefix("http://").split(":")
        headers = dict(headers or {})
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            answer = conn.getresponse()
            text = answer.read().decode("utf-8", "replace")
        finally:
            conn.close()
        for header in answer.headers.get_all("Set-Cookie") or ():
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return answer.status, dict(answer.headers), text

    def sign_in(self, base: str, user, password: str) -> None:
        """The real form: GET /login for its CSRF token, POST the credentials."""
        status, _, page = self.request(base, "GET", "/login")
        assert status == 200, page[:300]
        token = CSRF_INPUT.search(page) or CSRF_META.search(page)
        assert token, "no CSRF token on /login"
        status, headers, page = self.request(base, "POST", "/login", form={
            "email": user.email, "password": password, "csrf_token": token.group(1)})
        assert status == 302 and "/login" not in headers.get("Location", ""), (status, page[:300])

    def post_in_channel(self, base: str, channel_id: int, body: str) -> str:
        """Post as the composer does: an htmx POST with the page's CSRF token in a header."""
        status, _, page = self.request(base, "GET", f"/discuss/c/{channel_id}")
        assert status == 200, page[:300]
        token = CSRF_META.search(page).group(1)
        status, _, fragment = self.request(base, "POST", f"/discuss/c/{channel_id}/messages",
                                           form={"body": body},
                                           headers={"HX-Request": "true", "X-CSRFToken": token})
        assert status == 200, fragment[:300]
        return fragment

    def socket(self, base: str, topics: str) -> Client:
        url = base.replace("http://", "ws://") + f"/ws?topics={topics}"
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return Client.connect(url, headers={"Cookie": cookie})


# ---- socket helpers (as in test_ws.py) ------------------------------------------------------------

def wait_until_subscribed(app, ws, topic: str) -> None:
    """Publish probes through Redis until one arrives: the socket then surely listens (no sleeps)."""
    bus = app.extensions["hilo_bus"]
    for _ in range(50):
        bus.send(topic, '<div id="probe" hx-swap-oob="true"></div>')
        if ws.receive(timeout=0.2) is not None:
            while ws.receive(timeout=0) is not None:  # drain the other probes
                pass
            return
    raise AssertionError(f"the socket never received {topic}")


def receive_matching(ws, *needles: str, timeout: float = 10.0) -> str:
    """The first frame containing every needle; other frames (sidebar, badges) are skipped."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        frame = ws.receive(timeout=remaining)
        if frame is not None and all(n in frame for n in needles):
            return frame
    raise AssertionError(f"no frame with {needles!r} arrived within {timeout:.0f} s")


def make_channel(app, creator, name: str, *, private: bool = False, members=()):
    from app.services import discuss

    with app.test_request_context(base_url=app.config["BASE_URL"]):
        channel = discuss.create_channel(creator, name, private=private, members=members)
        db.session.commit()
    return channel


# ---- the tests -----------------------------------------------------------------------------------

def test_a_message_posted_through_one_process_reaches_a_socket_on_the_other(app, app_processes):
    one, two = app_processes
    ann, ben = make_user(name="Ann Poster"), make_user(name="Ben Reader")
    general = make_channel(app, ann, "general", members=[ben])
    elsewhere = make_channel(app, ann, "elsewhere", members=[ben])
    thread_id = general.ensure_thread().id

    # Sessions are signed cookies: signed in on one process, recognised by the other.
    poster, reader = Browser(), Browser()
    poster.sign_in(two.url, ann, PASSWORD)
    reader.sign_in(one.url, ben, PASSWORD)

    ws = reader.socket(two.url, f"thread:{thread_id}")
    try:
        wait_until_subscribed(app, ws, f"thread:{thread_id}")
        poster.post_in_channel(one.url, general.id, "Hello from process one")
        row = receive_matching(ws, "Hello from process one")
        assert f'hx-swap-oob="beforeend:#thread-{thread_id}-messages"' in row
        assert "csrf_token" not in row  # rendered once for every viewer

        # A post elsewhere: the job (in the `flask worker` process) pushes Ben's unread count
        # to his own topic, which process two holds.
        poster.post_in_channel(one.url, elsewhere.id, "Meanwhile, in another channel")
        badge = receive_matching(ws, f'id="unread-{elsewhere.id}"', 'data-count="1"')
        assert 'hx-swap-oob="true"' in badge
    finally:
        ws.close()


def test_a_private_channel_socket_on_the_other_process_is_refused_to_non_members(app, app_processes):
    one, two = app_processes
    ann, olga = make_user(name="Ann Member"), make_user(name="Olga Outsider")
    secret = make_channel(app, ann, "secret", private=True)
    outsider = Browser()
    outsider.sign_in(one.url, olga, PASSWORD)

    ws = outsider.socket(two.url, f"thread:{secret.ensure_thread().id}")
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(100):  # a refused socket is closed right after the handshake
            ws.receive(timeout=0.1)
    assert closed.value.reason == POLICY_VIOLATION
