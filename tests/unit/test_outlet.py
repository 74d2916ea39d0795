"""The live socket's writer: frames in order, never blocking the bus, slow readers cut off."""
import socket
import threading

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import TextMessage

from app.blueprints.ws import outlet as outlet_module
from app.blueprints.ws.outlet import Outlet, text_frame


@pytest.fixture
def pair():
    server, client = socket.socketpair()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    yield server, client
    server.close()
    client.close()


def read_exactly(sock, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def decode(data: bytes) -> list[str]:
    browser = Connection(ConnectionType.CLIENT)
    browser.receive_data(data)
    return [event.data for event in browser.events() if isinstance(event, TextMessage)]


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
def test_text_frames_decode_as_the_browser_reads_them(size):
    text = "é" * (size // 2) + "x" * (size % 2)
    assert decode(text_frame(text)) == [text]


def test_the_frame_of_one_fragment_is_encoded_once_for_all_its_sockets():
    text = "<div>" + "x" * 100 + "</div>"
    assert text_frame(text) is text_frame(text)
    assert text_frame("".join(["<div>", "x" * 100, "</div>"])) == text_frame(text)


def test_writes_go_straight_out_when_the_reader_keeps_up(pair):
    server, client = pair
    wake = threading.Event()
    out = Outlet(server, wake)
    frames = [text_frame(f"message {n}") for n in range(5)]
    for frame in frames:
        out.write(frame)
    assert out.backlog == 0 and not wake.is_set()
    assert decode(read_exactly(client, sum(map(len, frames)))) == [f"message {n}" for n in range(5)]


def test_a_slow_reader_gets_everything_in_order_without_blocking_the_writer(pair):
    server, client = pair
    wake = threading.Event()
    out = Outlet(server, wake)
    texts = [f"{n:04d}" + "x" * 3000 for n in range(200)]  # ~600 KB: far more than the buffers
    for text in texts:
        out.write(text_frame(text))  # returns at once although nobody reads yet
    assert out.backlog > 0 and wake.is_set() and not out.stalled

    # The socket's own thread writes the queue out while the reader catches up; meanwhile the
    # bus keeps writing behind it (the flusher is blocked until the reader starts).
    flusher = threading.Thread(target=out.flush)
    flusher.start()
    more = [f"late {n}" for n in range(10)]
    for text in more:
        out.write(text_frame(text))
    client.settimeout(10)
    received = read_exactly(client, sum(len(text_frame(t)) for t in texts + more))
    flusher.join(timeout=10)
    assert decode(received) == texts + more and out.backlog == 0


def test_a_reader_too_far_behind_is_cut_off(pair, monkeypatch):
    monkeypatch.setattr(outlet_module, "BACKLOG", 50_000)
    server, client = pair
    out = Outlet(server, threading.Event())
    for _ in range(100):
        out.write(text_frame("x" * 1000))
    assert out.stalled
    out.cut_off()
    assert out.backlog == 0
    out.write(text_frame("after"))  # nothing more is written
    assert out.backlog == 0
    while client.recv(65536):  # what the buffers held, then the end of the connection
        pass


def test_a_reader_that_stops_reading_does_not_hold_its_thread_forever(pair, monkeypatch):
    monkeypatch.setattr(outlet_module, "WRITE_TIMEOUT", 0.2)
    server, _client = pair
    out = Outlet(server, threading.Event())
    for _ in range(100):
        out.write(text_frame("x" * 1000))
    out.flush()  # gives up after WRITE_TIMEOUT
    assert out.stalled


def test_sockets_with_a_timeout_queue_everything_for_their_own_thread(pair):
    server, client = pair
    server.settimeout(5)
    out = Outlet(server, threading.Event())
    out.write(text_frame("queued"))
    assert out.backlog > 0
    out.flush()
    assert decode(read_exactly(client, len(text_frame("queued")))) == ["queued"]
