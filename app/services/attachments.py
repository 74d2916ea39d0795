"""Attachment storage: files on local disk under UPLOAD_DIR, behind two functions.

An S3-like store can replace `_path`/`save`/`open_file` without touching callers.
"""
import mimetypes
import os
import secrets
from pathlib import Path

from flask import current_app
from werkzeug.utils import secure_filename

from app.extensions import db
from app.models import Attachment

# Raster images are shown inline; everything else is served as a download so an
# uploaded .html, .js or .svg never runs in our origin.
INLINE_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


class AttachmentError(ValueError):
    """A file we refuse; the message is meant for the user."""


def sniff_raster(head: bytes) -> str | None:
    """The image type if `head` starts like a PNG, JPEG, GIF or WebP, else None."""
    for signature, mime in INLINE_SIGNATURES.items():
        if head.startswith(signature):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _path(storage_key: str) -> Path:
    return Path(current_app.config["UPLOAD_DIR"]) / storage_key[:2] / storage_key


def display_name(filename: str) -> str:
    """A safe name to show and to offer on download (path parts and control chars removed)."""
    name = os.path.basename((filename or "").replace("\\", "/"))
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:200] or "file"


def save(thread_id: int, message_id: int | None, upload, user_id: int | None) -> Attachment:
    """Store one uploaded file (werkzeug FileStorage) for a thread/message; not committed.

    Raises AttachmentError when the file is empty or over Config MAX_ATTACHMENT_BYTES.
    """
    limit = current_app.config["MAX_ATTACHMENT_BYTES"]
    data = upload.stream.read(limit + 1)
    name = display_name(upload.filename)
    if not data:
        raise AttachmentError(f"“{name}” is empty.")
    if len(data) > limit:
        raise AttachmentError(f"“{name}” is larger than {limit // (1024 * 1024) or 1} MB.")
    key = secrets.token_hex(16) + (Path(secure_filename(name)).suffix[:10] or "")
    path = _path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    content_type = sniff_raster(data[:16]) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    attachment = Attachment(
        thread_id=thread_id, message_id=message_id, filename=name, content_type=content_type,
        size=len(data), storage_key=key, uploaded_by_id=user_id,
    )
    db.session.add(attachment)
    return attachment


def open_file(attachment: Attachment):
    """A binary file object with the stored bytes."""
    return _path(attachment.storage_key).open("rb")


def is_inline_image(attachment: Attachment) -> bool:
    with open_file(attachment) as fh:
        return sniff_raster(fh.read(16)) is not None


def delete_files(attachments) -> None:
    """Remove stored bytes (call after the rows' deletion is committed)."""
    for attachment in attachments:
        _path(attachment.storage_key).unlink(missing_ok=True)
