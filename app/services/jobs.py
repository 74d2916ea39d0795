"""One way to run work in the background.

With `REDIS_URL`, jobs go to an RQ queue and `make worker` runs them (with
RQ's scheduler for jobs that run at a time, and the periodic sweeps). Without it (the embedded default), the
same functions run in a background thread of the web process, and scheduled
ones wait on an in-process timer. Callers do not know which.

Jobs are submitted after the current transaction commits, so a worker never
looks for a row that is not there yet. Job functions take plain values (ids).
"""
import heapq
import importlib
import logging
import os
import threading
import time
from datetime import datetime, timezone

from flask import current_app

from app.extensions import db
from app.services.transaction import on_commit

log = logging.getLogger(__name__)
_pool_pid = os.getpid()


def enqueue(func, *args, at: datetime | None = None, **kwargs) -> None:
    """Run `func(*args, **kwargs)` in the background once the current transaction commits.

    `at` (aware, or naive UTC) delays the run until then.
    """
    backend = current_app.extensions["hilo_jobs"]
    path = f"{func.__module__}.{func.__qualname__}"
    on_commit(lambda: backend.submit(path, args, kwargs, at))


def claim(key: str, seconds: float) -> bool:
    """True for the first caller in `seconds` (across processes with Redis): "do this at most
    once per period" (a busy conversation's unread badges)."""
    return current_app.extensions["hilo_jobs"].claim(key, seconds)


def run_job(path: str, args, kwargs):
    """What the RQ worker executes: one job inside the worker's app context.

    A request context on BASE_URL lets jobs render templates with `url_for` as pages do.
    """
    global _pool_pid
    if _pool_pid != os.getpid():  # a forking worker (plain `rq worker`): never share the parent's connections
        db.engine.dispose(close=False)
        _pool_pid = os.getpid()
    module, _, name = path.rpartition(".")
    func = getattr(importlib.import_module(module), name)
    with current_app.test_request_context(base_url=current_app.config["BASE_URL"]):
        try:
            return func(*args, **kwargs)
        finally:
            db.session.remove()


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)


class RQBackend:
    """Jobs on an RQ queue in Redis, executed by `make worker`."""

    def __init__(self, app):
        from redis import Redis
        from rq import Queue

        self.url = app.config["REDIS_URL"]
        self.redis = Redis.from_url(self.url)
        self.queue = Queue(app.config["RQ_QUEUE"], connection=self.redis)

    def worker_connection(self):
        """A connection for an RQ worker, not used yet: the worker lengthens its socket timeout to
        outlast its blocking wait for jobs, which reaches only connections made after that. One made
        earlier (redis-py's default timeout is 5 s) timed out every idle wait, and the worker backed
        off for up to a minute before taking the next job."""
        from redis import Redis

        return Redis.from_url(self.url)

    def submit(self, path, args, kwargs, at):
        if at is None:
            self.queue.enqueue(run_job, path, args, kwargs)
        else:
            self.queue.enqueue_at(_utc(at), run_job, path, args, kwargs)

    def claim(self, key: str, seconds: float) -> bool:
        return bool(self.redis.set(f"{self.queue.name}:claim:{key}", 1, nx=True, px=int(seconds * 1000)))

    def health(self) -> dict:
        from rq import Worker

        return {
            "backend": "rq",
            "queued": self.queue.count,
            "scheduled": self.queue.scheduled_job_registry.count,
            "failed": self.queue.failed_job_registry.count,
            "workers": Worker.count(queue=self.queue),
        }


class ThreadBackend:
    """Embedded default: one daemon thread runs due jobs in order of their time."""

    def __init__(self, app):
        self.app = app
        self._heap: list = []
        self._seq = 0
        self._running = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._claims: dict[str, float] = {}
        self.failed = 0

    def claim(self, key: str, seconds: float) -> bool:
        now = time.monotonic()
        with self._cond:
            if self._claims.get(key, 0.0) > now:
                return False
            self._claims = {k: until for k, until in self._claims.items() if until > now}
            self._claims[key] = now + seconds
            return True

    def submit(self, path, args, kwargs, at):
        when = _utc(at).timestamp() if at else 0.0
        with self._cond:
            self._seq += 1
            heapq.heappush(self._heap, (when, self._seq, path, args, kwargs))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="hilo-jobs", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _next_due(self):
        with self._cond:
            while True:
                now = time.time()
                if self._heap and self._heap[0][0] <= now:
                    self._running += 1
                    return heapq.heappop(self._heap)
                self._cond.wait(timeout=(self._heap[0][0] - now) if self._heap else None)

    def _loop(self):
        while True:
            _, _, path, args, kwargs = self._next_due()
            with self.app.app_context():
                try:
                    run_job(path, args, kwargs)
                except Exception:
                    self.failed += 1
                    log.exception("job %s failed", path)
            with self._cond:
                self._running -= 1
                self._cond.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no due job is queued or running (tests, CLI)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._running or (self._heap and self._heap[0][0] <= time.time()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(timeout=min(remaining, 0.05))
        return True

    def health(self) -> dict:
        return {"backend": "embedded", "queued": len(self._heap), "failed": self.failed}


def start_periodic(app, jobs=None, tick: float = 30.0,
                   stop: threading.Event | None = None) -> threading.Thread:
    """Submit each `(func, every_seconds)` of `app.jobs.periodic_jobs` on its interval.

    Runs as a daemon thread in whichever process executes jobs: the web process in
    the embedded default, `flask worker` with Redis. With several workers, a Redis key
    per job (SET NX EX) lets only one of them submit each round. The sweeps themselves
    are idempotent, so a missed or doubled round costs nothing. Setting `stop` ends the thread.
    """
    stop = stop or threading.Event()
    if jobs is None:
        from app.jobs import periodic_jobs

        jobs = periodic_jobs(app.config)
    backend = app.extensions["hilo_jobs"]
    redis = getattr(backend, "redis", None)
    last: dict = {}

    def due(path: str, every: int) -> bool:
        if redis is not None:
            return bool(redis.set(f"{app.config['RQ_QUEUE']}:periodic:{path}", 1, nx=True, ex=every))
        if time.monotonic() - last.get(path, float("-inf")) < every:
            return False
        last[path] = time.monotonic()
        return True

    def loop():
        while not stop.is_set():
            for func, every in jobs:
                path = f"{func.__module__}.{func.__qualname__}"
                try:
                    if due(path, every):
                        backend.submit(path, (), {}, None)
                except Exception:  # Redis briefly away: try again next tick
                    log.exception("could not submit periodic job %s", path)
            stop.wait(tick)

    thread = threading.Thread(target=loop, name="hilo-periodic", daemon=True)
    thread.start()
    return thread


def init_app(app) -> None:
    app.extensions["hilo_jobs"] = RQBackend(app) if app.config.get("REDIS_URL") else ThreadBackend(app)
