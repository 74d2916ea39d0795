"""services/reactions.py: emoji reactions (public, live) and stars (private); editing chat messages."""
import pytest

from app.extensions import db
from app.services import access, discuss, messaging, reactions
from app.services.messaging import MessageError
from app.services.reactions import ReactionError
from tests.conftest import make_contact

pytestmark = pytest.mark.usefixtures("request_ctx")


@pytest.fixture
def chat(users):
    channel = discuss.create_channel(users.agent, "team", members=[users.agent2])
    message = discuss.post(channel, users.agent, "Ship it?")
    db.session.commit()
    return channel, message


@pytest.mark.parametrize("emoji", ["👍", "❤️", "👍🏽", "👨‍👩‍👧", "🇫🇷", "1️⃣", "✅", "🫠"])
def test_an_emoji_is_accepted(emoji):
    assert reactions.check_emoji(f" {emoji} ") == emoji


@pytest.mark.parametrize("text", ["", "  ", "ok", "a", "1", "<b>", "👍 ok", "👍" * 17, "\u200d", "™️x"])
def test_text_is_not_a_reaction(text):
    with pytest.raises(ReactionError):
        reactions.check_emoji(text)


def test_a_reaction_toggles_and_goes_live_as_one_bar(users, chat, events):
    channel, message = chat
    assert reactions.toggle_reaction(message, users.agent2, "🎉") is True
    assert reactions.toggle_reaction(message, users.agent, "🎉") is True
    assert reactions.toggle_reaction(message, users.agent, "👍") is True
    db.session.commit()
    assert [(e, [u.name for u in who]) for e, who in reactions.groups(message)] == [
        ("🎉", ["Carol Agent", "Bob Agent"]), ("👍", ["Bob Agent"])]
    bars = [html for topic, html in events if topic == f"thread:{channel.ensure_thread().id}"]
    assert len(bars) == 3 and f'id="message-{message.id}-reactions"' in bars[-1]
    assert 'hx-swap-oob="true"' in bars[-1] and "csrf_token" not in bars[-1]
    assert f'data-reacted-by=" {users.agent2.id} {users.agent.id} "' in bars[-1]
    assert reactions.toggle_reaction(message, users.agent, "🎉") is False
    db.session.commit()
    assert [e for e, _ in reactions.groups(message)] == ["🎉", "👍"]


def test_a_message_holds_a_bounded_number_of_different_reactions(users, chat, monkeypatch):
    _, message = chat
    monkeypatch.setattr(reactions, "MAX_KINDS_PER_MESSAGE", 2)
    reactions.toggle_reaction(message, users.agent, "👍")
    reactions.toggle_reaction(message, users.agent, "🎉")
    with pytest.raises(ReactionError, match="at most 2"):
        reactions.toggle_reaction(message, users.agent2, "🔥")
    reactions.toggle_reaction(message, users.agent2, "👍")  # an existing one is fine


def test_stars_page_newest_first_and_hide_what_the_user_cannot_read(users, chat, app):
    channel, first = chat
    secret = discuss.create_channel(users.agent, "secret", private=True, members=[users.agent2])
    hidden = discuss.post(secret, users.agent, "psst")
    db.session.commit()
    others = [discuss.post(channel, users.agent, f"m{n}") for n in range(3)]
    db.session.commit()
    for message in [first, hidden, *others]:
        assert reactions.toggle_star(message, users.agent2) is True
    db.session.commit()
    page, cursor = reactions.starred(users.agent2, limit=3)
    assert [m.body_html for m in page] == ["<p>m2</p>", "<p>m1</p>", "<p>m0</p>"] and cursor
    rest, cursor = reactions.starred(users.agent2, before=cursor, limit=3)
    assert [m.id for m in rest] == [hidden.id, first.id] and cursor is None
    discuss.leave(secret, users.agent2)
    db.session.commit()
    assert hidden.id not in [m.id for m in reactions.starred(users.agent2)[0]]
    assert reactions.star_count(users.agent2) == 5 and reactions.star_count(users.agent) == 0
    assert reactions.toggle_star(first, users.agent2) is False
    db.session.commit()


def test_chat_messages_are_editable_by_their_author_record_messages_are_not(users, chat, events):
    channel, message = chat
    assert access.can_edit_message(users.agent, message)
    assert access.can_edit_message(users.admin, message)  # a public channel: the admin reads it
    assert not access.can_edit_message(users.agent2, message)
    messaging.edit_message(message, "Ship it!")
    db.session.commit()
    assert message.edited_at and "Ship it!" in message.body_html
    replaced = [html for topic, html in events if 'hx-swap-oob="outerHTML"' in html]
    assert replaced and f'id="message-{message.id}"' in replaced[-1]
    discuss.archive(channel, users.agent)
    db.session.commit()
    assert not access.can_edit_message(users.agent, message)
    with pytest.raises(MessageError, match="read-only"):
        messaging.edit_message(message, "again")
    record = make_contact("Ada", "ada@example.com").ensure_thread()
    sent = messaging.post_message(record, users.agent, "emailed")
    assert not access.can_edit_message(users.agent, sent)
    with pytest.raises(MessageError, match="Only internal notes"):
        messaging.delete_message(sent)
    db.session.rollback()
