"""Routes of the visitor's side of the live chat.

The chat runs in an iframe on another site, where the browser withholds our cookies: a visitor
is known by their signed token alone (header `X-Visitor-Token`, or the form's `v`), so the
POSTs are exempt from the session CSRF token; they can do nothing but what that visitor may.
Every answer is a widget fragment (static/js/widget.js applies it like the socket's frames);
refused input comes back with the visitor's text kept and a clear 4xx.
"""
import json
import re
from datetime import timedelta

from flask import Response, abort, current_app, g, make_response, render_template, request, url_for
from flask_limiter import RateLimitExceeded
from limits import parse_many

from app import CSP
from app.blueprints.livechat import bp
from app.extensions import csrf, db, limiter
from app.models.base import utcnow
from app.services import livechat
from app.services.livechat import LivechatError, OfflineErrors

SHOW_ENDED_FOR = timedelta(minutes=30)  # a reload still shows a chat that just ended (to rate it)
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


@bp.app_template_global("livechat_speaker")
def livechat_speaker(message) -> str:
    return livechat.speaker(message)


def _channel(key: str):
    channel = livechat.channel_by_key(key)
    if channel is None:
        abort(404)
    return channel


def _frameable(response):
    """Any site may frame the chat (that is the point); nothing else of Hilo's."""
    g.frameable = True
    response.headers["Content-Security-Policy"] = CSP.replace("frame-ancestors 'self'", "frame-ancestors *")
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the iframe's address
    return response


def _visitor(channel, *, required: bool = True):
    token = request.headers.get("X-Visitor-Token") or request.values.get("v")
    visitor = livechat.visitor_from_token(channel, token)
    if visitor is None and required:
        abort(404)
    return visitor


def _within(limit: str, scope: str, key: str) -> bool:
    """Take one from `limit` for `key`; False when it is used up (atomic in the limiter's storage)."""
    return all(limiter.limiter.hit(item, scope, key) for item in parse_many(limit))


def _fragment(template: str, status: int = 200, **context):
    return make_response(render_template(template, **context), status)


def _shown_session(visitor):
    """The chat the window shows: the live one, or one that ended a moment ago."""
    session = livechat.live_session(visitor)
    if session is None:
        latest = livechat.latest_session(visitor)
        if latest is not None and latest.ended_at and latest.ended_at > utcnow() - SHOW_ENDED_FOR:
            session = latest
    return session


def _footer_context(channel, visitor, session):
    available = session is None and livechat.anyone_available(channel)
    return {"channel": channel, "visitor": visitor, "session": session, "available": available}


# ---- the loader ----------------------------------------------------------------------------------

@bp.get("/<key>/loader.js")
def loader(key: str):
    """The one script a site embeds: it draws the button and opens the chat in an iframe."""
    channel = _channel(key)
    body = render_template("livechat/loader.js", channel=channel,
                           origin=current_app.config["BASE_URL"].rstrip("/"),
                           settings_url=url_for(".settings", key=key, _external=True),
                           chat_url=url_for(".chat", key=key, _external=True))
    response = Response(body, mimetype="application/javascript")
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/<key>/settings.json")
def settings(key: str):
    """The button for this page and country: shown, opened after N seconds, or hidden."""
    channel = _channel(key)
    data = livechat.widget_settings(channel, request.args.get("url", ""), livechat.country_from(request.headers))
    response = Response(json.dumps(data), mimetype="application/json")
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<key>/theme.css")
def theme(key: str):
    """The channel's colours as CSS variables (the CSP allows no inline style)."""
    channel = _channel(key)
    colors = {name: value if COLOR.match(value or "") else "#4f46e5"
              for name, value in (("button", channel.button_color), ("header", channel.header_color))}
    response = Response(render_template("livechat/theme.css", channel=channel, colors=colors), mimetype="text/css")
    response.headers["Cache-Control"] = "no-cache"
    return response


# ---- the chat window -------------------------------------------------------------------------

@bp.get("/<key>")
def share(key: str):
    """The full-page chat of the share link."""
    return _chat_page(_channel(key), embedded=False)


@bp.get("/<key>/chat")
def chat(key: str):
    """The chat in the loader's iframe."""
    return _chat_page(_channel(key), embedded=True)


def _chat_page(channel, *, embedded: bool):
    if "v" not in request.args:
        # First the browser says which visitor it keeps (widget.js reads its storage, comes back).
        return _frameable(make_response(render_template("livechat/boot.html", channel=channel, embedded=embedded)))
    visitor = livechat.visitor_from_token(channel, request.args.get("v"))
    if visitor is None:
        ip_key = f"ip:{request.remote_addr}"
        if not _within(current_app.config["LIVECHAT_SESSION_LIMIT"], "livechat-visitor", ip_key):
            return _frameable(make_response(render_template(
                "livechat/limited.html", channel=channel, embedded=embedded), 429))
        visitor = livechat.new_visitor(channel, country=livechat.country_from(request.headers),
                                       language=livechat.language_from(request.headers.get("Accept-Language", "")))
    visitor = livechat.identify(channel, visitor, request.args.get("identifier", ""), request.args.get("hash", ""),
                                name=request.args.get("name", ""), email=request.args.get("email", ""))
    page_url = request.args.get("url", "")
    livechat.record_page(visitor, page_url, request.args.get("title", ""))
    # "Start a new chat" after one ended: only a chat still going shows then.
    session = livechat.live_session(visitor) if request.args.get("fresh") == "1" else _shown_session(visitor)
    if session is None:
        script = livechat.script_for(channel, page_url, visitor.country)
        if script is not None and _within(current_app.config["LIVECHAT_SESSION_LIMIT"], "livechat-session",
                                          f"visitor:{visitor.id}"):
            session = livechat.start(channel, visitor, page_url=page_url)
    messages = livechat.visible_messages(session) if session is not None else []
    context = _footer_context(channel, visitor, session)
    db.session.commit()
    return _frameable(make_response(render_template(
        "livechat/chat.html", embedded=embedded, messages=messages, token=livechat.visitor_token(visitor),
        page_url=page_url, **context)))


@bp.get("/<key>/messages")
def messages(key: str):
    """What the visitor missed while their socket was down (`after` their last message)."""
    channel = _channel(key)
    visitor = _visitor(channel)
    session = _shown_session(visitor)
    rows = livechat.visible_messages(session, request.args.get("after", 0, type=int)) if session else []
    return _fragment("livechat/_rows.html", messages=rows, session=session, channel=channel)


@bp.post("/<key>/messages")
@csrf.exempt
@limiter.limit(lambda: current_app.config["LIVECHAT_MESSAGE_LIMIT"])
def say(key: str):
    """The visitor writes (or taps a bot's answer): their row, or the offline form when nobody
    can take the chat; their text is never lost."""
    channel = _channel(key)
    visitor = _visitor(channel)
    body = request.form.get("body", "")
    if not _within(current_app.config["LIVECHAT_MESSAGE_LIMIT"], "livechat-message", f"visitor:{visitor.id}"):
        return _refused(body, "You are sending messages very fast. Wait a moment and send this "
                                                "one again.", 429)
    live = livechat.live_session(visitor)
    new = live is None
    if new and not _within(current_app.config["LIVECHAT_SESSION_LIMIT"], "livechat-session", f"visitor:{visitor.id}"):
        return _refused(body, "You have started several chats in a short time. Wait a few "
                                                "minutes and try again.", 429)
    try:
        session, message = livechat.visitor_says(channel, visitor, body, request.form.get("key", ""),
                                                 page_url=request.form.get("url", ""), live=live)
    except LivechatError as err:
        db.session.rollback()
        return _refused(body, str(err), 422)
    if session is None:
        db.session.rollback()
        return _fragment("livechat/_offline.html", channel=channel, visitor=visitor, values={"body": body},
                         errors={}, intro=True)
    response = _fragment("livechat/_posted.html", message=message, session=session, channel=channel,
                         visitor=visitor, available=False, started=new)
    db.session.commit()
    return response


def _refused(body: str, error: str, status: int):
    return _fragment("livechat/_error.html", status, error=error, body=body)


@bp.post("/<key>/end")
@csrf.exempt
def end(key: str):
    channel = _channel(key)
    visitor = _visitor(channel)
    session = livechat.live_session(visitor)
    if session is not None:
        livechat.end(session, "visitor")
        db.session.commit()
    session = session or _shown_session(visitor)
    return _fragment("livechat/_footer.html", **_footer_context(channel, visitor, session))


@bp.post("/<key>/rate")
@csrf.exempt
def rate(key: str):
    channel = _channel(key)
    visitor = _visitor(channel)
    session = livechat.latest_session(visitor)
    if session is None:
        abort(404)
    try:
        livechat.rate(session, request.form.get("value", ""), request.form.get("comment", ""))
    except LivechatError as err:
        db.session.rollback()
        if session.state != "ended":
            return _refused("", str(err), 422)
        return _fragment("livechat/_footer.html", 422, error=str(err), values=request.form,
                         **_footer_context(channel, visitor, session))
    db.session.commit()
    return _fragment("livechat/_footer.html", **_footer_context(channel, visitor, session))


@bp.post("/<key>/transcript")
@csrf.exempt
@limiter.limit("5 per minute")
def transcript(key: str):
    channel = _channel(key)
    visitor = _visitor(channel)
    session = livechat.latest_session(visitor)
    if session is None:
        abort(404)
    try:
        livechat.send_transcript(session, request.form.get("email", ""))
    except LivechatError as err:
        db.session.rollback()
        return _fragment("livechat/_footer.html", 422, transcript_error=str(err), values=request.form,
                         **_footer_context(channel, visitor, session))
    db.session.commit()
    return _fragment("livechat/_footer.html", **_footer_context(channel, visitor, session))


@bp.post("/<key>/offline")
@csrf.exempt
@limiter.limit(lambda: current_app.config["SUPPORT_FORM_IP_LIMIT"])
def offline(key: str):
    """Nobody is there: the visitor's message becomes a ticket, answered by mail."""
    channel = _channel(key)
    visitor = _visitor(channel)
    if not _within(current_app.config["SUPPORT_FORM_EMAIL_LIMIT"], "livechat-offline", f"visitor:{visitor.id}"):
        return _fragment("livechat/_offline.html", 429, channel=channel, visitor=visitor, values=request.form,
                         errors={"body": "You have sent several messages in a short time. Wait a few minutes "
                                         "and send this one again; your text is still here."})
    try:
        ticket = livechat.offline_ticket(channel, visitor, request.form.get("name", ""),
                                         request.form.get("email", ""), request.form.get("body", ""))
    except OfflineErrors as err:
        db.session.rollback()
        return _fragment("livechat/_offline.html", 422, channel=channel, visitor=visitor, values=request.form,
                         errors=err.errors)
    db.session.commit()
    return _fragment("livechat/_offline_sent.html", channel=channel, ticket=ticket)


@bp.errorhandler(RateLimitExceeded)
def too_many(err):
    """An address's limit: the visitor's text comes back with the reason."""
    return _fragment("livechat/_error.html", 429, error="Too many messages from your network. Wait a minute and "
                                                        "send this one again.", body=request.form.get("body", ""))
