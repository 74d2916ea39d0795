"""Inbound mail, parsed: raw RFC 822 bytes in, a plain `ParsedMail` out (SPEC §3).

Pure: no Flask, no database. Routing into threads (`route_inbound_mail`) reads what this module
finds; nothing here decides where a mail goes.

- `parse(raw)` never raises on malformed MIME: what it could not make sense of is listed in
  `ParsedMail.defects`. Only input that is not mail at all (not bytes, empty, no header) raises
  `MailParseError`, so the caller can store it raw and flag it for an admin.
- Speed: the gateway must ingest 150+ mails/s with the database work, so the stdlib parser runs
  with `policy.compat32` (about 10x faster than `policy.default`) and headers are decoded here:
  RFC 2047 words (split multibyte characters included), raw 8-bit headers, unknown charsets.
- Text is never sanitised here: `html` is the sender's HTML as sent; display goes through
  `app.services.sanitize.clean_html`. Subjects, names and filenames may hold markup too.

Charsets: labels are read the way browsers read them (WHATWG Encoding Standard): iso-8859-1 is
windows-1252, gb2312 is GB18030, shift_jis is cp932... Labels that say nothing ("unknown-8bit",
"x-unknown", "us-ascii" over 8-bit bytes, none at all) decode as UTF-8 when the bytes are UTF-8,
else as windows-1252. Bad bytes become U+FFFD; decoding never raises.

Reply tokens (signed elsewhere, only *found* here): `t<digits>-<12 hex>`, in a recipient's local
part `reply+<token>@…` or in our outbound's invisible body marker `hilo-ref:<token>`.

For the router (tests/mail/corpus.json states the expected route of every fixture):
- `to`/`cc` are the header recipients; `delivered_to` the envelope ones (Bcc, list copies, and the
  only sign of which alias received a mailing-list post): match aliases against both.
- `in_reply_to` then `references` (oldest first; the last one is the direct parent). Clients put
  ids there that are not ours (Outlook's own copy, Gmail's SMTPIN_ADDED_BROKEN ids): look each up.
- `tokens` come from recipients first, then the quoted history: a token found only in the body
  is the marker case. Check each signature (mailer.token_thread_id); a forged one is still listed.
- `auto_submitted` (auto-replies, bounces, receipts) and `bulk` (lists, newsletters) must never
  create a ticket nor get an automatic answer or a bounce; `dsn` is set for bounces and delay
  warnings alike: read `recipients[i]["action"]` (failed vs delayed).
- `text` is None when there is no text part, "" when the part is empty; NUL characters are
  removed everywhere (PostgreSQL refuses them). `sender` may be None (no From).
"""
import binascii
import codecs
import email
import email.parser
import email.policy
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.errors import InvalidBase64LengthDefect
from email.header import Header, decode_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from functools import lru_cache
from urllib.parse import unquote


class MailParseError(ValueError):
    """The input is not mail at all (not bytes, empty, or no header): store it raw for an admin."""


@dataclass
class Address:
    name: str  # display name, RFC 2047 decoded, one line ("" when none)
    address: str  # local part as sent, domain lower-cased


@dataclass
class Part:
    """An attachment or an inline image."""
    filename: str  # safe (see safe_filename); never empty
    content_type: str  # lower-case "type/subtype"
    data: bytes
    content_id: str | None  # without the angle brackets
    inline: bool  # referenced as cid: from the HTML, or Content-Disposition inline with a Content-ID


@dataclass
class DeliveryReport:
    """A bounce: an RFC 3464 report, or a common non-standard one from a mailer daemon."""
    original_message_id: str | None  # "<…>" of the mail that bounced
    # {"address", "action" (failed|delayed|delivered|relayed|expanded), "status" ("5.1.1"), "diagnostic"}
    recipients: list[dict] = field(default_factory=list)


@dataclass
class ParsedMail:
    message_id: str | None  # "<id@host>" exactly as sent inside the brackets; None if missing/garbage
    in_reply_to: list[str]  # normalised ids, in order
    references: list[str]  # normalised ids, in order
    subject: str  # decoded, one line, stripped
    sender: Address | None  # the first From address; None when absent or unparseable
    reply_to: list[Address]
    to: list[Address]
    cc: list[Address]
    delivered_to: list[str]  # Delivered-To, X-Original-To, Envelope-To: the envelope recipients
    date: datetime | None  # aware, UTC
    text: str | None  # the plain-text body ("\n" line ends); None when the mail has no text part
    html: str | None  # the HTML body as sent (NOT sanitised); None when the mail has no HTML part
    attachments: list[Part]
    auto_submitted: bool  # an automatic mail: auto-reply, vacation, bounce, read receipt (RFC 3834)
    bulk: bool  # a newsletter or list mail
    dsn: DeliveryReport | None
    tokens: list[str]  # unique reply tokens: recipients first, then the text, then the HTML
    size: int  # len(raw)
    defects: list[str]  # what was malformed; parsing went on
    headers: dict[str, str]  # decoded From/To/Cc/Subject/Date/Message-ID for display (present ones)


MAX_DEPTH = 30  # multipart nesting; deeper parts are skipped (and reported as a defect)
MAX_MULTIPARTS = 200  # "multipart/" declarations beyond which the body is not parsed (kept as text)
MAX_FILENAME = 255
MAX_DEFECTS = 50
SYSTEM_SENDERS = frozenset({"mailer-daemon", "postmaster"})

# --------------------------------------------------------------------------- charsets

_CHARSET_ALIASES = {
    # No information: guess (UTF-8 when valid, else windows-1252).
    **dict.fromkeys(("", "unknown-8bit", "x-unknown", "unknown", "x-user-defined", "8bit", "default",
                     "charset", "us-ascii", "ascii", "ansi_x3.4-1968", "iso-646-us", "us"), None),
    # What the label means in practice (WHATWG Encoding Standard).
    **dict.fromkeys(("iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "cp819",
                     "windows-1252", "cp1252", "x-cp1252"), "cp1252"),
    **dict.fromkeys(("gb2312", "gbk", "x-gbk", "euc-cn", "cp936", "csgb2312", "gb_2312-80"), "gb18030"),
    **dict.fromkeys(("big5", "x-big5", "big5-hkscs", "cn-big5", "csbig5"), "big5hkscs"),
    **dict.fromkeys(("shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "windows-31j", "csshiftjis"), "cp932"),
    **dict.fromkeys(("euc-kr", "ks_c_5601-1987", "ks_c_5601", "ksc5601", "windows-949"), "cp949"),
    **dict.fromkeys(("iso-8859-9", "latin5", "windows-1254"), "cp1254"),
    **dict.fromkeys(("tis-620", "iso-8859-11", "windows-874"), "cp874"),
    "iso-8859-8-i": "iso-8859-8",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
}


@lru_cache(maxsize=256)
def _codec(label: str | None) -> str | None:
    """The Python text codec for a charset label, or None when the label tells us nothing."""
    label = (label or "").strip().strip("\"'").lower()
    if label in _CHARSET_ALIASES:
        return _CHARSET_ALIASES[label]
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):  # unknown, or not even a name ("utf\x008")
        return None
    # codecs.lookup also knows bytes-to-bytes codecs (base64, zlib, rot13...): not charsets.
    return info.name if getattr(info, "_is_text_encoding", True) else None


def decode_text(data: bytes, charset: str | None = None) -> str:
    """Bytes in `charset` as str; an unknown or missing label is guessed. Never raises."""
    codec = _codec(charset) if charset else None
    if codec is not None:
        try:
            return data.decode(codec, "replace")
        except (LookupError, UnicodeError, ValueError, TypeError):  # codecs with strict-only decoders
            pass
    try:
        return data.decode("utf-8-sig" if data[:3] == b"\xef\xbb\xbf" else "utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


# --------------------------------------------------------------------------- headers

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*?)\?=")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_SPACES = re.compile(r" {2,}")
_FOLD = re.compile(r"\r?\n(?=[ \t])")


def _raw_text(value) -> str:
    """A header value as str, unfolded: raw 8-bit bytes decoded; RFC 2047 words left as they are."""
    if isinstance(value, Header):  # compat32 wraps values holding raw 8-bit bytes in a Header
        value = "".join(decode_text(chunk) if isinstance(chunk, bytes) else chunk
                        for chunk, _charset in decode_header(value))
    return _FOLD.sub("", str(value))


def _decode_word(encoding: str, text: str) -> bytes | None:
    if encoding in "bB":
        try:
            return binascii.a2b_base64(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):  # bad padding, non-ASCII characters
            return None
    return binascii.a2b_qp(text.encode("utf-8"), header=True)


def decode_words(value: str) -> str:
    """Decode the RFC 2047 encoded words in `value`.

    Adjacent words in one charset are joined before decoding, so a multibyte character split
    across two words comes out whole; whitespace between encoded words is dropped (RFC 2047 §6.2);
    a word that does not decode is kept as written.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""
    position, after_word = 0, False
    for match in _ENCODED_WORD.finditer(value):
        between = value[position:match.start()]
        charset = match.group(1).split("*", 1)[0]  # RFC 2231 language suffix: =?utf-8*en?Q?…?=
        data = _decode_word(match.group(2), match.group(3))
        joins = not between or (after_word and between.isspace())
        if pending and (data is None or not joins or charset.lower() != pending_charset.lower()):
            out.append(decode_text(b"".join(pending), pending_charset))
            pending = []
        if not joins:
            out.append(between)
        if data is None:
            out.append(match.group(0))
        else:
            pending.append(data)
            pending_charset = charset
        after_word = data is not None
        position = match.end()
    if pending:
        out.append(decode_text(b"".join(pending), pending_charset))
    out.append(value[position:])
    return "".join(out)


def one_line(text: str) -> str:
    """Control characters (line breaks, tabs, NUL) become single spaces; the result is stripped."""
    return _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()


def header_text(value) -> str:
    """A header value for display: 8-bit bytes and RFC 2047 words decoded, one line."""
    if value is None:
        return ""
    return one_line(decode_words(_raw_text(value)))


def _address(name: str, address: str) -> Address | None:
    address = one_line(address).strip("<>").strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return None
    return Address(name=one_line(decode_words(name)), address=f"{local}@{domain.lower().rstrip('.')}")


_ADDR_SPEC = r"[^\s<>\"(),;:@\\\[\]]+@[^\s<>\"(),;:@\\\[\]]+"
_SIMPLE_ADDRESS = re.compile(
    rf"""\s*(?:(?:"((?:[^"\\]|\\.)*)"|([^"<>,;:@()\\\[\]]*?))\s*<\s*({_ADDR_SPEC})\s*>|({_ADDR_SPEC}))\s*(?:,|$)""")
_QUOTED_PAIR = re.compile(r"\\(.)")


def _simple_addresses(text: str) -> list[tuple[str, str]] | None:
    """`Name <a@b>, "Last, First" <c@d>, e@f` without getaddresses' general (slow) parser;
    None when the list uses anything else (groups, comments, routes...)."""
    pairs, position, end = [], 0, len(text)
    while position < end:
        match = _SIMPLE_ADDRESS.match(text, position)
        if not match or match.end() == position:
            return None
        quoted, bare_name, address, lone = match.groups()
        name = _QUOTED_PAIR.sub(r"\1", quoted) if quoted is not None else (bare_name or "")
        pairs.append((name, address or lone))
        position = match.end()
    return pairs


def _addresses(values) -> list[Address]:
    """Addresses of one or more address headers, in order, without repeats."""
    if not values:
        return []
    # Split first, then decode each name: a decoded name may hold a comma.
    texts = [_raw_text(v) for v in values]
    pairs = _simple_addresses(", ".join(texts).strip().rstrip(","))
    if pairs is None:
        pairs = getaddresses(texts)
    found, seen = [], set()
    for name, address in pairs:
        parsed = _address(name, address)
        if parsed and parsed.address.lower() not in seen:
            seen.add(parsed.address.lower())
            found.append(parsed)
    return found


_ANGLE_ID = re.compile(r"<([^<>]*)>")
_COMMENT = re.compile(r"\([^()]*\)")
_BARE_ID = re.compile(r"^[^\s<>()\",;@]+@[^\s<>()\",;@]+$")


def message_ids(value) -> list[str]:
    """The Message-IDs in a Message-ID, In-Reply-To or References value, normalised to "<…>".

    What is inside the brackets is kept exactly as sent (case too) minus whitespace (folding);
    comments and prose ("Your message of …") are dropped; an id without "@" is garbage.
    """
    if not value:
        return []
    text = _raw_text(value)
    found = ["".join(inner.split()) for inner in _ANGLE_ID.findall(text)]
    if not found:  # bare ids, as some old mailers write them
        found = [word.strip("<>") for word in re.split(r"[\s,]+", _COMMENT.sub(" ", text))]
    ids, seen = [], set()
    for inner in found:
        if _BARE_ID.match(inner) and len(inner) < 990 and inner not in seen:
            seen.add(inner)
            ids.append(f"<{inner}>")
    return ids


def _date(value) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(_raw_text(value).strip())
        if parsed.tzinfo is None:  # "-0000": the time is UTC, the zone unknown
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.astimezone(timezone.utc)
    except (TypeError, ValueError, IndexError, OverflowError, AttributeError):
        return None


# --------------------------------------------------------------------------- filenames

_EXTENSIONS = {
    "image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp",
    "image/bmp": ".bmp", "image/tiff": ".tif", "image/svg+xml": ".svg", "image/heic": ".heic",
    "application/pdf": ".pdf", "application/zip": ".zip", "application/json": ".json",
    "text/plain": ".txt", "text/html": ".html", "text/csv": ".csv", "text/calendar": ".ics",
    "application/ics": ".ics", "text/vcard": ".vcf", "text/x-vcard": ".vcf",
    "message/rfc822": ".eml", "message/global": ".eml",
    "message/delivery-status": ".txt", "text/rfc822-headers": ".txt",
    "message/disposition-notification": ".txt",
}
_DEFAULT_NAMES = {
    "message/delivery-status": "delivery-status.txt",
    "text/rfc822-headers": "headers.txt",
    "message/disposition-notification": "disposition-notification.txt",
    "text/calendar": "invite.ics",
}


def default_filename(content_type: str) -> str:
    """A name for a part that has none: "image.png", "attachment.pdf", "attachment"."""
    if content_type in _DEFAULT_NAMES:
        return _DEFAULT_NAMES[content_type]
    stem = "image" if content_type.startswith("image/") else "attachment"
    return stem + _EXTENSIONS.get(content_type, "")


def safe_filename(name: str | None, content_type: str = "application/octet-stream") -> str:
    """A filename safe to show and store: the last path part only (either slash), no control or
    bidi-override characters, no leading dots, at most MAX_FILENAME characters (the extension
    kept), never empty. Markup is left alone: escaping is the renderer's job."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    if not name.isprintable():  # controls, bidi overrides, unassigned: dropped; odd spaces: a space
        name = "".join(ch if ch.isprintable() else " " if unicodedata.category(ch) == "Zs" else "" for ch in name)
    name = name.strip().strip(". ")  # ".htaccess", " . .": no hidden files; "x.pdf. ": Windows drops those
    if len(name) > MAX_FILENAME:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and len(extension) <= 16:
            name = stem[:MAX_FILENAME - len(extension) - 1].rstrip() + "." + extension
        else:
            name = name[:MAX_FILENAME]
    return name or default_filename(content_type)


# --------------------------------------------------------------------------- reply tokens

_TOKEN = r"t\d{1,18}-[0-9a-f]{12}"
REPLY_LOCALPART = "reply"  # Config MAIL_REPLY_LOCALPART's default; the router passes the configured one


@lru_cache(maxsize=8)
def _token_pattern(reply_localpart: str) -> re.Pattern:
    return re.compile(rf"(?<![\w.+-]){re.escape(reply_localpart)}\+({_TOKEN})@|hilo-ref:({_TOKEN})(?![0-9a-z])",
                      re.I)


def find_tokens(*texts: str | None, reply_localpart: str = REPLY_LOCALPART) -> list[str]:
    """Reply tokens in addresses (`reply+<token>@…`, any domain) and bodies (`hilo-ref:<token>`),
    in order of the texts then of position, each once, lower-cased. Signatures are not checked
    here (services/mailer.token_thread_id does): a forged token is found like a good one."""
    pattern = _token_pattern(reply_localpart)
    tokens: list[str] = []
    for text in texts:
        for match in pattern.finditer(text or ""):
            token = (match.group(1) or match.group(2)).lower()
            if token not in tokens:
                tokens.append(token)
    return tokens


# --------------------------------------------------------------------------- automatic mail

_AUTO_SUBJECT = re.compile(
    r"^\s*(?:(?:re|aw|sv|antw|r)\s*:\s*)?(?:auto(?:matic)?[ -]?(?:reply|response|answer)|autoreply|auto\s*:|out of (?:the )?office|"
    r"ooo\b|vacation|away from|réponse automatique|absence|absent|abwesenheit|automatische antwort|"
    r"au(?:ss|ß)er haus|respuesta automática|fuera de la oficina|ausente|resposta automática|"
    r"fora do escritório|risposta automatica|fuori sede|assente|automatisch antwoord|afwezig)",
    re.I)
_BULK_PRECEDENCE = frozenset({"bulk", "junk", "list"})
_CAMPAIGN_HEADERS = ("x-mc-user", "x-campaign", "x-campaignid", "x-roving-campaignid", "x-mailgun-campaign-id")


def _first(heads: dict, name: str) -> str:
    values = heads.get(name)
    return _raw_text(values[0]).strip() if values else ""


def _is_auto(heads: dict, subject: str, null_sender: bool, sender: Address | None) -> bool:
    """RFC 3834 and the signals Odoo, Zammad, Chatwoot and FreeScout read for auto-replies."""
    auto_submitted = _first(heads, "auto-submitted").split(";", 1)[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return True
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder"):
        value = _first(heads, name).lower()
        if name in heads and value not in ("no", "false", "0"):
            return True
    precedence = _first(heads, "precedence").lower()
    if precedence in ("auto_reply", "auto-reply"):
        return True
    suppress = _first(heads, "x-auto-response-suppress").lower()
    if re.search(r"\b(?:all|oof|autoreply)\b", suppress):
        return True
    if "x-ms-exchange-inbox-rules-loop" in heads or "x-loop" in heads:
        return True
    if null_sender:  # RFC 5321 §4.5.5: only bounces and automatic replies use the null sender
        return True
    if sender is not None and sender.address.rpartition("@")[0].lower() == "mailer-daemon":
        return True
    # A subject alone is a human's choice ("Out of office chairs: a quote?"): it counts only with
    # a weaker header signal (any Precedence or X-Auto-Response-Suppress value).
    return bool(_AUTO_SUBJECT.match(subject)) and bool(precedence or suppress)


def _is_bulk(heads: dict) -> bool:
    """Newsletters and list mail. List-Unsubscribe alone is not enough: receipts carry it too."""
    if _first(heads, "precedence").lower() in _BULK_PRECEDENCE:
        return True
    if "list-id" in heads:  # RFC 2919: distributed by a mailing list
        return True
    if any(name in heads for name in _CAMPAIGN_HEADERS) or any(name.startswith("x-mailchimp") for name in heads):
        return True
    return "mailchimp" in _first(heads, "x-mailer").lower()


# --------------------------------------------------------------------------- repair of the raw bytes

_HEADER_LINE = re.compile(rb"From |[\x21-\x39\x3b-\x7e]*:|[\t ]")  # what the stdlib parser accepts
_NAMED_HEADER = re.compile(rb"[\x21-\x39\x3b-\x7e]+:")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_BAD_HEADER_LINE = re.compile(rb"\n(?![\t ]|From |[\x21-\x39\x3b-\x7e]*:|\r?\n|$)")


def _repair(raw: bytes) -> tuple[bytes, list[str]]:
    """Leading blank lines dropped; a line without a colon *inside* the header block dropped
    (the stdlib parser would take it, and every header after it, as the body)."""
    defects = []
    stripped = raw.lstrip(b"\r\n\t ")
    if len(stripped) != len(raw):
        defects.append("blank lines before the headers")
    end = _BLANK_LINE.search(stripped)
    block = stripped[:end.start() + 1] if end else stripped[:256 * 1024]
    if not _BAD_HEADER_LINE.search(block):  # the usual case: every line is a header or a continuation
        return stripped, defects
    lines = block.splitlines(keepends=True)
    bad = [i for i, line in enumerate(lines) if i and not _HEADER_LINE.match(line)]
    if not bad or not _HEADER_LINE.match(lines[0]):
        return stripped, defects
    drop = set()
    for i in bad:
        if any(_NAMED_HEADER.match(line) for line in lines[i + 1:]):  # a real header follows
            drop.add(i)
            j = i + 1
            while j < len(lines) and lines[j][:1] in (b" ", b"\t"):  # its continuation lines too
                drop.add(j)
                j += 1
    if not drop:
        return stripped, defects
    defects.append("header line without a colon ignored")
    kept = b"".join(line for i, line in enumerate(lines) if i not in drop)
    return kept + stripped[len(block):], defects


# --------------------------------------------------------------------------- the MIME tree

class _AsSent(email.policy.Compat32):
    """Writes headers back as they were parsed: compat32 would refold every one (slow, and not
    what the sender wrote). For attached mails (.eml) and delivery-status parts."""

    def fold_binary(self, name, value):
        return f"{name}: {value}{self.linesep}".encode("utf-8", "surrogateescape")


_AS_SENT = {"\n": _AsSent(), "\r\n": _AsSent(linesep="\r\n")}

_KNOWN_CTE = frozenset({"", "7bit", "8bit", "binary", "base64", "quoted-printable",
                        "x-uuencode", "uuencode", "uue", "x-uue"})


def _defect_text(defect) -> str:
    name = type(defect).__name__.removesuffix("Defect")
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()


class _Walker:
    """One pass over the MIME tree: bodies, attachments, report parts and defects."""

    def __init__(self, linesep: str = "\n"):
        self.policy = _AS_SENT[linesep]
        self.parts: list[tuple[Part, str]] = []  # (part, disposition)
        self.defects: list[str] = []
        self.status_blocks: list[list[Message]] = []
        self.returned: list[Message] = []  # returned headers or messages (bounces, forwards)
        self.report_types: set[str] = set()

    def defect(self, text: str) -> None:
        if text not in self.defects and len(self.defects) < MAX_DEFECTS:
            self.defects.append(text)

    def walk(self, part: Message, depth: int = 0) -> tuple[list[str], list[str]]:
        """(texts, htmls) of this subtree; attachments and report parts are collected on self."""
        for defect in part.defects:
            self.defect(_defect_text(defect))
        if depth > MAX_DEPTH:
            self.defect("MIME nesting too deep: inner parts skipped")
            return [], []
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            self._delivery_status(part)
            return [], []
        if ctype.startswith("message/"):
            self._message(part, ctype)
            return [], []
        if part.is_multipart():
            children = part.get_payload()
            if ctype == "multipart/report":
                self.report_types.add(str(part.get_param("report-type") or "").lower())
            if ctype == "multipart/alternative":  # the last alternative of each kind is the best
                texts, htmls = [], []
                for child in children:
                    child_texts, child_htmls = self.walk(child, depth + 1)
                    texts = child_texts or texts
                    htmls = child_htmls or htmls
                return texts, htmls
            texts, htmls = [], []
            for child in children:
                child_texts, child_htmls = self.walk(child, depth + 1)
                texts += child_texts
                htmls += child_htmls
            return texts, htmls
        return self._leaf(part, ctype)

    def _payload(self, part: Message) -> bytes:
        cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        if cte not in _KNOWN_CTE:
            self.defect(f"unknown transfer encoding {cte[:40]!r}: kept as is")
        elif cte != str(part.get("Content-Transfer-Encoding", "")):
            part.replace_header("Content-Transfer-Encoding", cte)  # " Base64 " decodes as base64
        try:
            data = part.get_payload(decode=True)
        except Exception:  # the stdlib decoders for uuencode and friends can raise on junk
            self.defect("undecodable part: kept as is")
            payload = part.get_payload()
            data = payload.encode("ascii", "surrogateescape") if isinstance(payload, str) else b""
        if any(isinstance(defect, InvalidBase64LengthDefect) for defect in part.defects):
            # The stdlib gives up and returns the base64 text: decode what can be decoded.
            usable = re.sub(rb"[^A-Za-z0-9+/]", b"", data or b"")
            data = binascii.a2b_base64(usable[:len(usable) - len(usable) % 4])
        for defect in part.defects:  # decoding adds its own (bad base64...)
            self.defect(_defect_text(defect))
        return data or b""

    def _leaf(self, part: Message, ctype: str) -> tuple[list[str], list[str]]:
        disposition = str(part.get("Content-Disposition", "")).split(";", 1)[0].strip().lower()
        filename = self._filename(part)
        data = self._payload(part)
        if ctype.startswith("multipart/"):  # declared multipart, boundary never found: read as text
            ctype = "text/plain"
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            charset = self._charset(part)
            text = decode_text(data, charset).replace("\r\n", "\n")
            if "\x00" in text:  # PostgreSQL text refuses NUL
                text = text.replace("\x00", "")
                self.defect("NUL bytes removed from the body")
            return ([text], []) if ctype == "text/plain" else ([], [text])
        if ctype == "text/rfc822-headers":
            self.returned.append(email.message_from_bytes(data + b"\n\n", policy=email.policy.compat32))
        self._attach(part, ctype, data, filename, disposition)
        return [], []

    def _charset(self, part: Message) -> str | None:
        try:
            charset = part.get_content_charset()
        except Exception:  # an RFC 2231 charset parameter in an unknown charset
            return None
        if charset and _codec(charset) is None and charset not in _CHARSET_ALIASES:
            self.defect(f"unknown charset {charset[:40]!r}")
        return charset

    def _filename(self, part: Message) -> str | None:
        if "name" not in str(part.get("Content-Disposition", "")) + str(part.get("Content-Type", "")).lower():
            return None  # most body parts: skip the parameter parsing
        try:
            name = part.get_filename()
        except Exception:
            self.defect("unreadable attachment filename")
            return None
        if name and "\ufffd" in name:
            # Raw 8-bit bytes in the header: compat32 replaced them; read the header ourselves.
            shadow = Message()
            for header in ("Content-Disposition", "Content-Type"):
                if part.get(header) is not None:
                    shadow[header] = _raw_text(part.get(header))
            name = shadow.get_filename() or name
        return decode_words(name) if name else name

    def _attach(self, part: Message, ctype: str, data: bytes, filename: str | None, disposition: str) -> None:
        content_id = str(part.get("Content-ID") or "").strip().strip("<>").strip() or None
        self.parts.append((Part(filename=safe_filename(filename, ctype), content_type=ctype, data=data,
                                content_id=content_id, inline=False), disposition))

    def _delivery_status(self, part: Message) -> None:
        blocks = part.get_payload()
        if isinstance(blocks, list):
            self.status_blocks.append(blocks)
            data = self.policy.linesep.encode().join(
                block.as_bytes(policy=self.policy) for block in blocks if isinstance(block, Message))
        else:
            data = self._payload(part)
            self.status_blocks.append(_status_blocks(decode_text(data)))
        self._attach(part, "message/delivery-status", data, self._filename(part), "attachment")

    def _message(self, part: Message, ctype: str) -> None:
        """message/rfc822 (a forwarded mail, a returned one) becomes an .eml attachment."""
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if inner is None:  # e.g. base64 over message/rfc822, which RFC 2046 forbids: parse the bytes
            data = self._payload(part)
            inner = email.message_from_bytes(data, policy=email.policy.compat32) if data else None
        else:
            try:
                data = inner.as_bytes(policy=self.policy)
            except Exception:
                data = inner.as_string().encode("utf-8", "surrogateescape")
                self.defect("attached message could not be written back as sent")
        if inner is not None and ctype in ("message/rfc822", "message/global"):
            self.returned.append(inner)
        filename = self._filename(part)
        if not filename and ctype in ("message/rfc822", "message/global") and inner is not None:
            subject = header_text(inner.get("Subject"))
            filename = (subject[:200] + ".eml") if subject else "message.eml"
        self._attach(part, ctype, data, filename, str(part.get("Content-Disposition", "")).split(";", 1)[0]
                     .strip().lower())


def _status_blocks(text: str) -> list[Message]:
    """A delivery-status body that the parser left as text: its blank-line separated blocks."""
    return [email.message_from_string(block.strip() + "\n\n", policy=email.policy.compat32)
            for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if block.strip()]


# --------------------------------------------------------------------------- bounces

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_CODE = re.compile(r"\b([45])\d\d\b")
_ACTIONS = frozenset({"failed", "delayed", "delivered", "relayed", "expanded"})
_QMAIL_RECIPIENT = re.compile(r"^<([^<>\s]+@[^<>\s]+)>:\s*$", re.M)
_RETURNED_TEXT = re.compile(
    r"^-+ ?(?:Below this line is a copy of the message\.|This is a copy of the message, including all the headers\."
    r"|Original message follows\.?|Original message headers:?)\s*-*\s*$", re.M | re.I)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (?:status notification|failure|has failed)|returned mail|"
    r"failure notice|mail delivery failed|non.?remis|unzustellbar|no se puede entregar|"
    r"delivery delayed|warning: could not send", re.I)


def _status_of(status: str, diagnostic: str, action: str) -> str:
    for text in (status, diagnostic):
        match = _STATUS.search(text or "")
        if match:
            return ".".join(match.groups())
    code = _SMTP_CODE.search(diagnostic or "")
    if code:
        return f"{code.group(1)}.0.0"
    return "4.0.0" if action == "delayed" else "5.0.0"


def _recipient_from_block(block: Message) -> dict | None:
    address = header_text(block.get("Final-Recipient") or block.get("Original-Recipient"))
    address = address.rsplit(";", 1)[-1].strip().strip("<>").strip()
    if not address:
        return None
    action = header_text(block.get("Action")).lower().split(" ", 1)[0]
    diagnostic = header_text(block.get("Diagnostic-Code"))
    if ";" in diagnostic[:12]:  # "smtp; 550 5.1.1 …"
        diagnostic = diagnostic.split(";", 1)[1].strip()
    action = action if action in _ACTIONS else "failed"
    return {"address": address, "action": action,
            "status": _status_of(header_text(block.get("Status")), diagnostic, action), "diagnostic": diagnostic}


def _delivery_report(heads: dict, walker: _Walker, sender: Address | None, null_sender: bool,
                     subject: str, text: str | None) -> DeliveryReport | None:
    """An RFC 3464 report, else a bounce from a mailer daemon in one of the common shapes:
    returned headers attached, a qmail/Exim text with a copy below, or X-Failed-Recipients."""
    recipients: list[dict] = []
    envelope_id = None
    is_report = bool(walker.status_blocks)
    for blocks in walker.status_blocks:
        if blocks:
            envelope_id = envelope_id or header_text(blocks[0].get("Original-Envelope-Id")) or None
        for block in blocks[1:] or blocks:
            recipient = _recipient_from_block(block)
            if recipient:
                recipients.append(recipient)
    returned_text = _RETURNED_TEXT.search(text or "")
    if not is_report:
        system = null_sender or (sender is not None and sender.address.split("@")[0].lower() in SYSTEM_SENDERS)
        shape = (walker.returned or returned_text or "x-failed-recipients" in heads
                 or _BOUNCE_SUBJECT.search(subject))
        if not (system and shape):
            return None
        delayed = bool(re.search(r"\bdelay|\bstill (?:being )?retr|temporar", f"{subject} {text or ''}"[:4000], re.I))
        for match in _QMAIL_RECIPIENT.finditer(text or ""):
            rest = (text or "")[match.end():]
            diagnostic = one_line(re.split(r"\n\s*\n", rest, maxsplit=1)[0])
            action = "delayed" if delayed else "failed"
            recipients.append({"address": match.group(1), "action": action,
                               "status": _status_of("", diagnostic, action), "diagnostic": diagnostic})
        for address in _addresses(heads.get("x-failed-recipients")):  # Exim, Gmail
            if all(r["address"].lower() != address.address.lower() for r in recipients):
                # The paragraph of the text that names the address says why (Exim's layout).
                at = (text or "").lower().find(address.address.lower())
                diagnostic = one_line(re.split(r"\n\s*\n", text[at:], maxsplit=1)[0]) if at >= 0 else ""
                recipients.append({"address": address.address, "action": "failed",
                                   "status": _status_of("", diagnostic, "failed"), "diagnostic": diagnostic})
    original = None
    for message in walker.returned:
        original = (message_ids(message.get("Message-ID")) or [None])[0]
        if original:
            break
    if not original and returned_text:
        copy = (text or "")[returned_text.end():].lstrip("\n")
        original = (message_ids(email.message_from_string(copy, policy=email.policy.compat32)
                                .get("Message-ID")) or [None])[0]
    if not original:
        own = [*message_ids(_first(heads, "in-reply-to")), *message_ids(_first(heads, "references"))[-1:]]
        original = own[0] if own else None
    if not original and envelope_id:
        original = (message_ids(envelope_id) or [None])[0]
    return DeliveryReport(original_message_id=original, recipients=recipients)


# --------------------------------------------------------------------------- parse

_CID = re.compile(r"""cid:([^"'\s<>)]+)""", re.I)


def _header_map(msg: Message) -> dict[str, list]:
    heads: dict[str, list] = {}
    for name, value in msg.items():
        heads.setdefault(name.strip().lower(), []).append(value)
    return heads


def parse(raw: bytes, *, reply_localpart: str = REPLY_LOCALPART) -> ParsedMail:
    """Parse one RFC 822 message. Raises MailParseError only when `raw` is not mail at all.

    `reply_localpart` is the local part of our reply addresses (Config MAIL_REPLY_LOCALPART).
    """
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise MailParseError(f"expected bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    data, defects = _repair(raw)
    if not data:
        raise MailParseError("empty message")
    msg = None
    # The stdlib parser slows down with each nested multipart and recurses per level: hundreds
    # of them are an attack, not a mail. Their body is kept as text.
    if data.count(b"ultipart/") + data.count(b"ULTIPART/") <= MAX_MULTIPARTS:
        try:
            msg = email.message_from_bytes(data, policy=email.policy.compat32)
        except RecursionError:
            pass
    if msg is None:
        msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(data, headersonly=True)
        defects.append("too many nested MIME parts: the body is kept as text")
    heads = _header_map(msg)
    if not heads:
        raise MailParseError("no mail header found")

    walker = _Walker("\r\n" if b"\r\n" in data[:200] else "\n")
    for text in defects:
        walker.defect(text)
    texts, htmls = walker.walk(msg)
    text = "\n".join(texts) if texts else None
    html = "\n".join(htmls) if htmls else None

    referenced = {unquote(cid).lower() for cid in _CID.findall(html)} if html and "cid:" in html.lower() else set()
    attachments = []
    for part, disposition in walker.parts:
        if part.content_id:
            part.inline = part.content_id.lower() in referenced or disposition == "inline"
        attachments.append(part)

    subject = header_text((heads.get("subject") or [""])[0])
    senders = _addresses(heads.get("from"))
    sender = senders[0] if senders else None
    to, cc = _addresses(heads.get("to")), _addresses(heads.get("cc"))
    delivered = [a.address for name in ("delivered-to", "x-original-to", "envelope-to")
                 for a in _addresses(heads.get(name))]
    delivered_to = list(dict.fromkeys(delivered))
    return_path = _first(heads, "return-path")
    null_sender = bool(heads.get("return-path")) and return_path.strip("<> \t") == ""

    dsn = _delivery_report(heads, walker, sender, null_sender, subject, text)
    auto = (dsn is not None or _is_auto(heads, subject, null_sender, sender)
            or bool(walker.report_types & {"delivery-status", "disposition-notification"}))
    tokens = find_tokens(*(a.address for a in (*to, *cc)), *delivered_to, text, html, reply_localpart=reply_localpart)
    display = {}
    for key, name in (("From", "from"), ("To", "to"), ("Cc", "cc"), ("Subject", "subject"),
                      ("Date", "date"), ("Message-ID", "message-id")):
        if heads.get(name):
            display[key] = header_text(heads[name][0])

    return ParsedMail(
        message_id=(message_ids((heads.get("message-id") or [None])[0]) or [None])[0],
        in_reply_to=message_ids(" ".join(_raw_text(v) for v in heads.get("in-reply-to", []))),
        references=message_ids(" ".join(_raw_text(v) for v in heads.get("references", []))),
        subject=subject,
        sender=sender,
        reply_to=_addresses(heads.get("reply-to")),
        to=to,
        cc=cc,
        delivered_to=delivered_to,
        date=_date((heads.get("date") or [None])[0]),
        text=text,
        html=html,
        attachments=attachments,
        auto_submitted=auto,
        bulk=_is_bulk(heads),
        dsn=dsn,
        tokens=tokens,
        size=len(raw),
        defects=walker.defects,
        headers=display,
    )


# --------------------------------------------------------------------------- the visible part of a reply

_HTML_QUOTE = re.compile(
    r"""<div[^>]*\bid=["']?appendonsend\b"""  # Outlook on the web / new Outlook: right before the reply header
    r"""|<div[^>]*\bid=["']?divRplyFwdMsg\b"""  # Outlook on the web / new Outlook
    r"""|<div[^>]*\bid=["']?mail-editor-reference-message-container\b"""  # Outlook for Mac
    r"""|<div[^>]*\bclass=["']?OutlookMessageHeader\b"""
    r"""|<div[^>]*\bstyle=["'][^"']*border-top:\s*solid\s+#(?:E1E1E1|B5C4DF)"""  # Outlook desktop (Word)
    r"""|<(?:div|blockquote)[^>]*\bclass=["'][^"']*\bgmail_quote\b"""  # Gmail
    r"""|<div[^>]*\bclass=["'][^"']*\bmoz-cite-prefix\b"""  # Thunderbird
    r"""|<blockquote[^>]*\btype=["']?cite\b"""  # Apple Mail, Thunderbird
    r"""|<div[^>]*\bclass=["'][^"']*\b(?:yahoo_quoted|protonmail_quote|zmail_extra)\b"""
    r"""|<hr[^>]*\bid=["']?stopSpelling\b""",  # old Hotmail
    re.I)
# A forward is content, not history: the same markers around these words are not cut.
_FORWARD = re.compile(
    r"forwarded message|begin forwarded message|mensaje reenviado|message transféré|"
    r"weitergeleitete nachricht|mensagem encaminhada|messaggio inoltrato|doorgestuurd bericht|"
    r"subject:\s*(?:<[^>]*>\s*)*(?:fwd?|tr|wg|rv|enc)\s*:", re.I)
_TAG = re.compile(r"<[^>]*>|&nbsp;|&#160;|\s+", re.I)

_QUOTE_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(?:original message|mensaje original|message d'origine|ursprüngliche nachricht|"
    r"originalnachricht|mensagem original|messaggio originale|oorspronkelijk bericht)\s*-{2,}\s*$", re.I)
_ATTRIBUTION = re.compile(  # "On … wrote:" as clients write it, by language
    r"^\s*(?:On\s.{0,300}\bwrote|El\s.{0,300}\bescribió|Le\s.{0,300}\ba\s+écrit|Am\s.{0,300}\bschrieb.{0,300}"
    r"|Em\s.{0,300}\bescreveu|Il\s.{0,300}\bha\s+scritto|Op\s.{0,300}\bschreef.{0,300})\s*:\s*$", re.I)
_LOOSE_ATTRIBUTION = re.compile(r"^\s*.{0,300}\b(?:wrote|schrieb|a écrit|escribió|escreveu|ha scritto|schreef)\s*:\s*$",
                                re.I)
_HEADER_FROM = re.compile(r"^\s*\*?(?:From|De|Von|Da|Van|Från|Fra)\s?:\*?\s+\S", re.I)
_HEADER_SENT = re.compile(
    r"^\s*\*?(?:Sent|Date|Envoyé|Gesendet|Datum|Enviado|Fecha|Enviada|Inviato|Data|Verzonden|Verstuurd|Skickat)"
    r"\s?:\*?\s+\S", re.I)


def _has_content(html: str) -> bool:
    return bool(_TAG.sub("", html))


def _trim_html(html: str) -> str:
    for match in _HTML_QUOTE.finditer(html):
        if _FORWARD.search(html, max(0, match.start() - 300), match.start() + 1500):
            continue
        head = html[:match.start()]
        return head if _has_content(head) else html
    return html


def _attribution_at(lines: list[str], i: int) -> tuple[int, bool]:
    """(lines spanned, strict) of an "On … wrote:" line starting at i (clients wrap it over up to
    three lines); (0, False) when there is none. Strict: the usual opening words and a date or an
    address, enough to cut an unquoted copy below it; a loose "X wrote:" must be followed by "> "."""
    joined = ""
    for span in range(3):
        if i + span >= len(lines) or (span and not lines[i + span].strip()):
            break
        joined = (joined + " " + lines[i + span].strip()) if span else lines[i].strip()
        if len(joined) > 400:
            break
        if not joined.endswith(":"):  # most lines: no need for the regexes
            continue
        if _ATTRIBUTION.match(joined):
            return span + 1, bool(re.search(r"\d|@", joined))
        if _LOOSE_ATTRIBUTION.match(joined):
            return span + 1, False
    return 0, False


def _trim_text(text: str) -> str:
    lines = text.splitlines(keepends=True)
    cut = None
    found = _FORWARD.search(text)
    forward = None
    if found:  # the line it is on
        before = text[:found.start()].splitlines(keepends=True)
        forward = len(before) if not before or before[-1].endswith(("\n", "\r")) else len(before) - 1
    for i, line in enumerate(lines):
        if _QUOTE_SEPARATOR.match(line):
            cut = i
        elif _HEADER_FROM.match(line) and any(_HEADER_SENT.match(other) for other in lines[i + 1:i + 5]):
            cut = i - 1 if i and set(lines[i - 1].strip()) == {"_"} else i  # Outlook's ____ rule above
        else:
            span, strict = (0, False) if line.startswith(">") else _attribution_at(lines, i)
            if not span and not line.startswith(">"):
                continue
            rest = [other for other in lines[i + span:] if other.strip()]
            quoted = [other.startswith(">") for other in rest]
            if rest and all(quoted):
                cut = i  # the history is all that follows
            elif (rest and quoted[0]) or line.startswith(">"):
                return text  # answers below or between the quotes: keep it all
            elif strict:
                cut = i  # "On 3 Mar … wrote:" over an unquoted copy
            else:
                continue  # "As Anna wrote:" in the middle of the text
        break
    if cut is None or (forward is not None and forward <= cut + 1):
        return text  # a forward is content: what follows the separator is kept
    head = "".join(lines[:cut]).rstrip()
    return head if head.strip() else text


def visible_part(text: str | None = None, html: str | None = None) -> tuple[str | None, str | None]:
    """The new part of a reply, for display: quoted history trimmed from the text and the HTML.

    HTML: cut at the first quote container of Gmail (.gmail_quote), Outlook (#appendonsend,
    #divRplyFwdMsg, the Word header box), Apple Mail and Thunderbird (blockquote type=cite,
    .moz-cite-prefix), Yahoo, Proton, Zoho. The cut HTML may have unclosed tags: it is meant for
    `clean_html`, which closes them. Text: cut at "-----Original Message-----", an Outlook
    "From: … Sent: …" block, or an "On … wrote:" line (en, es, fr, de, pt, it, nl) over a quote,
    or a trailing "> " block; inline answers between quotes keep the whole text.
    A forward is kept whole. When everything would go (the mail is all quote), the input is
    returned unchanged: never empty.
    """
    return (None if text is None else _trim_text(text), None if html is None else _trim_html(html))
