"""The live chat sessions log and satisfaction (SPEC §7.8), over the chats a user may read."""
from dataclasses import dataclass

from sqlalchemy import case, func, select

from app.extensions import db
from app.models import LivechatChannel, LivechatSession, User

PAGE_SIZE = 50


@dataclass
class SessionLog:
    rows: list
    total: int
    page: int
    pages: int


@dataclass
class Satisfaction:
    """Ratings of one channel or operator: counts and the share of satisfied among rated chats."""
    key: int | None
    name: str
    sessions: int
    rated: int
    satisfied: int
    okay: int
    dissatisfied: int

    @property
    def percent(self) -> int | None:
        return round(100 * self.satisfied / self.rated) if self.rated else None


def _readable(user):
    return LivechatSession.staff_read_filter(user)


def session_log(user: User, *, since, channel_id: int | None = None, operator_id: int | None = None,
                page: int = 1) -> SessionLog:
    conditions = [_readable(user), LivechatSession.started_at >= since]
    if channel_id:
        conditions.append(LivechatSession.channel_id == channel_id)
    if operator_id:
        conditions.append(LivechatSession.operator_id == operator_id)
    total = db.session.scalar(select(func.count(LivechatSession.id)).where(*conditions)) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    rows = list(db.session.scalars(select(LivechatSession).where(*conditions)
                                   .order_by(LivechatSession.started_at.desc(), LivechatSession.id.desc())
                                   .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
    return SessionLog(rows, total, page, pages)


def _satisfaction(user: User, since, column, names: dict) -> list[Satisfaction]:
    counted = db.session.execute(
        select(column, func.count(LivechatSession.id), func.count(LivechatSession.rating),
               *(func.sum(case((LivechatSession.rating == value, 1), else_=0))
                 for value in ("satisfied", "okay", "dissatisfied")))
        .where(_readable(user), LivechatSession.started_at >= since).group_by(column)).all()
    result = [Satisfaction(key, names.get(key, "No operator"), total, rated, int(s or 0), int(o or 0), int(d or 0))
              for key, total, rated, s, o, d in counted]
    return sorted(result, key=lambda row: (-row.sessions, row.name))


def satisfaction_by_channel(user: User, since) -> list[Satisfaction]:
    names = dict(db.session.execute(select(LivechatChannel.id, LivechatChannel.name)).all())
    return _satisfaction(user, since, LivechatSession.channel_id, names)


def satisfaction_by_operator(user: User, since) -> list[Satisfaction]:
    names = dict(db.session.execute(select(User.id, User.name).where(User.role.in_(("admin", "agent")))).all())
    return _satisfaction(user, since, LivechatSession.operator_id, names)


def readable_channels(user: User) -> list[LivechatChannel]:
    """Channels whose chats the user may read (their own, or all for an admin)."""
    query = select(LivechatChannel).order_by(LivechatChannel.name)
    if not user.is_admin:
        from app.models import ChannelOperator

        query = query.join(ChannelOperator, ChannelOperator.channel_id == LivechatChannel.id).where(
            ChannelOperator.user_id == user.id)
    return list(db.session.scalars(query))
