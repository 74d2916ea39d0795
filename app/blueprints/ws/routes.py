"""The staff WebSocket: one socket per page, subscribed to the topics that page shows.

`/ws?topics=thread:12,presence` — the user's own `user:<id>` topic is always added. Each topic
is checked with the access service when the socket opens; topics the user may not read are
refused (the socket closes with 1008). The server pushes HTML fragments marked `hx-swap-oob`
for htmx's ws extension.

The browser sends small JSON frames back:
- `{"typing": <thread id>}` (or with `"stop": true`) while someone writes in a conversation the
  socket is subscribed to; it goes to that thread's viewers at once, never stored;
- `{"presence": "online" | "away"}` when the page becomes active or idle.
The socket itself counts as a presence connection while it is open (services/presence.py).
"""
import collections
import json
import logging
import threading
import time

from flask import render_template, request
from flask_login import current_user
from simple_websocket import ConnectionClosed

from app.blueprints.ws import bp
from app.blueprints.ws.outlet import Outlet, text_frame
from app.extensions import db, sock
from app.services import access, livechat, presence, realtime

log = logging.getLogger(__name__)

MAX_TOPICS = 50
MAX_FRAME = 512  # client frames are tiny; anything bigger is ignored
FRAMES_PER_TICK = 20
TYPING_EVERY = 2.0  # at most one "is typing" per conversation per socket this often


def requested_topics(user) -> list[str] | None:
    """The topics asked for in the query string, or None if any is not allowed."""
    raw = [t.strip() for t in request.args.get("topics", "").split(",") if t.strip()]
    topics = [f"user:{user.id}", *raw[:MAX_TOPICS]]
    return topics if all(access.can_subscribe(user, t) for t in topics) else None


class Client:
    """One open socket: its user, its topics, what it said lately, and its way out.

    Fragments are written into the socket by the bus's thread (`deliver`, outlet.py); this
    socket's own thread (`run`) wakes only for what the browser sends, a change of access, a
    reader that fell behind, and the presence heartbeat.
    """

    def __init__(self, user, ws, topics):
        self.user_id, self.name = user.id, user.name
        self.ws = ws
        self.wake = threading.Event()
        self.outlet = Outlet.attach(ws, self.wake)
        self.rechecks: collections.deque[str] = collections.deque()
        # Topics whose access is being checked again: their fragments wait here meanwhile, so
        # nothing published after a revocation reaches the socket before the check says so.
        self.held: dict[str, list[bytes]] = {}
        self.held_lock = threading.Lock()
        self.typed: dict[int, float] = {}
        # A live chat's visitor sees the operator typing too (on their own topic).
        self.visitor_topics = livechat.visitor_topics(topics)
        self.conn = presence.connect(self.user_id)
        self.status = "online"
        self.beat = time.monotonic()
        self.mailbox = realtime.subscribe(topics, self.deliver)

    def deliver(self, topic: str, html: str) -> None:
        """On the bus's thread: never block, never touch the database."""
        if html.startswith(realtime.REVOKE):
            revoked = html[len(realtime.REVOKE):]
            with self.held_lock:
                self.held.setdefault(revoked, [])
            self.rechecks.append(revoked)
            self.wake.set()
            return
        frame = text_frame(html)
        if self.held:
            with self.held_lock:
                if topic in self.held:
                    self.held[topic].append(frame)
                    return
        self.outlet.write(frame)

    def run(self) -> None:
        while self.ws.connected:
            self.wake.wait(timeout=max(0.0, self.beat + presence.HEARTBEAT - time.monotonic()))
            self.wake.clear()
            for _ in range(FRAMES_PER_TICK):  # raises once the client is gone
                frame = self.ws.receive(timeout=0)
                if frame is None:
                    break
                self.handle(frame)
            while self.rechecks:
                self.recheck(self.rechecks.popleft())
            self.outlet.flush()
            if self.outlet.stalled:
                log.info("cut off a live socket of user %s that fell %d bytes behind",
                         self.user_id, self.outlet.backlog)
                self.outlet.cut_off()
                return
            self.tick()

    def handle(self, frame) -> None:
        """One frame from the browser; anything malformed is ignored."""
        if not isinstance(frame, str) or len(frame) > MAX_FRAME:
            return
        try:
            data = json.loads(frame)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        if data.get("presence") in ("online", "away"):
            self.status = data["presence"]
            presence.report(self.user_id, self.conn, self.status)
        thread_id = data.get("typing")
        if isinstance(thread_id, int) and not isinstance(thread_id, bool):
            self.typing(thread_id, bool(data.get("stop")))

    def typing(self, thread_id: int, stop: bool) -> None:
        topic = f"thread:{thread_id}"
        if topic not in self.mailbox.topics:  # only where this socket may read (checked on open)
            return
        now = time.monotonic()
        if not stop and now - self.typed.get(thread_id, 0) < TYPING_EVERY:
            return
        if stop and thread_id not in self.typed:
            return
        if stop:
            self.typed.pop(thread_id, None)
        else:
            self.typed[thread_id] = now
        realtime.publish_now(topic, render_template(
            "discuss/_typing.html", thread_id=thread_id, user_id=self.user_id, name=self.name, stop=stop))
        visitor_topic = self.visitor_topics.get(thread_id)
        if visitor_topic is not None:
            realtime.publish_now(visitor_topic, render_template("livechat/_typing.html", name=self.name, stop=stop))

    def recheck(self, topic: str) -> None:
        """Access to `topic` changed (the user left a channel): keep it only if still allowed."""
        try:
            allowed = access.can_subscribe(current_user, topic)
        finally:
            db.session.remove()  # the socket holds no database connection between events
        with self.held_lock:
            held = self.held.pop(topic, [])
            if not allowed:
                self.mailbox.drop(topic)
                return
            for frame in held:
                self.outlet.write(frame)

    def tick(self) -> None:
        """The heartbeat: keep this connection counted."""
        if time.monotonic() - self.beat >= presence.HEARTBEAT:
            self.beat = time.monotonic()
            presence.report(self.user_id, self.conn, self.status)

    def close(self) -> None:
        self.mailbox.close()
        for thread_id in list(self.typed):
            self.typing(thread_id, stop=True)
        presence.disconnect(self.user_id, self.conn)
        self.outlet.flush()  # a closing frame still queued behind a slow reader


@sock.route("/ws", bp=bp)
def staff_socket(ws):
    """Push live fragments to a signed-in staff member until the socket closes."""
    if not access.is_staff(current_user):
        ws.close(reason=1008, message="sign in as staff")
        return
    topics = requested_topics(current_user)
    if topics is None:
        db.session.remove()
        ws.close(reason=1008, message="topic not allowed")
        return
    client = None
    try:
        client = Client(current_user, ws, topics)
        db.session.remove()  # do not hold a database connection for the socket's lifetime
        client.run()
    except ConnectionClosed:
        pass
    except Exception:
        # Never let the server write an HTTP error page into an open socket: say 1011
        # (internal error); the browser reconnects and catches up.
        log.exception("live socket of user %s failed", current_user.get_id())
        try:
            ws.close(reason=1011, message="server error")
        except ConnectionClosed:
            pass
    finally:
        db.session.remove()
        if client is not None:
            try:
                client.close()
            except Exception:
                log.exception("could not end a live socket cleanly")

