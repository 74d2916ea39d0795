"""Accounts: creating users, invitations, password resets, profiles (SPEC §9)."""
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select

from app.extensions import db
from app.models import ROLES, User

MIN_PASSWORD_LENGTH = 10


def normalize_email(raw: str) -> str:
    """Validated, lower-cased address; raises ValueError with a readable reason."""
    try:
        return validate_email((raw or "").strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as err:
        raise ValueError(str(err)) from None


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def check_password_strength(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ValueError(f"Use at least {MIN_PASSWORD_LENGTH} characters.")


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
