"""Accounts: creating users, invitations, password resets, profiles (SPEC §9).

Nothing here commits: callers (views, CLI, jobs) commit once the whole change is made.
Errors a user can cause are raised as `AccountError` (or `TokenError` for links) with a
message meant to be shown as is.
"""
import hashlib
import hmac
import logging
import secrets
from functools import lru_cache
from pathlib import Path
from zoneinfo import available_timezones

from flask import current_app, has_request_context, render_template, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, or_, select
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db
from app.models import ROLES, Contact, OutboxMail, User
from app.models.accounts import NOTIFY_CHOICES
from app.models.base import contains_pattern, utcnow
from app.services import contacts, mailer
from app.services.attachments import sniff_raster
from app.services.transaction import on_commit

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
MAX_SIGNATURE_CHARS = 2000
USER_STATUSES = ("active", "invited", "deactivated")
TOKEN_PURPOSES = ("reset", "invite")
AVATAR_DIR = "avatars"
AVATAR_SUFFIXES = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp"}
# A handful of passwords long enough to pass the length rule that every guessing list starts with.
COMMON_PASSWORDS = frozenset({
    "1234567890", "12345678910", "0123456789", "password123", "password1234", "passwordpassword",
    "qwertyuiop", "qwertyuiop123", "1q2w3e4r5t", "iloveyou123", "abcdefghij", "letmein123",
    "welcome123", "administrator", "changeme123",
})
# Checked against when the email is unknown, so both paths cost one hash (no user enumeration by timing).
_DUMMY_HASH = generate_password_hash(secrets.token_hex(16))


class AccountError(ValueError):
    """A refused account change; the message is meant for the user.

    `field` names the form field the message belongs to, when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


class TokenError(AccountError):
    """An invitation or reset link that cannot be used (tampered, expired or already used)."""

    def __init__(self, message: str, *, expired: bool = False):
        super().__init__(message)
        self.expired = expired


# ---- users -------------------------------------------------------------------------------

def normalize_email(raw: str) -> str:
    """A user's address: validated and lower-cased (sign-in ignores case); raises ValueError
    (contacts.AddressError) with a readable reason."""
    return contacts.normalize_address(raw).lower()


def find_user_by_email(email: str) -> User | None:
    """The user with this address (case-insensitive), or None."""
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def check_password_strength(password: str, *, email: str | None = None) -> None:
    """Raise ValueError (with the reason) when `password` is too weak to accept."""
    password = password or ""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    if len(set(password)) < 4 or password.lower() in COMMON_PASSWORDS:
        raise ValueError("This password is too easy to guess; try a few unrelated words.")
    if email and password.lower() in (email.lower(), email.split("@")[0].lower()):
        raise ValueError("Don't use your email address as the password.")


def create_user(email: str, name: str, role: str = "agent", password: str | None = None) -> User:
    """Add a user (not committed). Without a password the user must accept an invitation."""
    email = normalize_email(email)
    if role not in ROLES:
        raise ValueError(f"Unknown role {role!r}.")
    if find_user_by_email(email):
        raise ValueError("A user with this email already exists.")
    user = User(email=email, name=(name or "").strip() or email.split("@")[0], role=role)
    if password is not None:
        check_password_strength(password)
        user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def create_or_promote_admin(email: str, name: str, password: str) -> User:
    """For `flask users create-admin`: a new admin, or an existing user made admin."""
    check_password_strength(password)
    user = find_user_by_email(normalize_email(email))
    if user is None:
        return create_user(email, name, role="admin", password=password)
    user.role = "admin"
    user.active = True
    user.set_password(password)
    return user


def user_status(user: User) -> str:
    """'active', 'invited' (no password yet) or 'deactivated'."""
    if not user.active:
        return "deactivated"
    return "active" if user.password_hash else "invited"


def search_users(query: str = "", role: str = "", status: str = "", page: int = 1,
                 per_page: int | None = None):
    """One page (a Flask-SQLAlchemy Pagination) of users matching name/email, role and status."""
    stmt = select(User)
    query = (query or "").strip()
    if query:
        pattern = contains_pattern(query.lower())
        stmt = stmt.where(or_(func.lower(User.name).like(pattern, escape="\\"),
                              func.lower(User.email).like(pattern, escape="\\")))
    if role in ROLES:
        stmt = stmt.where(User.role == role)
    if status == "active":
        stmt = stmt.where(User.active.is_(True), User.password_hash.is_not(None))
    elif status == "invited":
        stmt = stmt.where(User.active.is_(True), User.password_hash.is_(None))
    elif status == "deactivated":
        stmt = stmt.where(User.active.is_(False))
    stmt = stmt.order_by(func.lower(User.name), User.id)
    return db.paginate(stmt, page=max(page, 1), per_page=per_page or current_app.config["LIST_PAGE_SIZE"],
                       error_out=False)


# ---- signing in ---------------------------------------------------------------------------

def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, else None (whatever the reason)."""
    user = find_user_by_email(email or "")
    if user is None or not user.password_hash:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not user.check_password(password or "") or not user.active:
        return None
    return user


def record_login(user: User) -> None:
    """Remember when the user last signed in (shown to admins)."""
    user.last_login_at = utcnow()


# ---- signed links (invitations and password resets) --------------------------------------

def signer(purpose: str) -> URLSafeTimedSerializer:
    """Signs and checks the tokens of emailed and shared links; each purpose its own salt, so a
    token made for one never opens another."""
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=purpose)


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    if purpose not in TOKEN_PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    return signer(purpose)


def _session_fingerprint(user: User, purpose: str) -> str:
    """Stands for the session token in links: changes with it, without putting it in a mail."""
    return hashlib.sha256(f"{purpose}:{user.session_token}".encode()).hexdigest()[:24]


def make_token(user: User, purpose: str) -> str:
    """A signed, timed link token for `purpose` ('reset' or 'invite').

    It carries the user id and a fingerprint of the session token, so it dies as soon as
    the password is set (which rotates the session token): one use only.
    """
    return _serializer(purpose).dumps({"uid": user.id, "st": _session_fingerprint(user, purpose)})


def user_from_token(token: str, purpose: str) -> User:
    """The user a link token was made for; raises TokenError when it cannot be used."""
    try:
        data = _serializer(purpose).loads(token or "", max_age=current_app.config["TOKEN_MAX_AGE"])
    except SignatureExpired:
        raise TokenError("This link has expired.", expired=True) from None
    except BadSignature:
        raise TokenError("This link is not valid. Check that you copied all of it.") from None
    user_id = data.get("uid") if isinstance(data, dict) else None
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or not user.active or not hmac.compare_digest(
        str(data.get("st", "")), _session_fingerprint(user, purpose)
    ):
        raise TokenError("This link was already used or is no longer valid.")
    if purpose == "invite" and user.password_hash:
        raise TokenError("This invitation was already accepted. Sign in instead.")
    return user


def link_lifetime() -> str:
    """How long an emailed link works (Config TOKEN_MAX_AGE), in words: "3 days", "2 hours"."""
    seconds = current_app.config["TOKEN_MAX_AGE"]
    if seconds >= 2 * 86400:
        count, unit = seconds // 86400, "day"
    elif seconds >= 3600:
        count, unit = seconds // 3600, "hour"
    else:
        count, unit = max(seconds // 60, 1), "minute"
    return f"{count} {unit}{'s' if count != 1 else ''}"


def external_url(endpoint: str, **values) -> str:
    """An absolute link on BASE_URL for a mail, with or without a current request."""
    if has_request_context():
        path = url_for(endpoint, **values)
    else:
        with current_app.test_request_context():
            path = url_for(endpoint, **values)
    return current_app.config["BASE_URL"].rstrip("/") + path


def request_password_reset(email: str) -> OutboxMail | None:
    """Mail a reset link if `email` belongs to an active user; None otherwise.

    Callers must answer the same way in both cases (no user enumeration).
    """
    user = find_user_by_email(email or "")
    if user is None or not user.active:
        return None
    link = external_url("auth.reset_password", token=make_token(user, "reset"))
    context = {"user": user, "link": link, "lifetime": link_lifetime()}
    return mailer.send_mail(
        user.email, f"Reset your {current_app.config['COMPANY_NAME']} password",
        render_template("auth/mail/reset.txt", **context),
        render_template("auth/mail/reset.html", **context), kind="reset", auto=True,
    )


def reset_password(token: str, password: str) -> User:
    """Set a new password from a reset link; the link and every session of the user end."""
    user = user_from_token(token, "reset")
    _set_checked_password(user, password)
    return user


def _set_checked_password(user: User, password: str) -> None:
    try:
        check_password_strength(password, email=user.email)
    except ValueError as err:
        raise AccountError(str(err), field="password") from None
    user.set_password(password)


# ---- invitations ---------------------------------------------------------------------------

def invite_user(email: str, name: str, role: str, invited_by: User | None = None) -> User:
    """Create a user without a password and mail them an invitation link.

    A portal user is linked to the contact with the same address (created if missing),
    since that contact is what the portal shows them.
    """
    try:
        user = create_user(email, name, role=role)
    except ValueError as err:
        raise AccountError(str(err), field="email") from None
    if role == "portal":
        user.contact_id = _contact_for(user).id
    send_invitation(user, invited_by)
    log.info("user %s invited as %s by %s", user.id, role, invited_by.id if invited_by else "-")
    return user


def _contact_for(user: User) -> Contact:
    contact = db.session.scalar(
        select(Contact).where(func.lower(Contact.email) == user.email).order_by(Contact.id).limit(1)
    )
    if contact is None:
        contact = Contact(name=user.name, email=user.email)
        db.session.add(contact)
        db.session.flush()
    return contact


def send_invitation(user: User, invited_by: User | None = None) -> OutboxMail:
    """Mail (or mail again) an invitation link; an earlier link stops working."""
    if user.password_hash:
        raise AccountError(f"{user.name} has already accepted the invitation.")
    if not user.active:
        raise AccountError(f"{user.name} is deactivated; reactivate the account first.")
    user.session_token = secrets.token_hex(16)  # only the newest link works
    link = external_url("auth.accept_invite", token=make_token(user, "invite"))
    company = current_app.config["COMPANY_NAME"]
    place = "Hilo" if company == "Hilo" else f"{company} on Hilo"
    context = {"user": user, "link": link, "invited_by": invited_by, "place": place,
               "lifetime": link_lifetime()}
    return mailer.send_mail(
        user.email, f"You are invited to {place}",
        render_template("auth/mail/invite.txt", **context),
        render_template("auth/mail/invite.html", **context), kind="invite", auto=True,
    )


def accept_invitation(token: str, name: str, password: str) -> User:
    """Complete an invitation: the user picks their name and password (the link then dies)."""
    user = user_from_token(token, "invite")
    _set_checked_password(user, password)
    user.name = (name or "").strip()[:120] or user.name
    return user


# ---- administration -------------------------------------------------------------------------

def _other_active_admins(user: User) -> int:
    # Locking the admin rows (PostgreSQL) serialises two admins demoting each other at once.
    ids = db.session.scalars(
        select(User.id).where(User.role == "admin", User.active.is_(True), User.id != user.id)
        .with_for_update()
    ).all()
    return len(ids)


def _check_keeps_an_admin(user: User) -> None:
    if user.role == "admin" and user.active and _other_active_admins(user) == 0:
        raise AccountError("There must be at least one active admin.")


def change_role(actor: User | None, user: User, role: str) -> None:
    """Give `user` another role. Admins cannot demote themselves or the last active admin."""
    if role not in ROLES:
        raise AccountError("Choose a role from the list.", field="role")
    if role == user.role:
        return
    if actor is not None and actor.id == user.id:
        raise AccountError("You cannot change your own role. Ask another admin.", field="role")
    if user.role == "admin":
        _check_keeps_an_admin(user)
    log.info("user %s role %s -> %s by %s", user.id, user.role, role, actor.id if actor else "-")
    user.role = role
    if role == "portal" and user.contact_id is None:
        user.contact_id = _contact_for(user).id


def set_active(actor: User | None, user: User, active: bool) -> None:
    """Deactivate (every session ends at once) or reactivate a user."""
    if user.active == active:
        return
    if not active:
        if actor is not None and actor.id == user.id:
            raise AccountError("You cannot deactivate your own account.")
        _check_keeps_an_admin(user)
        user.session_token = secrets.token_hex(16)
    log.info("user %s %s by %s", user.id, "reactivated" if active else "deactivated", actor.id if actor else "-")
    user.active = active


def list_outbox(kind: str = "", page: int = 1, per_page: int | None = None):
    """One page of outbox mail, newest first, optionally of one kind."""
    stmt = select(OutboxMail)
    if kind:
        stmt = stmt.where(OutboxMail.kind == kind)
    stmt = stmt.order_by(OutboxMail.created_at.desc(), OutboxMail.id.desc())
    return db.paginate(stmt, page=max(page, 1), per_page=per_page or current_app.config["LIST_PAGE_SIZE"],
                       error_out=False)


def outbox_kinds() -> list[str]:
    """The kinds of mail present in the outbox, plus the usual ones, for the filter."""
    present = db.session.scalars(select(OutboxMail.kind).distinct()).all()
    return sorted(set(present) | {"message", "invite", "reset", "notification"})


# ---- profile ---------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def timezone_choices() -> tuple[str, ...]:
    """Every IANA time zone this system knows, sorted (for the profile select)."""
    return tuple(sorted(available_timezones()))


def update_profile(user: User, *, name: str, signature: str, timezone: str, notify_by: str) -> None:
    """Save the profile fields (validated again here so non-form callers are safe)."""
    name = (name or "").strip()
    if not name:
        raise AccountError("Enter your name.", field="name")
    if timezone not in timezone_choices():
        raise AccountError("Choose a time zone from the list.", field="timezone")
    if notify_by not in NOTIFY_CHOICES:
        raise AccountError("Choose how to be notified.", field="notify_by")
    signature = (signature or "").replace("\r\n", "\n").strip()
    if len(signature) > MAX_SIGNATURE_CHARS:
        raise AccountError(f"The signature may be at most {MAX_SIGNATURE_CHARS} characters.", field="signature")
    user.name, user.signature, user.timezone, user.notify_by = name[:120], signature, timezone, notify_by


def change_password(user: User, current_password: str, new_password: str) -> None:
    """Change the password after checking the current one; every session of the user ends
    (the caller signs the current one in again)."""
    if not user.check_password(current_password or ""):
        raise AccountError("Your current password is not correct.", field="current_password")
    if current_password == new_password:
        raise AccountError("Choose a password different from the current one.", field="password")
    _set_checked_password(user, new_password)


def _avatar_root() -> Path:
    return Path(current_app.config["UPLOAD_DIR"]) / AVATAR_DIR


def _remove_file_after_commit(stored: str | None) -> None:
    if not stored:
        return
    path = _avatar_root() / Path(stored).name

    def remove():
        path.unlink(missing_ok=True)

    on_commit(remove)


def save_avatar(user: User, upload) -> None:
    """Store an uploaded picture (PNG, JPEG, GIF or WebP, by its bytes) as the user's avatar."""
    limit = current_app.config["MAX_AVATAR_BYTES"]
    data = upload.stream.read(limit + 1)
    if not data:
        raise AccountError("The file is empty.", field="avatar")
    if len(data) > limit:
        raise AccountError(f"The picture is larger than {_size_label(limit)}.", field="avatar")
    content_type = sniff_raster(data[:16])
    if content_type is None:
        raise AccountError("Upload a PNG, JPEG, GIF or WebP picture.", field="avatar")
    name = secrets.token_hex(16) + AVATAR_SUFFIXES[content_type]
    root = _avatar_root()
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_bytes(data)
    _remove_file_after_commit(user.avatar_path)
    user.avatar_path = f"{AVATAR_DIR}/{name}"


def remove_avatar(user: User) -> None:
    """Drop the user's picture (their initials show instead)."""
    _remove_file_after_commit(user.avatar_path)
    user.avatar_path = None


def avatar_file(user: User | None) -> tuple[Path, str] | None:
    """The stored avatar of `user` and its image type, or None when there is none to serve."""
    if user is None or not user.avatar_path:
        return None
    root = _avatar_root().resolve()
    path = (root / Path(user.avatar_path).name).resolve()
    if path.parent != root or not path.is_file():
        return None
    with path.open("rb") as handle:
        content_type = sniff_raster(handle.read(16))
    return (path, content_type) if content_type else None


def _size_label(num: int) -> str:
    return f"{num / (1024 * 1024):g} MB" if num >= 1024 * 1024 else f"{num // 1024} KB"
