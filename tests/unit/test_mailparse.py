"""Inbound mail parsing (services/mailparse.py): the corpus in tests/mail, then the edge cases.

tests/mail/corpus.json states, per fixture, the facts `parse` must find and the route the mail
router is expected to take; the router's own tests read the same manifest.
"""
import base64
import json
import os
import random
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from app.services.mailparse import (
    MailParseError,
    decode_text,
    decode_words,
    find_tokens,
    message_ids,
    parse,
    safe_filename,
    visible_part,
)
from app.services.sanitize import clean_html, html_to_text

MAIL = Path(__file__).resolve().parents[1] / "mail"
CORPUS = json.loads((MAIL / "corpus.json").read_text(encoding="utf-8"))
OURS = {"<hilo.out1@hilo.test>", "<hilo.out2@hilo.test>"}
VALID_TOKENS = {"t1-0123456789ab", "t2-0123456789ab"}


@pytest.fixture(autouse=True)
def _clean():
    """The parser is pure: no app and no database, so not the suite's per-test table reset."""
    yield


def load(name: str) -> bytes:
    return (MAIL / name).read_bytes()


def visible_texts(mail) -> list[str]:
    """What a reader would see of the new part: the trimmed text, and the trimmed HTML as text."""
    text, html = visible_part(mail.text, mail.html)
    return [t for t in (text, html_to_text(clean_html(html)) if html is not None else None) if t is not None]


# --------------------------------------------------------------------------- the manifest

def test_every_fixture_has_one_entry_and_the_corpus_is_varied():
    files = sorted(p.name for p in MAIL.glob("*.eml"))
    entries = [entry["file"] for entry in CORPUS]
    assert sorted(entries) == files
    assert len(entries) == len(set(entries))
    assert len(files) >= 45


def test_routes_use_the_rules_vocabulary():
    reasons = {"bounce", "loop", "bad-token", "auto", "unknown-recipient", "no sender"}
    for entry in CORPUS:
        route = entry["route"]
        assert entry["about"], entry["file"]
        if route["to"] == "thread":
            assert route["via"] in ("in-reply-to", "references", "token", "marker", "subject"), entry["file"]
            if route["via"] in ("in-reply-to", "references"):
                assert route["message"] in OURS
            if route["via"] in ("token", "marker"):
                assert route["token"] in VALID_TOKENS
        elif route["to"] == "dsn":
            assert route["message"] in OURS
        elif route["to"] == "catchall":
            assert route["reason"] in reasons, entry["file"]
        elif route["to"] == "create":
            assert route["alias"] in ("support", "sales")
        else:
            assert route["to"] in ("bounce", "unparseable"), entry["file"]


def test_line_ending_fixtures_are_what_they_say():
    assert b"\r" not in load("lf_only.eml")
    crlf = load("crlf.eml")
    assert crlf.count(b"\n") == crlf.count(b"\r\n")


def test_the_duplicate_carries_the_same_message_id_as_its_original():
    for entry in CORPUS:
        if "duplicate_of" in entry:
            original = parse(load(entry["duplicate_of"]))
            again = parse(load(entry["file"]))
            assert again.message_id == original.message_id
            assert load(entry["file"]) != load(entry["duplicate_of"])


FACTS = {
    "subject": lambda m: m.subject,
    "from": lambda m: m.sender.address if m.sender else None,
    "from_name": lambda m: m.sender.name if m.sender else None,
    "message_id": lambda m: m.message_id,
    "attachments": lambda m: [p.filename for p in m.attachments],
    "inline": lambda m: sum(p.inline for p in m.attachments),
    "auto": lambda m: m.auto_submitted,
    "bulk": lambda m: m.bulk,
    "tokens": lambda m: m.tokens,
    "defects": lambda m: bool(m.defects),
    "in_reply_to": lambda m: m.in_reply_to,
    "references": lambda m: m.references,
    "references_count": lambda m: len(m.references),
    "to_count": lambda m: len(m.to),
    "cc": lambda m: [a.address for a in m.cc],
    "cc_names": lambda m: [a.name for a in m.cc],
    "reply_to": lambda m: [a.address for a in m.reply_to],
    "delivered_to": lambda m: m.delivered_to,
    "text": lambda m: m.text,
    "date": lambda m: m.date.isoformat() if m.date else None,
    "dsn": lambda m: m.dsn and {"original": m.dsn.original_message_id, "status": m.dsn.recipients[0]["status"],
                                "address": m.dsn.recipients[0]["address"], "action": m.dsn.recipients[0]["action"]},
}


@pytest.mark.parametrize("entry", CORPUS, ids=[entry["file"] for entry in CORPUS])
def test_corpus(entry):
    """Every fixture parses (the unparseable one raises) and every fact stated for it holds."""
    facts = dict(entry["parse"])
    raw = load(entry["file"])
    if facts.pop("error", None):
        with pytest.raises(MailParseError):
            parse(raw)
        return
    mail = parse(raw)
    assert mail.size == len(raw)
    for key, expected in facts.items():
        if key == "text_contains":
            assert expected in (mail.text or ""), key
        elif key == "html_contains":
            assert expected in (mail.html or ""), key
        elif key == "visible_contains":
            assert all(expected in seen for seen in visible_texts(mail)), key
        elif key == "visible_excludes":
            seen = visible_texts(mail)
            assert seen and all(expected not in s for s in seen), key
            assert expected in (mail.text or "") + html_to_text(mail.html or ""), "the quote was there to trim"
        else:
            assert key in FACTS, f"unknown fact {key!r} in corpus.json"
            assert FACTS[key](mail) == expected, key


@pytest.mark.parametrize("entry", [e for e in CORPUS if "error" not in e["parse"]], ids=lambda e: e["file"])
def test_corpus_invariants(entry):
    """What every parsed mail guarantees, whatever the fixture."""
    mail = parse(load(entry["file"]))
    assert "\n" not in mail.subject and mail.subject == mail.subject.strip()
    for text in (mail.text, mail.html, mail.subject):
        assert text is None or "\x00" not in text
    for part in mail.attachments:
        assert part.filename and len(part.filename) <= 255
        assert "/" not in part.filename and "\\" not in part.filename and not part.filename.startswith(".")
        assert part.filename.isprintable()
        assert re.fullmatch(r"[a-z0-9.+-]+/[a-z0-9.+-]+", part.content_type), part.content_type
        assert part.content_id is None or not part.content_id.startswith("<")
    for address in [*mail.to, *mail.cc, *mail.reply_to, *([mail.sender] if mail.sender else [])]:
        assert address.address.split("@")[1] == address.address.split("@")[1].lower()
        assert "\n" not in address.name
    assert mail.date is None or mail.date.tzinfo is timezone.utc
    for mid in [mail.message_id, *mail.in_reply_to, *mail.references]:
        assert mid is None or re.fullmatch(r"<[^<>\s]+@[^<>\s]+>", mid)
    assert set(mail.headers) <= {"From", "To", "Cc", "Subject", "Date", "Message-ID"}


@pytest.mark.parametrize("entry", [e for e in CORPUS if "error" not in e["parse"]], ids=lambda e: e["file"])
def test_truncated_mail_never_raises(entry):
    """Mail cut anywhere (a dropped connection, a full disk) still parses, or is declared not mail."""
    raw = load(entry["file"])
    for cut in (len(raw) // 7, len(raw) // 3, len(raw) * 2 // 3, len(raw) - 5):
        try:
            parse(raw[:cut])
        except MailParseError:
            assert cut < 200  # only when not even one header line is left


# --------------------------------------------------------------------------- not mail

@pytest.mark.parametrize("raw", [b"", b"\r\n\r\n", b"   ", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", bytes(range(256)) * 4,
                                 b"Dear support, please help\n\nThanks"])
def test_input_that_is_not_mail_raises(raw):
    with pytest.raises(MailParseError):
        parse(raw)


def test_only_bytes_are_accepted():
    with pytest.raises(MailParseError):
        parse("Subject: a str\n\nbody")  # type: ignore[arg-type]
    assert parse(bytearray(b"Subject: hi\n\nbody")).subject == "hi"
    assert parse(memoryview(b"Subject: hi\n\nbody")).text == "body"


def test_leading_blank_lines_are_forgiven():
    mail = parse(b"\r\n\r\nFrom: a@example.com\r\nSubject: late start\r\n\r\nbody\r\n")
    assert (mail.subject, mail.sender.address, mail.text) == ("late start", "a@example.com", "body\n")


# --------------------------------------------------------------------------- headers

@pytest.mark.parametrize("raw, decoded", [
    ("=?UTF-8?B?w6lj?= =?UTF-8?B?b2xl?=", "école"),  # whitespace between encoded words goes
    ("=?utf-8?q?caf=C3=A9_cr=C3=A8me?=", "café crème"),  # lower-case q, underscores are spaces
    ("=?UTF-8?B?" + base64.b64encode("ñ".encode()[:1]).decode() + "?= =?UTF-8?B?"
     + base64.b64encode("ñ".encode()[1:] + b"and\xc3\xba").decode() + "?=", "ñandú"),  # a character split over words
    ("Re: =?ISO-8859-1?Q?R=E9sum=E9?= of the week", "Re: Résumé of the week"),  # plain text around a word is kept
    ("=?iso-8859-1?q?a?= =?koi8-r?b?98/Q0s/T?=", "aВопрос"),  # two charsets side by side
    ("=?UTF-8*en?Q?Hello?=", "Hello"),  # RFC 2231 language suffix
    ("=?x-unknown?Q?Gr=C3=BC=C3=9Fe?=", "Grüße"),  # an unknown label: guessed (UTF-8 here)
    ("=?unknown-8bit?Q?Gr=FC=DFe?=", "Grüße"),  # ... windows-1252 when not UTF-8
    ("=?UTF-8?B?not base64!?=", "=?UTF-8?B?not base64!?="),  # undecodable: kept as written
    ("=?UTF-8?B?SGVsbG8?=", "Hello"),  # missing base64 padding
    ("no words at all", "no words at all"),
    ("=?gb2312?B?6Ua7+bmry74=?=", "镕基公司"),  # gb2312 read as GB18030
])
def test_encoded_words(raw, decoded):
    assert decode_words(raw) == decoded


def test_subject_and_names_are_one_line_and_raw_8bit_headers_decode():
    raw = ("From: =?utf-8?q?Line=0ABreak?= <A.B@Example.COM>\nSubject: =?utf-8?q?a=0Ab?=\n\tcontinued\tline\n"
           "Cc: J\xf6rg <j@x.example>\n\nbody").encode("latin-1")
    mail = parse(raw)
    assert mail.subject == "a b continued line"
    assert (mail.sender.name, mail.sender.address) == ("Line Break", "A.B@example.com")
    assert mail.cc[0].name == "Jörg"  # raw latin-1 byte in a header: windows-1252 guess


def test_addresses_groups_and_junk():
    mail = parse(b"From: nobody\nTo: undisclosed-recipients:;\nCc: Team: a@x.example, b@y.example;, <>, c@Z.example\n"
                 b"Reply-To: \"Last, First\" <first.last@x.example>\n\n")
    assert mail.sender is None
    assert mail.to == []
    assert [a.address for a in mail.cc] == ["a@x.example", "b@y.example", "c@z.example"]
    assert [(a.name, a.address) for a in mail.reply_to] == [("Last, First", "first.last@x.example")]


def test_delivered_to_collects_the_envelope_headers_in_order_once():
    mail = parse(b"Delivered-To: Support@HILO.test\nX-Original-To: support@hilo.test\nX-Original-To: sales@hilo.test\n"
                 b"Envelope-To: reply+t1-0123456789ab@hilo.test\nSubject: x\n\n")
    assert mail.delivered_to == ["Support@hilo.test", "support@hilo.test", "sales@hilo.test", "reply+t1-0123456789ab@hilo.test"]


@pytest.mark.parametrize("value, ids", [
    ("<abc@Host.Example>", ["<abc@Host.Example>"]),  # case kept exactly
    ("  < abc@host.example >  ", ["<abc@host.example>"]),  # whitespace inside the brackets dropped
    ("<abc@host.example> (added by postmaster@relay)", ["<abc@host.example>"]),  # comment dropped
    ("<part1.part2\r\n @host.example>", ["<part1.part2@host.example>"]),  # folded inside the id
    ('Your message of "Mon, 3 Mar 2025" <abc@host.example>', ["<abc@host.example>"]),
    ("<a@x.example> <b@y.example>\n <a@x.example>", ["<a@x.example>", "<b@y.example>"]),  # order kept, once
    ("abc@host.example", ["<abc@host.example>"]),  # bare id
    ("<1234567890>", []),  # no @: garbage
    ("<>", []),
    ("garbage words", []),
    ("", []),
])
def test_message_ids_are_normalised(value, ids):
    assert message_ids(value) == ids


def test_message_id_header_garbage_is_none_and_references_keep_order():
    mail = parse(b"Message-ID: not an id\nIn-Reply-To: <p@x.example>\nReferences: <a@x.example>\n <p@x.example>\n\n")
    assert mail.message_id is None
    assert (mail.in_reply_to, mail.references) == (["<p@x.example>"], ["<a@x.example>", "<p@x.example>"])


@pytest.mark.parametrize("value, expected", [
    ("Mon, 3 Mar 2025 10:15:22 +0100", datetime(2025, 3, 3, 9, 15, 22, tzinfo=timezone.utc)),
    ("3 Mar 2025 09:05:01 -0000", datetime(2025, 3, 3, 9, 5, 1, tzinfo=timezone.utc)),  # zone unknown: UTC
    ("Mon, 03 Mar 2025 01:02:11 -0800 (PST)", datetime(2025, 3, 3, 9, 2, 11, tzinfo=timezone.utc)),
    ("yesterday around noon", None),
    ("Mon, 3 Mar 99999 10:00:00 +0100", None),
])
def test_dates_are_aware_utc_or_none(value, expected):
    assert parse(f"Date: {value}\nSubject: d\n\n".encode()).date == expected


def test_display_headers_are_decoded_one_line():
    mail = parse(load("charset_latin1.eml"))
    assert mail.headers["Subject"] == "Problème de téléchargement"
    assert mail.headers["From"] == "Renée Façon <renee.facon@laposte.example>"
    assert mail.headers["Message-ID"] == "<20250304150109.GA2231@laposte.example>"
    assert "Cc" not in mail.headers


# --------------------------------------------------------------------------- charsets

@pytest.mark.parametrize("data, label, text", [
    ("Grüße".encode(), "utf8", "Grüße"),
    ("“quoted” €".encode("cp1252"), "iso-8859-1", "“quoted” €"),  # the label lies: windows-1252
    ("Grüße".encode(), "us-ascii", "Grüße"),  # 8-bit bytes under an ASCII label: guessed
    ("Grüße".encode("latin-1"), None, "Grüße"),  # no label, not UTF-8: windows-1252
    ("Grüße".encode(), "unknown-8bit", "Grüße"),
    ("Grüße".encode(), "x-no-such-charset", "Grüße"),
    ("镕".encode("gbk"), "gb2312", "镕"),
    ("髙".encode("cp932"), "shift_jis", "髙"),  # an IBM extension only cp932 has
    (b"ok", "base64", "ok"),  # a bytes-to-bytes codec is not a charset
    (b"\xff\xfeb\x00a\x00d\x00", "utf-16", "bad"),
    (b"caf\xe9", "utf-8", "caf\ufffd"),  # bad bytes replaced, never raised
    (b"\xef\xbb\xbfBOM", None, "BOM"),
])
def test_charset_fallbacks(data, label, text):
    assert decode_text(data, label) == text


# --------------------------------------------------------------------------- attachments

@pytest.mark.parametrize("name, safe", [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\boot.ini", "boot.ini"),
    ("C:\\evil.exe", "evil.exe"),
    ("in\x00voice\r\n.pdf", "invoice.pdf"),
    ("photo\u202egpj.exe", "photogpj.exe"),  # right-to-left override dropped
    ("...hidden", "hidden"),
    ("..", "attachment"),
    ("report.pdf. . ", "report.pdf"),
    ("", "attachment"),
    (None, "attachment"),
    ("<img src=x onerror=alert(1)>.png", "<img src=x onerror=alert(1)>.png"),  # markup: escaped at display
    ("a" * 300 + ".pdf", "a" * 251 + ".pdf"),  # the extension survives the cut
])
def test_safe_filename(name, safe):
    assert safe_filename(name) == safe


def test_default_names_come_from_the_content_type():
    assert safe_filename(None, "image/png") == "image.png"
    assert safe_filename("", "application/pdf") == "attachment.pdf"
    assert safe_filename("", "application/octet-stream") == "attachment"


def test_safe_filename_is_always_safe():
    rng = random.Random(7)  # deterministic: the same 500 awkward names on every run
    pool = "aé漢😀 ./\\..\x00\x01\x1f\x7f\x85\xa0\u2028\u202e\u200b\ufeff\udc80\ue000:*?<>|\"'\t\r\n"
    for _ in range(500):
        name = "".join(rng.choice(pool) for _ in range(rng.randrange(0, 300)))
        safe = safe_filename(name)
        assert safe and len(safe) <= 255 and safe.isprintable(), repr(name)
        assert "/" not in safe and "\\" not in safe and not safe.startswith("."), repr(name)


def test_parts_keep_type_bytes_and_cid():
    mail = parse(load("apple_inline_image.eml"))
    (image,) = mail.attachments
    assert image.content_type == "image/png" and image.data.startswith(b"\x89PNG")
    assert image.content_id == "5C3A1D2E-8F4B-4E6A-9D1C-2B7A8E9F0C13" and image.inline
    assert f"cid:{image.content_id}" in mail.html


def test_an_attached_mail_becomes_an_eml_named_after_its_subject():
    (eml,) = parse(load("forwarded_attachment.eml")).attachments
    assert eml.content_type == "message/rfc822"
    inner = parse(eml.data)  # the attachment is itself a whole mail
    assert inner.message_id == "<order-A-99812-shipped@shop.example>"
    assert [p.filename for p in inner.attachments] == ["packing-slip.pdf"]


def test_a_disposition_inline_image_with_a_content_id_is_inline_even_unreferenced():
    raw = (b"Subject: x\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\nsee logo\n"
           b"--B\nContent-Type: image/gif\nContent-Disposition: inline\nContent-ID: <logo@x>\n"
           b"Content-Transfer-Encoding: base64\n\nR0lGODlhAQABAAAAACw=\n--B\nContent-Type: image/gif\n"
           b"Content-Disposition: attachment\nContent-ID: <other@x>\nContent-Transfer-Encoding: base64\n\nR0lGODlhAQABAAAAACw=\n--B--\n")
    parts = parse(raw).attachments
    assert [(p.filename, p.inline) for p in parts] == [("image.gif", True), ("image.gif", False)]


def test_raw_8bit_filename_is_decoded():
    raw = ("Subject: x\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\nhi\n--B\n"
           "Content-Type: application/pdf\nContent-Disposition: attachment; filename=\"Übersicht März.pdf\"\n\n%PDF\n--B--\n")
    assert [p.filename for p in parse(raw.encode()).attachments] == ["Übersicht März.pdf"]


def test_a_20_mb_attachment():
    chunk = os.urandom(57)  # one 76-character base64 line, repeated: cheap to build, real to parse
    lines = 20 * 1024 * 1024 // 57 + 1
    data = chunk * lines
    raw = (b"From: big@example.com\nTo: support@hilo.test\nSubject: big\nMIME-Version: 1.0\n"
           b"Content-Type: multipart/mixed; boundary=XX\n\n--XX\nContent-Type: text/plain\n\nsee attached\n"
           b"--XX\nContent-Type: application/zip; name=big.zip\nContent-Transfer-Encoding: base64\n\n"
           + (base64.b64encode(chunk) + b"\n") * lines + b"--XX--\n")
    mail = parse(raw)
    (part,) = mail.attachments
    assert (part.filename, len(part.data), part.data == data) == ("big.zip", len(data), True)
    assert mail.size == len(raw) and mail.text == "see attached"  # the last line break belongs to the boundary


# --------------------------------------------------------------------------- malformed MIME

def test_malformed_mime_is_reported_not_raised():
    assert any("boundary" in d for d in parse(load("malformed_no_closing_boundary.eml")).defects)
    assert any("boundary" in d for d in parse(load("malformed_boundary_missing.eml")).defects)
    bad = parse(load("malformed_base64.eml"))
    assert any("base64" in d for d in bad.defects)
    assert any("transfer encoding" in d for d in bad.defects)
    core = [p for p in bad.attachments if p.filename == "core.dump"][0]
    assert core.data == bytes(range(64))  # " Base64 " still decoded
    assert parse(load("malformed_header_no_colon.eml")).defects == ["header line without a colon ignored"]
    assert parse(load("nul_byte.eml")).defects == ["NUL bytes removed from the body"]


def test_a_clean_mail_has_no_defects():
    assert parse(load("plain_text.eml")).defects == []
    assert parse(load("reply_outlook_web.eml")).defects == []


@pytest.mark.parametrize("depth", [40, 150, 3000])
def test_absurd_nesting_is_cut_not_raised(depth):
    raw = (b"From: a@b.example\nSubject: deep\n"
           + b"".join(b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(depth))
           + b"Content-Type: text/plain\n\nhello\n" + b"".join(b"--b%d--\n" % i for i in reversed(range(depth))))
    mail = parse(raw)
    assert mail.subject == "deep" and any("nest" in d for d in mail.defects)


def test_missing_header_body_separator_keeps_the_text_as_body():
    mail = parse(b"Subject: no blank line\nThis line is the body.\nAnd this.\n")
    assert mail.subject == "no blank line" and "This line is the body." in mail.text


# --------------------------------------------------------------------------- automatic and bulk mail

@pytest.mark.parametrize("headers, auto", [
    ("Auto-Submitted: auto-replied", True),
    ("Auto-Submitted: auto-generated; owner-email=x@y", True),
    ("Auto-Submitted: no", False),
    ("Auto-Submitted: No ", False),
    ("X-Autoreply: yes", True),
    ("X-Autorespond: Vacation", True),
    ("X-Auto-Response-Suppress: All", True),
    ("X-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply", True),
    ("X-Auto-Response-Suppress: DR, RN", False),
    ("X-MS-Exchange-Inbox-Rules-Loop: a@b.example", True),
    ("Precedence: auto_reply", True),
    ("Return-Path: <>", True),
    ("Return-Path: <a@b.example>", False),
    ("Subject: Out of office", False),  # a subject alone is a human's choice
    ("Subject: Out of office\nPrecedence: junk", True),
    ("Subject: Automatic reply: hello\nX-Auto-Response-Suppress: DR", True),
    ("Subject: Abwesenheitsnotiz\nPrecedence: bulk", True),
    ("Subject: R\u00e9ponse automatique\nPrecedence: bulk", True),
    ("Subject: Hello\nPrecedence: bulk", False),
    ("Subject: Re: Out of office\nPrecedence: bulk", True),
    ("Sender: x@y.example\nReply-To: MAILER-DAEMON@relay.example", False),
])
def test_auto_submitted(headers, auto):
    assert parse(f"From: a@b.example\n{headers}\n\nbody".encode()).auto_submitted is auto


@pytest.mark.parametrize("headers, bulk", [
    ("Precedence: bulk", True),
    ("Precedence: list", True),
    ("Precedence: junk", True),
    ("List-Id: <news.example.com>", True),
    ("List-Unsubscribe: <https://example.com/u>", False),  # receipts carry it too
    ("X-MC-User: 1a2b", True),
    ("X-Mailer: MailChimp Mailer - **CID1**", True),
    ("X-Mailer: Microsoft Outlook 16.0", False),
])
def test_bulk(headers, bulk):
    assert parse(f"From: a@b.example\n{headers}\n\nbody".encode()).bulk is bulk


def test_delivery_reports_list_every_recipient():
    dsn = parse(load("dsn_postfix.eml")).dsn
    assert dsn.recipients == [{
        "address": "nobody@customer.example", "action": "failed", "status": "5.1.1",
        "diagnostic": "550 5.1.1 <nobody@customer.example>: Recipient address rejected: User unknown in virtual mailbox table",
    }]
    gmail = parse(load("dsn_gmail.eml")).dsn
    assert gmail.recipients[0]["diagnostic"].startswith("The email account that you tried to reach does not exist.")
    assert "\n" not in gmail.recipients[0]["diagnostic"]


def test_a_human_forwarding_a_mail_is_not_a_bounce():
    assert parse(load("forwarded_attachment.eml")).dsn is None
    assert parse(load("mdn_read_receipt.eml")).dsn is None


def test_bounce_without_a_report_from_a_daemon():
    raw = (b"From: Mail Delivery System <MAILER-DAEMON@relay.example>\nSubject: Mail delivery failed: returning message to sender\n"
           b"X-Failed-Recipients: gone@customer.example\n\nThis message was created automatically by mail delivery software.\n\n"
           b"  gone@customer.example\n    SMTP error from remote mail server after RCPT TO:<gone@customer.example>:\n"
           b"    550 5.1.1 User unknown\n\n------ This is a copy of the message, including all the headers. ------\n\n"
           b"Message-ID: <hilo.out1@hilo.test>\nFrom: notifications@hilo.test\nSubject: hi\n\nhello\n")
    mail = parse(raw)
    assert mail.auto_submitted
    assert mail.dsn.original_message_id == "<hilo.out1@hilo.test>"
    assert mail.dsn.recipients == [{
        "address": "gone@customer.example", "action": "failed", "status": "5.1.1",
        "diagnostic": "gone@customer.example SMTP error from remote mail server after RCPT TO:<gone@customer.example>: "
                      "550 5.1.1 User unknown"}]


def test_mail_from_a_mailer_daemon_is_automatic_even_when_not_a_recognised_bounce():
    mail = parse(b"From: MAILER-DAEMON@relay.example\nSubject: Warning\n\nYour mailbox is almost full.\n")
    assert mail.auto_submitted and mail.dsn is None


# --------------------------------------------------------------------------- reply tokens

def test_tokens_recipients_first_then_text_then_html_each_once():
    raw = (b"From: c@example.com\nTo: x@example.com, Hilo <REPLY+T2-0123456789AB@hilo.test>\n"
           b"Cc: reply+t1-ffffffffffff@hilo.test\nDelivered-To: reply+t3-0123456789ab@mx.hilo.test\n"
           b"Subject: r\nContent-Type: multipart/alternative; boundary=B\n\n--B\nContent-Type: text/plain\n\n"
           b"> hilo-ref:t4-0123456789ab\n> hilo-ref:t2-0123456789ab\n--B\nContent-Type: text/html\n\n"
           b"<span style=\"display:none\">hilo-ref:t5-0123456789ab</span>\n--B--\n")
    assert parse(raw).tokens == ["t2-0123456789ab", "t1-ffffffffffff", "t3-0123456789ab", "t4-0123456789ab",
                                 "t5-0123456789ab"]


@pytest.mark.parametrize("text, tokens", [
    ("reply+t1-0123456789ab@hilo.test", ["t1-0123456789ab"]),
    ("reply+t1-ffffffffffff@hilo.test", ["t1-ffffffffffff"]),  # forged-looking: found all the same
    ("Hilo <reply+t42-3f9a1c0b7e2d@anywhere.example>", ["t42-3f9a1c0b7e2d"]),
    ("noreply+t1-0123456789ab@hilo.test", []),  # the local part must be exactly reply+<token>
    ("reply+t1-0123456789abc@hilo.test", []),  # 13 hex digits
    ("reply+t1-0123456789ag@hilo.test", []),  # not hex
    ("reply+t-0123456789ab@hilo.test", []),
    ("...hilo-ref:t7-0123456789ab...", ["t7-0123456789ab"]),
    ("hilo-ref:t7-0123456789abcd", []),
    ("hilo-ref: t7-0123456789ab", []),
    ("no token", []),
])
def test_find_tokens(text, tokens):
    assert find_tokens(text) == tokens


def test_find_tokens_takes_several_texts_and_none():
    assert find_tokens(None, "hilo-ref:t2-0123456789ab", "", "reply+t1-0123456789ab@x hilo-ref:t2-0123456789ab") == [
        "t2-0123456789ab", "t1-0123456789ab"]


def test_the_reply_local_part_is_the_configured_one():
    raw = b"To: answer+t1-0123456789ab@hilo.test, reply+t2-0123456789ab@hilo.test\nSubject: r\n\nbody"
    assert parse(raw, reply_localpart="answer").tokens == ["t1-0123456789ab"]
    assert find_tokens("answer+t1-0123456789ab@x", reply_localpart="answer") == ["t1-0123456789ab"]


def test_marker_in_quoted_history_is_found_though_visible_part_trims_it():
    mail = parse(load("reply_gmail_broken_id.eml"))
    assert mail.tokens == ["t2-0123456789ab"]
    text, html = visible_part(mail.text, mail.html)
    assert "hilo-ref" not in html and "hilo-ref" in mail.html


# --------------------------------------------------------------------------- the visible part

@pytest.mark.parametrize("name, kept, dropped", [
    ("reply_gmail.eml", "everything works", "Hilo Support <"),
    ("reply_outlook_web.eml", "report as CSV", "Sent: Monday"),
    ("reply_outlook_desktop.eml", "überwiesen", "Gesendet:"),
    ("reply_apple.eml", "Sent from my iPad", "wrote:"),
    ("reply_thunderbird.eml", "mon collègue", "a écrit"),
    ("reply_original_message.eml", "confirmar la recepción", "Mensaje original"),
    ("reply_two_people_a.eml", "Rossi & Bianchi", "ha scritto"),
    ("reply_two_people_b.eml", "codice SDI", "escreveu"),
    ("reply_subject_changed.eml", "factuuradres", "schreef"),
    ("reply_forward_to_sales.eml", "plan Business", "escribió"),
    ("reply_gmail_broken_id.eml", "Quittung", "schrieb"),
])
def test_visible_part_per_client(name, kept, dropped):
    mail = parse(load(name))
    for seen in visible_texts(mail):
        assert kept in seen and dropped not in seen


def test_visible_part_of_a_mail_that_is_all_quote_is_the_mail():
    text = "On Mon, 3 Mar 2025 at 10:02, Hilo <n@hilo.test> wrote:\n> all of it\n> is quoted\n"
    html = '<div class="gmail_quote"><blockquote class="gmail_quote">all quoted</blockquote></div>'
    assert visible_part(text, html) == (text, html)
    assert visible_part("> only\n> quotes\n") == ("> only\n> quotes\n", None)


def test_visible_part_keeps_forwards_and_inline_answers():
    fwd = parse(load("forwarded_inline.eml"))
    assert visible_part(fwd.text, fwd.html) == (fwd.text, fwd.html)
    mutt = parse(load("reply_mutt_inline.eml"))
    assert visible_part(mutt.text)[0] == mutt.text


@pytest.mark.parametrize("text", [
    "Thanks!\n\nOn Mon, 3 Mar 2025 at 10:02, Hilo <n@hilo.test> wrote:\n> old\n",
    "Thanks!\n\nEl lun, 3 mar 2025 a las 10:02, Hilo (<n@hilo.test>) escribió:\n> old\n",
    "Thanks!\n\nLe lun. 3 mars 2025 à 10:02, Hilo <n@hilo.test> a écrit :\n> old\n",
    "Thanks!\n\nAm Mo., 3. März 2025 um 10:02 Uhr schrieb Hilo <n@hilo.test>:\n> old\n",
    "Thanks!\n\nEm seg., 3 de mar. de 2025 às 10:02, Hilo <n@hilo.test> escreveu:\n> old\n",
    "Thanks!\n\nIl giorno lun 3 mar 2025 alle ore 10:02 Hilo <n@hilo.test> ha scritto:\n> old\n",
    "Thanks!\n\nOp ma 3 mrt 2025 om 10:02 schreef Hilo <n@hilo.test>:\n> old\n",
    "Thanks!\n\nOn Mon, 3 Mar 2025 at 10:02, Hilo Support with a long name <\nn@hilo.test> wrote:\n\n> old\n",
    "Thanks!\n\n-----Original Message-----\nFrom: Hilo\nSent: Monday\n\nold\n",
    "Thanks!\n\n________________________________\nFrom: Hilo <n@hilo.test>\nSent: Monday, March 3, 2025\nTo: me\n\nold\n",
    "Thanks!\n\nDe : Hilo <n@hilo.test>\nEnvoyé : lundi 3 mars 2025 10:02\nÀ : moi\n\nold\n",
    "Thanks!\n\nDa: Hilo <n@hilo.test>\nInviato: lunedì 3 marzo 2025 10:02\n\nold\n",
    "Thanks!\n\nVan: Hilo <n@hilo.test>\nVerzonden: maandag 3 maart 2025 10:02\n\nold\n",
    "Thanks!\r\n\r\n> old\r\n> older\r\n",
])
def test_visible_part_of_plain_text_replies(text):
    assert visible_part(text)[0] == "Thanks!"


@pytest.mark.parametrize("text", [
    "As my colleague wrote:\nwe need the export by Friday.\n",  # prose, not an attribution
    "On Monday our team wrote:\nthe export works, thanks.\n",
    "Hello\n\n> a quote\n\nmy answer\n",  # an answer below the quote
])
def test_visible_part_does_not_cut_prose(text):
    assert visible_part(text)[0] == text


def test_visible_part_html_cut_is_left_for_the_sanitiser_to_close():
    html = '<div><p>New <b>text</b></p><div class="moz-cite-prefix">On … wrote:</div><blockquote type="cite">old</blockquote></div>'
    _, cut = visible_part(html=html)
    assert cut == "<div><p>New <b>text</b></p>"
    assert clean_html(cut) == "<div><p>New <b>text</b></p></div>"


# --------------------------------------------------------------------------- stored XSS stays raw here

def test_xss_payloads_reach_the_sanitiser_raw_and_leave_it_harmless():
    mail = parse(load("xss_payloads.eml"))
    assert "<script>" in mail.subject and mail.sender.name == "<img src=x onerror=alert(1)>"
    cleaned = clean_html(mail.html).lower()
    for payload in ("<script", "onerror", "javascript:", "hx-get", "hx-trigger", "onload", "<svg", "<iframe", "<form"):
        assert payload not in cleaned
    assert "please look at my issue." in cleaned
