"""Activities: things to do about a record, with a due date and an assignee (SPEC §1.7)."""
from datetime import date, datetime

from sqlalchemy import String, Text, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import utcnow

ACTIVITY_TYPES = {
    "todo": "To-do",
    "call": "Call",
    "meeting": "Meeting",
    "email": "Email",
    "upload": "Upload document",
    "custom": "Other",
}


class Activity(db.Model):
    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    activity_type: Mapped[str] = mapped_column(String(16), default="todo")
    summary: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    due_date: Mapped[date]
    assignee_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]
    feedback: Mapped[str | None] = mapped_column(Text)
    reminded_at: Mapped[datetime | None]

    assignee = relationship("User", foreign_keys=[assignee_id], lazy="joined")
    created_by = relationship("User", foreign_keys=[created_by_id])
    thread = relationship("Thread")

    __table_args__ = (
        Index("ix_activities_assignee_open", "assignee_id", "done_at", "due_date"),
        Index("ix_activities_thread_open", "thread_id", "done_at"),
    )

    @property
    def type_label(self) -> str:
        return ACTIVITY_TYPES.get(self.activity_type, self.activity_type)

    def state(self, today: date) -> str:
        """overdue (red), today (orange) or planned (green), relative to the assignee's day."""
        if self.due_date < today:
            return "overdue"
        if self.due_date == today:
            return "today"
        return "planned"
