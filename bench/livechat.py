"""Live chat: visitor -> operator delivery over WebSockets, many visitors, under gunicorn + Redis.

    python -m bench.livechat --sockets 1000 --operators 100 --every 10 --duration 60
    python -m bench.livechat --sockets 20 --operators 2 --duration 10        # a smoke run
    python -m bench.livechat --every 40 20 13.3 10 --duration 30             # 25, 50, 75, 100 msg/s: the ceiling
    python -m bench.livechat --reply-every 10                                # operators answer too

What one run does (see docs/benchmarks.md, "Live chat: visitor → operator delivery"):

1. A fresh PostgreSQL database (`hilo_bench_livechat`, schema from the real migrations) with
   OPERATORS staff users, one website channel whose operators they all are (available,
   max_sessions raised to hold their share), SOCKETS visitors and one open chat
   (`LivechatSession`, state "open", already given to an operator, round robin) per visitor,
   each with its thread. Visitor tokens come from `livechat.visitor_token`; the operators'
   session cookies and CSRF tokens are minted by the app's own code as bench/ws.py does.
2. gunicorn (gthread, WORKERS x THREADS) and `flask worker` with Redis, as in production, with
   LIVECHAT_MESSAGE_LIMIT / LIVECHAT_SESSION_LIMIT lifted (every visitor comes from 127.0.0.1,
   so the per-address limit would refuse them all after 30 messages a minute).
3. CLIENT_PROCS receiver processes (asyncio + `websockets`) open one visitor socket per chat
   (`/livechat/<key>/ws?v=<token>`, what widget.js opens) and one staff socket per operator
   subscribed to all that operator's chats (`/ws?topics=thread:<a>,thread:<b>,...,presence`;
   more than 49 chats make several sockets). A real operator page subscribes to the open chat's
   thread only; one socket for all of them is the same frames on fewer sockets. Probes published
   to Redis tell when every socket is subscribed.
4. Every visitor POSTs /livechat/<key>/messages (body + a unique key, `X-Visitor-Token`) every
   EVERY seconds, the visitors' phases spread evenly (open loop: a slow answer does not delay
   the next message); each body carries a unique token. Latency = the frame's arrival on the
   operator's socket - the POST's start (one monotonic clock; all processes are on this
   machine). Also measured: the visitor's own socket getting its message back (the widget's
   echo), and with --reply-every the operators' answers (POST /discuss/livechat/<id>/messages,
   as the operator's composer sends it) arriving on the visitor's socket. Lost = a socket never
   got a message whose POST succeeded; duplicated = got it twice; misdelivered = a socket got
   another chat's message (must be 0).
5. Each visitor message also pushes a "reload your sidebar" placeholder to its operator's
   `user:` topic; the operator's page then GETs /discuss/sidebar (htmx, once per placeholder).
   The receivers do that too unless --no-sidebar.

Several values of --every make several phases on the same sockets, one after the other (give
them slowest first): the highest rate within the aim is the ceiling, and each phase's CPU per
process group says what limits it. Results are printed and appended to
bench/out/livechat-results.json; the server's log is bench/out/gunicorn-livechat.log.
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
import secrets
import sys
import time
from pathlib import Path
from urllib.parse import quote

from bench import OUT
from bench.ws import (USER_AGENT, AsyncHTTP, CpuWatch, ask, children, mint_session, percentile, pids_named,
                      sockets_per_worker, summary_ms, threads_of)

DB_NAME = "hilo_bench_livechat"
SECRET_KEY = "bench-secret"  # bench.measure.Server gives the server this key
PASSWORD = "bench-password"
REALTIME_PREFIX = "hilo-bench-livechat"  # pub/sub ignores Redis db numbers: stay apart from other installs
# Not the db of bench.measure (12), bench.ws (13), bench.mailout (14), bench.mailin (15) or the
# tests (9): starting a server flushes its db.
REDIS_URL = os.environ.get("HILO_BENCH_LIVECHAT_REDIS_URL", "redis://127.0.0.1:6379/11")
RQ_QUEUE = "hilo-bench-livechat"
RESULTS = OUT / "livechat-results.json"
AIM_P99_MS = 150.0
CHANNEL_KEY = "benchlivechat"
THREADS_PER_SOCKET = 49  # the staff socket takes MAX_TOPICS = 50 topics; one is `presence`
LIFTED = {"LIVECHAT_MESSAGE_LIMIT": "10000000 per minute", "LIVECHAT_SESSION_LIMIT": "10000000 per minute"}

TOKEN = re.compile(rb"lc([vo])(\d+)x(\d+)z")  # v: a visitor's message, o: an operator's answer
PROBE_ID = "bench-probe"
PROBE = re.compile(PROBE_ID.encode())
SIDEBAR = re.compile(rb'id="discuss-conversations"')


def say(line: str = "") -> None:
    print(line, flush=True)


# ---- the data -----------------------------------------------------------------------------------

def prepare(visitors: int, operators: int) -> dict:
    """A fresh database with the operators, the channel, the visitors and their open chats."""
    from bench.generate import create_database

    started = time.perf_counter()
    url = create_database("postgresql", DB_NAME)
    os.environ["HILO_INSTANCE_PATH"] = str(OUT / "instance")
    from werkzeug.security import generate_password_hash

    from app import create_app
    from app.extensions import db
    from app.models import ChannelOperator, LivechatChannel, LivechatSession, OperatorSettings, User, Visitor
    from app.services import livechat

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None, "RATELIMIT_STORAGE_URI": "memory://",
                      "SECRET_KEY": SECRET_KEY})
    per_operator = math.ceil(visitors / operators)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        password_hash = generate_password_hash(PASSWORD)
        users = [User(email=f"operator{i:04d}@bench.test", name=f"Operator {i:04d}", role="agent",
                      password_hash=password_hash) for i in range(1, operators + 1)]
        db.session.add_all(users)
        channel = LivechatChannel(name="Website", key=CHANNEL_KEY, identity_secret=secrets.token_hex(32))
        db.session.add(channel)
        db.session.flush()
        db.session.add_all([ChannelOperator(channel_id=channel.id, user_id=u.id) for u in users])
        db.session.add_all([OperatorSettings(user_id=u.id, available=True, max_sessions=max(10, per_operator),
                                             languages="") for u in users])
        people = [Visitor(channel_id=channel.id, nonce=secrets.token_hex(8), name=f"Visitor {i:05d}",
                          country="FR", language="en", pages=[]) for i in range(1, visitors + 1)]
        db.session.add_all(people)
        db.session.flush()
        chats = [LivechatSession(channel_id=channel.id, visitor_id=v.id, operator_id=users[i % operators].id,
                                 state="open", bot_answers={}, page_url="https://shop.example.com/orders")
                 for i, v in enumerate(people)]
        db.session.add_all(chats)
        db.session.flush()
        threads = [chat.ensure_thread() for chat in chats]
        db.session.commit()
        meta = {"database_url": url, "db": "postgresql", "channel_key": channel.key,
                "operators": [{"id": u.id, "email": u.email} for u in users],
                "sessions": [{"id": c.id, "thread_id": t.id, "visitor_id": c.visitor_id, "operator": i % operators,
                              "token": livechat.visitor_token(v)}
                             for i, (c, t, v) in enumerate(zip(chats, threads, people))],
                "max_sessions": max(10, per_operator)}
        minted = time.perf_counter()
        for entry, user in zip(meta["operators"], users):
            entry["cookie"], entry["csrf"] = mint_session(app, user)
        meta["mint_seconds"] = round(time.perf_counter() - minted, 2)
        db.session.remove()
        db.engine.dispose()
    meta["prepare_seconds"] = round(time.perf_counter() - started, 1)
    return meta


# ---- HTTP (GET and POST on keep-alive connections, as bench/ws.py's client) ----------------------

class HTTP(AsyncHTTP):
    async def request(self, method: str, path: str, form: dict | None, headers: dict):
        """(status, body, the app's own time in ms from `Server-Timing: app;dur=`)."""
        if method == "POST":
            return await self.post(path, form or {}, headers)
        conn = None
        while self.idle and conn is None:
            since, reader, writer = self.idle.pop()
            if time.monotonic() - since < 1.0 and not reader.at_eof():
                conn = reader, writer
            else:
                writer.close()
        reader, writer = conn or await asyncio.open_connection(self.host, self.port)
        head = (f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUser-Agent: {USER_AGENT}\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n")
        try:
            writer.write(head.encode())
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
    __slots__ = ("spec", "recv", "dups", "probed", "opened", "error", "closed", "sidebars", "other")

    def __init__(self, spec: dict):
        self.spec = spec
        self.recv: dict[str, float] = {}  # "v12" / "o3" -> arrival
        self.dups = self.sidebars = self.other = 0
        self.probed = self.opened = False
        self.error = self.closed = None


class Receiver:
    """Holds a share of the visitor and operator sockets in one asyncio loop."""

    def __init__(self, config: dict, specs: list[dict]):
        self.config = config
        self.sockets = [SocketState(s) for s in specs]
        self.run_id = str(config["run_id"]).encode()
        self.http = HTTP("127.0.0.1", config["http_port"])
        self.sidebar_ms: list[float] = []
        self.sidebar_errors = 0
        self.sidebar_first_error = None
        self.sidebar_in_flight = 0
        self.sidebar_gate = asyncio.Semaphore(config["max_in_flight"])
        self.sidebar_tasks: set[asyncio.Task] = set()
        self.tasks: list[asyncio.Task] = []

    @property
    def settled(self) -> bool:
        return all(s.opened or s.error or s.closed for s in self.sockets)

    async def hold(self, state: SocketState, handshakes: asyncio.Semaphore) -> None:
        import websockets

        spec = state.spec
        headers = {"Cookie": f"session={spec['cookie']}"} if spec.get("cookie") else {}
        ws = None
        try:
            async with handshakes:
                ws = await websockets.connect(
                    f"ws://127.0.0.1:{self.config['port']}{spec['path']}", additional_headers=headers,
                    user_agent_header=USER_AGENT, compression="deflate" if self.config["compression"] else None,
                    max_size=None, ping_interval=None, open_timeout=120, close_timeout=2)
            state.opened = True
            async for frame in ws:
                self.on_frame(state, frame.encode() if isinstance(frame, str) else frame, time.monotonic())
            state.closed = f"closed by the server: {ws.close_code} {ws.close_reason}"
        except asyncio.CancelledError:
            if ws is not None:
                await ws.close()
            raise
        except Exception as err:  # recorded and reported, the other sockets go on
            state.error = f"{type(err).__name__}: {err}"[:300]

    def on_frame(self, state: SocketState, data: bytes, now: float) -> None:
        known = False
        for match in TOKEN.finditer(data):
            if match.group(2) != self.run_id:
                continue
            known = True
            key = match.group(1).decode() + match.group(3).decode()
            if key in state.recv:
                state.dups += 1
            else:
                state.recv[key] = now
        if state.spec["kind"] == "operator":
            placeholders = len(SIDEBAR.findall(data))
            if placeholders:
                known = True
                state.sidebars += placeholders
                if self.config["sidebar"] and state.spec["page"]:
                    for _ in range(placeholders):  # htmx loads each placeholder it swaps in
                        task = asyncio.get_running_loop().create_task(self.fetch_sidebar(state))
                        self.sidebar_tasks.add(task)  # the loop keeps only a weak reference
                        task.add_done_callback(self.sidebar_tasks.discard)
        if PROBE.search(data):
            known = state.probed = True
        if not known:
            state.other += 1

    async def fetch_sidebar(self, state: SocketState) -> None:
        """What the operator's page does with the placeholder: GET the conversation lists."""
        self.sidebar_in_flight += 1
        try:
            async with self.sidebar_gate:
                started = time.monotonic()
                status, body, _ = await self.http.request("GET", "/discuss/sidebar", None, {
                    "Cookie": f"session={state.spec['cookie']}", "HX-Request": "true",
                    "HX-Current-URL": f"http://127.0.0.1:{self.config['http_port']}{state.spec['page']}"})
                if status != 200:
                    raise ConnectionError(f"status {status}: {body[:120]!r}")
                self.sidebar_ms.append((time.monotonic() - started) * 1000)
        except Exception as err:
            self.sidebar_errors += 1
            self.sidebar_first_error = self.sidebar_first_error or f"{type(err).__name__}: {err}"[:300]
        finally:
            self.sidebar_in_flight -= 1

    def take_phase(self) -> dict:
        taken = {"sidebar_ms": self.sidebar_ms, "sidebar_errors": self.sidebar_errors,
                 "sidebar_first_error": self.sidebar_first_error,
                 "sidebars": sum(s.sidebars for s in self.sockets), "dups": sum(s.dups for s in self.sockets),
                 "other": sum(s.other for s in self.sockets)}
        self.sidebar_ms, self.sidebar_errors, self.sidebar_first_error = [], 0, None
        for state in self.sockets:
            state.sidebars = state.dups = state.other = 0
        return taken

    def result(self, cpu_before: float) -> dict:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "cpu_seconds": usage.ru_utime + usage.ru_stime - cpu_before,
            "sidebar_ms": self.sidebar_ms, "sidebar_errors": self.sidebar_errors,
            "sidebar_first_error": self.sidebar_first_error,
            "sockets": [{"sid": s.spec["sid"], "kind": s.spec["kind"], "recv": s.recv, "dups": s.dups,
                         "sidebars": s.sidebars, "other": s.other, "error": s.error, "closed": s.closed}
                        for s in self.sockets],
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
            receiver.tasks = [asyncio.create_task(receiver.hold(s, handshakes)) for s in receiver.sockets]
            while not receiver.settled:
                await asyncio.sleep(0.05)
            failed = [s for s in receiver.sockets if s.error or s.closed]
            pipe.send({"open": len(receiver.sockets) - len(failed), "failed": len(failed),
                       "first_error": (failed[0].error or failed[0].closed) if failed else None,
                       "seconds": round(time.monotonic() - started, 2)})
        elif command == "probed":
            pipe.send(sum(1 for s in receiver.sockets if s.probed or s.error or s.closed))
        elif command == "go":
            for state in receiver.sockets:
                state.other = 0
            usage = resource.getrusage(resource.RUSAGE_SELF)
            cpu_before = usage.ru_utime + usage.ru_stime
            pipe.send("ok")
        elif command == "counts":
            pipe.send({"received": sum(len(s.recv) for s in receiver.sockets),
                       "sidebar_busy": receiver.sidebar_in_flight})
        elif command == "phase":  # what came in since the last phase, then counted afresh
            pipe.send(receiver.take_phase())
        elif command == "stop":
            result = receiver.result(cpu_before)
            for task in receiver.tasks:
                task.cancel()
            await asyncio.gather(*receiver.tasks, return_exceptions=True)
            pipe.send(result)
            return


def receiver_main(pipe, config: dict, specs: list[dict]) -> None:
    asyncio.run(receiver_loop(pipe, config, specs))


# ---- the load -------------------------------------------------------------------------------------

def plan(every: float, reply_every: float, seconds: float, warmup: float, operator_chats: list[list[int]],
         sessions: int, first_seq: int) -> list[dict]:
    """Who writes when: each visitor every `every` s, each operator every `reply_every` s (0: never)
    to its chats in turn; phases spread evenly so that the rate is steady."""
    items = []
    for s in range(sessions):
        at = every * s / sessions
        while at < seconds:
            items.append((at, "v", s))
            at += every
    if reply_every:
        for j, chats in enumerate(operator_chats):
            at, turn = reply_every * j / len(operator_chats), 0
            while at < seconds and chats:
                items.append((at, "o", chats[turn % len(chats)]))
                at, turn = at + reply_every, turn + 1
    items.sort()
    return [{"seq": first_seq + n, "kind": kind, "session": s, "at": at, "measured": at >= warmup}
            for n, (at, kind, s) in enumerate(items)]


async def post_all(config: dict, meta: dict, items: list[dict]) -> list[dict]:
    """POST every planned message on schedule (open loop)."""
    http = HTTP("127.0.0.1", config["http_port"])
    in_flight = asyncio.Semaphore(config["max_in_flight"])
    key, run_id = meta["channel_key"], config["run_id"]

    async def post(item: dict, scheduled: float) -> None:
        session = meta["sessions"][item["session"]]
        seq = item["seq"]
        async with in_flight:
            item["late"] = time.monotonic() - scheduled
            if item["kind"] == "v":
                path = f"/livechat/{key}/messages"
                form = {"body": f"Hello, lcv{run_id}x{seq}z here: where is my order 1042?",
                        "key": f"bench-{run_id}-{seq}", "url": "https://shop.example.com/orders"}
                headers = {"X-Visitor-Token": session["token"]}
            else:
                operator = meta["operators"][session["operator"]]
                path = f"/discuss/livechat/{session['id']}/messages"
                form = {"body": f"Let me check that for you (lco{run_id}x{seq}z)."}
                headers = {"Cookie": f"session={operator['cookie']}", "X-CSRFToken": operator["csrf"],
                           "HX-Request": "true"}
            item["start"] = started = time.monotonic()
            try:
                status, data, item["app_ms"] = await http.request("POST", path, form, headers)
                item["ok"] = status == 200
                if status != 200:
                    item["error"] = f"status {status}: {data[:160]!r}"
            except Exception as err:
                item["ok"], item["error"] = False, f"{type(err).__name__}: {err}"[:300]
            item["seconds"] = time.monotonic() - started

    first = time.monotonic() + 0.1
    tasks = []
    for item in items:
        scheduled = first + item["at"]
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post(item, scheduled)))
    await asyncio.gather(*tasks)
    return items


def wait_subscribed(pipes, redis, meta: dict, total: int, timeout: float = 120.0) -> float:
    """Publish probes on every chat's thread and visitor topics until every socket got one."""
    started = time.monotonic()
    probe = f'<div id="{PROBE_ID}" hidden></div>'
    while time.monotonic() - started < timeout:
        pipe = redis.pipeline(transaction=False)
        for s in meta["sessions"]:
            pipe.publish(f"{REALTIME_PREFIX}:thread:{s['thread_id']}", probe)
            pipe.publish(f"{REALTIME_PREFIX}:visitor:{s['visitor_id']}", probe)
        pipe.execute()
        time.sleep(0.25)
        if sum(ask(pipes, "probed")) >= total:
            return round(time.monotonic() - started, 2)
    raise SystemExit(f"sockets still not subscribed after {timeout:.0f} s")


def socket_specs(meta: dict, per_socket: int, presence: bool) -> tuple[list[dict], dict[int, int], list[list[int]]]:
    """Visitor sockets (one per chat) and operator sockets (per_socket chats each); returns the
    specs, chat -> its operator's socket id, and each operator's chats."""
    specs = []
    for i, s in enumerate(meta["sessions"]):
        specs.append({"sid": len(specs), "kind": "visitor", "sessions": [i],
                      "path": f"/livechat/{meta['channel_key']}/ws?v={quote(s['token'], safe='')}"})
    operator_chats: list[list[int]] = [[] for _ in meta["operators"]]
    for i, s in enumerate(meta["sessions"]):
        operator_chats[s["operator"]].append(i)
    socket_of: dict[int, int] = {}
    for j, operator in enumerate(meta["operators"]):
        chats = operator_chats[j]
        for start in range(0, len(chats), per_socket):
            part = chats[start:start + per_socket]
            topics = ",".join([f"thread:{meta['sessions'][i]['thread_id']}" for i in part]
                              + (["presence"] if presence else []))
            sid = len(specs)
            # Every socket of the operator gets the `user:` placeholder; one page fetches the sidebar.
            specs.append({"sid": sid, "kind": "operator", "sessions": part, "operator": j,
                          "cookie": operator["cookie"], "path": f"/ws?topics={quote(topics, safe=':,')}",
                          "page": f"/discuss/livechat/{meta['sessions'][part[0]]['id']}" if start == 0 else None})
            for i in part:
                socket_of[i] = sid
    return specs, socket_of, operator_chats


def check_operator(port: int, meta: dict) -> None:
    """A minted cookie must open the operator's chat page (not redirect to /login, not 404)."""
    from bench.measure import Client

    session = meta["sessions"][0]
    operator = meta["operators"][session["operator"]]
    client = Client("127.0.0.1", port, {"session": operator["cookie"]})
    page = client.request("GET", f"/discuss/livechat/{session['id']}", headers={"User-Agent": USER_AGENT})
    client.close()
    if page.status != 200:
        raise SystemExit(f"a minted operator cookie was refused (GET /discuss/livechat/{session['id']}: "
                         f"{page.status}, {page.headers.get('Location')}); update bench.ws.mint_session()")


def drain(pipes, expected: int, timeout: float) -> None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        counts = ask(pipes, "counts")
        if sum(c["received"] for c in counts) >= expected and not sum(c["sidebar_busy"] for c in counts):
            return
        time.sleep(0.2)


def run(args) -> list[dict]:
    from redis import Redis

    from bench.measure import Server

    visitors = args.sockets
    operators = max(1, min(args.operators, visitors))
    per_socket = THREADS_PER_SOCKET if args.presence else THREADS_PER_SOCKET + 1
    operator_sockets = sum(math.ceil(len(range(j, visitors, operators)) / per_socket) for j in range(operators))
    total_sockets = visitors + operator_sockets
    threads = args.threads or int(math.ceil(total_sockets / args.workers * 1.3)) + 32
    connections = max(1000, threads + 64)
    run_id = int(time.time()) % 1_000_000
    say(f"== livechat bench: {visitors:,} visitor sockets, {operators} operators ({operator_sockets} staff "
        f"sockets), a message per visitor every {' / '.join(f'{e:g}' for e in args.every)} s x {args.duration:g} s "
        f"(+{args.warmup:g} s warm-up), operators answer "
        f"{f'every {args.reply_every:g} s' if args.reply_every else 'never'}, sidebar "
        f"{'reloads' if args.sidebar else 'off'}; gunicorn gthread {args.workers} x {threads} threads")

    meta = prepare(visitors, operators)
    say(f"  database ready in {meta['prepare_seconds']} s ({meta['mint_seconds']} s to mint {operators} operator "
        f"cookies; max_sessions {meta['max_sessions']})")
    env = {"REALTIME_PREFIX": REALTIME_PREFIX, "RQ_QUEUE": RQ_QUEUE, "LOG_LEVEL": "WARNING", **LIFTED}
    server = Server(meta, workers=args.workers, threads=threads, job_workers=args.job_workers,
                    gunicorn_args=("--worker-connections", str(connections), "--keep-alive", "2"),
                    log_name="gunicorn-livechat.log", redis_url=REDIS_URL, extra_env=env)
    http_server = Server(meta, workers=args.http_workers, threads=args.http_threads, job_workers=0,
                         log_name="gunicorn-livechat-http.log", extra_env=env, flush_redis=False,
                         redis_url=REDIS_URL) if args.http_workers else None
    redis = Redis.from_url(REDIS_URL)
    phases: list[dict] = []
    procs, pipes = [], []
    with contextlib.ExitStack() as stack:
        stack.enter_context(server)
        port = server.port
        http_port = stack.enter_context(http_server).port if http_server else port
        check_operator(http_port, meta)
        say(f"  server up on :{port}" + (f", requests on :{http_port}" if http_server else ""))
        specs, socket_of, operator_chats = socket_specs(meta, per_socket, args.presence)
        config = {"port": port, "http_port": http_port, "run_id": run_id, "sidebar": args.sidebar,
                  "compression": args.compression, "connect_concurrency": args.connect_concurrency,
                  "max_in_flight": args.max_in_flight}
        context = multiprocessing.get_context("spawn")
        for index in range(args.client_procs):
            mine, theirs = context.Pipe()
            proc = context.Process(target=receiver_main, args=(theirs, config, specs[index::args.client_procs]),
                                   daemon=True)
            proc.start()
            procs.append(proc)
            pipes.append(mine)
        try:
            opened = ask(pipes, "connect")
            failed = sum(o["failed"] for o in opened)
            connect_s = max(o["seconds"] for o in opened)
            say(f"  {sum(o['open'] for o in opened):,} sockets open in {connect_s} s"
                + (f"; {failed} failed: {next(o['first_error'] for o in opened if o['failed'])}" if failed else ""))
            if failed:
                raise SystemExit("not every socket opened; see the error above and bench/out/gunicorn-livechat.log")
            probe_s = wait_subscribed(pipes, redis, meta, len(specs))
            workers = children(server.proc.pid)
            spread = sockets_per_worker(port, workers)
            say(f"  every socket subscribed ({probe_s} s of probes); sockets per worker "
                f"{sorted(spread.values(), reverse=True)}, threads per worker {[threads_of(p) for p in workers]}")
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
            ask(pipes, "go")
            seq, expected = 0, 0
            for every in args.every:
                items = plan(every, args.reply_every, args.warmup + args.duration, args.warmup, operator_chats,
                             visitors, seq)
                seq += len(items)
                say(f"  phase: every {every:g} s = {visitors / every:,.1f} visitor msg/s"
                    + (f" + {operators / args.reply_every:,.1f} answers/s" if args.reply_every else "")
                    + f", {len(items):,} messages ...")
                load_before = os.getloadavg()
                watch.start()
                items = asyncio.run(post_all(config, meta, items))
                posted_until = max(i["start"] for i in items)
                expected += 2 * sum(1 for i in items if i.get("ok"))  # each: the other side + the echo
                drain(pipes, expected, args.drain_timeout)
                cpu = watch.stop()
                counted = ask(pipes, "phase")
                phases.append({"every": every, "items": items, "posted_until": posted_until, "cpu": cpu,
                               "counted": counted,
                               "load_average": {"before": [round(x, 2) for x in load_before],
                                                "after": [round(x, 2) for x in os.getloadavg()]}})
                time.sleep(1.0)
            outputs = ask(pipes, "stop")
        finally:
            for proc in procs:
                proc.join(timeout=10)
                if proc.is_alive():
                    proc.kill()
    shared = {"connect_seconds": connect_s, "probe_seconds": probe_s,
              "sockets_per_worker": sorted(spread.values(), reverse=True), "threads": threads,
              "connections": connections, "operator_sockets": operator_sockets, "operators": operators}
    return [analyse(args, meta, phase, outputs, specs, socket_of, shared) for phase in phases]


# ---- the figures ----------------------------------------------------------------------------------

def analyse(args, meta, phase, outputs, specs, socket_of, shared) -> dict:
    """Latency per message on the socket of the other side (and the echo on the writer's own),
    losses, duplicates, misdeliveries, POST and sidebar latency, CPU."""
    sockets = {s["sid"]: s for o in outputs for s in o["sockets"]}
    items = phase["items"]
    to_operator, echo_visitor, to_visitor, echo_operator = [], [], [], []
    lost = {"to_operator": 0, "visitor_echo": 0, "to_visitor": 0, "operator_echo": 0}
    last_arrival = 0.0
    for item in items:
        if not item.get("ok"):
            continue
        key = f"{item['kind']}{item['seq']}"
        visitor_sock, operator_sock = sockets[item["session"]], sockets[socket_of[item["session"]]]
        other, mine = (operator_sock, visitor_sock) if item["kind"] == "v" else (visitor_sock, operator_sock)
        for sock, values, name in ((other, to_operator if item["kind"] == "v" else to_visitor,
                                    "to_operator" if item["kind"] == "v" else "to_visitor"),
                                   (mine, echo_visitor if item["kind"] == "v" else echo_operator,
                                    "visitor_echo" if item["kind"] == "v" else "operator_echo")):
            arrived = sock["recv"].get(key)
            if arrived is None:
                lost[name] += 1
                continue
            last_arrival = max(last_arrival, arrived)
            if item["measured"]:
                values.append(arrived - item["start"])
    misdelivered = 0
    session_of = {f"{i['kind']}{i['seq']}": i["session"] for i in items}
    for sid, sock in sockets.items():
        allowed = set(specs[sid]["sessions"])
        misdelivered += sum(1 for key in sock["recv"] if key in session_of and session_of[key] not in allowed)
    counted = phase["counted"]  # the receivers' counts of this phase
    dups = sum(c["dups"] for c in counted)
    visitor_posts = [i for i in items if i["kind"] == "v"]
    replies = [i for i in items if i["kind"] == "o"]
    errors = [i for i in items if not i.get("ok")]
    measured_v = [i for i in visitor_posts if i["measured"] and i.get("ok")]
    measured_o = [i for i in replies if i["measured"] and i.get("ok")]
    sidebar_ms = [v for c in counted for v in c["sidebar_ms"]]
    socket_errors = [s["error"] or s["closed"] for s in sockets.values() if s["error"] or s["closed"]]
    latency = summary_ms(to_operator)
    result = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": {"visitor_sockets": args.sockets, "operators": shared["operators"],
                   "operator_sockets": shared["operator_sockets"], "every_s": phase["every"],
                   "visitor_msg_per_s": round(args.sockets / phase["every"], 1), "reply_every_s": args.reply_every,
                   "duration_s": args.duration, "warmup_s": args.warmup, "workers": args.workers,
                   "threads": shared["threads"], "worker_connections": shared["connections"],
                   "http_workers": args.http_workers, "http_threads": args.http_threads,
                   "job_workers": args.job_workers, "client_procs": args.client_procs, "sidebar": args.sidebar,
                   "presence": args.presence, "compression": args.compression, "phases": list(args.every)},
        "visitor_posts": len(visitor_posts), "replies": len(replies), "post_errors": len(errors),
        "post_first_error": errors[0].get("error") if errors else None,
        "visitor_post_ms": summary_ms([i["seconds"] for i in measured_v]),
        "visitor_post_app_ms": summary_ms([i["app_ms"] / 1000 for i in measured_v if i.get("app_ms")]),
        "reply_post_ms": summary_ms([i["seconds"] for i in measured_o]),
        "post_started_late_ms_p99": round(percentile([i["late"] for i in items], 99) * 1000, 1),
        "latency_ms": latency, "visitor_echo_ms": summary_ms(echo_visitor),
        "reply_latency_ms": summary_ms(to_visitor), "operator_echo_ms": summary_ms(echo_operator),
        "lost": lost, "duplicated": dups, "misdelivered": misdelivered,
        "last_delivery_after_last_post_s": round(last_arrival - phase["posted_until"], 2) if last_arrival else None,
        "sidebar_placeholders": sum(c["sidebars"] for c in counted),
        "sidebar_gets": len(sidebar_ms) + sum(c["sidebar_errors"] for c in counted),
        "sidebar_ms": summary_ms([v / 1000 for v in sidebar_ms]),
        "sidebar_errors": sum(c["sidebar_errors"] for c in counted),
        "sidebar_first_error": next((c["sidebar_first_error"] for c in counted if c["sidebar_first_error"]), None),
        "other_frames": sum(c["other"] for c in counted),
        "socket_errors": socket_errors[:5], "socket_errors_count": len(socket_errors),
        "cpu": phase["cpu"], "load_average": phase["load_average"],
        "connect_seconds": shared["connect_seconds"], "probe_seconds": shared["probe_seconds"],
        "sockets_per_worker": shared["sockets_per_worker"],
        "client_receiver_cpu_s": round(sum(o["cpu_seconds"] for o in outputs), 1),
    }
    result["aim_met"] = bool(latency and latency["p99"] < AIM_P99_MS and not any(lost.values()) and not dups
                             and not misdelivered and not errors and not socket_errors)
    return result


def fmt(value, spec=",.1f") -> str:
    return "-" if value is None else format(value, spec)


def line(name: str, s: dict | None) -> str:
    s = s or {}
    return (f"{name} {fmt(s.get('n'), ',d')}: p50 {fmt(s.get('p50'))} ms  p95 {fmt(s.get('p95'))} ms  "
            f"p99 {fmt(s.get('p99'))} ms  max {fmt(s.get('max'))} ms")


def busiest(cpu: dict) -> str:
    groups = {k: v for k, v in cpu.items() if k not in ("machine_busy_pct", "wall_seconds")}
    name = max(groups, key=groups.get)
    return f"{name} ({groups[name]} % of a core)"


def print_result(r: dict) -> None:
    c, cpu = r["config"], r["cpu"]
    say()
    say(f"{c['visitor_sockets']:,} visitors, {c['operators']} operators ({c['operator_sockets']} staff sockets), "
        f"a message every {c['every_s']:g} s each = {c['visitor_msg_per_s']:g} msg/s for {c['duration_s']:g} s"
        + (f", answers every {c['reply_every_s']:g} s per operator" if c["reply_every_s"] else "")
        + f"; gthread {c['workers']} x {c['threads']}, sidebar {'on' if c['sidebar'] else 'off'}")
    say("  " + line("visitor -> operator (POST start -> operator socket)", r["latency_ms"]))
    say("  " + line("visitor's own socket (echo)", r["visitor_echo_ms"]))
    if c["reply_every_s"]:
        say("  " + line("operator -> visitor (POST start -> visitor socket)", r["reply_latency_ms"]))
    lost = r["lost"]
    say(f"  lost: to operators {lost['to_operator']}, visitor echoes {lost['visitor_echo']}, to visitors "
        f"{lost['to_visitor']}, operator echoes {lost['operator_echo']}; duplicated {r['duplicated']}, "
        f"misdelivered {r['misdelivered']}, socket errors {r['socket_errors_count']}"
        + (f" ({r['socket_errors'][0]})" if r["socket_errors"] else ""))
    post = r["visitor_post_ms"] or {}
    say(f"  visitor POST: {r['visitor_posts']:,} sent, errors {r['post_errors']}"
        + (f" ({r['post_first_error']})" if r["post_first_error"] else "")
        + f"; p50 {fmt(post.get('p50'))} ms  p95 {fmt(post.get('p95'))} ms  p99 {fmt(post.get('p99'))} ms"
        f" (in the app p50 {fmt((r['visitor_post_app_ms'] or {}).get('p50'))} ms); started late p99 "
        f"{r['post_started_late_ms_p99']} ms; last delivery {fmt(r['last_delivery_after_last_post_s'], '.2f')} s "
        f"after the last post")
    if c["reply_every_s"]:
        say(f"  operator POST: {r['replies']:,} sent; " + line("measured", r["reply_post_ms"]))
    side = r["sidebar_ms"] or {}
    say(f"  sidebar placeholders {r['sidebar_placeholders']:,}, GET /discuss/sidebar {r['sidebar_gets']:,} "
        f"(p50 {fmt(side.get('p50'))} ms, p95 {fmt(side.get('p95'))} ms, errors {r['sidebar_errors']}"
        + (f": {r['sidebar_first_error']}" if r["sidebar_first_error"] else "") + ")")
    say(f"  CPU % of one core over {cpu['wall_seconds']} s: gunicorn {cpu['gunicorn']}"
        + (f" + {cpu['gunicorn_http']} (requests)" if c["http_workers"] else "")
        + f", job workers {cpu['job_workers']}, postgres {cpu['postgres']} (all on the machine), redis "
        f"{cpu['redis']}, client receivers {cpu['client_receivers']}, client posters {cpu['client_posters']}; "
        f"machine busy {cpu['machine_busy_pct']} % of {os.cpu_count()} cores; load average "
        f"{r['load_average']['before'][0]} before, {r['load_average']['after'][0]} after")
    say(f"  busiest: {busiest(cpu)}; sockets per worker {r['sockets_per_worker']}, open in "
        f"{r['connect_seconds']} s; other frames {r['other_frames']:,}; aim (p99 < {AIM_P99_MS:.0f} ms, "
        f"nothing lost, doubled or misdelivered): {'MET' if r['aim_met'] else 'not met'}")


def print_steps(results: list[dict]) -> None:
    if len(results) < 2:
        return
    say()
    say(f"  {'every s':>8} {'msg/s':>7} {'p50 ms':>8} {'p99 ms':>9} {'lost':>5} {'POST p50':>9} "
        f"{'gunicorn %':>10} {'busy %':>7}  aim")
    for r in results:
        lat, post, cpu = r["latency_ms"] or {}, r["visitor_post_ms"] or {}, r["cpu"]
        say(f"  {r['config']['every_s']:>8g} {r['config']['visitor_msg_per_s']:>7g} {fmt(lat.get('p50')):>8} "
            f"{fmt(lat.get('p99')):>9} {sum(r['lost'].values()):>5} {fmt(post.get('p50')):>9} "
            f"{fmt(cpu['gunicorn'] + cpu['gunicorn_http']):>10} {fmt(cpu['machine_busy_pct']):>7}  "
            f"{'MET' if r['aim_met'] else 'not met'}")
    met = [r for r in results if r["aim_met"]]
    say("  ceiling within the aim: "
        + (f"{max(r['config']['visitor_msg_per_s'] for r in met):g} visitor msg/s" if met else "none of these rates"))


def save(results: list[dict]) -> Path:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    runs = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    runs.extend(results)
    RESULTS.write_text(json.dumps(runs, indent=1))
    return RESULTS


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--sockets", type=int, default=1000, help="visitors, each with an open chat and a socket")
    parser.add_argument("--operators", type=int, default=100, help="operators sharing the chats (round robin)")
    parser.add_argument("--every", type=float, nargs="+", default=[10.0],
                        help="seconds between two messages of one visitor; several values: one phase each")
    parser.add_argument("--reply-every", type=float, default=0,
                        help="seconds between two answers of one operator (0: operators do not answer)")
    parser.add_argument("--duration", type=float, default=60, help="seconds of measured load per phase")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of load before the measured part")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=0,
                        help="threads per worker (default: 1.3 x sockets per worker + 32; each socket holds one)")
    parser.add_argument("--http-workers", type=int, default=0,
                        help="serve the POSTs and sidebar GETs from a second gunicorn with this many workers")
    parser.add_argument("--http-threads", type=int, default=8, help="threads per worker of that second gunicorn")
    parser.add_argument("--job-workers", type=int, default=1, help="`flask worker` processes")
    parser.add_argument("--client-procs", type=int, default=2, help="receiver processes holding the sockets")
    parser.add_argument("--connect-concurrency", type=int, default=32, help="handshakes in flight per receiver")
    parser.add_argument("--max-in-flight", type=int, default=128, help="requests in flight per client process")
    parser.add_argument("--no-sidebar", dest="sidebar", action="store_false",
                        help="operators do not GET /discuss/sidebar when the placeholder arrives")
    parser.add_argument("--no-presence", dest="presence", action="store_false",
                        help="operator sockets do not subscribe to `presence` (Discuss pages do)")
    parser.add_argument("--no-compression", dest="compression", action="store_false",
                        help="do not offer permessage-deflate (browsers do)")
    parser.add_argument("--drain-timeout", type=float, default=30, help="seconds to wait for late deliveries")
    args = parser.parse_args(argv)
    results = run(args)
    for result in results:
        print_result(result)
    print_steps(results)
    say(f"\nappended to {save(results)}")
    return 0 if results[0]["aim_met"] else 1  # later phases are steps towards the ceiling


if __name__ == "__main__":
    sys.exit(main())
