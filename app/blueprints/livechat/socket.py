"""The visitor's WebSocket: `/livechat/<key>/ws?v=<token>`.

It carries the visitor's topic only (`visitor:<id>`: the chat's messages without notes, the
footer's state, the operator typing), so a socket can never hear another visitor's chat: the
topic comes from the verified token, not from the request. The browser may send
`{"typing": true|false}`; it reaches the operator's page of the live chat at once, never stored.
A socket that drops is reopened by widget.js, which fetches what it missed by message id.
"""
import json
import logging
import threading
import time

from flask import render_template
from simple_websocket import ConnectionClosed

from app.blueprints.livechat import bp
from app.blueprints.ws.outlet import Outlet, text_frame
from app.extensions import db, sock
from app.services import livechat, realtime

log = logging.getLogger(__name__)

MAX_FRAME = 256
TYPING_EVERY = 2.0
KEEPALIVE = 25.0  # seconds between pings a quiet socket sends, so proxies keep it open


class VisitorClient:
    def __init__(self, ws, visitor, channel):
        self.ws, self.visitor_id, self.name = ws, visitor.id, visitor.display_name
        self.channel_id = channel.id
        self.wake = threading.Event()
        self.outlet = Outlet.attach(ws, self.wake)
        self.typed_at = 0.0
        self.mailbox = realtime.subscribe([livechat.visitor_topic(visitor.id)], self.deliver)

    def deliver(self, topic: str, html: str) -> None:
        """On the bus's thread: never block, never touch the database."""
        if html.startswith(realtime.REVOKE):
            return
        self.outlet.write(text_frame(html))

    def run(self) -> None:
        beat = time.monotonic()
        while self.ws.connected:
            self.wake.wait(timeout=KEEPALIVE)
            self.wake.clear()
            for _ in range(20):
                frame = self.ws.receive(timeout=0)
                if frame is None:
                    break
                self.handle(frame)
            self.outlet.flush()
            if self.outlet.stalled:
                self.outlet.cut_off()
                return
            if time.monotonic() - beat >= KEEPALIVE:
                beat = time.monotonic()
                self.outlet.write(text_frame("<!-- -->"))

    def handle(self, frame) -> None:
        if not isinstance(frame, str) or len(frame) > MAX_FRAME:
            return
        try:
            data = json.loads(frame)
        except ValueError:
            return
        if not isinstance(data, dict) or "typing" not in data:
            return
        stop = not bool(data.get("typing"))
        now = time.monotonic()
        if not stop and now - self.typed_at < TYPING_EVERY:
            return
        if stop and not self.typed_at:
            return
        self.typed_at = 0.0 if stop else now
        self.typing(stop)

    def typing(self, stop: bool) -> None:
        try:
            from app.models import Visitor

            visitor = db.session.get(Visitor, self.visitor_id)
            session = livechat.live_session(visitor) if visitor is not None else None
            thread = session.ensure_thread() if session is not None else None
            self.name = visitor.display_name if visitor is not None else self.name
        finally:
            db.session.remove()
        if thread is not None:
            realtime.publish_now(f"thread:{thread.id}", render_template(
                "discuss/_typing.html", thread_id=thread.id, user_id=f"v{self.visitor_id}", name=self.name,
                stop=stop))

    def close(self) -> None:
        self.mailbox.close()
        if self.typed_at:
            self.typing(stop=True)
        self.outlet.flush()


@sock.route("/<key>/ws", bp=bp)
def visitor_socket(ws, key):
    channel = livechat.channel_by_key(key)
    from flask import request

    visitor = livechat.visitor_from_token(channel, request.args.get("v")) if channel is not None else None
    if visitor is None:
        db.session.remove()
        ws.close(reason=1008, message="unknown visitor")
        return
    client = None
    try:
        client = VisitorClient(ws, visitor, channel)
        db.session.remove()
        client.run()
    except ConnectionClosed:
        pass
    except Exception:
        log.exception("visitor socket failed")
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
                log.exception("could not end a visitor socket cleanly")
