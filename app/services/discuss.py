"""Discuss (SPEC §2): channels, direct messages and group chats.

`check_*` validate and raise `DiscussError` (a reason for the user); the other functions
change data and leave the commit to the caller. Messages are posted through
`messaging.post_message` (sanitising, files, mentions, live rows); this module adds who is in a
conversation, what they have read, and the sidebar's live unread counts.

Unread counts are pushed by the post's delivery job (`push_unread`): one capped count query for
all members and one tiny fragment per member, so the POST pays for neither.
"""
from datetime import timedelta

from flask import render_template, url_for
from sqlalchemy import bindparam, func, or_, select, text

from app.extensions import db
from app.models import Channel, ChannelMember, Message, Thread, User
from app.models.base import contains_pattern, utcnow
from app.services import jobs, messaging, realtime

MAX_NAME_CHARS = 80
MAX_DESCRIPTION_CHARS = 500
MAX_GROUP_MEMBERS = 50
UNREAD_CAP = 100  # the badge says "99+" beyond
UNREAD_PUSH_EVERY = 1.0  # seconds
CATCH_UP_LIMIT = 200


class DiscussError(ValueError):
    """Why a conversation cannot be created or changed, in words for the user."""


# ---- checks --------------------------------------------------------------------------------

def check_name(name: str, channel: Channel | None = None) -> str:
    """A channel name: 1–80 characters, no leading '#', unique among open channels (any case)."""
    name = " ".join((name or "").split()).lstrip("#").strip()
    if not name:
        raise DiscussError("Give the channel a name.")
    if len(name) > MAX_NAME_CHARS:
        raise DiscussError(f"The name is too long (at most {MAX_NAME_CHARS} characters).")
    clash = select(Channel.id).where(Channel.kind == "channel", Channel.archived_at.is_(None),
                                     func.lower(Channel.name) == name.lower())
    if channel is not None:
        clash = clash.where(Channel.id != channel.id)
    if db.session.scalar(clash) is not None:
        raise DiscussError(f"A channel named “{name}” already exists.")
    return name


def check_description(description: str) -> str:
    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise DiscussError(f"The description is too long (at most {MAX_DESCRIPTION_CHARS} characters).")
    return description


def check_staff(users) -> list[User]:
    """Active staff only, each once, in the order given."""
    found, seen = [], set()
    for user in users:
        if user is None or not user.active or not user.is_staff:
            raise DiscussError("Only active colleagues can join a conversation.")
        if user.id not in seen:
            seen.add(user.id)
            found.append(user)
    return found


def _open(channel: Channel) -> None:
    if channel.archived_at is not None:
        raise DiscussError("This channel is archived.")


def staff_users(ids) -> list[User]:
    """Users for ids typed in a form (unknown ids are dropped, the check says the rest)."""
    ids = [int(i) for i in ids if str(i).isdigit()]
    if not ids:
        return []
    by_id = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}
    return [by_id[i] for i in ids if i in by_id]


# ---- creating conversations -------------------------------------------------------------------

def create_channel(creator: User, name: str, *, description: str = "", private: bool = False,
                   members=()) -> Channel:
    """A new channel with its creator (and `members`) in it."""
    channel = Channel(kind="channel", name=check_name(name), description=check_description(description),
                      is_private=bool(private), created_by_id=creator.id)
    db.session.add(channel)
    db.session.flush()
    _add_members(channel, check_staff([creator, *members]))
    return channel


def direct_message(user: User, other: User) -> Channel:
    """The one conversation between `user` and `other`, created on first use."""
    if other is None or other.id == user.id:
        raise DiscussError("Choose a colleague to write to.")
    check_staff([other])
    low, high = sorted((user.id, other.id))
    key = f"{low}:{high}"
    channel = db.session.scalar(select(Channel).where(Channel.dm_key == key))
    if channel is None:
        channel = Channel(kind="dm", dm_key=key, created_by_id=user.id)
        db.session.add(channel)
        db.session.flush()
        _add_members(channel, [user, other])
    return channel


def group_chat(creator: User, others) -> Channel:
    """A group conversation of `creator` and two or more colleagues (no name, no channel)."""
    people = check_staff([creator, *others])
    if len(people) < 3:
        raise DiscussError("A group chat needs at least two colleagues besides you; "
                           "for one, send a direct message.")
    if len(people) > MAX_GROUP_MEMBERS:
        raise DiscussError(f"A group chat has at most {MAX_GROUP_MEMBERS} people; make a channel instead.")
    channel = Channel(kind="group", created_by_id=creator.id)
    db.session.add(channel)
    db.session.flush()
    _add_members(channel, people)
    return channel


def _add_members(channel: Channel, users) -> list[ChannelMember]:
    """Add the users not in yet; their pointer starts at the newest message (nothing unread)."""
    thread = channel.ensure_thread()
    newest = _newest_message_id(thread)
    present = {m.user_id for m in db.session.scalars(
        select(ChannelMember).where(ChannelMember.channel_id == channel.id))}
    added = []
    for user in users:
        if user.id in present:
            continue
        added.append(ChannelMember(channel_id=channel.id, user_id=user.id, last_seen_message_id=newest))
    db.session.add_all(added)
    db.session.flush()
    db.session.expire(channel, ["members"])
    for member in added:
        refresh_sidebar(member.user_id)
    return added


def _newest_message_id(thread: Thread) -> int:
    return db.session.scalar(select(func.coalesce(func.max(Message.id), 0)).where(Message.thread_id == thread.id))


# ---- membership ------------------------------------------------------------------------------

def join(channel: Channel, user: User) -> ChannelMember:
    """Join a public channel (private ones are by invitation)."""
    _open(channel)
    if not channel.is_public:
        raise DiscussError("This channel is private: a member has to invite you.")
    check_staff([user])
    member = channel.member(user)
    if member is None:
        [member] = _add_members(channel, [user])
        _post_event(channel, user, f"{user.name} joined the channel.")
    return member


def invite(channel: Channel, inviter: User, users) -> list[ChannelMember]:
    """Members add colleagues to a channel or a group chat (a direct message stays two people)."""
    _open(channel)
    if channel.kind == "dm":
        raise DiscussError("A direct message is between two people; start a group chat instead.")
    if channel.member(inviter) is None:
        raise DiscussError("Only members can invite to this conversation.")
    people = check_staff(users)
    if not people:
        raise DiscussError("Choose who to invite.")
    added = _add_members(channel, people)
    if added:
        names = ", ".join(m.user.name for m in added)
        _post_event(channel, inviter, f"{inviter.name} added {names}.")
    return added


def leave(channel: Channel, user: User) -> None:
    """Leave a channel or group chat: their open pages stop getting its events at once."""
    if channel.kind == "dm":
        raise DiscussError("You cannot leave a direct message.")
    member = channel.member(user)
    if member is None:
        raise DiscussError("You are not a member of this conversation.")
    db.session.delete(member)
    db.session.flush()
    thread = channel.ensure_thread()
    _post_event(channel, user, f"{user.name} left.")
    # Sockets re-check their access to the thread as soon as this is committed.
    realtime.publish(f"user:{user.id}", realtime.REVOKE + f"thread:{thread.id}")
    refresh_sidebar(user.id)


def rename(channel: Channel, user: User, name: str, description: str) -> Channel:
    """Members rename a channel or change its description (a tracked line says so)."""
    _open(channel)
    if channel.kind != "channel":
        raise DiscussError("Only channels have a name.")
    if channel.member(user) is None:
        raise DiscussError("Only members can rename this channel.")
    new_name, new_description = check_name(name, channel), check_description(description)
    if new_name != channel.name:
        _post_event(channel, user, f"{user.name} renamed the channel from #{channel.name} to #{new_name}.")
        channel.name = new_name
    channel.description = new_description
    db.session.flush()
    for member in channel.members:
        refresh_sidebar(member.user_id)
    return channel


def archive(channel: Channel, user: User) -> None:
    """Archive a channel: read-only from now on, gone from the sidebar. Its creator or an admin."""
    _open(channel)
    if channel.kind != "channel":
        raise DiscussError("Only channels can be archived.")
    if not (user.is_admin or channel.created_by_id == user.id):
        raise DiscussError("Only the channel's creator or an admin can archive it.")
    _post_event(channel, user, f"{user.name} archived the channel.")
    channel.archived_at = utcnow()
    db.session.flush()
    for member in channel.members:
        refresh_sidebar(member.user_id)


def set_muted(channel: Channel, user: User, muted: bool) -> ChannelMember:
    member = channel.member(user)
    if member is None:
        raise DiscussError("You are not a member of this conversation.")
    member.muted = bool(muted)
    db.session.flush()
    refresh_sidebar(user.id)
    return member


def _post_event(channel: Channel, user: User, line: str) -> Message:
    """A system line in the conversation ("Ann joined the channel.")."""
    return messaging.post_message(channel.ensure_thread(), user, line, kind="notification", notify=False)


# ---- posting and reading ---------------------------------------------------------------------

def can_post(user, channel: Channel) -> bool:
    return channel.archived_at is None and channel.member(user) is not None


def post(channel: Channel, author: User, body: str, files=()) -> Message:
    """A message from a member; mentions notify (muted or not), members' unread counts update."""
    _open(channel)
    member = channel.member(author)
    if member is None:
        raise DiscussError("Join the channel to write in it.")
    message = messaging.post_message(channel.ensure_thread(), author, body, kind="comment", files=files)
    member.last_seen_message_id = message.id  # your own words are read
    return message  # members' unread counts are pushed when it is delivered (`_push_after_delivery`)


def page(channel: Channel, before_id: int | None = None, limit: int | None = None):
    """Oldest-first slice of the conversation ending at the newest (or before `before_id`);
    returns (messages, has_older)."""
    thread = channel.ensure_thread()
    messages, has_more = messaging.thread_page(thread, ("comment", "notification"), before_id, limit)
    return list(reversed(messages)), has_more


AROUND = 25


def around(channel: Channel, message_id: int):
    """The conversation opened at one message (a search hit, a star): up to AROUND messages up to
    it and what follows, up to CATCH_UP_LIMIT. Returns (messages, has_older, has_newer), or None
    when the message is not one of this conversation's."""
    thread = channel.ensure_thread()
    kinds = ("comment", "notification")
    target = db.session.scalar(select(Message.id).where(
        Message.id == message_id, Message.thread_id == thread.id, Message.kind.in_(kinds)))
    if target is None:
        return None
    older, has_older = messaging.thread_page(thread, kinds, message_id + 1, AROUND)
    newer = after(channel, message_id, CATCH_UP_LIMIT + 1)
    return list(reversed(older)) + newer[:CATCH_UP_LIMIT], has_older, len(newer) > CATCH_UP_LIMIT


def after(channel: Channel, after_id: int, limit: int = CATCH_UP_LIMIT) -> list[Message]:
    """Messages newer than `after_id`, oldest first (a reconnecting socket catching up)."""
    return messaging.messages_after(channel.ensure_thread(), after_id, ("comment", "notification"), limit)


def mark_seen(channel: Channel, user: User, message_id: int | None = None) -> int:
    """Move the reader's pointer forward (never back) to `message_id` or the newest message;
    their badge is pushed. Returns the pointer."""
    member = channel.member(user)
    if member is None:
        return 0
    newest = _newest_message_id(channel.ensure_thread())
    target = newest if message_id is None else min(message_id, newest)
    if target > member.last_seen_message_id:
        member.last_seen_message_id = target
        db.session.flush()
        realtime.publish(f"user:{user.id}", badge_html(channel.id, unread_for(member)))
        if channel.kind != "channel":  # read receipts: direct messages and group chats only
            thread = channel.ensure_thread()
            realtime.publish(f"thread:{thread.id}", render_template(
                "discuss/_seen_by.html", thread=thread, pointers=read_pointers(channel), oob=True))
    return member.last_seen_message_id


def read_pointers(channel: Channel) -> list[tuple[User, int]]:
    """(member, the newest message they have seen), for read receipts."""
    return [(m.user, m.last_seen_message_id) for m in channel.members]


# ---- unread counts ---------------------------------------------------------------------------

_CAPPED_UNREAD = text(
    "SELECT cm.id, (SELECT count(*) FROM (SELECT 1 FROM messages m"
    " WHERE m.thread_id = t.id AND m.id > cm.last_seen_message_id AND m.kind = 'comment'"
    " AND (m.author_user_id IS NULL OR m.author_user_id <> cm.user_id) LIMIT :cap) AS unread)"
    " FROM channel_members cm JOIN threads t ON t.res_model = 'channel' AND t.res_id = cm.channel_id"
    " WHERE cm.id IN :ids"
).bindparams(bindparam("ids", expanding=True))


def unread_by_member(members) -> dict[int, int]:
    """member id -> unread messages (at most UNREAD_CAP), in one query."""
    ids = [m.id for m in members]
    if not ids:
        return {}
    return dict(db.session.execute(_CAPPED_UNREAD, {"ids": ids, "cap": UNREAD_CAP}).all())


def unread_for(member: ChannelMember) -> int:
    return unread_by_member([member]).get(member.id, 0)


def badge_html(channel_id: int, count: int) -> str:
    return render_template("discuss/_badge.html", channel_id=channel_id, count=count, oob=True)


def push_unread(channel_id: int, skip_user_id: int | None = None) -> int:
    """Push every member's unread count for this conversation (one query, one fragment each),
    except `skip_user_id` (the author of the message that set this off: nothing new for them).
    Muted members get no badge (only their @mentions notify). Returns how many were told."""
    members = [m for m in db.session.scalars(select(ChannelMember).where(ChannelMember.channel_id == channel_id))
               if m.user_id != skip_user_id and not m.muted]
    counts = unread_by_member(members)
    rendered: dict[int, str] = {}
    for member in members:
        count = counts.get(member.id, 0)
        if count not in rendered:
            rendered[count] = badge_html(channel_id, count)
        realtime.publish(f"user:{member.user_id}", rendered[count])
    return len(members)


@messaging.after_delivery("channel")
def _push_after_delivery(thread: Thread, message: Message) -> None:
    """Unread badges at most twice per UNREAD_PUSH_EVERY per conversation: at once for the first
    message, then once more for what came in meanwhile. At 20 messages a second to 200 members
    that is ~400 badge frames a second instead of 4,000."""
    if message.kind != "comment":
        return
    channel_id = thread.res_id
    if jobs.claim(f"unread:{channel_id}", UNREAD_PUSH_EVERY):
        push_unread(channel_id, skip_user_id=message.author_user_id)
    elif jobs.claim(f"unread-later:{channel_id}", UNREAD_PUSH_EVERY):
        # The claim outlives every delivery that sees it, so the push runs after them all.
        from app.jobs.discuss import push_unread_job

        jobs.enqueue(push_unread_job, channel_id, at=utcnow() + timedelta(seconds=UNREAD_PUSH_EVERY))


def refresh_sidebar(user_id: int) -> None:
    """Tell the user's open Discuss pages to reload their conversation list (after commit).

    The list differs per user, so the push is a placeholder that fetches it."""
    url = url_for("discuss.sidebar")
    realtime.publish(f"user:{user_id}", (
        f'<div id="discuss-conversations" hx-swap-oob="true" hx-get="{url}" hx-trigger="load" '
        f'hx-swap="outerHTML" class="is-loading"></div>'))


# ---- the sidebar -----------------------------------------------------------------------------

class Conversation:
    """One sidebar line: the conversation, what this user calls it, unread, muted, and for a
    direct message the other person (whose presence it shows)."""

    def __init__(self, channel: Channel, member: ChannelMember | None, unread: int, title: str,
                 other_id: int | None = None):
        self.channel, self.member, self.unread, self.title = channel, member, unread, title
        self.other_id = other_id

    @property
    def muted(self) -> bool:
        return bool(self.member and self.member.muted)


def conversations(user: User) -> dict[str, list[Conversation]]:
    """The user's open conversations for the sidebar: channels, direct messages, group chats."""
    members = list(db.session.scalars(
        select(ChannelMember).join(Channel, Channel.id == ChannelMember.channel_id)
        .where(ChannelMember.user_id == user.id, Channel.archived_at.is_(None))
    ))
    channels = {c.id: c for c in db.session.scalars(
        select(Channel).where(Channel.id.in_([m.channel_id for m in members])))} if members else {}
    counts = unread_by_member(members)
    # The other members' names, for DMs and groups, in one query.
    others: dict[int, list[tuple[int, str]]] = {}
    private_ids = [cid for cid, c in channels.items() if c.kind != "channel"]
    if private_ids:
        rows = db.session.execute(
            select(ChannelMember.channel_id, User.id, User.name).join(User, User.id == ChannelMember.user_id)
            .where(ChannelMember.channel_id.in_(private_ids), ChannelMember.user_id != user.id)
            .order_by(User.name))
        for channel_id, other_id, name in rows:
            others.setdefault(channel_id, []).append((other_id, name))
    groups: dict[str, list[Conversation]] = {"channel": [], "dm": [], "group": []}
    for member in members:
        channel = channels[member.channel_id]
        people = others.get(channel.id, [])
        title = f"#{channel.name}" if channel.kind == "channel" else (
            channel.name or ", ".join(name for _, name in people) or "Just you")
        other_id = people[0][0] if channel.kind == "dm" and people else None
        groups[channel.kind].append(Conversation(channel, member, counts.get(member.id, 0), title, other_id))
    for rows in groups.values():
        rows.sort(key=lambda c: c.title.lower())
    return groups


def browse(user: User, query: str = "") -> list[tuple[Channel, bool]]:
    """Open channels the user can see (public ones, and private ones they are in), with
    whether they are a member; name or description containing `query`."""
    mine = select(ChannelMember.channel_id).where(ChannelMember.user_id == user.id)
    stmt = select(Channel).where(Channel.kind == "channel", Channel.archived_at.is_(None),
                                 or_(Channel.is_private.is_(False), Channel.id.in_(mine)))
    query = (query or "").strip().lower()
    if query:
        like = contains_pattern(query)
        stmt = stmt.where(or_(func.lower(Channel.name).like(like, escape="\\"),
                              func.lower(Channel.description).like(like, escape="\\")))
    channels = list(db.session.scalars(stmt.order_by(func.lower(Channel.name)).limit(200)))
    joined = set(db.session.scalars(mine))
    return [(c, c.id in joined) for c in channels]


def colleagues(user: User, query: str = "", limit: int = 20) -> list[User]:
    """Active staff other than `user`, for "new message" and "invite" pickers."""
    return [u for u in messaging.mentionable_users(query, limit + 1) if u.id != user.id][:limit]


def member_count(channel: Channel) -> int:
    return db.session.scalar(select(func.count(ChannelMember.id)).where(ChannelMember.channel_id == channel.id))

