"""Discuss (SPEC §2): channels, direct messages and group chats, and who is in them.

A conversation is a threaded record: its messages are the thread's messages, posted and
pushed live by the same services as the chatter. Members carry the read pointer (the last
message they have seen), which gives the unread counts and the "new messages" separator.
"""
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, select, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import utcnow
from app.models.threads import ThreadMixin

CHANNEL_KINDS = ("channel", "dm", "group")


class Channel(ThreadMixin, db.Model):
    """A channel (named, public or private), a direct message (two people) or a group chat."""

    __tablename__ = "channels"
    thread_model = "channel"
    thread_endpoint = "discuss.conversation"
    thread_endpoint_arg = "channel_id"
    follow_on_post = False  # members, not followers: unread counts, and the inbox for @mentions only
    live_position = "beforeend"  # a chat reads top to bottom, the newest message last
    comments_editable = True  # a chat message was never emailed: its author may fix it
    live_extra_template = "discuss/_live_extra.html"  # readers mark the conversation seen

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), default="channel")
    name: Mapped[str] = mapped_column(String(80), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    is_private: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # "<lower id>:<higher id>" for a direct message, so the pair has one conversation only.
    dm_key: Mapped[str | None] = mapped_column(String(40), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    archived_at: Mapped[datetime | None]

    members = relationship("ChannelMember", back_populates="channel", cascade="all, delete-orphan",
                           order_by="ChannelMember.id")

    __table_args__ = (
        CheckConstraint("kind in ('channel', 'dm', 'group')", name="kind"),
        Index("ix_channels_kind_name", "kind", "name"),
    )

    @property
    def read_only(self) -> bool:
        """An archived channel can be read, not written to or changed."""
        return self.archived_at is not None

    @property
    def is_channel(self) -> bool:
        return self.kind == "channel"

    @property
    def is_public(self) -> bool:
        """Any staff member may find, read and join it."""
        return self.kind == "channel" and not self.is_private

    def member(self, user) -> "ChannelMember | None":
        if user is None or getattr(user, "id", None) is None:
            return None
        return db.session.scalar(select(ChannelMember).where(
            ChannelMember.channel_id == self.id, ChannelMember.user_id == user.id))

    def staff_can_read(self, user) -> bool:
        """Public channels: every staff member. Private channels, DMs, group chats: members only
        (admins included: privacy is the point of a private channel)."""
        return self.is_public or self.member(user) is not None

    @classmethod
    def staff_read_filter(cls, user):
        """`staff_can_read` as a SQL condition on channels, for search and lists that page in SQL."""
        is_member = select(ChannelMember.id).where(ChannelMember.channel_id == cls.id,
                                                   ChannelMember.user_id == user.id).exists()
        return ((cls.kind == "channel") & cls.is_private.is_(False)) | is_member

    @property
    def display_name(self) -> str:
        if self.kind == "channel":
            return f"#{self.name}"
        return self.name or "Conversation"

    def title_for(self, user) -> str:
        """What `user` calls it: "#general", the other person's name, or the other members'."""
        if self.kind == "channel":
            return f"#{self.name}"
        if self.name:
            return self.name
        others = sorted(m.user.name for m in self.members if m.user_id != getattr(user, "id", None))
        return ", ".join(others) or "Just you"

    def __repr__(self) -> str:
        return f"<Channel {self.kind} {self.name or self.id}>"


class ChannelMember(db.Model):
    __tablename__ = "channel_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The newest message this member has seen: unread = messages after it, not their own.
    last_seen_message_id: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    muted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))

    channel = relationship("Channel", back_populates="members")
    user = relationship("User", lazy="joined")

    __table_args__ = (
        UniqueConstraint("channel_id", "user_id", name="uq_channel_members_channel_user"),
        Index("ix_channel_members_user_id", "user_id"),
    )
