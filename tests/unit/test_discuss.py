"""services/discuss.py: channels, direct messages, group chats, membership, read pointers, unread."""
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Channel, ChannelMember, Message, Notification
from app.jobs.discuss import push_unread_job
from app.services import access, discuss, messaging, realtime
from app.services.discuss import DiscussError

pytestmark = pytest.mark.usefixtures("request_ctx")


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# ---- creating --------------------------------------------------------------------------------

def test_a_channel_starts_with_its_creator_and_a_unique_name(users):
    channel = discuss.create_channel(users.agent, "  #Support   team ", description="Questions", private=True,
                                     members=[users.agent2])
    db.session.commit()
    assert (channel.name, channel.description, channel.is_private) == ("Support team", "Questions", True)
    assert {m.user_id for m in channel.members} == {users.agent.id, users.agent2.id}
    with pytest.raises(DiscussError, match="already exists"):
        discuss.create_channel(users.admin, "support TEAM")


@pytest.mark.parametrize("name, reason", [("", "Give the channel a name."), ("#", "Give the channel a name."),
                                          ("x" * 81, "too long")])
def test_bad_channel_names_are_refused(users, name, reason):
    with pytest.raises(DiscussError, match=reason):
        discuss.create_channel(users.agent, name)


def test_a_direct_message_is_reused_for_the_same_pair(users):
    first = discuss.direct_message(users.agent, users.agent2)
    db.session.commit()
    assert discuss.direct_message(users.agent2, users.agent).id == first.id
    assert first.kind == "dm" and first.title_for(users.agent) == "Carol Agent"
    with pytest.raises(DiscussError):
        discuss.direct_message(users.agent, users.agent)
    with pytest.raises(DiscussError, match="active colleagues"):
        discuss.direct_message(users.agent, users.portal)


def test_a_group_chat_needs_three_people(users):
    with pytest.raises(DiscussError, match="at least two colleagues"):
        discuss.group_chat(users.agent, [users.agent2])
    group = discuss.group_chat(users.agent, [users.agent2, users.admin])
    assert group.kind == "group" and group.title_for(users.agent) == "Alice Admin, Carol Agent"


# ---- who may read ----------------------------------------------------------------------------

def test_private_conversations_are_for_members_only_admins_included(users):
    public = discuss.create_channel(users.agent, "general")
    private = discuss.create_channel(users.agent, "secret", private=True)
    dm = discuss.direct_message(users.agent, users.agent2)
    db.session.commit()
    for channel in (public, private, dm):
        assert access.can_read_thread(users.agent, channel.ensure_thread())
        assert not access.can_read_thread(users.portal, channel.ensure_thread())
    assert access.can_read_thread(users.admin, public.ensure_thread())
    assert not access.can_read_thread(users.admin, private.ensure_thread())
    assert not access.can_read_thread(users.admin, dm.ensure_thread())
    assert access.can_read_thread(users.agent2, dm.ensure_thread())
    assert not access.can_subscribe(users.admin, f"thread:{private.ensure_thread().id}")


def test_browse_lists_public_channels_and_my_private_ones(users):
    discuss.create_channel(users.agent, "general", description="Everyone")
    discuss.create_channel(users.agent, "secret", private=True)
    archived = discuss.create_channel(users.agent, "old")
    discuss.archive(archived, users.agent)
    db.session.commit()
    assert [(c.name, joined) for c, joined in discuss.browse(users.agent2)] == [("general", False)]
    assert [(c.name, joined) for c, joined in discuss.browse(users.agent)] == [("general", True), ("secret", True)]
    assert [c.name for c, _ in discuss.browse(users.agent2, "every")] == ["general"]


# ---- membership ------------------------------------------------------------------------------

def test_join_a_public_channel_but_not_a_private_one(users):
    public = discuss.create_channel(users.agent, "general")
    private = discuss.create_channel(users.agent, "secret", private=True)
    db.session.commit()
    discuss.join(public, users.agent2)
    discuss.join(public, users.agent2)  # twice is once
    assert count(ChannelMember) == 3
    with pytest.raises(DiscussError, match="private"):
        discuss.join(private, users.agent2)
    line = db.session.scalars(select(Message).where(Message.kind == "notification")).one()
    assert "Carol Agent joined the channel." in line.body_html


def test_invite_is_for_members_and_never_into_a_dm(users):
    private = discuss.create_channel(users.agent, "secret", private=True)
    dm = discuss.direct_message(users.agent, users.agent2)
    db.session.commit()
    with pytest.raises(DiscussError, match="Only members"):
        discuss.invite(private, users.agent2, [users.admin])
    with pytest.raises(DiscussError, match="direct message"):
        discuss.invite(dm, users.agent, [users.admin])
    with pytest.raises(DiscussError, match="active colleagues"):
        discuss.invite(private, users.agent, [users.portal])
    discuss.invite(private, users.agent, [users.agent2])
    assert private.member(users.agent2) is not None


def test_leaving_asks_open_sockets_to_recheck_after_commit(users, events):
    channel = discuss.create_channel(users.agent, "secret", private=True, members=[users.agent2])
    db.session.commit()
    events.clear()
    discuss.leave(channel, users.agent2)
    assert events == []  # nothing before the commit
    db.session.commit()
    thread_id = channel.ensure_thread().id
    assert (f"user:{users.agent2.id}", realtime.REVOKE + f"thread:{thread_id}") in events
    assert channel.member(users.agent2) is None
    assert not access.can_subscribe(users.agent2, f"thread:{thread_id}")
    with pytest.raises(DiscussError):
        discuss.leave(discuss.direct_message(users.agent, users.agent2), users.agent)


def test_rename_and_archive(users):
    channel = discuss.create_channel(users.agent, "general", members=[users.agent2])
    db.session.commit()
    discuss.rename(channel, users.agent2, "everyone", "All of us")
    assert (channel.name, channel.description) == ("everyone", "All of us")
    with pytest.raises(DiscussError, match="creator or an admin"):
        discuss.archive(channel, users.agent2)
    discuss.archive(channel, users.admin)
    assert channel.archived_at is not None
    with pytest.raises(DiscussError, match="archived"):
        discuss.post(channel, users.agent, "hello?")


# ---- posting, reading, unread ----------------------------------------------------------------

def test_posting_is_for_members_and_nobody_follows(users, run_jobs):
    channel = discuss.create_channel(users.agent, "general", members=[users.agent2])
    db.session.commit()
    with pytest.raises(DiscussError, match="Join the channel"):
        discuss.post(channel, users.admin, "Hi all")
    message = discuss.post(channel, users.agent, "Hi all")
    db.session.commit()
    run_jobs()
    assert message.kind == "comment"
    assert messaging.followers(channel.ensure_thread()) == []
    assert count(Notification) == 0  # a channel message is an unread count, not an inbox line


def test_a_mention_notifies_members_even_when_muted_but_never_outsiders(users, run_jobs):
    channel = discuss.create_channel(users.agent, "secret", private=True, members=[users.agent2])
    discuss.set_muted(channel, users.agent2, True)
    db.session.commit()
    discuss.post(channel, users.agent, "@Carol Agent and @Alice Admin, look")
    db.session.commit()
    run_jobs()
    assert [n.user_id for n in db.session.scalars(select(Notification))] == [users.agent2.id]


def test_unread_counts_move_with_posts_and_the_read_pointer(users, run_jobs, events, monkeypatch):
    monkeypatch.setattr(discuss, "UNREAD_PUSH_EVERY", 60)  # the three posts fall in one period
    channel = discuss.create_channel(users.agent, "general", members=[users.agent2, users.admin])
    discuss.set_muted(channel, users.admin, True)
    db.session.commit()
    for text in ("one", "two", "three"):
        discuss.post(channel, users.agent, text)
        db.session.commit()
        run_jobs()

    member = channel.member(users.agent2)
    assert discuss.unread_for(member) == 3
    assert discuss.unread_for(channel.member(users.agent)) == 0  # your own messages are read
    # A busy conversation pushes its badges at once for the first message, then once for the rest.
    badges = [html for topic, html in events if topic == f"user:{users.agent2.id}" and "unread-" in html]
    assert len(badges) == 1 and 'data-count="1"' in badges[0]
    push_unread_job(channel.id)  # the push planned for a second later (the scheduler runs it)
    badges = [html for topic, html in events if topic == f"user:{users.agent2.id}" and "unread-" in html]
    assert len(badges) == 2 and 'data-count="3"' in badges[-1]
    assert not [1 for topic, html in events if topic == f"user:{users.admin.id}" and "unread-" in html]  # muted

    second = db.session.scalars(select(Message).where(Message.body_html.contains("two"))).one()
    assert discuss.mark_seen(channel, users.agent2, second.id) == second.id
    assert discuss.unread_for(member) == 1
    assert discuss.mark_seen(channel, users.agent2, 1) == second.id  # never backwards
    discuss.mark_seen(channel, users.agent2)
    assert discuss.unread_for(member) == 0


def test_the_sidebar_lists_my_conversations_with_counts(users, run_jobs):
    general = discuss.create_channel(users.agent, "general", members=[users.agent2])
    discuss.create_channel(users.agent, "secret", private=True)
    discuss.direct_message(users.agent2, users.agent)
    db.session.commit()
    discuss.post(general, users.agent2, "news")
    db.session.commit()
    groups = discuss.conversations(users.agent)
    assert [(c.title, c.unread) for c in groups["channel"]] == [("#general", 1), ("#secret", 0)]
    assert [c.title for c in groups["dm"]] == ["Carol Agent"] and groups["group"] == []
    assert [c.title for c in discuss.conversations(users.admin)["channel"]] == []


def test_pages_of_a_conversation_read_oldest_first(users, app):
    channel = discuss.create_channel(users.agent, "general")
    db.session.commit()
    posted = [discuss.post(channel, users.agent, f"message {i}").id for i in range(5)]
    db.session.commit()
    rows, has_older = discuss.page(channel, limit=3)
    assert [m.id for m in rows] == posted[-3:] and has_older
    rows, has_older = discuss.page(channel, before_id=posted[2], limit=3)
    assert [m.id for m in rows] == posted[:2] and not has_older
    assert [m.id for m in discuss.after(channel, posted[1])] == posted[2:]


def test_a_channel_is_a_threaded_record_with_its_own_place_for_new_rows(users, events):
    channel = discuss.create_channel(users.agent, "general")
    db.session.commit()
    events.clear()
    discuss.post(channel, users.agent, "bottom of the list")
    db.session.commit()
    thread_id = channel.ensure_thread().id
    [row] = [html for topic, html in events if topic == f"thread:{thread_id}"]
    assert f'hx-swap-oob="beforeend:#thread-{thread_id}-messages"' in row
    assert f'id="seen-{thread_id}"' in row  # readers mark it seen when it goes quiet
    assert isinstance(db.session.get(Channel, channel.id).ensure_thread().record, Channel)


def test_read_receipts_go_out_for_direct_messages_not_channels(users, events):
    dm = discuss.direct_message(users.agent, users.agent2)
    channel = discuss.create_channel(users.agent, "team", members=[users.agent2])
    for conversation in (dm, channel):
        discuss.post(conversation, users.agent, "read me")
    db.session.commit()
    events.clear()
    for conversation in (dm, channel):
        discuss.mark_seen(conversation, users.agent2)
    db.session.commit()
    receipts = [html for topic, html in events if "seen-by-" in html]
    assert len(receipts) == 1 and f"seen-by-{dm.ensure_thread().id}" in receipts[0]
    newest = discuss.after(dm, 0)[-1].id
    assert f'data-user="{users.agent2.id}" data-seen="{newest}"' in receipts[0]
    assert dict((u.id, seen) for u, seen in discuss.read_pointers(dm))[users.agent2.id] == newest
