"""Live delivery over WebSockets: many staff sockets, one busy channel, posts at a fixed rate.

    python -m bench.ws                                        # 1,000 sockets, 200 members, 20 msg/s, 60 s
    python -m bench.ws --sockets 2000 --rate 40 --duration 30 --workers 2 --threads 1200
    python -m bench.ws --seen throttle                        # members also POST /seen (at most 1/s each)

What one run does (see docs/benchmarks.md, "Discuss: live delivery over WebSockets"):

1. A fresh PostgreSQL database (`hilo_bench_ws`, schema from the real migrations) with SOCKETS
   staff users, a public channel "load" whose MEMBERS are the first users, and a public channel
   "lobby" without posts that the other users have open.
2. gunicorn (gthread, WORKERS x THREADS) and `flask worker` with Redis, as in production.
3. Session cookies: the posting members sign in through the real /login form; the other users'
   cookies are minted by the app's own code (Flask-Login's `login_user`, Flask-WTF's
   `generate_csrf`, Flask's signed session serializer) with the server's SECRET_KEY, because
   SOCKETS sign-ins would spend minutes of server CPU on password hashes (the time of one real
   sign-in is reported). The server checks every cookie: a refused one closes its socket.
4. CLIENT_PROCS receiver processes (asyncio + `websockets`, permessage-deflate as browsers offer
   it) open the sockets: members as a conversation page does (`thread:<load>,presence`), the
   others as a page on another conversation (`thread:<lobby>,presence`). Probes published to
   Redis tell when every socket is subscribed.
5. The posting members POST /discuss/c/<load>/messages at RATE per second for DURATION seconds
   (open loop: a slow answer does not delay the next post), each message carrying a unique token.
   Latency = the frame's arrival on a socket - the POST's start (one monotonic clock; all
   processes are on this machine), for every (message, member socket). Lost = a member socket
   never got a message whose POST succeeded; duplicated = got it twice. The unread badges that
   the post's delivery job pushes to every member's `user:` topic are counted too.

Results are printed and appended to bench/out/ws-results.json; the server's log is
bench/out/gunicorn-ws.log.
"""
import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import re
import resource
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlencode

from bench import OUT

DB_NAME = "hilo_bench_ws"
SECRET_KEY = "bench-secret"  # bench.measure.Server gives the server this key
PASSWORD = "bench-password"
USER_AGENT = "hilo-bench-ws"
REALTIME_PREFIX = "hilo-bench-ws"  # pub/sub ignores Redis db numbers: stay apart from other installs
# Not bench.measure's db 12: another benchmark may run at the same time, and starting a server
# flushes its db (the job queue has its own name too).
REDIS_URL = os.environ.get("HILO_BENCH_WS_REDIS_URL", "redis://127.0.0.1:6379/13")
RQ_QUEUE = "hilo-bench-ws"
RESULTS = OUT / "ws-results.json"
AIM_P99_MS = 150.0

TOKEN = re.compile(rb"wsb(\d+)m(\d+)z")
PROBE_ID = "bench-probe"
PROBE = re.compile(PROBE_ID.encode())
# --direct publishes this instead of posting: about the size of a real message row (~1.5 KB).
DIRECT_FRAGMENT = (
    '<div hx-swap-oob="beforeend:#thread-{thread}-messages"><article id="message-0" class="message message-comment"'
    ' data-author="2" aria-labelledby="message-0-author"><div class="message-gutter"><span class="avatar"'
    ' style="--hue: 210" aria-hidden="true">SA</span></div><div class="message-main"><header class="message-head">'
    '<span class="message-author" id="message-0-author">Staff 0001</span><span class="message-time">'
    '<time datetime="2026-11-23T12:00:00Z" data-live-time>12:00</time></span><span class="message-actions"'
    ' data-owner-only="2" hidden><a class="icon-btn" href="/chatter/1/messages/0/edit" title="Edit message">'
    '<svg class="icon" width="15" height="15" aria-hidden="true"><use href="/static/img/icons.svg#edit"></use>'
    '</svg></a></span></header><div class="message-body"><p>{body}</p></div></div></article></div>'
    '<div id="seen-{thread}" hidden hx-swap-oob="true" hx-post="/discuss/c/1/seen" hx-trigger="load delay:1s"'
    ' hx-swap="none"></div>' + "<!-- " + "padding " * 60 + "-->")


def say(line: str = "") -> None:
    print(line, flush=True)


def percentile(values, pct: float):
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(seconds: list[float]) -> dict | None:
    if not seconds:
        return None
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), **{f"p{p}": round(percentile(ms, p), 1) for p in (50, 95, 99)},
            "max": round(max(ms), 1)}


# ---- the data -----------------------------------------------------------------------------------

def prepare(sockets: int, members: int) -> dict:
    """A fresh database with the users and the two channels; returns ids and every user's cookie."""
    from bench.generate import create_database

    started = time.perf_counter()
    url = create_database("postgresql", DB_NAME)
    os.environ["HILO_INSTANCE_PATH"] = str(OUT / "instance")
    from werkzeug.security import generate_password_hash

    from app import create_app
    from app.extensions import db
    from app.models import Channel, ChannelMember, User

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None, "RATELIMIT_STORAGE_URI": "memory://",
                      "SECRET_KEY": SECRET_KEY})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        password_hash = generate_password_hash(PASSWORD)  # one hash for all: hashing is slow on purpose
        users = [User(email=f"staff{i:04d}@bench.test", name=f"Staff {i:04d}", role="agent",
                      password_hash=password_hash) for i in range(1, sockets + 1)]
        db.session.add_all(users)
        db.session.flush()
        load = Channel(kind="channel", name="load", created_by_id=users[0].id)
        lobby = Channel(kind="channel", name="lobby", created_by_id=users[0].id)
        db.session.add_all([load, lobby])
        db.session.flush()
        load_thread, lobby_thread = load.ensure_thread(), lobby.ensure_thread()
        db.session.add_all([ChannelMember(channel_id=load.id, user_id=u.id, last_seen_message_id=0)
                            for u in users[:members]])
        db.session.commit()
        meta = {"database_url": url, "db": "postgresql", "load_channel_id": load.id,
                "load_thread_id": load_thread.id, "lobby_channel_id": lobby.id, "lobby_thread_id": lobby_thread.id,
                "users": [{"id": u.id, "email": u.email, "member": i < members} for i, u in enumerate(users)]}
        minted = time.perf_counter()
        for entry, user in zip(meta["users"], users):
            entry["cookie"], entry["csrf"] = mint_session(app, user)
        meta["mint_seconds"] = round(time.perf_counter() - minted, 2)
        db.session.remove()
        db.engine.dispose()
    meta["prepare_seconds"] = round(time.perf_counter() - started, 1)
    return meta


def mint_session(app, user) -> tuple[str, str]:
    """The session cookie and CSRF token a sign-in would give `user`, made by the app's own code."""
    from flask import g, session
    from flask_login import login_user
    from flask_wtf.csrf import generate_csrf

    with app.test_request_context("/login", environ_base={"REMOTE_ADDR": "127.0.0.1"},
                                  headers={"User-Agent": USER_AGENT}):
        g.__dict__.clear()  # Flask-Login and Flask-WTF cache the user and token in g
        login_user(user)
        token = generate_csrf()
        cookie = app.session_interface.get_signing_serializer(app).dumps(dict(session))
    return cookie, token


# ---- a small asyncio HTTP/1.1 client (form POSTs on keep-alive connections) -----------------------

class AsyncHTTP:
    """Keep-alive connections to one server; a connection idle for a second is not reused
    (gunicorn closes idle ones after 2 s), and nothing is retried (a retried POST could post twice)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.idle: list[tuple[float, asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, path: str, form: dict, headers: dict) -> tuple[int, bytes, float | None]:
        """(status, body, the app's own time in ms from its `Server-Timing: app;dur=` header)."""
        body = urlencode(form).encode()
        conn = None
        while self.idle and conn is None:
            since, reader, writer = self.idle.pop()
            if time.monotonic() - since < 1.0 and not reader.at_eof():
                conn = reader, writer
            else:
                writer.close()
        reader, writer = conn or await asyncio.open_connection(self.host, self.port)
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUser-Agent: {USER_AGENT}\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n")
        try:
            writer.write(head.encode() + body)
            status_line = await reader.readline()
            if not status_line:
                raise ConnectionError("the server closed the connection")
            status, length, close, app_ms = int(status_line.split()[1]), 0, False, None
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and "close" in value.lower():
                    close = True
                elif name == "server-timing" and (dur := re.search(r"app;dur=([0-9.]+)", value)):
                    app_ms = float(dur.group(1))
                elif name == "transfer-encoding":
                    raise ConnectionError(f"unexpected transfer-encoding {value.strip()}")
            data = await reader.readexactly(length) if length else b""
        except BaseException:
            writer.close()
            raise
        if close:
            writer.close()
        else:
            self.idle.append((time.monotonic(), reader, writer))
        return status, data, app_ms


# ---- the receivers (separate processes) -----------------------------------------------------------

class SocketState:
    __slots__ = ("spec", "recv", "dups", "leaks", "badges", "badge_last", "other", "probed", "opened", "error",
                 "closed", "seen_at", "seen_timer", "seen_busy")

    def __init__(self, spec: dict):
        self.spec = spec
        self.recv: dict[int, float] = {}
        self.dups = self.leaks = self.badges = self.other = 0
        self.badge_last = None
        self.probed = self.opened = False
        self.error = self.closed = None
        self.seen_at = 0.0
        self.seen_timer = None
        self.seen_busy = False


class Receiver:
    """Holds a share of the sockets in one asyncio loop and records what arrives when."""

    def __init__(self, config: dict, specs: list[dict]):
        self.config = config
        self.sockets = [SocketState(s) for s in specs]
        self.run_id = str(config["run_id"]).encode()
        self.badge_marker = re.compile(re.escape(f'id="unread-{config["load_channel_id"]}"'.encode()))
        self.http = AsyncHTTP("127.0.0.1", config["http_port"])
        self.seen_ms: list[float] = []
        self.seen_errors = 0
        self.seen_first_error = None
        self.tasks: list[asyncio.Task] = []

    @property
    def settled(self) -> bool:
        """Every socket is open or has failed."""
        return all(s.opened or s.error or s.closed for s in self.sockets)

    async def hold(self, state: SocketState, handshakes: asyncio.Semaphore) -> None:
        import websockets

        url = f"ws://127.0.0.1:{self.config['port']}/ws?topics={quote(state.spec['topics'], safe=':,')}"
        ws = None
        try:
            async with handshakes:
                ws = await websockets.connect(
                    url, additional_headers={"Cookie": f"session={state.spec['cookie']}"},
                    user_agent_header=USER_AGENT, compression="deflate" if self.config["compression"] else None,
                    max_size=None, ping_interval=None, open_timeout=120, close_timeout=2)
            state.opened = True
            async for frame in ws:
                self.on_frame(state, frame)
            state.closed = f"closed by the server: {ws.close_code} {ws.close_reason}"
        except asyncio.CancelledError:
            if ws is not None:
                await ws.close()
            raise
        except Exception as err:  # recorded and reported, the other sockets go on
            state.error = f"{type(err).__name__}: {err}"[:300]

    def on_frame(self, state: SocketState, frame) -> None:
        """Record a frame; one frame may carry several fragments (htmx swaps each oob element)."""
        if isinstance(frame, str):
            frame = frame.encode()
        self.scan(state, frame, 0, time.monotonic())

    def scan(self, state: SocketState, data: bytes, skip: int, now: float) -> None:
        """Count what `data` carries after its first `skip` bytes (already scanned)."""
        known = False
        for match in TOKEN.finditer(data):
            if match.end() <= skip or match.group(1) != self.run_id:
                continue
            known, seq = True, int(match.group(2))
            if not state.spec["member"]:
                state.leaks += 1
            elif seq in state.recv:
                state.dups += 1
            else:
                state.recv[seq] = now
                self.maybe_seen(state, now)
        badges = sum(1 for m in self.badge_marker.finditer(data) if m.end() > skip)
        if badges:
            known = True
            state.badges += badges
            state.badge_last = now
        if any(m.end() > skip for m in PROBE.finditer(data)):
            known = state.probed = True
        if not known:
            state.other += 1

    async def hold_light(self, state: SocketState, handshakes: asyncio.Semaphore) -> None:
        """A minimal client: the upgrade by hand, then the raw byte stream scanned for tokens (no frame
        parsing, no compression): a tenth of the CPU of `websockets`, so the client keeps up."""
        import base64

        path = f"/ws?topics={quote(state.spec['topics'], safe=':,')}"
        writer = None
        try:
            async with handshakes:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.config["port"]), 120)
                key = base64.b64encode(os.urandom(16)).decode()
                writer.write((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.config['port']}\r\n"
                              f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                              f"Sec-WebSocket-Version: 13\r\nUser-Agent: {USER_AGENT}\r\n"
                              f"Cookie: session={state.spec['cookie']}\r\n\r\n").encode())
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 120)
                if b" 101 " not in head.split(b"\r\n", 1)[0]:
                    raise ConnectionError(f"no upgrade: {head[:120]!r}")
            state.opened = True
            tail = b""
            while data := await reader.read(65536):
                buffer = tail + data
                self.scan(state, buffer, len(tail), time.monotonic())
                tail = buffer[-64:]
                if data[:1] == b"\x88" and len(data) < 256:  # a close frame alone
                    break
            state.closed = "closed by the server"
        except asyncio.CancelledError:
            if writer is not None:
                writer.close()
            raise
        except Exception as err:
            state.error = f"{type(err).__name__}: {err}"[:300]

    # /seen as the browser sends it: "throttle" = at most once a second while messages arrive
    # (the worst case), "quiet" = one second after the last message (htmx's `load delay:1s`).
    def maybe_seen(self, state: SocketState, now: float) -> None:
        mode = self.config["seen"]
        if mode == "throttle":
            if not state.seen_busy and now - state.seen_at >= 1.0:
                state.seen_at, state.seen_busy = now, True
                asyncio.get_running_loop().create_task(self.post_seen(state))
        elif mode == "quiet":
            if state.seen_timer is not None:
                state.seen_timer.cancel()
            state.seen_timer = asyncio.get_running_loop().call_later(
                1.0, lambda: asyncio.get_running_loop().create_task(self.post_seen(state)))

    async def post_seen(self, state: SocketState) -> None:
        started = time.monotonic()
        try:
            status, body, _ = await self.http.post(
                f"/discuss/c/{self.config['load_channel_id']}/seen", {},
                {"Cookie": f"session={state.spec['cookie']}", "X-CSRFToken": state.spec["csrf"],
                 "HX-Request": "true"})
            if status != 204:
                raise ConnectionError(f"status {status}: {body[:120]!r}")
            self.seen_ms.append((time.monotonic() - started) * 1000)
        except Exception as err:
            self.seen_errors += 1
            self.seen_first_error = self.seen_first_error or f"{type(err).__name__}: {err}"[:300]
        finally:
            state.seen_busy = False

    def result(self, cpu_before) -> dict:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "cpu_seconds": usage.ru_utime + usage.ru_stime - cpu_before,
            "seen_ms": self.seen_ms, "seen_errors": self.seen_errors, "seen_first_error": self.seen_first_error,
            "sockets": [{"user_id": s.spec["user_id"], "member": s.spec["member"], "recv": s.recv, "dups": s.dups,
                         "leaks": s.leaks, "badges": s.badges, "badge_last": s.badge_last, "other": s.other,
                         "error": s.error, "closed": s.closed} for s in self.sockets],
        }


async def receiver_loop(pipe, config: dict, specs: list[dict]) -> None:
    receiver = Receiver(config, specs)
    loop = asyncio.get_running_loop()
    handshakes = asyncio.Semaphore(config["connect_concurrency"])
    cpu_before = 0.0
    while True:
        command = await loop.run_in_executor(None, pipe.recv)
        if command == "connect":
            started = time.monotonic()
            hold = receiver.hold_light if config["client"] == "light" else receiver.hold
            receiver.tasks = [asyncio.create_task(hold(s, handshakes)) for s in receiver.sockets]
            while not receiver.settled:
                await asyncio.sleep(0.05)
            failed = [s for s in receiver.sockets if s.error or s.closed]
            pipe.send({"open": len(receiver.sockets) - len(failed), "failed": len(failed),
                       "first_error": (failed[0].error or failed[0].closed) if failed else None,
                       "seconds": round(time.monotonic() - started, 2)})
        elif command == "probed":
            pipe.send(sum(1 for s in receiver.sockets if s.probed or s.error or s.closed))
        elif command == "go":
            for state in receiver.sockets:  # count only what arrives while measuring
                state.other = 0
            usage = resource.getrusage(resource.RUSAGE_SELF)
            cpu_before = usage.ru_utime + usage.ru_stime
            pipe.send("ok")
        elif command == "counts":
            pipe.send({"messages": sum(len(s.recv) for s in receiver.sockets),
                       "badges": sum(s.badges for s in receiver.sockets)})
        elif command == "stop":
            result = receiver.result(cpu_before)
            for task in receiver.tasks:
                task.cancel()
            await asyncio.gather(*receiver.tasks, return_exceptions=True)
            pipe.send(result)
            return


def receiver_main(pipe, config: dict, specs: list[dict]) -> None:
    asyncio.run(receiver_loop(pipe, config, specs))


# ---- the server's processes: CPU, threads, sockets per worker -------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()  # fields after "(comm)": state, ppid, ...


def cpu_seconds(pids) -> dict[int, float]:
    """pid -> CPU seconds used so far (user + system)."""
    used = {}
    for pid in pids:
        fields = _stat(pid)
        if fields:
            used[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return used


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def children(pid: int) -> list[int]:
    return [p for p in all_pids() if (f := _stat(p)) and int(f[1]) == pid]


def pids_named(name: str) -> list[int]:
    found = []
    for pid in all_pids():
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == name:
                found.append(pid)
        except OSError:
            pass
    return found


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def threads_of(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def sockets_per_worker(port: int, workers: list[int]) -> dict[int, int]:
    """Established client connections to `port` held by each worker process."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if int(parts[1].rsplit(":", 1)[1], 16) == port and parts[3] == "01":
                inodes.add(parts[9])
    counts = {}
    for pid in workers:
        held = 0
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    held += 1
        except OSError:
            pass
        counts[pid] = held
    return counts


class CpuWatch:
    """CPU seconds of each group of processes between start() and stop()."""

    def __init__(self, groups: dict):
        self.groups = groups  # name -> callable returning pids

    def sample(self) -> dict:
        values = {name: cpu_seconds(pids()) for name, pids in self.groups.items()}
        values["machine"] = machine_busy()
        values["at"] = time.monotonic()
        return values

    def start(self) -> None:
        self.before = self.sample()

    def stop(self) -> dict:
        """% of one core per group; a process that started or ended meanwhile counts from what is known."""
        after = self.sample()
        wall = after["at"] - self.before["at"]
        usage = {}
        for name in self.groups:
            before = self.before[name]
            used = sum(seconds - before.get(pid, 0.0) for pid, seconds in after[name].items())
            usage[name] = round(100 * used / wall, 1)
        busy = after["machine"][0] - self.before["machine"][0]
        total = after["machine"][1] - self.before["machine"][1]
        usage["machine_busy_pct"] = round(100 * busy / total, 1) if total else None
        usage["wall_seconds"] = round(wall, 1)
        return usage


# ---- one run --------------------------------------------------------------------------------------

def sign_in_posters(port: int, users: list[dict], page: str) -> tuple[list[dict], float]:
    """Real sign-ins through /login for the posting members; returns their sessions and the
    median time of one sign-in (a password hash check on the server)."""
    from bench.measure import csrf_for, sign_in

    sessions, times = [], []
    for user in users:
        started = time.perf_counter()
        cookies = sign_in(port, user["email"], PASSWORD)
        times.append(time.perf_counter() - started)
        cookies, token = csrf_for(port, cookies, page)
        sessions.append({"user_id": user["id"], "cookie": cookies["session"], "csrf": token})
    return sessions, percentile(times, 50)


def check_minted(port: int, user: dict, channel_id: int) -> None:
    """A minted cookie must open a page like a signed-in one does (not redirect to /login)."""
    from bench.measure import Client

    client = Client("127.0.0.1", port, {"session": user["cookie"]})
    page = client.request("GET", f"/discuss/c/{channel_id}", headers={"User-Agent": USER_AGENT})
    client.close()
    if page.status != 200:
        raise SystemExit(f"a minted session cookie was refused (GET /discuss/c/{channel_id}: {page.status}, "
                         f"{page.headers.get('Location')}); the app's sign-in changed: update mint_session()")


async def post_messages(config: dict, sessions: list[dict], count: int) -> list[dict]:
    """POST `count` messages at `rate` per second (open loop), round robin over the posting members."""
    http = AsyncHTTP("127.0.0.1", config["http_port"])
    path = f"/discuss/c/{config['load_channel_id']}/messages"
    records: list[dict] = [{} for _ in range(count)]
    in_flight = asyncio.Semaphore(config["max_in_flight"])

    redis, topic = None, f"{REALTIME_PREFIX}:thread:{config['load_thread_id']}"
    if config["direct"]:
        from redis import Redis

        redis = Redis.from_url(REDIS_URL)

    async def post(seq: int, scheduled: float) -> None:
        session = sessions[seq % len(sessions)]
        body = f"Load check wsb{config['run_id']}m{seq}z: is everyone receiving this one in time?"
        record = records[seq]
        async with in_flight:
            record.update(seq=seq, user_id=session["user_id"], late=time.monotonic() - scheduled)
            record["start"] = started = time.monotonic()
            if redis is not None:  # --direct: the fan-out alone, no request, no database, no job
                redis.publish(topic, DIRECT_FRAGMENT.format(thread=config["load_thread_id"], body=body))
                record.update(ok=True, seconds=time.monotonic() - started)
                return
            try:
                status, data, record["app_ms"] = await http.post(path, {"body": body}, {
                    "Cookie": f"session={session['cookie']}", "X-CSRFToken": session["csrf"], "HX-Request": "true"})
                record["ok"] = status == 200
                if status != 200:
                    record["error"] = f"status {status}: {data[:160]!r}"
            except Exception as err:
                record["ok"], record["error"] = False, f"{type(err).__name__}: {err}"[:300]
            record["seconds"] = time.monotonic() - started

    first = time.monotonic() + 0.1
    tasks = []
    for seq in range(count):
        scheduled = first + seq / config["rate"]
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post(seq, scheduled)))
    await asyncio.gather(*tasks)
    return records


def ask(pipes, command):
    for pipe in pipes:
        pipe.send(command)
    return [pipe.recv() for pipe in pipes]


def wait_subscribed(pipes, redis, meta: dict, total: int, timeout: float = 120.0) -> float:
    """Publish probes on both channels' topics until every socket has received one."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        for thread_id in (meta["load_thread_id"], meta["lobby_thread_id"]):
            redis.publish(f"{REALTIME_PREFIX}:thread:{thread_id}", f'<div id="{PROBE_ID}" hidden></div>')
        if sum(ask(pipes, "probed")) >= total:
            return round(time.monotonic() - started, 2)
        time.sleep(0.25)  # probes are cheap; this only paces them
    raise SystemExit(f"sockets still not subscribed after {timeout:.0f} s")


def run(args) -> dict:
    from redis import Redis

    from bench.measure import Server

    members = min(args.members, args.sockets)
    posters = max(1, min(args.posters, members))
    threads = args.threads or int(math.ceil(args.sockets / args.workers * 1.3)) + 32
    connections = max(1000, threads + 64)
    run_id = int(time.time()) % 1_000_000
    measured = int(args.rate * args.duration)
    warmup = int(args.rate * args.warmup)
    say(f"== ws bench: {args.sockets:,} sockets, {members} members, {args.rate:g} msg/s x {args.duration:g} s "
        f"(+{args.warmup:g} s warm-up), gunicorn {args.worker_class} {args.workers} x {threads} threads, "
        f"{args.job_workers} job worker(s), seen={args.seen}, client {args.client}, "
        f"compression {'on' if args.compression else 'off'}")

    meta = prepare(args.sockets, members)
    say(f"  database ready in {meta['prepare_seconds']} s ({meta['mint_seconds']} s to mint {args.sockets:,} "
        f"session cookies)")
    extra = ("--worker-connections", str(connections), "--keep-alive", "2")
    server = Server(meta, workers=args.workers, threads=threads, job_workers=args.job_workers,
                    worker_class=args.worker_class, gunicorn_args=extra, log_name="gunicorn-ws.log",
                    redis_url=REDIS_URL, extra_env={"REALTIME_PREFIX": REALTIME_PREFIX, "RQ_QUEUE": RQ_QUEUE,
                                                    "LOG_LEVEL": "WARNING"})
    redis = Redis.from_url(REDIS_URL)
    procs, pipes = [], []
    result: dict = {}
    # --http-workers: pages and POSTs on their own gunicorn, sockets on the first one (a load
    # balancer would route /ws there), so requests do not share a GIL with hundreds of socket threads.
    http_server = Server(meta, workers=args.http_workers, threads=args.http_threads, job_workers=0,
                         log_name="gunicorn-ws-http.log", extra_env=server.extra_env, flush_redis=False,
                         redis_url=REDIS_URL) if args.http_workers else None
    with contextlib.ExitStack() as stack:
        stack.enter_context(server)
        port = server.port
        http_port = stack.enter_context(http_server).port if http_server else port
        check_minted(port, meta["users"][-1], meta["lobby_channel_id"])
        sessions, login_s = sign_in_posters(http_port, [u for u in meta["users"] if u["member"]][:posters],
                                            f"/discuss/c/{meta['load_channel_id']}")
        say(f"  server up on :{port}" + (f", requests on :{http_port}" if http_server else "")
            + f"; one real sign-in takes {login_s * 1000:.0f} ms")

        extra_topic = ",presence" if args.presence else ""
        specs = [{"user_id": u["id"], "member": u["member"], "cookie": u["cookie"], "csrf": u["csrf"],
                  "topics": f"thread:{meta['load_thread_id' if u['member'] else 'lobby_thread_id']}{extra_topic}"}
                 for u in meta["users"]]
        config = {"port": port, "http_port": http_port, "run_id": run_id, "load_channel_id": meta["load_channel_id"],
                  "load_thread_id": meta["load_thread_id"], "direct": args.direct,
                  "compression": args.compression, "seen": args.seen, "rate": args.rate, "client": args.client,
                  "connect_concurrency": args.connect_concurrency, "max_in_flight": 64}
        context = multiprocessing.get_context("spawn")
        for index in range(args.client_procs):
            mine, theirs = context.Pipe()
            # Members are spread over the receivers so that none holds all the busy sockets.
            proc = context.Process(target=receiver_main, args=(theirs, config, specs[index::args.client_procs]),
                                   daemon=True)
            proc.start()
            procs.append(proc)
            pipes.append(mine)
        try:
            opened = ask(pipes, "connect")
            failed = sum(o["failed"] for o in opened)
            say(f"  {sum(o['open'] for o in opened):,} sockets open in {max(o['seconds'] for o in opened)} s"
                + (f"; {failed} failed: {next(o['first_error'] for o in opened if o['failed'])}" if failed else ""))
            if failed:
                raise SystemExit("not every socket opened; see the error above and bench/out/gunicorn-ws.log")
            probe_s = wait_subscribed(pipes, redis, meta, args.sockets)
            workers = children(server.proc.pid)
            spread = sockets_per_worker(port, workers)
            say(f"  every socket subscribed ({probe_s} s of probes); sockets per worker "
                f"{sorted(spread.values(), reverse=True)}, threads per worker "
                f"{[threads_of(p) for p in workers]}")

            watch = CpuWatch({
                "gunicorn": lambda: [server.proc.pid, *children(server.proc.pid)],
                "gunicorn_http": lambda: ([http_server.proc.pid, *children(http_server.proc.pid)]
                                          if http_server else []),
                "job_workers": lambda: [p.pid for p in server.job_procs],
                "postgres": lambda: pids_named("postgres"),
                "redis": lambda: pids_named("redis-server"),
                "client_receivers": lambda: [p.pid for p in procs],
                "client_posters": lambda: [os.getpid()],
            })
            load_before = os.getloadavg()
            ask(pipes, "go")
            watch.start()
            queue_key = f"rq:queue:{RQ_QUEUE}"
            queue_max = [0]
            sampling = [True]

            async def sample_queue():
                while sampling[0]:
                    queue_max[0] = max(queue_max[0], redis.llen(queue_key))
                    await asyncio.sleep(0.5)

            async def posting():
                sampler = asyncio.create_task(sample_queue())
                records = await post_messages(config, sessions, warmup + measured)
                sampling[0] = False
                await sampler
                return records

            records = asyncio.run(posting())
            posted_until = max(r["start"] for r in records)  # the last POST's start
            ok = [r for r in records if r.get("ok")]
            expected = len(ok) * members
            drain_started = time.monotonic()
            counts = ask(pipes, "counts")
            while (sum(c["messages"] for c in counts) < expected
                   and time.monotonic() - drain_started < args.drain_timeout):
                time.sleep(0.2)
                counts = ask(pipes, "counts")
            badges_expected = 0 if args.direct else sum(members - 1 for r in ok)
            while (sum(c["badges"] for c in counts) < badges_expected or redis.llen(queue_key))\
                    and time.monotonic() - drain_started < args.drain_timeout:
                time.sleep(0.2)
                counts = ask(pipes, "counts")
            if args.seen == "quiet":  # the pages post /seen a second after the last message
                time.sleep(2.0)
            cpu = watch.stop()
            outputs = ask(pipes, "stop")
        finally:
            for proc in procs:
                proc.join(timeout=10)
                if proc.is_alive():
                    proc.kill()
        result = analyse(args, meta, records, outputs, warmup, members, threads, connections, posted_until)
        result.update(cpu=cpu, queue_max=queue_max[0], sockets_per_worker=sorted(spread.values(), reverse=True),
                      sign_in_ms=round(login_s * 1000), probe_seconds=probe_s,
                      connect_seconds=max(o["seconds"] for o in opened),
                      load_average={"before": [round(x, 2) for x in load_before],
                                    "after": [round(x, 2) for x in os.getloadavg()]})
    return result


def analyse(args, meta, records, outputs, warmup, members, threads, connections, posted_until) -> dict:
    """Latency per (message, member socket), losses, duplicates, badges, POST latency."""
    ok = {r["seq"]: r for r in records if r.get("ok")}
    by_user = {r["seq"]: r["user_id"] for r in records}
    sockets = [s for o in outputs for s in o["sockets"]]
    member_sockets = [s for s in sockets if s["member"]]
    latencies, lost, dups, last_arrival = [], 0, 0, 0.0
    spread: dict[int, list[float]] = {}
    for s in member_sockets:
        dups += s["dups"]
        for seq, record in ok.items():
            arrived = s["recv"].get(seq)
            if arrived is None:
                lost += 1
                continue
            last_arrival = max(last_arrival, arrived)
            spread.setdefault(seq, []).append(arrived)
            if seq >= warmup:
                latencies.append(arrived - record["start"])
    measured = [r for r in records if r["seq"] >= warmup]
    errors = [r for r in records if not r.get("ok")]
    fan_spread = [max(v) - min(v) for seq, v in spread.items() if seq >= warmup and len(v) > 1]
    badges = sum(s["badges"] for s in member_sockets)
    badges_expected = 0 if args.direct else sum(1 for s in member_sockets for seq in ok if by_user[seq] != s["user_id"])
    badge_last = max((s["badge_last"] for s in member_sockets if s["badge_last"]), default=None)
    seen_ms = [v for o in outputs for v in o["seen_ms"]]
    post = summary_ms([r["seconds"] for r in measured if r.get("ok")])
    latency = summary_ms(latencies)
    result = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": {"sockets": args.sockets, "members": members, "rate": args.rate, "duration_s": args.duration,
                   "warmup_s": args.warmup, "worker_class": args.worker_class, "workers": args.workers,
                   "threads": threads, "worker_connections": connections, "http_workers": args.http_workers,
                   "http_threads": args.http_threads, "job_workers": args.job_workers,
                   "posters": args.posters, "client_procs": args.client_procs, "seen": args.seen,
                   "compression": args.compression, "presence": args.presence, "direct": args.direct,
                   "client": args.client},
        "posts": len(records), "posts_measured": len(measured), "post_errors": len(errors),
        "post_first_error": errors[0].get("error") if errors else None,
        "post_ms": post, "post_app_ms": summary_ms([r["app_ms"] / 1000 for r in measured if r.get("app_ms")]),
        "post_started_late_ms_p99": round(percentile([r["late"] for r in records], 99) * 1000, 1),
        "latency_ms": latency, "fanout_spread_ms": summary_ms(fan_spread),
        "deliveries_expected": len(ok) * len(member_sockets), "lost": lost, "duplicated": dups,
        "leaked_to_non_members": sum(s["leaks"] for s in sockets),
        "socket_errors": [s["error"] or s["closed"] for s in sockets if s["error"] or s["closed"]][:5],
        "socket_errors_count": sum(1 for s in sockets if s["error"] or s["closed"]),
        "last_delivery_after_last_post_s": round(last_arrival - posted_until, 2) if last_arrival else None,
        "badges": badges, "badges_expected": badges_expected,
        "last_badge_after_last_post_s": round(badge_last - posted_until, 2) if badge_last else None,
        "other_frames": sum(s["other"] for s in sockets),
        "seen_posts": len(seen_ms) + sum(o["seen_errors"] for o in outputs),
        "seen_ms": summary_ms([v / 1000 for v in seen_ms]),
        "seen_errors": sum(o["seen_errors"] for o in outputs),
        "seen_first_error": next((o["seen_first_error"] for o in outputs if o["seen_first_error"]), None),
        "client_receiver_cpu_s": round(sum(o["cpu_seconds"] for o in outputs), 1),
    }
    result["aim_met"] = bool(latency and latency["p99"] < AIM_P99_MS and not lost and not dups
                             and not errors and not result["socket_errors_count"])
    return result


def fmt(value, spec=",.1f") -> str:
    return "-" if value is None else format(value, spec)


def print_result(r: dict) -> None:
    c, lat, post = r["config"], r["latency_ms"] or {}, r["post_ms"] or {}
    say()
    say(f"{c['sockets']:,} sockets, {c['members']} members, {c['rate']:g} msg/s x {c['duration_s']:g} s; "
        f"{c['worker_class']} {c['workers']} x {c['threads']}, {c['job_workers']} job worker(s), seen={c['seen']}")
    say(f"  delivery (POST start -> frame on each member socket), {fmt(lat.get('n'), ',d')} deliveries: "
        f"p50 {fmt(lat.get('p50'))} ms  p95 {fmt(lat.get('p95'))} ms  p99 {fmt(lat.get('p99'))} ms  "
        f"max {fmt(lat.get('max'))} ms")
    say(f"  lost {r['lost']:,} of {r['deliveries_expected']:,}, duplicated {r['duplicated']}, "
        f"leaked to non-members {r['leaked_to_non_members']}, socket errors {r['socket_errors_count']}"
        + (f" ({r['socket_errors'][0]})" if r["socket_errors"] else ""))
    say(f"  POST: {r['posts_measured']:,} measured, errors {r['post_errors']}"
        + (f" ({r['post_first_error']})" if r["post_first_error"] else "")
        + f"; p50 {fmt(post.get('p50'))} ms  p95 {fmt(post.get('p95'))} ms  p99 {fmt(post.get('p99'))} ms"
        f" (in the app: p50 {fmt((r['post_app_ms'] or {}).get('p50'))} ms); started late p99"
        f" {r['post_started_late_ms_p99']} ms")
    spread = r["fanout_spread_ms"] or {}
    say(f"  fan-out spread (first -> last socket of one message): p50 {fmt(spread.get('p50'))} ms, "
        f"p99 {fmt(spread.get('p99'))} ms; last delivery {fmt(r['last_delivery_after_last_post_s'], '.2f')} s "
        f"after the last post")
    say(f"  unread badges {r['badges']:,} of {r['badges_expected']:,} expected, the last "
        f"{fmt(r['last_badge_after_last_post_s'], '.2f')} s after the last post; job queue max {r['queue_max']}")
    if c["seen"] != "off":
        seen = r["seen_ms"] or {}
        say(f"  /seen: {r['seen_posts']:,} posts, p50 {fmt(seen.get('p50'))} ms p95 {fmt(seen.get('p95'))} ms, "
            f"errors {r['seen_errors']}" + (f" ({r['seen_first_error']})" if r["seen_first_error"] else ""))
    cpu = r["cpu"]
    say(f"  CPU % of one core over {cpu['wall_seconds']} s: gunicorn {cpu['gunicorn']}"
        + (f" + {cpu['gunicorn_http']} (requests)" if c.get("http_workers") else "") + ", job workers "
        f"{cpu['job_workers']}, postgres {cpu['postgres']}, redis {cpu['redis']}, client receivers "
        f"{cpu['client_receivers']}, client posters {cpu['client_posters']}; machine busy "
        f"{cpu['machine_busy_pct']} % of 2 cores; load average {r['load_average']['before'][0]} before, "
        f"{r['load_average']['after'][0]} after")
    say(f"  sockets per worker {r['sockets_per_worker']}; other frames {r['other_frames']:,}; "
        f"aim (p99 < {AIM_P99_MS:.0f} ms, nothing lost or doubled): {'MET' if r['aim_met'] else 'not met'}")


def save(result: dict) -> Path:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    runs = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    runs.append(result)
    RESULTS.write_text(json.dumps(runs, indent=1))
    return RESULTS


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--sockets", type=int, default=1000, help="open staff WebSockets (one user each)")
    parser.add_argument("--members", type=int, default=200, help="members of the busy channel (the first users)")
    parser.add_argument("--rate", type=float, default=20, help="posts per second in the busy channel")
    parser.add_argument("--duration", type=float, default=60, help="seconds of measured posting")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of posting before the measured part")
    parser.add_argument("--posters", type=int, default=4, help="members who post (round robin)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=0,
                        help="threads per worker (default: 1.3 x sockets per worker + 32; each socket holds one)")
    parser.add_argument("--http-workers", type=int, default=0,
                        help="serve pages and POSTs from a second gunicorn with this many workers (0: one server)")
    parser.add_argument("--http-threads", type=int, default=8, help="threads per worker of that second gunicorn")
    parser.add_argument("--worker-class", default="gthread", help="gunicorn worker class (the app needs gthread)")
    parser.add_argument("--job-workers", type=int, default=1, help="`flask worker` processes")
    parser.add_argument("--client-procs", type=int, default=2, help="receiver processes holding the sockets")
    parser.add_argument("--connect-concurrency", type=int, default=32, help="handshakes in flight per receiver")
    parser.add_argument("--seen", choices=("off", "throttle", "quiet"), default="off",
                        help="members POST /seen: at most once a second (throttle) or 1 s after the last message")
    parser.add_argument("--client", choices=("websockets", "light"), default="websockets",
                        help="receivers: the `websockets` library (permessage-deflate like browsers) or a raw "
                             "byte-stream reader that costs a tenth of the CPU (no compression)")
    parser.add_argument("--no-compression", dest="compression", action="store_false",
                        help="do not offer permessage-deflate (browsers do)")
    parser.add_argument("--no-presence", dest="presence", action="store_false",
                        help="do not subscribe the sockets to the `presence` topic (Discuss pages do)")
    parser.add_argument("--direct", action="store_true",
                        help="publish message fragments straight to Redis instead of POSTing (the socket fan-out "
                             "alone: no request, database or job)")
    parser.add_argument("--drain-timeout", type=float, default=30, help="seconds to wait for late deliveries")
    args = parser.parse_args(argv)
    if args.client == "light":
        args.compression = False
    result = run(args)
    print_result(result)
    say(f"\nappended to {save(result)}")
    return 0 if result["aim_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
