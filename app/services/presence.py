"""Presence (SPEC §2): who is online, away or offline, from their open pages' sockets.

Every staff socket is a connection with a status: online, or away once its page has been idle
(the browser says so). A user is online if any connection is, away if all are, offline with none.
Connections are kept in Redis when it is configured, so every web process sees every socket (a
hash per user: connection id -> "status timestamp"), else in this process. A socket refreshes its
connection every HEARTBEAT seconds; one not heard of for STALE seconds (its process died) no
longer counts.

When a user's status changes, a small fragment goes to the `presence` topic, which pages that
show presence (Discuss) subscribe to; each dot of that user on the page (`.presence-u<id>`)
is replaced.
"""
import threading
import time
import uuid

from flask import current_app, get_template_attribute

from app.services import realtime

STATUSES = ("online", "away", "offline")
HEARTBEAT = 30
STALE = 90
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
redis.call('SET', shown, combined, 'EX', stale)
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

    def statuses(self, user_ids) -> dict[int, str]:
        user_ids = list(user_ids)
        if not user_ids:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for uid in user_ids:
            pipe.hgetall(f"{self.prefix}{uid}")
        now = time.time()
        return {uid: _combine(self._parse(raw), now) for uid, raw in zip(user_ids, pipe.execute())}


def _store():
    return current_app.extensions["hilo_presence"]


def _set(user_id: int, conn: str, status: str | None) -> str:
    combined, changed = _store().update(user_id, conn, status)
    if changed:
        update = get_template_attribute("components/_presence.html", "presence_update")
        realtime.publish_now(TOPIC, str(update(user_id, combined)))
    return combined


def connect(user_id: int) -> str:
    """A socket opened: the user is online. Returns the connection id."""
    conn = uuid.uuid4().hex
    _set(user_id, conn, "online")
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
    app.add_template_global(statuses, "presence_statuses")
