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
import json
import logging
import time

from flask import render_template, request
from flask_login import current_user
from simple_websocket import ConnectionClosed

from app.blueprints.ws import bp
from app.extensions import db, sock
from app.services import access, presence, realtime

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
    """What one socket knows of its user, and what it has said lately (no database needed)."""

    def __init__(self, user, mailbox):
        self.user_id, self.name = user.id, user.name
        self.mailbox = mailbox
        self.conn = presence.connect(self.user_id)
        self.status = "online"
        self.beat = time.monotonic()
        self.typed: dict[int, float] = {}

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

    def tick(self) -> None:
        """The heartbeat: keep this connection counted."""
        if time.monotonic() - self.beat >= presence.HEARTBEAT:
            self.beat = time.monotonic()
            presence.report(self.user_id, self.conn, self.status)

    def close(self) -> None:
        for thread_id in list(self.typed):
            self.typing(thread_id, stop=True)
        presence.disconnect(self.user_id, self.conn)


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
    with realtime.subscribe(topics) as mailbox:
        client = None
        try:
            client = Client(current_user, mailbox)
            db.session.remove()  # do not hold a database connection for the socket's lifetime
            while ws.connected:
                html = mailbox.get(timeout=1.0)
                if html is not None and html.startswith(realtime.REVOKE):
                    recheck(mailbox, html[len(realtime.REVOKE):])
                elif html is not None:
                    ws.send(html)
                for _ in range(FRAMES_PER_TICK):  # raises once the client is gone
                    frame = ws.receive(timeout=0)
                    if frame is None:
                        break
                    client.handle(frame)
                client.tick()
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
                    log.exception("could not end a presence connection")


def recheck(mailbox, topic: str) -> None:
    """Access changed (the user left a channel): keep `topic` only if it is still allowed."""
    try:
        allowed = access.can_subscribe(current_user, topic)
    finally:
        db.session.remove()  # the socket holds no database connection between events
    if not allowed:
        mailbox.drop(topic)
