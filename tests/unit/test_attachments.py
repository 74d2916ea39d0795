"""services/attachments.py: size limits, nothing half-stored, types sniffed from the bytes."""
import io

import pytest
from werkzeug.datastructures import FileStorage

from app.extensions import db
from app.services import attachments
from app.services.attachments import AttachmentError
from tests.conftest import make_contact

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 16
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 8
GIF = b"GIF89a" + b"\x00" * 10
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 8
HTML = b"<!doctype html><script>alert(document.cookie)</script>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>'


def upload(name: str, data: bytes) -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=name)


@pytest.fixture
def thread():
    thread = make_contact().ensure_thread()
    db.session.commit()
    return thread


def stored_files(app) -> list:
    from pathlib import Path

    root = Path(app.config["UPLOAD_DIR"])
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.parametrize("head, expected", [
    (PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp"),
    (HTML, None), (SVG, None), (b"%PDF-1.7", None), (b"", None), (b"RIFF\x00\x00\x00\x00WAVE", None),
])
def test_sniff_raster_knows_only_real_raster_images(head, expected):
    assert attachments.sniff_raster(head[:16]) == expected


@pytest.mark.parametrize("name, data, content_type, inline", [
    ("photo.png", PNG, "image/png", True),
    ("photo.jpg", PNG, "image/png", True),            # the bytes decide, not the name
    ("no-extension", GIF, "image/gif", True),
    ("fake.png", HTML, "application/octet-stream", False),  # a page named like an image is just bytes
    ("page.html", HTML, "text/html", False),
    ("logo.svg", SVG, "image/svg+xml", False),
    ("report.pdf", b"%PDF-1.7 ...", "application/pdf", False),
])
def test_save_records_the_sniffed_type(app, thread, name, data, content_type, inline):
    attachment = attachments.save(thread.id, None, upload(name, data), None)
    db.session.commit()
    assert attachment.content_type == content_type
    assert attachment.size == len(data)
    assert attachments.is_inline_image(attachment) is inline
    assert attachments.looks_like_image(attachment) is inline
    with attachments.open_file(attachment) as fh:
        assert fh.read() == data


def test_save_refuses_a_file_over_the_limit_and_leaves_nothing(app, thread):
    limit = app.config["MAX_ATTACHMENT_BYTES"]
    before = stored_files(app)
    with pytest.raises(AttachmentError, match="big.bin"):
        attachments.save(thread.id, None, upload("big.bin", b"x" * (limit + 1)), None)
    assert stored_files(app) == before
    exactly = attachments.save(thread.id, None, upload("edge.bin", b"x" * limit), None)
    assert exactly.size == limit


def test_save_refuses_an_empty_file(thread):
    with pytest.raises(AttachmentError, match="empty"):
        attachments.save(thread.id, None, upload("nothing.txt", b""), None)


def test_check_uploads_names_every_bad_file_before_anything_is_stored(app):
    limit = app.config["MAX_ATTACHMENT_BYTES"]
    files = [upload("fine.txt", b"ok"), upload("huge.zip", b"x" * (limit + 1)),
             upload("also-huge.iso", b"y" * (limit + 5)), upload("blank.txt", b"")]
    with pytest.raises(AttachmentError) as err:
        attachments.check_uploads(files)
    message = str(err.value)
    assert "“huge.zip”, “also-huge.iso” are larger than 1 MB" in message
    assert "“blank.txt” is empty" in message and "fine.txt" not in message
    # Measuring did not consume the streams.
    assert files[0].stream.read() == b"ok"
    attachments.check_uploads([upload("fine.txt", b"ok")])


@pytest.mark.parametrize("raw, shown", [
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\me\\report.pdf", "report.pdf"),
    ("bad\x00name\r\n.txt", "badname.txt"),
    ("", "file"),
    ("Überweisung 2026.pdf", "Überweisung 2026.pdf"),
])
def test_display_name_is_a_safe_base_name(raw, shown):
    assert attachments.display_name(raw) == shown


def test_storage_keys_do_not_reuse_the_uploaded_name(thread):
    attachment = attachments.save(thread.id, None, upload("../../evil name.html", HTML), None)
    assert "/" not in attachment.storage_key and ".." not in attachment.storage_key
    assert attachment.storage_key.endswith(".html") and "evil" not in attachment.storage_key
    assert attachment.filename == "evil name.html"
