"""Discuss (SPEC §2): the conversation list, channels, direct messages and group chats.

Every conversation is a page with the sidebar, its messages oldest first (older ones on
demand) and a composer at the bottom; new messages arrive over the page's socket. Private
conversations are 404 for whoever is not a member (no hint that they exist).
"""
import re

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app import staff_required, wants_fragment
from app.blueprints.discuss import bp
from app.extensions import db
from app.models import Channel, Thread
from app.services import access, discuss, messaging, reactions
from app.services.attachments import AttachmentError
from app.services.discuss import DiscussError
from app.services.messaging import MessageError


def load_channel(channel_id: int) -> Channel:
    """The conversation, or 404 when it does not exist or the user may not read it."""
    channel = db.session.get(Channel, channel_id)
    if channel is None or not access.can_read_thread(current_user, channel.ensure_thread()):
        abort(404)
    return channel


@bp.app_template_global("discuss_conversations")
def discuss_conversations():
    """For the sidebar include: the current user's conversations with unread counts."""
    return discuss.conversations(current_user)


def _refuse(err: Exception, channel: Channel | None = None, status: int = 422):
    """A refused change: the reason inline for htmx, a flash and the page otherwise."""
    if wants_fragment():
        return render_template("discuss/_error.html", error=str(err)), status, {
            "HX-Retarget": "#discuss-errors", "HX-Reswap": "innerHTML"}
    flash(str(err), "error")
    target = url_for(".conversation", channel_id=channel.id) if channel is not None else url_for(".browse")
    return redirect(target)


# ---- the list --------------------------------------------------------------------------------

@bp.get("")
@staff_required
def home():
    """Discuss opens on the inbox (mentions and the rest), as in Odoo."""
    return redirect(url_for("inbox.index"))


@bp.get("/sidebar")
@staff_required
def sidebar():
    """The conversation lists (pushed as a placeholder when they change); the conversation
    open in the page that asks (htmx says which page) stays highlighted."""
    current = request.headers.get("HX-Current-URL", "")
    match = re.search(r"/discuss/c/(\d+)", current)
    chat = re.search(r"/discuss/livechat/(\d+)", current)
    return render_template("discuss/_conversations.html", active_id=int(match.group(1)) if match else None,
                           active_session_id=int(chat.group(1)) if chat else None)


@bp.get("/starred")
@staff_required
def starred():
    """The messages the user starred, most recent star first, each linking to its context."""
    rows, next_before = reactions.starred(current_user, before=request.args.get("before", type=int))
    threads = {t.id: t for t in db.session.scalars(
        db.select(Thread).where(Thread.id.in_({m.thread_id for m in rows})))} if rows else {}
    context = dict(rows=rows, threads=threads, next_before=next_before, message_url=messaging.message_url,
                   record_title=messaging.record_title)
    if wants_fragment() and request.args.get("before"):
        return render_template("discuss/_starred_rows.html", **context)
    return render_template("discuss/starred.html", **context)


@bp.get("/browse")
@staff_required
def browse():
    """Find channels to join; the results alone for htmx search."""
    query = request.args.get("q", "")
    rows = discuss.browse(current_user, query)
    if wants_fragment() and request.args.get("results"):
        return render_template("discuss/_browse_results.html", rows=rows, query=query)
    return render_template("discuss/browse.html", rows=rows, query=query,
                           colleagues=discuss.colleagues(current_user, limit=200))


@bp.post("/channels")
@staff_required
def create_channel():
    """Create a channel; its creator is its first member."""
    try:
        channel = discuss.create_channel(
            current_user, request.form.get("name", ""), description=request.form.get("description", ""),
            private=request.form.get("private") == "1")
    except DiscussError as err:
        db.session.rollback()
        if wants_fragment():
            return _refuse(err)
        rows = discuss.browse(current_user)
        return render_template("discuss/browse.html", rows=rows, query="", create_error=str(err),
                               form=request.form, colleagues=discuss.colleagues(current_user, limit=200)), 422
    db.session.commit()
    return _go(channel)


@bp.post("/direct")
@staff_required
def direct():
    """Open (or start) the direct message with a colleague, or a group chat with several."""
    people = discuss.staff_users(request.form.getlist("user_id"))
    try:
        if len(people) == 1:
            channel = discuss.direct_message(current_user, people[0])
        else:
            channel = discuss.group_chat(current_user, people)
    except DiscussError as err:
        db.session.rollback()
        return _refuse(err)
    db.session.commit()
    return _go(channel)


def _go(channel: Channel):
    url = url_for(".conversation", channel_id=channel.id)
    if wants_fragment():
        return "", 204, {"HX-Redirect": url}
    return redirect(url)


# ---- one conversation ------------------------------------------------------------------------

@bp.get("/c/<int:channel_id>")
@staff_required
def conversation(channel_id: int):
    """The conversation at its newest messages, or `around` one (from search or Starred): then,
    when newer messages remain beyond the page, live rows wait for "Jump to the newest"."""
    channel = load_channel(channel_id)
    member = channel.member(current_user)
    around = request.args.get("around", type=int)
    found = discuss.around(channel, around) if around else None
    if found is None:
        messages, has_older = discuss.page(channel)
        has_newer = False
    else:
        messages, has_older, has_newer = found
    last_seen = member.last_seen_message_id if member else None
    first_unread = next((m.id for m in messages if last_seen is not None and m.id > last_seen
                         and m.author_user_id != current_user.id and m.kind == "comment"), None)
    context = dict(channel=channel, thread=channel.ensure_thread(), member=member, messages=messages,
                   has_older=has_older, has_newer=has_newer, first_unread=first_unread,
                   title=channel.title_for(current_user), members=[m.user for m in channel.members],
                   can_post=discuss.can_post(current_user, channel),
                   read_pointers=discuss.read_pointers(channel) if channel.kind != "channel" else [],
                   colleagues=discuss.colleagues(current_user, limit=200))
    if member is not None:
        # What is on screen is read; beyond a "Jump to the newest" it is not yet.
        discuss.mark_seen(channel, current_user, messages[-1].id if has_newer else None)
        db.session.commit()
    return render_template("discuss/conversation.html", **context)


@bp.get("/c/<int:channel_id>/messages")
@staff_required
def messages(channel_id: int):
    """Older messages (`before`) above the list, or newer ones (`after`) for a socket catching up."""
    channel = load_channel(channel_id)
    thread = channel.ensure_thread()
    after = request.args.get("after", type=int)
    if after is not None:
        rows = discuss.after(channel, after)
        return render_template("discuss/_rows.html", messages=rows, thread=thread, channel=channel)
    rows, has_older = discuss.page(channel, before_id=request.args.get("before", type=int))
    return render_template("discuss/_older.html", messages=rows, thread=thread, channel=channel,
                           has_older=has_older)


@bp.post("/c/<int:channel_id>/messages")
@staff_required
def post(channel_id: int):
    channel = load_channel(channel_id)
    body = request.form.get("body", "")
    try:
        message = discuss.post(channel, current_user, body, files=request.files.getlist("files"))
    except (DiscussError, MessageError, AttachmentError) as err:
        db.session.rollback()
        if wants_fragment():
            return render_template("chatter/_composer_errors.html", errors=[str(err)]), 422, {
                "HX-Retarget": f"#composer-{channel.ensure_thread().id}-errors", "HX-Reswap": "innerHTML"}
        flash(str(err), "error")
        return redirect(url_for(".conversation", channel_id=channel.id))
    # The author's row is rendered before the commit, while everything it shows is still loaded
    # (the commit expires it all: a dozen queries again on the busiest request of a chat).
    row = render_template("chatter/_message.html", message=message, thread=channel.ensure_thread()) \
        if wants_fragment() else None
    db.session.commit()
    return row or redirect(url_for(".conversation", channel_id=channel.id) + f"#message-{message.id}")


@bp.post("/c/<int:channel_id>/seen")
@staff_required
def seen(channel_id: int):
    """The reader has seen the conversation up to `message` (default: the newest)."""
    channel = load_channel(channel_id)
    discuss.mark_seen(channel, current_user, request.form.get("message", type=int))
    db.session.commit()
    return "", 204


@bp.post("/c/<int:channel_id>/join")
@staff_required
def join(channel_id: int):
    channel = load_channel(channel_id)
    try:
        discuss.join(channel, current_user)
    except DiscussError as err:
        db.session.rollback()
        return _refuse(err, channel)
    db.session.commit()
    return _go(channel)


@bp.post("/c/<int:channel_id>/leave")
@staff_required
def leave(channel_id: int):
    channel = load_channel(channel_id)
    try:
        discuss.leave(channel, current_user)
    except DiscussError as err:
        db.session.rollback()
        return _refuse(err, channel)
    db.session.commit()
    flash(f"You left {channel.title_for(current_user)}.", "success")
    if wants_fragment():
        return "", 204, {"HX-Redirect": url_for(".browse")}
    return redirect(url_for(".browse"))


@bp.post("/c/<int:channel_id>/invite")
@staff_required
def invite(channel_id: int):
    channel = load_channel(channel_id)
    try:
        discuss.invite(channel, current_user, discuss.staff_users(request.form.getlist("user_id")))
    except DiscussError as err:
        db.session.rollback()
        return _refuse(err, channel)
    db.session.commit()
    return _go(channel)


@bp.post("/c/<int:channel_id>/settings")
@staff_required
def settings(channel_id: int):
    """Rename a channel or change its description."""
    channel = load_channel(channel_id)
    try:
        discuss.rename(channel, current_user, request.form.get("name", ""), request.form.get("description", ""))
    except DiscussError as err:
        db.session.rollback()
        return _refuse(err, channel)
    db.session.commit()
    return _go(channel)


@bp.post("/c/<int:channel_id>/archive")
@staff_required
def archive(channel_id: int):
    channel = load_channel(channel_id)
    try:
        discuss.archive(channel, current_user)
    except DiscussError as err:
        db.session.rollback()
        return _refuse(err, channel)
    db.session.commit()
    flash(f"{channel.display_name} is archived.", "success")
    return _go(channel)


@bp.post("/c/<int:channel_id>/mute")
@staff_required
def mute(channel_id: int):
    channel = load_channel(channel_id)
    try:
        member = discuss.set_muted(channel, current_user, request.form.get("muted") == "1")
    except DiscussError as err:
        db.session.rollback()
        return _refuse(err, channel)
    db.session.commit()
    if wants_fragment():
        return render_template("discuss/_mute.html", channel=channel, member=member)
    return _go(channel)
