"""Attachment storage: files on local disk under UPLOAD_DIR, behind a few functions.

An S3-like store can replace `_path`/`save`/`open_file`/`local_path`/`delete_files` without touching callers.
"""
import io
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
INLINE_TYPES = frozenset({*INLINE_SIGNATURES.values(), "image/webp"})
CHUNK = 64 * 1024


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


def file_size(upload) -> int:
    """Bytes in an upload, without reading it into memory when the stream can seek."""
    stream = upload.stream
    try:
        start = stream.tell()
        stream.seek(0, os.SEEK_END)
        size = stream.tell() - start
        stream.seek(start)
        return size
    except (AttributeError, OSError, ValueError):  # a non-seekable stream: count what it holds
        data = stream.read()
        upload.stream = io.BytesIO(data)
        return len(data)


def size_label(limit: int) -> str:
    mb = limit / (1024 * 1024)
    return f"{mb:.0f} MB" if mb >= 1 else f"{limit // 1024} KB"


def check_uploads(uploads) -> None:
    """Refuse the whole batch, naming every bad file, before anything is stored.

    Empty files and files over Config MAX_ATTACHMENT_BYTES are refused, so a message
    is never half-saved (some files stored, the rest lost).
    """
    limit = current_app.config["MAX_ATTACHMENT_BYTES"]
    empty, large = [], []
    for upload in uploads:
        size = file_size(upload)
        name = display_name(upload.filename)
        if size == 0:
            empty.append(f"“{name}”")
        elif size > limit:
            large.append(f"“{name}”")
    problems = []
    if large:
        problems.append(f"{', '.join(large)} {'is' if len(large) == 1 else 'are'} larger than "
                        f"{size_label(limit)} (the limit per file)")
    if empty:
        problems.append(f"{', '.join(empty)} {'is' if len(empty) == 1 else 'are'} empty")
    if problems:
        raise AttachmentError("; ".join(problems) + ". Nothing was posted.")


def save(thread_id: int, message_id: int | None, upload, user_id: int | None) -> Attachment:
    """Store one uploaded file (werkzeug FileStorage) for a thread/message; not committed.

    Raises AttachmentError when the file is empty or over Config MAX_ATTACHMENT_BYTES.
    The bytes are copied in chunks; the type is sniffed from the content for images, so
    a page named `photo.png` is never announced (nor served) as an image.
    """
    limit = current_app.config["MAX_ATTACHMENT_BYTES"]
    name = display_name(upload.filename)
    head = upload.stream.read(16)
    if not head:
        raise AttachmentError(f"“{name}” is empty.")
    key = secrets.token_hex(16) + (Path(secure_filename(name)).suffix[:10].lower() or "")
    path = _path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = len(head)
    try:
        with path.open("wb") as out:
            out.write(head)
            while chunk := upload.stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise AttachmentError(f"“{name}” is larger than {size_label(limit)}.")
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    sniffed = sniff_raster(head)
    guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
    # A name that claims a raster image over bytes that are not one is just bytes.
    content_type = sniffed or ("application/octet-stream" if guessed in INLINE_TYPES else guessed)
    attachment = Attachment(
        thread_id=thread_id, message_id=message_id, filename=name, content_type=content_type,
        size=size, storage_key=key, uploaded_by_id=user_id,
    )
    db.session.add(attachment)
    return attachment


def open_file(attachment: Attachment):
    """A binary file object with the stored bytes."""
    return _path(attachment.storage_key).open("rb")


def local_path(attachment: Attachment) -> Path:
    """Where the bytes are on disk, for serving them with their length (`send_file`)."""
    return _path(attachment.storage_key)


def is_inline_image(attachment: Attachment) -> bool:
    """True only for stored bytes that really are a PNG, JPEG, GIF or WebP."""
    try:
        with open_file(attachment) as fh:
            return sniff_raster(fh.read(16)) is not None
    except FileNotFoundError:
        return False


def looks_like_image(attachment: Attachment) -> bool:
    """For thumbnails in lists: the type recorded at upload (sniffed), no disk access."""
    return attachment.content_type in INLINE_TYPES


def delete_files(attachments) -> None:
    """Remove stored bytes (call after the rows' deletion is committed)."""
    for attachment in attachments:
        _path(attachment.storage_key).unlink(missing_ok=True)

