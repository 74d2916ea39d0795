"""Helpers for the page tests: links from the outbox, images."""
import re
import struct
import zlib

from sqlalchemy import select

from app.extensions import db
from app.models import OutboxMail


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
