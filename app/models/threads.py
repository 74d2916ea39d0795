"""The thread on a record: messages, attachments, tracked changes, followers, notifications."""
from datetime import datetime

from sqlalchemy import String, Text, ForeignKey, Index, UniqueConstraint, CheckConstraint, inspect, select, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import utcnow

MESSAGE_KINDS = ("comment", "note", "notification", "tracking")


class ThreadMixin:
    """Gives a model a thread (chatter). Set `thread_model` to a short, stable name.

    Subclasses are registered so that a thread can find its record, and the access
    service can ask the record who may read it.
    """

    thread_model: str = ""
    thread_endpoint: str = ""  # the record's page, e.g. "contacts.show"
    thread_endpoint_arg: str = "id"
    registry: dict[str, type] = {}
    tracked_fields: dict[str, str] = {}
    follow_on_post = True  # an author follows the record's thread from their first post on
    live_position = "afterbegin"  # where a new message goes in the list (the chatter: on top)
    comments_editable = False  # may authors edit sent messages? (not on records: they were emailed)
    live_extra_template: str | None = None  # more to push with each new message (e.g. read markers)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.thread_model:
            ThreadMixin.registry[cls.thread_model] = cls

    @property
    def thread(self) -> "Thread | None":
        known = self.__dict__.get("_thread")  # read with the record (`with_thread`), or created here
        if known is not None and inspect(known).persistent:  # not one a rollback took back
            return known
        return db.session.scalar(
            select(Thread).filter_by(res_model=self.thread_model, res_id=self.id)
        )

    @classmethod
    def thread_join(cls):
        """The condition joining this model's rows to their threads (see `with_thread`)."""
        return (Thread.res_model == cls.thread_model) & (Thread.res_id == cls.id)

    def with_thread(self, thread: "Thread | None"):
        """Remember the thread read in the same query as the record (saves a round trip)."""
        if thread is not None:
            self.__dict__["_thread"] = thread
        return self

    def ensure_thread(self) -> "Thread":
        """The record's thread, created (and flushed) on first use."""
        thread = self.thread
        if thread is None:
            if self.id is None:
                db.session.flush()
            thread = Thread(res_model=self.thread_model, res_id=self.id)
            db.session.add(thread)
            db.session.flush()
            self.with_thread(thread)
        return thread

    @property
    def display_name(self) -> str:
        return f"{self.thread_model} {self.id}"


class Thread(db.Model):
    __tablename__ = "threads"

    id: Mapped[int] = mapped_column(primary_key=True)
    res_model: Mapped[str] = mapped_column(String(32))
    res_id: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("res_model", "res_id", name="uq_threads_record"),)

    @property
    def model(self) -> type | None:
        """The record's class (its behaviour: following, live position, access hooks)."""
        return ThreadMixin.registry.get(self.res_model)

    @property
    def record(self):
        model = self.model
        return db.session.get(model, self.res_id) if model else None


class Message(db.Model):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    # A live chat visitor (neither a user nor, yet, a contact). No foreign key: SQLite adds one
    # only by copying `messages`, which would drop the search triggers; a visitor deleted since
    # reads "Visitor".
    author_visitor_id: Mapped[int | None]
    subject: Mapped[str | None] = mapped_column(String(255))
    body_html: Mapped[str] = mapped_column(Text, default="")
    # RFC 5322 Message-ID of the mail this message was sent as or received from.
    message_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None]
    # Its audience (mentions, followers, emailed contacts) is still to be notified: a job does it
    # after commit, and a periodic sweep finds messages whose job was lost.
    notify_pending: Mapped[bool] = mapped_column(default=False, server_default=text("false"))

    author_user = relationship("User", foreign_keys=[author_user_id], lazy="joined")
    author_contact = relationship("Contact", foreign_keys=[author_contact_id], lazy="joined")
    author_visitor = relationship("Visitor", primaryjoin="foreign(Message.author_visitor_id) == Visitor.id",
                                  viewonly=True)
    attachments = relationship("Attachment", back_populates="message", order_by="Attachment.id")
    tracking_values = relationship(
        "TrackingValue", back_populates="message", cascade="all, delete-orphan", order_by="TrackingValue.id"
    )
    recipients = relationship("MessageRecipient", back_populates="message", cascade="all, delete-orphan")
    reactions = relationship("MessageReaction", cascade="all, delete-orphan", passive_deletes=True,
                             order_by="MessageReaction.id")

    __table_args__ = (
        Index("ix_messages_thread_id_id", "thread_id", "id"),
        Index("ix_messages_notify_pending", "id", postgresql_where=text("notify_pending"),
              sqlite_where=text("notify_pending")),
        CheckConstraint("kind in ('comment', 'note', 'notification', 'tracking')", name="kind"),
    )

    @property
    def is_internal(self) -> bool:
        """Notes and tracking lines are staff-only (SPEC §1.2)."""
        return self.kind in ("note", "tracking")

    @property
    def author_name(self) -> str:
        if self.author_user:
            return self.author_user.name
        if self.author_contact:
            return self.author_contact.name
        if self.author_visitor_id is not None:
            return self.author_visitor.display_name if self.author_visitor else "Visitor"
        return "System"


class MessageReaction(db.Model):
    """An emoji a staff member put on a message (one row per person and emoji)."""

    __tablename__ = "message_reactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    emoji: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user = relationship("User", lazy="joined")

    __table_args__ = (
        UniqueConstraint("message_id", "user_id", "emoji", name="uq_message_reactions_message_user_emoji"),
    )


class MessageStar(db.Model):
    """A message someone keeps for later (their Starred list): private to them."""

    __tablename__ = "message_stars"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("user_id", "message_id", name="uq_message_stars_user_message"),
    )


class MessageRecipient(db.Model):
    """Delivery of a sent message to one address (status filled by the mailer)."""

    __tablename__ = "message_recipients"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(254))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued|sent|failed|bounced
    error: Mapped[str | None] = mapped_column(Text)
    outbox_mail_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_mails.id", ondelete="SET NULL"),
                                                       index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    message = relationship("Message", back_populates="recipients")


class Attachment(db.Model):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int]
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    message = relationship("Message", back_populates="attachments")


class TrackingValue(db.Model):
    __tablename__ = "tracking_values"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(64))
    field_label: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)

    message = relationship("Message", back_populates="tracking_values")


class Follower(db.Model):
    __tablename__ = "followers"

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user = relationship("User", lazy="joined")
    contact = relationship("Contact", lazy="joined")

    __table_args__ = (
        UniqueConstraint("thread_id", "user_id", name="uq_followers_user"),
        UniqueConstraint("thread_id", "contact_id", name="uq_followers_contact"),
        CheckConstraint(
            "(user_id IS NULL) <> (contact_id IS NULL)", name="one_target"
        ),
        Index("ix_followers_user_id", "user_id"),
    )

    @property
    def name(self) -> str:
        return self.user.name if self.user else self.contact.name

    @property
    def email(self) -> str | None:
        return self.user.email if self.user else self.contact.email


class Notification(db.Model):
    """One line of a user's inbox (SPEC §2.6)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # mention | message | activity | failure | system
    kind: Mapped[str] = mapped_column(String(16))
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"))
    summary: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]

    message = relationship("Message", lazy="joined")
    thread = relationship("Thread", lazy="joined")

    __table_args__ = (Index("ix_notifications_user_unread", "user_id", "read_at", "id"),)
