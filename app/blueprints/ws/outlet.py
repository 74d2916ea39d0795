"""Writing to live sockets without waking a thread per frame.

A post in a busy channel is one fragment for hundreds of sockets. The bus's thread writes it
into each subscriber's socket itself, with a non-blocking send of a frame encoded once for all
of them: a delivered frame costs one system call, not a thread wake-up and a GIL hand-off
(docs/benchmarks.md, "Discuss: live delivery over WebSockets").

A reader that does not keep up (its kernel buffer is full) must not hold the others back: what
the socket cannot take is queued behind what it already holds, and the socket's own request
thread, woken for it, writes the queue out with a bounded wait. A socket that falls BACKLOG
bytes behind, or cannot take a byte for WRITE_TIMEOUT seconds, is cut off; the browser
reconnects and catches up from its last seen message.

The `Outlet` stands in for the raw socket under simple-websocket, so the frames that library
writes (pongs, the closing handshake) keep their order with ours.
"""
import selectors
import socket
import ssl
import struct
import threading
import time

BACKLOG = 1 << 20  # bytes a socket may fall behind before it is cut off
WRITE_TIMEOUT = 10.0  # seconds a stalled reader may hold its own thread


_last_frame: tuple[str | None, bytes] = (None, b"")


def text_frame(text: str) -> bytes:
    """A server-to-client WebSocket text frame (unmasked, final, never compressed).

    The bus hands the same string to every subscriber of a topic one after the other, so the
    last frame is kept and reused for that very object.
    """
    global _last_frame
    last_text, last_frame = _last_frame
    if last_text is text:
        return last_frame
    payload = text.encode()
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x81, 126, size)
    else:
        head = struct.pack("!BBQ", 0x81, 127, size)
    frame = head + payload
    _last_frame = (text, frame)  # one assignment: a reader on another thread sees a matching pair
    return frame


class Outlet:
    """A socket's ordered writer: `write` never blocks; `flush` (its own thread) drains the queue."""

    def __init__(self, sock, wake: threading.Event):
        self.sock = sock
        self.wake = wake  # set when `flush` has work, or the socket must be cut off
        self.lock = threading.Lock()
        self.pending = bytearray()
        self.flushing = False
        self.stalled = False  # too far behind: cut off, write nothing more
        # A non-blocking send on a plain blocking socket; TLS sockets take no send flags, and a
        # socket with a timeout would wait inside `send`: those queue everything for `flush`.
        self.direct = (hasattr(socket, "MSG_DONTWAIT") and not isinstance(sock, ssl.SSLSocket)
                       and sock.gettimeout() is None)

    @classmethod
    def attach(cls, ws, wake: threading.Event) -> "Outlet":
        """Put an outlet under a simple-websocket connection; its reader thread sets `wake` too."""
        outlet = cls(ws.sock, wake)
        ws.sock = outlet
        ws.event = wake  # received frames and the end of the connection wake the same thread
        return outlet

    @property
    def backlog(self) -> int:
        return len(self.pending)

    def write(self, data: bytes) -> None:
        """Send `data` after everything written before it, at once if the socket can take it."""
        with self.lock:
            if self.stalled:
                return
            if self.direct and not self.pending and not self.flushing:
                try:
                    sent = self.sock.send(data, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    sent = 0
                except OSError:  # the peer is gone; the reader thread ends the connection
                    return
                if sent == len(data):
                    return
                data = data[sent:]
            self.pending += data
            if len(self.pending) > BACKLOG:
                self.stalled = True
        self.wake.set()

    def flush(self) -> None:
        """Write out what is queued, waiting at most WRITE_TIMEOUT for a stalled reader."""
        while True:
            with self.lock:
                if self.stalled or not self.pending:
                    self.flushing = False
                    return
                data, self.pending = bytes(self.pending), bytearray()
                self.flushing = True
            try:
                self._send_all(data)
            except (OSError, TimeoutError):
                with self.lock:
                    self.stalled, self.flushing = True, False
                return

    def _send_all(self, data: bytes) -> None:
        if not self.direct:
            self.sock.sendall(data)
            return
        view = memoryview(data)
        deadline = time.monotonic() + WRITE_TIMEOUT
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_WRITE)
            while view:
                try:
                    view = view[self.sock.send(view, socket.MSG_DONTWAIT):]
                    continue
                except BlockingIOError:
                    pass
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise TimeoutError("the reader stopped reading")

    def cut_off(self) -> None:
        """End a connection that cannot be written to: no closing handshake, the peer sees 1006."""
        with self.lock:
            self.stalled = True
            self.pending.clear()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # also ends the reader thread's blocking recv
        except OSError:
            pass

    # What simple-websocket calls on its socket.
    def send(self, data: bytes) -> int:
        self.write(data)
        return len(data)

    def sendall(self, data: bytes) -> None:
        self.write(data)

    def recv(self, size: int) -> bytes:
        return self.sock.recv(size)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()
