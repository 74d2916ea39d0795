"""Live chat (SPEC §7): website channels, their operators and rules, chatbot scripts, visitors and
chat sessions.

A `LivechatChannel` is what a company puts on its site (one `loader.js` line). A visitor's chat
is a `LivechatSession`, a threaded record: its messages are thread messages, so the operator's
side reuses the chatter's rows, composer and realtime bus. Notes in a session are the
operators' own; the widget shows comments and system lines only.
"""
from datetime import datetime

from sqlalchemy import (JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint,
                        select, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import utcnow
from app.models.threads import ThreadMixin

RULE_ACTIONS = ("show", "auto", "hide")  # show the button, open the chat after N seconds, hide it
STEP_KINDS = ("text", "question", "email", "free_text", "forward", "ticket")
SESSION_STATES = ("bot", "waiting", "open", "ended")


class LivechatChannel(db.Model):
    """A website's chat: how its button and window look, who answers, and its rules."""

    __tablename__ = "livechat_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(32), unique=True)  # in the loader's URL; public
    # Signs a site's "this visitor is my user X" (HMAC-SHA256 of the identifier); never shown to visitors.
    identity_secret: Mapped[str] = mapped_column(String(64))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("helpdesk_teams.id", ondelete="SET NULL"))
    button_text: Mapped[str] = mapped_column(String(60), default="Chat with us")
    header_text: Mapped[str] = mapped_column(String(80), default="")
    welcome_message: Mapped[str] = mapped_column(Text, default="")
    placeholder: Mapped[str] = mapped_column(String(120), default="Type a message…")
    button_color: Mapped[str] = mapped_column(String(7), default="#4f46e5")
    header_color: Mapped[str] = mapped_column(String(7), default="#4f46e5")
    bot_name: Mapped[str] = mapped_column(String(60), default="Assistant")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    team = relationship("Team")
    operators = relationship("User", secondary="livechat_channel_operators", order_by="User.name")
    rules = relationship("LivechatRule", back_populates="channel", cascade="all, delete-orphan",
                         order_by="LivechatRule.sequence, LivechatRule.id")

    def has_operator(self, user) -> bool:
        if user is None or getattr(user, "id", None) is None:
            return False
        return db.session.scalar(select(ChannelOperator.id).where(
            ChannelOperator.channel_id == self.id, ChannelOperator.user_id == user.id)) is not None

    def __repr__(self) -> str:
        return f"<LivechatChannel {self.name}>"


class ChannelOperator(db.Model):
    """An operator answering a channel's chats (added by an admin, or joined themselves)."""

    __tablename__ = "livechat_channel_operators"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("livechat_channels.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)

    __table_args__ = (UniqueConstraint("channel_id", "user_id", name="uq_livechat_channel_operators_channel_user"),)


class OperatorSettings(db.Model):
    """One operator's live chat availability, limit and languages (across channels)."""

    __tablename__ = "livechat_operator_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    available: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    max_sessions: Mapped[int] = mapped_column(Integer, default=4, server_default=text("4"))
    languages: Mapped[str] = mapped_column(String(80), default="")  # "en, fr": visitors of these first

    @property
    def language_list(self) -> list[str]:
        return [code.strip().lower() for code in self.languages.split(",") if code.strip()]


class LivechatRule(db.Model):
    """When and how the button shows: the first rule whose page and country match decides."""

    __tablename__ = "livechat_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("livechat_channels.id", ondelete="CASCADE"), index=True)
    sequence: Mapped[int] = mapped_column(Integer, default=10)
    url_pattern: Mapped[str] = mapped_column(String(300), default="")  # a regular expression; empty: any page
    countries: Mapped[str] = mapped_column(String(300), default="")  # "FR, BE"; empty: anywhere
    action: Mapped[str] = mapped_column(String(8), default="show")
    auto_open_seconds: Mapped[int] = mapped_column(Integer, default=0)
    script_id: Mapped[int | None] = mapped_column(ForeignKey("chatbot_scripts.id", ondelete="SET NULL"))
    bot_only_when_offline: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))

    channel = relationship("LivechatChannel", back_populates="rules")
    script = relationship("ChatbotScript")

    __table_args__ = (CheckConstraint("action in ('show', 'auto', 'hide')", name="action"),)

    @property
    def country_list(self) -> list[str]:
        return [code.strip().upper() for code in self.countries.replace(";", ",").split(",") if code.strip()]


class ChatbotScript(db.Model):
    """Ordered bot steps a rule may start a chat with."""

    __tablename__ = "chatbot_scripts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    steps = relationship("ChatbotStep", back_populates="script", cascade="all, delete-orphan",
                         order_by="ChatbotStep.sequence, ChatbotStep.id", foreign_keys="ChatbotStep.script_id")

    def __repr__(self) -> str:
        return f"<ChatbotScript {self.name}>"


class ChatbotStep(db.Model):
    """One step: say something, ask (buttons, an email, free text), forward, or open a ticket.

    With `only_if_step_id`, the step runs only when that earlier question was answered
    `only_if_answer` (any of its lines)."""

    __tablename__ = "chatbot_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    script_id: Mapped[int] = mapped_column(ForeignKey("chatbot_scripts.id", ondelete="CASCADE"), index=True)
    sequence: Mapped[int] = mapped_column(Integer, default=10)
    kind: Mapped[str] = mapped_column(String(10), default="text")
    message: Mapped[str] = mapped_column(Text, default="")
    answers: Mapped[str] = mapped_column(Text, default="")  # a question's buttons, one a line
    only_if_step_id: Mapped[int | None] = mapped_column(ForeignKey("chatbot_steps.id", ondelete="SET NULL"))
    only_if_answer: Mapped[str] = mapped_column(Text, default="")

    script = relationship("ChatbotScript", back_populates="steps", foreign_keys=[script_id])

    __table_args__ = (
        CheckConstraint("kind in ('text', 'question', 'email', 'free_text', 'forward', 'ticket')", name="kind"),
    )

    @property
    def answer_list(self) -> list[str]:
        return [line.strip() for line in (self.answers or "").splitlines() if line.strip()]

    @property
    def condition_list(self) -> list[str]:
        return [line.strip() for line in (self.only_if_answer or "").splitlines() if line.strip()]

    @property
    def waits(self) -> bool:
        """Does the bot wait for the visitor after this step?"""
        return self.kind in ("question", "email", "free_text")


class Visitor(db.Model):
    """Someone on the company's site, kept across pages and tabs by a signed token."""

    __tablename__ = "livechat_visitors"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("livechat_channels.id", ondelete="CASCADE"), index=True)
    # Changes when the token must stop working (a signed identity switched to another person).
    nonce: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    identifier: Mapped[str | None] = mapped_column(String(120))  # the site's own user id, when signed
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    country: Mapped[str] = mapped_column(String(2), default="")
    language: Mapped[str] = mapped_column(String(8), default="")
    pages: Mapped[list] = mapped_column(JSON, default=list)  # the latest pages: [{"url", "title", "at"}]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    contact = relationship("Contact")

    __table_args__ = (Index("ix_livechat_visitors_channel_identifier", "channel_id", "identifier"),)

    @property
    def display_name(self) -> str:
        return self.name or (self.contact.name if self.contact else "") or f"Visitor #{self.id}"

    @property
    def current_page(self) -> str:
        return self.pages[-1]["url"] if self.pages else ""


class LivechatSession(ThreadMixin, db.Model):
    """One chat of a visitor: the bot, the wait, the operator, the end and the rating."""

    __tablename__ = "livechat_sessions"
    thread_model = "livechat"
    thread_endpoint = "discuss.livechat_session"
    thread_endpoint_arg = "session_id"
    follow_on_post = False  # the operator, not followers
    live_position = "beforeend"
    comments_editable = False  # the visitor already read it

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("livechat_channels.id", ondelete="CASCADE"))
    visitor_id: Mapped[int] = mapped_column(ForeignKey("livechat_visitors.id", ondelete="CASCADE"), index=True)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(8), default="waiting")
    script_id: Mapped[int | None] = mapped_column(ForeignKey("chatbot_scripts.id", ondelete="SET NULL"))
    bot_step_id: Mapped[int | None] = mapped_column(ForeignKey("chatbot_steps.id", ondelete="SET NULL"))
    bot_answers: Mapped[dict] = mapped_column(JSON, default=dict)  # step id (str) -> the visitor's answer
    page_url: Mapped[str] = mapped_column(String(500), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]  # an operator's first message
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[str | None] = mapped_column(String(8))  # visitor | operator | system
    rating: Mapped[str | None] = mapped_column(String(12))
    rating_comment: Mapped[str] = mapped_column(Text, default="")
    rated_at: Mapped[datetime | None]
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("helpdesk_tickets.id", ondelete="SET NULL"))
    operator_seen_message_id: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    message_count: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    transcript_sent_to: Mapped[str | None] = mapped_column(String(254))

    channel = relationship("LivechatChannel", lazy="joined")
    visitor = relationship("Visitor", lazy="joined")
    operator = relationship("User", foreign_keys=[operator_id])
    ticket = relationship("Ticket")
    bot_step = relationship("ChatbotStep", foreign_keys=[bot_step_id])

    __table_args__ = (
        CheckConstraint("state in ('bot', 'waiting', 'open', 'ended')", name="state"),
        CheckConstraint("rating is null or rating in ('satisfied', 'okay', 'dissatisfied')", name="rating"),
        Index("ix_livechat_sessions_operator_state", "operator_id", "state"),
        Index("ix_livechat_sessions_channel_started", "channel_id", "started_at"),
    )

    @property
    def display_name(self) -> str:
        return f"Chat with {self.visitor.display_name}"

    @property
    def is_live(self) -> bool:
        return self.state != "ended"

    @property
    def read_only(self) -> bool:
        return self.state == "ended"

    @property
    def duration_seconds(self) -> int | None:
        if self.ended_at is None:
            return None
        return int((self.ended_at - self.started_at).total_seconds())

    def on_message_posted(self, message) -> None:
        """The thread's hook: counted, and sent on to the visitor (services/livechat.py)."""
        from app.services import livechat

        livechat.on_message_posted(self, message)

    @staticmethod
    def system_author(session) -> str | None:
        """The welcome line and the chatbot's lines are the channel's bot speaking."""
        return session.channel.bot_name if session is not None else None

    def staff_can_read(self, user) -> bool:
        """Admins, the channel's operators, and whoever was given the chat."""
        return bool(user.is_admin or self.operator_id == user.id or self.channel.has_operator(user))

    @classmethod
    def staff_read_filter(cls, user):
        if user.is_admin:
            return text("1 = 1")
        operates = select(ChannelOperator.id).where(ChannelOperator.channel_id == cls.channel_id,
                                                    ChannelOperator.user_id == user.id).exists()
        return (cls.operator_id == user.id) | operates

    def __repr__(self) -> str:
        return f"<LivechatSession {self.id} {self.state}>"


class VisitorMessageKey(db.Model):
    """A visitor's message, by the key its browser made for it: a resend is the same message."""

    __tablename__ = "livechat_message_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("livechat_sessions.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))

    __table_args__ = (UniqueConstraint("session_id", "key", name="uq_livechat_message_keys_session_key"),)
