"""Presence (SPEC §2): who is online, away or offline, from their open pages' sockets.

Every staff socket is a connection with a status: online, or away once its page has been idle
(the browser says so). A user is online if any connection is, away if all are, offline with none.
Connections are kept in Redis when it is configured, so every web process sees every socket (a
hash per user: connection id -> "status timestamp"), else in this process. A socket refreshes its
connection every HEARTBEAT seconds; one not heard of for STALE seconds (its process died) no
longer counts, and a sweep in every process with sockets pushes the change (a person whose
only process died does not stay online on their colleagues' pages).

When a user's status changes, a small fragment goes to the `presence` topic, which pages that
show presence (Discuss) subscribe to; each dot of that user on the page (`.presence-u<id>`)
is replaced. Changes are pushed at most every BATCH seconds per process, together: when a deploy
makes every page reconnect, N people coming back would otherwise be N pushes to N sockets.
"""
import logging
import threading
import time
import uuid

from flask import current_app, get_template_attribute

from app.services import realtime

log = logging.getLogger(__name__)

STATUSES = ("online", "away", "offline")
HEARTBEAT = 30
STALE = 90
BATCH = 0.5  # seconds between two pushes of one process (the first change goes out at once)
TOPIC = "presence"


def _combine(entries: dict[str, tuple[str, float]], now: float) -> str:
    fresh = [status for status, seen in entries.values() if now - seen < STALE]
    if "online" in fresh:
        return "online"
    return "away" if fresh else "offline"


class LocalPresence:
    """Connections of this process only (the embedded default: one process)."""

    def __init__(self):
        self._users: dict[int, dict[str, tuple[str, float]]] = {}
        self._shown: dict[int, str] = {}
        self._lock = threading.Lock()

    def update(self, user_id: int, conn: str, status: str | None) -> tuple[str, bool]:
        """Set (or with None, remove) one connection; returns (user's status, changed?)."""
        now = time.time()
        with self._lock:
            entries = self._users.setdefault(user_id, {})
            if status is None:
                entries.pop(conn, None)
            else:
                entries[conn] = (status, now)
            for key in [k for k, (_, seen) in entries.items() if now - seen >= STALE]:
                del entries[key]
            if not entries:
                del self._users[user_id]
            combined = _combine(entries, now)
            changed = self._shown.get(user_id, "offline") != combined
            self._shown[user_id] = combined
        return combined, changed

    def sweep(self) -> list[int]:
        """Users shown online or away whose connections all went stale."""
        with self._lock:
            shown = [uid for uid, status in self._shown.items() if status != "offline"]
        return [uid for uid in shown if self.update(uid, "", None)[1]]

    def statuses(self, user_ids) -> dict[int, str]:
        now = time.time()
        with self._lock:
            return {uid: _combine(self._users.get(uid, {}), now) for uid in user_ids}


# One connection's change and the user's combined status, in one atomic step: computed apart,
# two sockets of one user changing at once could leave the others shown a stale status.
_UPDATE = """
local hash, shown = KEYS[1], KEYS[2]
local conn, status, now, stale = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
if status == '' then
  redis.call('HDEL', hash, conn)
else
  redis.call('HSET', hash, conn, status .. ' ' .. ARGV[3])
  redis.call('EXPIRE', hash, stale)
end
local entries = redis.call('HGETALL', hash)
local online, away = false, false
for i = 1, #entries, 2 do
  local state, seen = string.match(entries[i + 1], '^(%S+) (%S+)$')
  seen = tonumber(seen)
  if seen == nil or now - seen >= stale then
    redis.call('HDEL', hash, entries[i])
  elseif state == 'online' then
    online = true
  else
    away = true
  end
end
local combined = online and 'online' or (away and 'away' or 'offline')
local previous = redis.call('GET', shown) or 'offline'
redis.call('SET', shown, combined, 'EX', stale * 2)  -- outlives the connections: see sweep()
if previous == combined then return {combined, 0} end
return {combined, 1}
"""


class RedisPresence:
    """Connections of every process, in Redis."""

    def __init__(self, redis, prefix: str):
        self.redis = redis  # the realtime bus's client: one connection pool per process
        self.prefix = f"{prefix}:presence:"
        self._update = redis.register_script(_UPDATE)

    def _parse(self, raw: dict) -> dict[str, tuple[str, float]]:
        entries = {}
        for conn, value in raw.items():
            status, _, seen = value.decode().partition(" ")
            try:
                entries[conn.decode()] = (status, float(seen))
            except ValueError:
                continue
        return entries

    def update(self, user_id: int, conn: str, status: str | None) -> tuple[str, bool]:
        key = f"{self.prefix}{user_id}"
        combined, changed = self._update(keys=[key, f"{key}:shown"],
                                         args=[conn, status or "", repr(time.time()), STALE])
        return combined.decode(), bool(changed)

    def sweep(self) -> list[int]:
        """Users shown online or away whose connections all went stale (their process died)."""
        changed = []
        for key in self.redis.scan_iter(match=f"{self.prefix}*:shown", count=500):
            user_id = key.decode()[len(self.prefix):-len(":shown")]
            if user_id.isdigit() and self.update(int(user_id), "", None)[1]:
                changed.append(int(user_id))
        return changed

    def statuses(self, user_ids) -> dict[int, str]:
        user_ids = list(user_ids)
        if not user_ids:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for uid in user_ids:
            pipe.hgetall(f"{self.prefix}{uid}")
        now = time.time()
        return {uid: _combine(self._parse(raw), now) for uid, raw in zip(user_ids, pipe.execute())}


class Pusher:
    """Pushes the users whose status changed, at most once per BATCH seconds, in one fragment.

    Each user's status is read when the fragment goes out, not when it changed: whichever
    process pushes last, and in whatever order, the last fragment shows the truth.
    """

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.pushing = threading.Lock()  # one push at a time, so they arrive in order
        self.pending: set[int] = set()
        self.timer: threading.Timer | None = None
        self.pushed_at = 0.0
        self.sweeper: threading.Thread | None = None

    def add(self, user_id: int) -> None:
        with self.lock:
            self.pending.add(user_id)
            if self.timer is None:
                delay = max(0.0, self.pushed_at + BATCH - time.monotonic())
                self.timer = threading.Timer(delay, self.push)
                self.timer.daemon = True
                self.timer.start()

    def push(self) -> None:
        with self.pushing:
            with self.lock:
                user_ids, self.pending, self.timer = self.pending, set(), None
                self.pushed_at = time.monotonic()
            if not user_ids:
                return
            with self.app.app_context():
                update = get_template_attribute("components/_presence.html", "presence_update")
                shown = self.app.extensions["hilo_presence"].statuses(user_ids)
                realtime.publish_now(TOPIC, "".join(str(update(uid, shown[uid])) for uid in sorted(shown)))

    def start_sweeping(self) -> None:
        """Once this process holds sockets: every HEARTBEAT, push who went offline unnoticed."""
        with self.lock:
            if self.sweeper is None:
                self.sweeper = threading.Thread(target=self._sweep_forever, name="hilo-presence-sweep",
                                                daemon=True)
                self.sweeper.start()

    def _sweep_forever(self) -> None:
        while True:
            time.sleep(HEARTBEAT)  # a period, not a wait for an event
            self.sweep()

    def sweep(self) -> None:
        try:
            with self.app.app_context():
                for user_id in self.app.extensions["hilo_presence"].sweep():
                    self.add(user_id)
        except Exception:
            log.exception("presence sweep failed")

    def drain(self) -> None:
        """Push what is pending now (tests; a process about to stop)."""
        with self.lock:
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
        self.push()


def _store():
    return current_app.extensions["hilo_presence"]


def _set(user_id: int, conn: str, status: str | None) -> str:
    combined, changed = _store().update(user_id, conn, status)
    if changed:
        current_app.extensions["hilo_presence_pusher"].add(user_id)
    return combined


def drain() -> None:
    current_app.extensions["hilo_presence_pusher"].drain()


def connect(user_id: int) -> str:
    """A socket opened: the user is online. Returns the connection id."""
    conn = uuid.uuid4().hex
    _set(user_id, conn, "online")
    current_app.extensions["hilo_presence_pusher"].start_sweeping()
    return conn


def report(user_id: int, conn: str, status: str) -> None:
    """The page says it is active (online) or idle (away); also the socket's heartbeat."""
    if status in ("online", "away"):
        _set(user_id, conn, status)


def disconnect(user_id: int, conn: str) -> None:
    _set(user_id, conn, None)


def statuses(user_ids) -> dict[int, str]:
    """user id -> online / away / offline."""
    return _store().statuses(set(user_ids))


def init_app(app) -> None:
    """After the realtime bus, whose Redis client presence shares."""
    bus = app.extensions["hilo_bus"]
    redis = getattr(bus, "redis", None)
    app.extensions["hilo_presence"] = (RedisPresence(redis, app.config["REALTIME_PREFIX"]) if redis
                                       else LocalPresence())
    app.extensions["hilo_presence_pusher"] = Pusher(app)
    app.add_template_global(statuses, "presence_statuses")
