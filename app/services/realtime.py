"""The realtime bus: HTML fragments published to topics, delivered to WebSockets.

Topics: `user:<id>`, `thread:<id>` (later `livechat:<session>`). With
`REDIS_URL`, every process keeps ONE Redis subscription (pattern
`<REALTIME_PREFIX>:*`) and
fans messages out to its sockets, so any process reaches any socket.
Without Redis (the embedded default), the same fan-out runs in memory.

`publish` waits for the current commit; access is checked by the caller of
`subscribe` (see blueprints/ws), never here.
"""
import logging
import queue
import threading
import time
from collections import defaultdict

from flask import current_app

from app.services.transaction import on_commit_batch

log = logging.getLogger(__name__)


# A control line on a user's topic, never sent to the browser: "access to <topic> changed,
# check it again" (leaving a private channel stops its events at once).
REVOKE = "\x00revoke:"


def publish(topic: str, html: str) -> None:
    """Send `html` to every socket subscribed to `topic`, after the current commit."""
    bus = current_app.extensions["hilo_bus"]
    on_commit_batch("realtime", (topic, html), bus.send_many)


def watched(topic: str) -> bool:
    """Whether a socket in any process listens on `topic`: a fragment nobody would receive
    need not be rendered. A socket that opens a moment after the check misses that one event,
    as it would miss one published just before it opened (its page was read before either)."""
    return current_app.extensions["hilo_bus"].watched(topic)


def publish_now(topic: str, html: str) -> None:
    """Send without waiting for a commit (for events that change no data, e.g. typing)."""
    current_app.extensions["hilo_bus"].send(topic, html)


class Subscription:
    """A socket's mailbox on some topics.

    With `deliver`, the bus calls `deliver(topic, fragment)` itself, on its own thread (it must
    not block: the live socket writes without waiting, blueprints/ws/outlet.py). Without, the
    fragments wait in a queue for `get`.
    """

    def __init__(self, bus, topics, deliver=None):
        self.bus = bus
        self.topics = set(topics)
        self.deliver = deliver
        self.queue: queue.Queue | None = queue.Queue(maxsize=1000) if deliver is None else None

    def put(self, topic: str, html: str) -> None:
        """Called by the bus for every fragment of a subscribed topic."""
        if self.deliver is not None:
            if topic in self.topics:  # not one dropped a moment ago
                self.deliver(topic, html)
            return
        try:
            self.queue.put_nowait((topic, html))
        except queue.Full:  # a stuck reader must not block the others
            log.warning("dropping event for a slow reader on %s", topic)

    def get(self, timeout: float | None = None) -> str | None:
        """The next fragment of a topic still subscribed (None when none came in time)."""
        try:
            while True:
                topic, html = self.queue.get(timeout=timeout)
                if topic in self.topics:
                    return html
        except queue.Empty:
            return None

    def drop(self, topic: str) -> None:
        """Stop receiving `topic` now, including what is already queued for it."""
        self.bus.unsubscribe(self, [topic])

    def close(self) -> None:
        self.bus.unsubscribe(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LocalBus:
    """In-process fan-out: topic -> subscriptions."""

    name = "embedded"

    def __init__(self):
        self._subs: dict[str, set[Subscription]] = defaultdict(set)
        self._lock = threading.Lock()

    def subscribe(self, topics, deliver=None) -> Subscription:
        sub = Subscription(self, topics, deliver)
        with self._lock:
            for topic in sub.topics:
                self._subs[topic].add(sub)
        return sub

    def unsubscribe(self, sub: Subscription, topics=None) -> None:
        """Remove `sub` from `topics` (default: all of its topics)."""
        with self._lock:
            for topic in list(sub.topics if topics is None else topics):
                sub.topics.discard(topic)
                subs = self._subs.get(topic)
                if subs is not None:
                    subs.discard(sub)
                    if not subs:
                        del self._subs[topic]

    def watched(self, topic: str) -> bool:
        return topic in self._subs

    def send(self, topic: str, html: str) -> None:
        self.deliver(topic, html)

    def send_many(self, events) -> None:
        """Send `(topic, html)` pairs in order."""
        for topic, html in events:
            self.send(topic, html)

    def deliver(self, topic: str, html: str) -> None:
        with self._lock:
            targets = list(self._subs.get(topic, ()))
        for sub in targets:
            try:
                sub.put(topic, html)
            except Exception:  # one broken socket must not keep the fragment from the others
                log.exception("could not deliver an event on %s", topic)

    def health(self) -> dict:
        return {"backend": "embedded", "subscriptions": sum(len(s) for s in self._subs.values())}


class RedisBus(LocalBus):
    """Redis pub/sub between processes, LocalBus fan-out inside each one."""

    name = "redis"

    # Publishing connections per process. Hundreds of socket and request threads may publish at
    # once (typing, presence, posts); redis-py's default pool fails past 100 connections
    # (MaxConnectionsError), a blocking pool makes a burst wait a moment instead.
    MAX_CONNECTIONS = 64
    POOL_TIMEOUT = 10  # seconds a publisher waits for a connection before giving up

    def __init__(self, url: str, prefix: str = "hilo"):
        super().__init__()
        from redis import BlockingConnectionPool, Redis

        self.prefix = prefix + ":"
        self.redis = Redis(connection_pool=BlockingConnectionPool.from_url(
            url, max_connections=self.MAX_CONNECTIONS, timeout=self.POOL_TIMEOUT))
        self._listener: threading.Thread | None = None
        self._ready = threading.Event()
        self.watched_key = self.prefix + "watched"  # sorted set: topic -> until when it is watched
        self._heartbeat: threading.Thread | None = None

    # Every process announces the topics its sockets listen on, until a moment from now, and
    # announces them again well before that moment: a topic nobody has listened on for
    # WATCH_SECONDS drops out, whichever process's socket it was.
    WATCH_SECONDS = 90
    WATCH_EVERY = 30

    def subscribe(self, topics, deliver=None) -> Subscription:
        self._ensure_listener()
        self._announce(list(topics))  # before listening: a publisher checking after this renders
        return super().subscribe(topics, deliver)

    def watched(self, topic: str) -> bool:
        if topic in self._subs:
            return True
        until = self.redis.zscore(self.watched_key, topic)
        return until is not None and until > time.time()

    def _announce(self, topics) -> None:
        if topics:
            until = time.time() + self.WATCH_SECONDS
            self.redis.zadd(self.watched_key, {topic: until for topic in topics})

    def _announce_all(self) -> None:
        while True:
            time.sleep(self.WATCH_EVERY)
            try:
                with self._lock:
                    topics = list(self._subs)
                self._announce(topics)
                self.redis.zremrangebyscore(self.watched_key, "-inf", time.time())
            except Exception:
                log.exception("realtime bus could not announce its topics; trying again")

    def send(self, topic: str, html: str) -> None:
        self.redis.publish(self.prefix + topic, html.encode())

    def send_many(self, events) -> None:
        """One round trip for a transaction's events (a post to 50 followers makes ~100)."""
        pipe = self.redis.pipeline(transaction=False)
        for topic, html in events:
            pipe.publish(self.prefix + topic, html.encode())
        pipe.execute()

    def _ensure_listener(self) -> None:
        with self._lock:
            if self._listener is None or not self._listener.is_alive():
                self._ready.clear()
                self._listener = threading.Thread(target=self._listen, name="hilo-bus", daemon=True)
                self._listener.start()
            if self._heartbeat is None:
                self._heartbeat = threading.Thread(target=self._announce_all, name="hilo-bus-watch", daemon=True)
                self._heartbeat.start()
        self._ready.wait(timeout=5)

    def _listen(self) -> None:
        while True:
            try:
                pubsub = self.redis.pubsub()
                pubsub.psubscribe(self.prefix + "*")
                # Ready only once Redis confirms: a publish racing the subscription would be lost.
                while (pubsub.get_message(timeout=1.0) or {}).get("type") != "psubscribe":
                    pass
                self._ready.set()
                for item in pubsub.listen():
                    if item["type"] == "pmessage":
                        self.deliver(item["channel"].decode()[len(self.prefix):], item["data"].decode())
            except Exception:
                log.exception("realtime bus lost Redis; reconnecting")
                time.sleep(1)

    def health(self) -> dict:
        self.redis.ping()
        return {"backend": "redis", "subscriptions": sum(len(s) for s in self._subs.values())}


def subscribe(topics, deliver=None) -> Subscription:
    """Open a mailbox on `topics`; close it (or use `with`) when the socket ends."""
    return current_app.extensions["hilo_bus"].subscribe(topics, deliver)


def init_app(app) -> None:
    url = app.config.get("REDIS_URL")
    app.extensions["hilo_bus"] = RedisBus(url, app.config["REALTIME_PREFIX"]) if url else LocalBus()
