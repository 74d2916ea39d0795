"""Helpers for the page tests: links from the outbox, images."""
import re
import struct
import zlib

from sqlalchemy import func, select

from app.extensions import db
from app.models import OutboxMail
from tests.conftest import csrf_token, login


def sign_in(client, user) -> str:
    """Sign `user` in (nobody: stay anonymous) and return a CSRF token for the client's posts."""
    if user is not None:
        login(client, user)
    return csrf_token(client, "/login")


def count(model) -> int:
    """Rows of `model`, read fresh."""
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def last_mail(kind: str | None = None) -> OutboxMail | None:
    stmt = select(OutboxMail).order_by(OutboxMail.id.desc()).limit(1)
    if kind:
        stmt = stmt.where(OutboxMail.kind == kind)
    return db.session.scalar(stmt)


def link_path(mail: OutboxMail) -> str:
    """The site path of the one link in a mail's text part (BASE_URL is http://localhost in tests)."""
    links = set(re.findall(r"http://localhost(/\S+)", mail.body_text))
    assert len(links) == 1, mail.body_text
    return links.pop()


def png_bytes(width: int = 2, height: int = 2, rgb=(79, 70, 229)) -> bytes:
    """A real, tiny PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))
