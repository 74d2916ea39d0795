"""All models, imported here so Alembic and `db.create_all` see every table."""
from app.models.accounts import User, ROLES
from app.models.contacts import Contact
from app.models.threads import (
    Thread, ThreadMixin, Message, MessageReaction, MessageRecipient, MessageStar, Attachment,
    TrackingValue, Follower, Notification, MESSAGE_KINDS,
)
from app.models.activities import Activity, ACTIVITY_TYPES
from app.models.mail import ImapCursor, InboundMail, MailAlias, OutboxMail
from app.models.discuss import Channel, ChannelMember, CHANNEL_KINDS
from app.models.helpdesk import (
    Stage, Tag, Team, TeamMember, Ticket, TicketType, ASSIGNMENT_METHODS, PRIORITIES,
    CannedResponse, SlaPolicy, TicketPause, TicketSla, Timesheet, WorkingCalendar, SLA_TARGETS, SLA_STATUSES,
    ESCALATIONS,
)
from app.models.customers import FaqArticle, FormField, Rating, FIELD_KINDS, FIELD_TARGETS, RATINGS
from app.models.livechat import (
    ChannelOperator, ChatbotScript, ChatbotStep, LivechatChannel, LivechatRule, LivechatSession, OperatorSettings,
    Visitor, VisitorMessageKey, RULE_ACTIONS, STEP_KINDS, SESSION_STATES,
)

__all__ = [
    "User", "ROLES", "Contact", "Thread", "ThreadMixin", "Message", "MessageReaction", "MessageRecipient",
    "MessageStar",
    "Attachment", "TrackingValue", "Follower", "Notification", "MESSAGE_KINDS", "Activity",
    "ACTIVITY_TYPES", "ImapCursor", "InboundMail", "MailAlias", "OutboxMail", "Channel", "ChannelMember",
    "CHANNEL_KINDS", "Stage", "Tag", "Team", "TeamMember", "Ticket", "TicketType", "ASSIGNMENT_METHODS",
    "PRIORITIES", "CannedResponse", "SlaPolicy", "TicketPause", "TicketSla", "Timesheet", "WorkingCalendar",
    "SLA_TARGETS", "SLA_STATUSES", "ESCALATIONS", "FaqArticle", "FormField", "Rating", "FIELD_KINDS",
    "FIELD_TARGETS", "RATINGS", "ChannelOperator", "ChatbotScript", "ChatbotStep", "LivechatChannel", "LivechatRule",
    "LivechatSession", "OperatorSettings", "Visitor", "VisitorMessageKey", "RULE_ACTIONS", "STEP_KINDS",
    "SESSION_STATES",
]
