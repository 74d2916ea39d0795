"""The SMTP / LMTP intake (`flask mail serve`): an MTA, or the internet, hands mail over here.

Every mail goes through the gateway (`mailgate.ingest`) like the other intakes; what the gateway
says becomes the SMTP reply, so the sending server knows at once:

- a recipient outside MAIL_DOMAIN -> 550 at RCPT (this is no relay);
- stored (routed, caught, a duplicate) -> 250;
- refused by the gateway (no address of ours, too large) -> 550 with the reason;
- the database unreachable, or anything unexpected -> 451: the sender keeps the mail and retries.

LMTP (`--lmtp`, for Postfix's `lmtp:` transport or Dovecot-style delivery) answers DATA once per
recipient, as RFC 2033 asks; the mail is stored once for all of them.

The SMTP dialogue runs on asyncio; each mail is stored on a small thread pool, in its own app
context, so a slow database never stalls the other connections' dialogue.
"""
import asyncio
import logging
import ssl
from concurrent.futures import ThreadPoolExecutor

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.services import mailgate

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 100
STORE_THREADS = 4


class GatewayHandler:
    """aiosmtpd's handler: recipients checked at RCPT, the mail stored at DATA."""

    def __init__(self, app, lmtp: bool = False):
        self.app = app
        self.lmtp = lmtp
        self.domain = app.config["MAIL_DOMAIN"].lower()
        self.pool = ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="mail-in")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.rpartition("@")[2].lower() != self.domain:
            return "550 5.7.1 Relaying denied: not an address of this domain"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        loop = asyncio.get_running_loop()
        reply = await loop.run_in_executor(self.pool, self.store, envelope.original_content, list(envelope.rcpt_tos))
        return "\r\n".join([reply] * len(envelope.rcpt_tos)) if self.lmtp else reply

    def store(self, raw: bytes, recipients: list[str]) -> str:
        """Ingest one mail on a pool thread; the SMTP reply that says what became of it."""
        with self.app.test_request_context(base_url=self.app.config["BASE_URL"]):
            try:
                outcome = mailgate.ingest(raw, recipients)
            except OperationalError as err:
                db.session.rollback()
                log.warning("inbound mail deferred, the database is unreachable: %s", err.__class__.__name__)
                return "451 4.3.0 Cannot store the mail now; try again later"
            except Exception:
                db.session.rollback()
                log.exception("inbound mail could not be stored")
                return "451 4.3.0 The mail could not be stored; try again later"
            finally:
                db.session.remove()
        if outcome.status == "bounced":
            return f"550 5.1.1 {_one_line(outcome.reason)}"
        return f"250 2.0.0 Stored ({outcome.status})"

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def _one_line(text: str) -> str:
    return " ".join((text or "refused").split())[:200]


class _SMTP(SMTP):
    # RFC 5321 allows 1,000 bytes a line, but real mail breaks it (HTML on one line, sloppy
    # scripts): take lines up to this long rather than refuse the mail.
    line_length_limit = 1024 * 1024


class _LMTP(LMTP):
    line_length_limit = _SMTP.line_length_limit


class GatewayController(Controller):
    """aiosmtpd's threaded server, speaking SMTP or LMTP, STARTTLS when a certificate is given."""

    def __init__(self, app, host: str, port: int, *, lmtp: bool = False, tls_context: ssl.SSLContext | None = None):
        self.handler_lmtp = lmtp
        self.tls_context = tls_context
        self.max_bytes = app.config["MAIL_MAX_BYTES"]
        super().__init__(GatewayHandler(app, lmtp), hostname=host, port=port)

    def factory(self):
        protocol = _LMTP if self.handler_lmtp else _SMTP
        return protocol(self.handler, data_size_limit=self.max_bytes, enable_SMTPUTF8=True,
                        tls_context=self.tls_context, ident="Hilo mail gateway")

    def stop(self, *args, **kwargs):
        super().stop(*args, **kwargs)
        self.handler.close()


def tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if not cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key or None)
    return context
