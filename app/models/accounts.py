"""Users: staff (admin, agent) and portal customers."""
import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import String, Text, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db
from app.models.base import utcnow

ROLES = ("admin", "agent", "portal")
NOTIFY_CHOICES = ("inbox", "email")


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="agent")
    active: Mapped[bool] = mapped_column(default=True)
    # Rotated on password change: the session cookie carries it, so other sessions end.
    session_token: Mapped[str] = mapped_column(String(64), default=lambda: secrets.token_hex(16))
    avatar_path: Mapped[str | None] = mapped_column(String(255))
    signature: Mapped[str] = mapped_column(Text, default="")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    notify_by: Mapped[str] = mapped_column(String(8), default="inbox")
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    contact = relationship("Contact", foreign_keys=[contact_id])

    def get_id(self) -> str:
        """Flask-Login id: the row id plus the session token (see `session_token`)."""
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def is_staff(self) -> bool:
        return self.role in ("admin", "agent")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def set_password(self, password: str) -> None:
        """Set the password and end every other session of this user."""
        self.password_hash = generate_password_hash(password)
        self.session_token = secrets.token_hex(16)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    @property
    def initials(self) -> str:
        parts = [p for p in self.name.split() if p]
        return "".join(p[0] for p in parts[:2]).upper() or "?"

    def __repr__(self) -> str:
        return f"<User {self.email}>"
