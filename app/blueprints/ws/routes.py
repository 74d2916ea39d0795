"""The staff WebSocket: one socket per page, subscribed to the topics that page shows.

`/ws?topics=thread:12,thread:40` — the user's own `user:<id>` topic is always
added. Each topic is checked with the access service when the socket opens;
topics the user may not read are refused (the socket closes with 1008).
The server only pushes HTML fragments marked `hx-swap-oob` for htmx's ws extension.
"""
from flask import request
from flask_login import current_user
from simple_websocket import ConnectionClosed

from app.blueprints.ws import bp
from app.extensions import db, sock
from app.services import access, realtime

MAX_TOPICS = 50


def requested_topics(user) -> list[str] | None:
    """The topics asked for in the query string, or None if any is not allowed."""
    raw = [t.strip() for t in request.args.get("topics", "").split(",") if t.strip()]
    topics = [f"user:{user.id}", *raw[:MAX_TOPICS]]
    return topics if all(access.can_subscribe(user, t) for t in topics) else None


@sock.route("/ws", bp=bp)
def staff_socket(ws):
    """Push live fragments to a signed-in staff member until the socket closes."""
    if not access.is_staff(current_user):
        ws.close(reason=1008, message="sign in as staff")
        return
    topics = requested_topics(current_user)
    db.session.remove()  # do not hold a database connection for the socket's lifetime
    if topics is None:
        ws.close(reason=1008, message="topic not allowed")
        return
    with realtime.subscribe(topics) as mailbox:
        try:
            while ws.connected:
                html = mailbox.get(timeout=1.0)
                if html is not None and html.startswith(realtime.REVOKE):
                    recheck(mailbox, html[len(realtime.REVOKE):])
                elif html is not None:
                    ws.send(html)
                ws.receive(timeout=0)  # drain client frames; raises once the client is gone
        except ConnectionClosed:
            pass


def recheck(mailbox, topic: str) -> None:
    """Access changed (the user left a channel): keep `topic` only if it is still allowed."""
    try:
        allowed = access.can_subscribe(current_user, topic)
    finally:
        db.session.remove()  # the socket holds no database connection between events
    if not allowed:
        mailbox.drop(topic)
