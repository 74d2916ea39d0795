"""Discuss › Live chat (SPEC §7.5, §7.8): the operator's side of the website chats.

A chat is a page beside the conversations: the visitor (details, pages, earlier chats), the
messages with the chatter's rows, and a composer where `/helpdesk`, `/history` and `/help` run
and a note stays among operators. Chats waiting for an operator show in the sidebar of every
operator of the channel; a new one rings. Whoever may not read a chat gets a 404.
"""
from datetime import timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from app import staff_required, wants_fragment
from app.blueprints.discuss import bp
from app.extensions import db
from app.models import LivechatChannel, LivechatSession, User
from app.models.base import utcnow
from app.services import access, discuss, livechat, livechat_stats, messaging
from app.services.attachments import AttachmentError
from app.services.helpdesk import HelpdeskError
from app.services.livechat import LivechatError
from app.services.messaging import MessageError


def load_session(session_id: int) -> LivechatSession:
    session = db.session.get(LivechatSession, session_id)
    if session is None or not access.can_read_thread(current_user, session.ensure_thread()):
        abort(404)
    return session


@bp.app_template_global("livechat_sidebar")
def livechat_sidebar():
    """For the sidebar: the user's chats and the waiting ones, or None for a non-operator."""
    channels = livechat.operated_channels(current_user)
    lists = livechat.operator_sessions(current_user)
    if not channels and not lists["mine"]:
        return None
    return {"channels": channels, **lists, "unread": livechat.unread_for_operator(lists["mine"]),
            "settings": livechat.settings_for(current_user)}


def _refuse(err: Exception, session: LivechatSession, status: int = 422):
    if wants_fragment():
        return render_template("discuss/_error.html", error=str(err)), status, {
            "HX-Retarget": "#discuss-errors", "HX-Reswap": "innerHTML"}
    flash(str(err), "error")
    return redirect(url_for(".livechat_session", session_id=session.id))


def _back(session: LivechatSession):
    url = url_for(".livechat_session", session_id=session.id)
    if wants_fragment():
        return "", 204, {"HX-Redirect": url}
    return redirect(url)


@bp.get("/livechat/<int:session_id>")
@staff_required
def livechat_session(session_id: int):
    session = load_session(session_id)
    thread = session.ensure_thread()
    rows, has_older = messaging.thread_page(thread, access.visible_kinds(current_user), None, 200)
    context = dict(session=session, thread=thread, messages=list(reversed(rows)), has_older=has_older,
                   visitor=session.visitor, earlier=livechat.history(session.visitor, exclude=session.id),
                   colleagues=[c.user for c in livechat.available_operators(session.channel) if c.user.id != current_user.id],
                   can_post=session.state != "ended" and session.operator_id == current_user.id,
                   can_take=session.state != "ended" and session.operator_id != current_user.id and (
                       current_user.is_admin or session.channel.has_operator(current_user)))
    livechat.mark_seen(session, current_user)
    db.session.commit()
    return render_template("livechat/operator/session.html", **context)


@bp.get("/livechat/<int:session_id>/messages")
@staff_required
def livechat_messages(session_id: int):
    """Rows after `after`, for a socket catching up."""
    session = load_session(session_id)
    thread = session.ensure_thread()
    after = request.args.get("after", 0, type=int)
    rows = messaging.messages_after(thread, after, access.visible_kinds(current_user), discuss.CATCH_UP_LIMIT)
    return render_template("discuss/_rows.html", messages=rows, thread=thread)


@bp.post("/livechat/<int:session_id>/messages")
@staff_required
def livechat_post(session_id: int):
    session = load_session(session_id)
    thread = session.ensure_thread()
    try:
        message = livechat.operator_says(session, current_user, request.form.get("body", ""),
                                         note=request.form.get("note") == "1", files=request.files.getlist("files"))
    except (LivechatError, MessageError, AttachmentError, HelpdeskError) as err:
        db.session.rollback()
        if wants_fragment():
            return render_template("chatter/_composer_errors.html", errors=[str(err)]), 422, {
                "HX-Retarget": f"#composer-{thread.id}-errors", "HX-Reswap": "innerHTML"}
        flash(str(err), "error")
        return redirect(url_for(".livechat_session", session_id=session.id))
    row = render_template("chatter/_message.html", message=message, thread=thread) if wants_fragment() else None
    db.session.commit()
    return row or redirect(url_for(".livechat_session", session_id=session.id) + f"#message-{message.id}")


@bp.post("/livechat/<int:session_id>/seen")
@staff_required
def livechat_seen(session_id: int):
    livechat.mark_seen(load_session(session_id), current_user)
    db.session.commit()
    return "", 204


@bp.post("/livechat/<int:session_id>/take")
@staff_required
def livechat_take(session_id: int):
    session = load_session(session_id)
    try:
        livechat.take(session, current_user)
    except LivechatError as err:
        db.session.rollback()
        return _refuse(err, session, 409)
    db.session.commit()
    return _back(session)


@bp.post("/livechat/<int:session_id>/end")
@staff_required
def livechat_end(session_id: int):
    session = load_session(session_id)
    if session.operator_id != current_user.id and not current_user.is_admin:
        return _refuse(LivechatError("Only the operator of this chat can end it."), session, 403)
    livechat.end(session, "operator", current_user)
    db.session.commit()
    return _back(session)


@bp.post("/livechat/<int:session_id>/transfer")
@staff_required
def livechat_transfer(session_id: int):
    session = load_session(session_id)
    if session.operator_id != current_user.id and not current_user.is_admin:
        return _refuse(LivechatError("Only the operator of this chat can hand it over."), session, 403)
    to = db.session.get(User, request.form.get("user_id", type=int) or 0)
    try:
        livechat.transfer(session, current_user, to)
    except LivechatError as err:
        db.session.rollback()
        return _refuse(err, session)
    db.session.commit()
    flash(f"The chat is now {to.name}'s.", "success")
    if wants_fragment():
        return "", 204, {"HX-Redirect": url_for("inbox.index")}
    return redirect(url_for("inbox.index"))


@bp.post("/livechat/<int:session_id>/ticket")
@staff_required
def livechat_ticket(session_id: int):
    session = load_session(session_id)
    try:
        livechat.operator_says(session, current_user, "/helpdesk " + request.form.get("title", ""))
    except (LivechatError, HelpdeskError) as err:
        db.session.rollback()
        return _refuse(err, session)
    db.session.commit()
    return _back(session)


@bp.post("/livechat/availability")
@staff_required
def livechat_availability():
    """The operator's switch: take new chats, or not."""
    livechat.set_available(current_user, request.form.get("available") == "1")
    db.session.commit()
    if wants_fragment():
        return render_template("livechat/operator/_availability.html", settings=livechat.settings_for(current_user))
    return redirect(request.referrer or url_for("inbox.index"))


@bp.post("/livechat/channels/<int:channel_id>/<any(join, leave):action>")
@staff_required
def livechat_operate(channel_id: int, action: str):
    """An operator joins or leaves a channel's operators themselves."""
    channel = db.session.get(LivechatChannel, channel_id)
    if channel is None or not channel.active:
        abort(404)
    if action == "join":
        livechat.join_channel(channel, current_user)
        flash(f"You now answer the chats of {channel.name}.", "success")
    else:
        livechat.leave_channel(channel, current_user)
        flash(f"You no longer answer the chats of {channel.name}.", "success")
    db.session.commit()
    return redirect(url_for(".livechat_log"))


@bp.get("/livechat")
@staff_required
def livechat_log():
    """Sessions log: date, visitor, operator, messages, rating, duration; satisfaction per
    channel and operator over the period."""
    days = request.args.get("days", 30, type=int)
    days = days if days in (1, 7, 30, 90, 365) else 30
    channel_id = request.args.get("channel", type=int)
    operator_id = request.args.get("operator", type=int)
    page = max(1, request.args.get("page", 1, type=int))
    since = utcnow() - timedelta(days=days)
    log = livechat_stats.session_log(current_user, since=since, channel_id=channel_id, operator_id=operator_id,
                                     page=page)
    channels = livechat_stats.readable_channels(current_user)
    return render_template("livechat/operator/log.html", log=log, days=days, channel_id=channel_id,
                           operator_id=operator_id, channels=channels,
                           by_channel=livechat_stats.satisfaction_by_channel(current_user, since),
                           by_operator=livechat_stats.satisfaction_by_operator(current_user, since),
                           all_channels=db.session.scalars(select(LivechatChannel).where(
                               LivechatChannel.active.is_(True)).order_by(LivechatChannel.name)).all(),
                           mine={c.id for c in livechat.operated_channels(current_user)},
                           operators=db.session.scalars(select(User).where(User.role.in_(("admin", "agent")))
                                                        .order_by(User.name)).all())
