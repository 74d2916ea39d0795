"""One configuration, read from the environment, with embedded defaults.

Nothing but `DATABASE_URL` and friends should be needed to move from the
embedded default (SQLite, in-process jobs and bus, outbox mail) to the real
services.
"""
import os
import secrets
import time
from pathlib import Path


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _secret_key(instance_path: Path) -> str:
    """Use SECRET_KEY, else a random key kept in instance/ so sessions survive restarts.

    The file is created exclusively: processes starting together all end up with the one key.
    """
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48))
    for _ in range(50):  # another process may be between creating and writing the file
        key = key_file.read_text().strip()
        if key:
            return key
        time.sleep(0.01)
    raise RuntimeError(f"{key_file} is empty: delete it or set SECRET_KEY")


class Config:
    """Settings for one app instance; `from_env` fills it from os.environ."""

    def __init__(self, instance_path: Path, **overrides):
        instance_path = Path(instance_path)
        self.SECRET_KEY = _secret_key(instance_path)
        self.SQLALCHEMY_DATABASE_URI = os.environ.get(
            "DATABASE_URL", f"sqlite:///{instance_path / 'hilo.db'}"
        )
        if self.SQLALCHEMY_DATABASE_URI.startswith("postgres://"):
            self.SQLALCHEMY_DATABASE_URI = "postgresql+psycopg://" + self.SQLALCHEMY_DATABASE_URI[11:]
        elif self.SQLALCHEMY_DATABASE_URI.startswith("postgresql://"):
            self.SQLALCHEMY_DATABASE_URI = "postgresql+psycopg://" + self.SQLALCHEMY_DATABASE_URI[13:]
        self.REDIS_URL = os.environ.get("REDIS_URL") or None
        # smtp://user:password@host:587 (STARTTLS when offered), smtp+starttls://…, smtps://…;
        # unset: the outbox page is the delivery (the embedded default).
        self.SMTP_URL = os.environ.get("SMTP_URL") or None
        self.COMPANY_NAME = os.environ.get("COMPANY_NAME", "Hilo")
        self.MAIL_DOMAIN = os.environ.get("MAIL_DOMAIN", "hilo.localhost")
        self.MAIL_FROM = os.environ.get("MAIL_FROM", f"notifications@{self.MAIL_DOMAIN}")
        # Replies to mail about a thread go to <MAIL_REPLY_LOCALPART>+<signed token>@MAIL_DOMAIN.
        self.MAIL_REPLY_LOCALPART = os.environ.get("MAIL_REPLY_LOCALPART", "reply")
        self.MAIL_MAX_BYTES = _int("MAIL_MAX_BYTES", 40 * 1024 * 1024)  # larger inbound mail is refused
        # One sender's mails beyond this many in MAIL_SENDER_WINDOW seconds go to the catch-all
        # (kept, but they create nothing and notify nobody): a mail loop or a flood stops there.
        self.MAIL_SENDER_LIMIT = _int("MAIL_SENDER_LIMIT", 30)
        self.MAIL_SENDER_WINDOW = _int("MAIL_SENDER_WINDOW", 600)
        # Bearer token of POST /api/mail/inbound (raw mail by webhook); unset, the endpoint is off.
        self.MAIL_INBOUND_TOKEN = os.environ.get("MAIL_INBOUND_TOKEN") or None
        # imap://user:password@host:143/INBOX, imap+starttls://…, imaps://…:993/Folder: the worker polls it.
        self.IMAP_URL = os.environ.get("IMAP_URL") or None
        self.IMAP_POLL_SECONDS = _int("IMAP_POLL_SECONDS", 60)  # how often the worker polls IMAP_URL
        self.IMAP_BATCH = _int("IMAP_BATCH", 200)  # mails fetched per poll at most; the rest wait for the next
        # Local part of MAIL_DOMAIN that gets the polled mails naming no address of ours (unset: catch-all).
        self.IMAP_ALIAS = os.environ.get("IMAP_ALIAS") or None
        self.BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:5000")
        self.UPLOAD_DIR = os.environ.get("UPLOAD_DIR", str(instance_path / "attachments"))
        self.MAX_ATTACHMENT_BYTES = _int("MAX_ATTACHMENT_BYTES", 25 * 1024 * 1024)
        self.MAX_ATTACHMENTS_PER_MESSAGE = _int("MAX_ATTACHMENTS_PER_MESSAGE", 10)
        self.MAX_AVATAR_BYTES = _int("MAX_AVATAR_BYTES", 2 * 1024 * 1024)
        # Whole request cap: all attachments of one message plus the form.
        self.MAX_CONTENT_LENGTH = self.MAX_ATTACHMENT_BYTES * self.MAX_ATTACHMENTS_PER_MESSAGE + 1024 * 1024
        self.MAX_MESSAGE_CHARS = _int("MAX_MESSAGE_CHARS", 100_000)
        self.THREAD_PAGE_SIZE = _int("THREAD_PAGE_SIZE", 30)
        self.LIST_PAGE_SIZE = _int("LIST_PAGE_SIZE", 25)
        self.TICKETS_PAGE_SIZE = _int("TICKETS_PAGE_SIZE", 50)  # the helpdesk ticket list
        # Rendered boards, ticket lists and ticket pages kept in each process (services/pagecache.py).
        self.PAGE_CACHE_MB = _int("PAGE_CACHE_MB", 64)
        self.SEARCH_PAGE_SIZE = _int("SEARCH_PAGE_SIZE", 20)
        # What a search reads of the query: longer input is cut, more words are ignored.
        self.SEARCH_MAX_QUERY_CHARS = _int("SEARCH_MAX_QUERY_CHARS", 256)
        self.SEARCH_MAX_WORDS = _int("SEARCH_MAX_WORDS", 8)
        self.SEARCH_RATE_LIMIT = os.environ.get("SEARCH_RATE_LIMIT", "120 per minute")  # per user
        self.TOKEN_MAX_AGE = _int("TOKEN_MAX_AGE", 3 * 24 * 3600)  # invitation / reset links
        self.LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
        # Customers (SPEC §6): a ticket's access and rating links in mails, the portal's sign-in
        # link, and what one visitor may send to the website form and the sign-in page.
        self.TICKET_LINK_MAX_AGE = _int("TICKET_LINK_MAX_AGE", 30 * 24 * 3600)
        self.PORTAL_LOGIN_MAX_AGE = _int("PORTAL_LOGIN_MAX_AGE", 3600)
        self.PORTAL_LOGIN_RATE_LIMIT = os.environ.get("PORTAL_LOGIN_RATE_LIMIT", "5 per minute; 20 per day")
        self.SUPPORT_FORM_IP_LIMIT = os.environ.get("SUPPORT_FORM_IP_LIMIT", "10 per minute; 100 per day")
        self.SUPPORT_FORM_EMAIL_LIMIT = os.environ.get("SUPPORT_FORM_EMAIL_LIMIT", "3 per minute; 10 per day")
        # A website form sent sooner than this after it was shown is a bot's (tests set 0).
        self.SUPPORT_FORM_MIN_SECONDS = _int("SUPPORT_FORM_MIN_SECONDS", 3)
        self.SUPPORT_MAX_ATTACHMENTS = _int("SUPPORT_MAX_ATTACHMENTS", 5)
        self.SUPPORT_MAX_ATTACHMENT_BYTES = _int("SUPPORT_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024)
        self.RATING_COMMENT_MAX_CHARS = _int("RATING_COMMENT_MAX_CHARS", 2000)
        # Live chat (SPEC §7): a visitor's message size, what one visitor (and one address) may
        # start and send, the headers a proxy or CDN gives the visitor's country in, and how long a
        # silent chat stays open.
        self.LIVECHAT_MAX_MESSAGE_CHARS = _int("LIVECHAT_MAX_MESSAGE_CHARS", 4000)
        self.LIVECHAT_SESSION_LIMIT = os.environ.get("LIVECHAT_SESSION_LIMIT", "6 per minute; 60 per day")
        self.LIVECHAT_MESSAGE_LIMIT = os.environ.get("LIVECHAT_MESSAGE_LIMIT", "30 per minute; 1000 per day")
        self.LIVECHAT_COUNTRY_HEADERS = tuple(
            h.strip() for h in os.environ.get("LIVECHAT_COUNTRY_HEADERS", "CF-IPCountry,X-Country-Code").split(",")
            if h.strip())
        self.LIVECHAT_IDLE_MINUTES = _int("LIVECHAT_IDLE_MINUTES", 120)
        self.RATELIMIT_STORAGE_URI = self.REDIS_URL or "memory://"
        self.RATELIMIT_HEADERS_ENABLED = True
        self.RQ_QUEUE = os.environ.get("RQ_QUEUE", "hilo")
        # Redis pub/sub is global to a server (not per database): instances sharing one Redis
        # need their own prefix.
        self.REALTIME_PREFIX = os.environ.get("REALTIME_PREFIX", "hilo")
        self.ACTIVITY_REMINDER_HOUR = _int("ACTIVITY_REMINDER_HOUR", 8)  # local time of the assignee
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = self.BASE_URL.startswith("https://")
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.WTF_CSRF_TIME_LIMIT = None  # tied to the session instead; long-open pages keep working
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        # Behind a reverse proxy: how many proxies set X-Forwarded-For/-Proto/-Host (0 = none).
        self.PROXY_COUNT = _int("PROXY_COUNT", 0)
        for key, value in overrides.items():
            setattr(self, key, value)

    @property
    def is_sqlite(self) -> bool:
        return self.SQLALCHEMY_DATABASE_URI.startswith("sqlite")
