"""The chatter: a thread's messages, composer, followers and files (SPEC §1).

Every route finds its thread with `load_thread` (404 unless the user may read it) and
asks services/access.py for anything more; views call one messaging function, commit,
and answer with the fragment an htmx request needs or a redirect to the record.
"""
from datetime import timezone
from types import SimpleNamespace
from urllib.parse import urlencode, urlsplit

from flask import (
    abort, current_app, flash, jsonify, make_response, redirect, render_template, request,
    send_file, url_for,
)
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import func, or_, select

from app import wants_fragment
from app.blueprints.chatter import bp
from app.blueprints.chatter.forms import ComposerForm, FollowerForm, NoteEditForm
from app.extensions import db
from app.models import Attachment, Contact, Follower, Message, Thread, User
from app.models.base import contains_pattern, utcnow
from app.services import access, messaging, reactions
from app.services import attachments as attachment_store
from app.services.attachments import AttachmentError
from app.services.contacts import AddressError
from app.services.messaging import MessageError
from app.services.reactions import ReactionError

CANDIDATE_LIMIT = 6


# ---- shared lookups --------------------------------------------------------------------------

@bp.before_request
def require_sign_in():
    """Anonymous visitors sign in first; an htmx request is told to send the page there."""
    if current_user.is_authenticated:
        return None
    if request.htmx:
        current = urlsplit(request.htmx.current_url or "")
        target = current.path + (f"?{current.query}" if current.query else "")
        response = make_response("", 401)
        response.headers["HX-Redirect"] = url_for("auth.login", next=target or None)
        return response
    return current_app.login_manager.unauthorized()


def fragment_wanted() -> bool:
    return wants_fragment() and not request.htmx.history_restore_request


def load_thread(thread_id: int) -> Thread:
    """The thread, or 404 when it does not exist or the user may not read it (no leak)."""
    thread = db.session.get(Thread, thread_id)
    if not access.can_read_thread(current_user, thread):
        abort(404)
    return thread


def load_message(thread: Thread, message_id: int) -> Message:
    """A message of this thread the user may see, else 404."""
    message = db.session.get(Message, message_id)
    if message is None or message.thread_id != thread.id or not access.can_see_message(current_user, message):
        abort(404)
    return message


def back_to_record(thread: Thread, **args):
    """Redirect to the record's page, at its chatter."""
    query = f"?{urlencode(args)}" if args else ""
    return redirect(f"{messaging.record_url(thread.record)}{query}#chatter-{thread.id}")


def followers_view(thread: Thread) -> SimpleNamespace:
    """What `chatter/_followers.html` shows, for the current user."""
    rows = messaging.followers(thread)
    return SimpleNamespace(
        followers=rows,
        following=any(f.user_id == current_user.id for f in rows),
        recipients=[f.contact for f in rows if f.contact is not None and f.contact.email],
        can_manage_followers=access.can_manage_followers(current_user, thread),
    )


def chatter_view(thread: Thread, before_id: int | None = None) -> SimpleNamespace:
    """Everything `chatter/_chatter.html` shows, for the current user."""
    user = current_user
    kinds = access.visible_kinds(user)
    if before_id is None:  # an older page, or one starting at a message (`around`: search, Starred)
        around = request.args.get("around", type=int)
        before_id = request.args.get("before", type=int) or (around + 1 if around else None)
    messages, has_more = messaging.thread_page(thread, kinds, before_id)
    return SimpleNamespace(
        **vars(followers_view(thread)),
        messages=messages,
        has_more=has_more,
        before_id=before_id,
        files=messaging.thread_files(thread, kinds),
        can_comment=access.can_post(user, thread, "comment"),
        can_note=access.can_post(user, thread, "note"),
        record_url=messaging.record_url(thread.record),
    )


# Template globals (not a context processor: imported macros see globals only).
bp.add_app_template_global(chatter_view, "chatter_view")
bp.add_app_template_global(attachment_store.looks_like_image, "looks_like_image")
bp.add_app_template_global(reactions.groups, "reaction_groups")
bp.add_app_template_global(reactions.starred_ids, "starred_ids")
bp.add_app_template_global(reactions.QUICK_EMOJI, "quick_emoji")


@bp.app_template_global()
def author_label(message: Message, thread: Thread | None = None) -> str:
    """Who wrote a message, as its thread shows it: a message nobody wrote is the record's own
    voice where it has one (a live chat's bot), else "System"."""
    if thread is not None and message.author_user_id is None and message.author_contact_id is None \
            and message.author_visitor_id is None:
        voice = getattr(thread.model, "system_author", None)
        if voice is not None:
            return voice(thread.record) or message.author_name
    return message.author_name


@bp.app_template_global()
def can_edit_message(message: Message) -> bool:
    """May the current user edit or delete this message (a note of theirs, or any as admin)?"""
    return access.can_edit_message(current_user, message)


@bp.app_template_global()
def live_time(value) -> Markup:
    """A relative <time> that does not depend on the viewer (for fragments pushed to all).

    Pages use the `timeago` filter (in the viewer's time zone); chatter.js localises these.
    """
    seconds = int((utcnow() - value).total_seconds())
    if seconds < 60:
        text = "just now"
    elif seconds < 3600:
        text = f"{seconds // 60} min ago"
    elif seconds < 86400:
        text = f"{seconds // 3600} h ago"
    elif seconds < 7 * 86400:
        text = f"{seconds // 86400} d ago"
    else:
        text = value.strftime("%d %b %Y")
    iso = value.replace(tzinfo=timezone.utc).isoformat()
    return Markup('<time datetime="{}" data-relative>{}</time>').format(iso, text)


@bp.app_template_global()
def thread_record_url(thread: Thread) -> str:
    return messaging.record_url(thread.record)


# ---- the thread ------------------------------------------------------------------------------

@bp.get("/chatter/<int:thread_id>")
def show(thread_id: int):
    """The whole chatter of a thread as a fragment; a full page goes to the record."""
    thread = load_thread(thread_id)
    if not fragment_wanted():
        return back_to_record(thread)
    return render_template("chatter/_chatter.html", thread=thread, record=thread.record)


@bp.get("/chatter/<int:thread_id>/messages")
def messages(thread_id: int):
    """Older messages (`before` = the oldest id shown), newest first, and the next sentinel."""
    thread = load_thread(thread_id)
    before = request.args.get("before", type=int)
    if not fragment_wanted():
        return back_to_record(thread, **({"before": before} if before else {}))
    rows, has_more = messaging.thread_page(thread, access.visible_kinds(current_user), before)
    return render_template("chatter/_page.html", thread=thread, messages=rows, has_more=has_more)


def composer_error(thread: Thread, form: ComposerForm, kind: str, error: str):
    """422 with the reason; htmx gets it in the composer, a plain form a page keeping the text."""
    if fragment_wanted():
        response = make_response(render_template("chatter/_composer_errors.html", errors=[error]), 422)
        response.headers["HX-Retarget"] = f"#composer-{thread.id}-errors"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return render_template("chatter/compose_page.html", thread=thread, record=thread.record,
                           cv=chatter_view(thread), body=form.body.data or "", cc=form.cc.data or "",
                           kind=kind, errors=[error]), 422


@bp.post("/chatter/<int:thread_id>/messages")
def post_message(thread_id: int):
    """Post a message (`kind=comment`, emailed to contact followers) or an internal note."""
    thread = load_thread(thread_id)
    form = ComposerForm()
    kind = request.form.get("kind") or "comment"
    if kind not in ("comment", "note"):
        return composer_error(thread, form, "comment", "Choose “Send message” or “Log note”.")
    if not access.can_post(current_user, thread, kind):
        abort(403)
    cc = (form.cc.data or "") if kind == "comment" else ""
    if cc.strip() and not access.is_staff(current_user):
        abort(403)
    followers_change = bool(cc.strip()) or not messaging.is_following(thread, current_user)
    try:
        message = messaging.post_message(thread, current_user, form.body.data or "", kind=kind,
                                         files=request.files.getlist("files"), cc=cc)
    except (MessageError, AttachmentError, AddressError) as err:
        db.session.rollback()
        return composer_error(thread, form, kind, str(err))
    db.session.commit()
    if fragment_wanted():
        files = messaging.thread_files(thread, access.visible_kinds(current_user)) if message.attachments else None
        # A first post makes the author a follower, and Cc adds some: the followers box says so.
        return render_template("chatter/_posted.html", message=message, thread=thread, files=files,
                               followers=followers_view(thread) if followers_change else None)
    flash("Note logged." if kind == "note" else "Message sent.", "success")
    return back_to_record(thread)


@bp.get("/chatter/<int:thread_id>/messages/<int:message_id>")
def message_row(thread_id: int, message_id: int):
    """One message row (what "Cancel" on the note editor puts back)."""
    thread = load_thread(thread_id)
    row = load_message(thread, message_id)
    if not fragment_wanted():
        return back_to_record(thread)
    return render_template("chatter/_message.html", message=row, thread=thread)


@bp.route("/chatter/<int:thread_id>/messages/<int:message_id>/edit", methods=["GET", "POST"])
def edit_message(thread_id: int, message_id: int):
    """Edit a note (or a chat message) in place: its author or an admin (SPEC §1.8, §2)."""
    thread = load_thread(thread_id)
    note = load_message(thread, message_id)
    if not access.can_edit_message(current_user, note):
        abort(403)
    what = "Note" if note.kind == "note" else "Message"
    form = NoteEditForm()
    template = "chatter/_edit_form.html" if fragment_wanted() else "chatter/edit_page.html"
    if request.method == "POST":
        try:
            messaging.edit_message(note, form.body.data or "")
        except MessageError as err:
            db.session.rollback()
            note = load_message(thread, message_id)
            return render_template(template, message=note, thread=thread, record=thread.record,
                                   body=form.body.data or "", errors=[str(err)]), 422
        db.session.commit()
        if fragment_wanted():
            return render_template("chatter/_message.html", message=note, thread=thread)
        flash(f"{what} updated.", "success")
        return back_to_record(thread)
    return render_template(template, message=note, thread=thread, record=thread.record,
                           body=messaging.editable_text(note), errors=[])


@bp.post("/chatter/<int:thread_id>/messages/<int:message_id>/delete")
def delete_message(thread_id: int, message_id: int):
    """Delete a note or a chat message (and its files): its author or an admin."""
    thread = load_thread(thread_id)
    note = load_message(thread, message_id)
    if not access.can_edit_message(current_user, note):
        abort(403)
    what = "Note" if note.kind == "note" else "Message"
    had_files = bool(note.attachments)
    messaging.delete_message(note)
    db.session.commit()
    if fragment_wanted():
        files = messaging.thread_files(thread, access.visible_kinds(current_user)) if had_files else None
        return render_template("chatter/_files_live.html", thread=thread, files=files) if had_files else ""
    flash(f"{what} deleted.", "success")
    return back_to_record(thread)


@bp.post("/chatter/<int:thread_id>/messages/<int:message_id>/reactions")
def react(thread_id: int, message_id: int):
    """Add or take back an emoji reaction (staff); every viewer's bar updates live."""
    thread = load_thread(thread_id)
    message = load_message(thread, message_id)
    if not access.is_staff(current_user) or message.kind not in ("comment", "note"):
        abort(403)
    try:
        reactions.toggle_reaction(message, current_user, request.form.get("emoji", ""))
    except ReactionError as err:
        db.session.rollback()
        if fragment_wanted():
            return render_template("errors/_error.html", title="Not added", detail=str(err)), 422
        flash(str(err), "error")
        return back_to_record(thread)
    db.session.commit()
    if fragment_wanted():
        return render_template("chatter/_reactions.html", message=message)
    return redirect(f"{messaging.record_url(thread.record)}#message-{message.id}")


@bp.post("/chatter/<int:thread_id>/messages/<int:message_id>/star")
def star(thread_id: int, message_id: int):
    """Star or unstar a message for oneself (staff)."""
    thread = load_thread(thread_id)
    message = load_message(thread, message_id)
    if not access.is_staff(current_user):
        abort(403)
    starred = reactions.toggle_star(message, current_user)
    db.session.commit()
    if fragment_wanted():
        return render_template("chatter/_star.html", m=message, thread=thread, starred=starred)
    flash("Starred." if starred else "Removed from Starred.", "success")
    return redirect(f"{messaging.record_url(thread.record)}#message-{message.id}")


@bp.get("/chatter/<int:thread_id>/mentions")
def mentions(thread_id: int):
    """Staff to @mention, as JSON for the composer's autocomplete."""
    thread = load_thread(thread_id)
    if not (access.can_post(current_user, thread, "note") or access.can_post(current_user, thread, "comment")):
        abort(403)
    query = request.args.get("q", "")[:60]
    users = [u for u in messaging.mentionable_users(query) if access.can_read_thread(u, thread)]
    return jsonify(users=[
        {"id": u.id, "name": u.name, "email": u.email, "initials": u.initials} for u in users
    ])


# ---- followers -------------------------------------------------------------------------------

def followers_fragment(thread: Thread, *, open_panel: bool = False, error: str | None = None, status: int = 200):
    return render_template("chatter/_followers.html", thread=thread, cv=followers_view(thread),
                           open_panel=open_panel, error=error), status


@bp.post("/chatter/<int:thread_id>/follow")
def follow(thread_id: int):
    """Follow this record myself: I will be notified of its messages."""
    thread = load_thread(thread_id)
    messaging.follow(thread, user=current_user)
    db.session.commit()
    if fragment_wanted():
        return followers_fragment(thread)
    flash("You follow this record.", "success")
    return back_to_record(thread)


@bp.post("/chatter/<int:thread_id>/unfollow")
def unfollow(thread_id: int):
    """Stop following this record."""
    thread = load_thread(thread_id)
    messaging.unfollow(thread, user=current_user)
    db.session.commit()
    if fragment_wanted():
        return followers_fragment(thread)
    flash("You no longer follow this record.", "success")
    return back_to_record(thread)


@bp.get("/chatter/<int:thread_id>/followers/candidates")
def follower_candidates(thread_id: int):
    """Staff and contacts matching `q` who do not follow yet (the "Add followers" search)."""
    thread = load_thread(thread_id)
    if not access.can_manage_followers(current_user, thread):
        abort(403)
    query = request.args.get("q", "").strip()[:80]
    users, contacts = [], []
    if query:
        like = contains_pattern(query.lower())
        following = select(Follower.user_id).where(Follower.thread_id == thread.id, Follower.user_id.isnot(None))
        users = [u for u in db.session.scalars(
            select(User).where(User.active.is_(True), User.id.not_in(following),
                               or_(func.lower(User.name).like(like, escape="\\"),
                                   func.lower(User.email).like(like, escape="\\")))
            .order_by(User.name).limit(CANDIDATE_LIMIT * 2)
        ) if access.can_read_thread(u, thread)][:CANDIDATE_LIMIT]
        followed = select(Follower.contact_id).where(Follower.thread_id == thread.id,
                                                     Follower.contact_id.isnot(None))
        contacts = list(db.session.scalars(
            select(Contact).where(Contact.id.not_in(followed),
                                  or_(func.lower(Contact.name).like(like, escape="\\"),
                                      func.lower(Contact.email).like(like, escape="\\"),
                                      func.lower(Contact.company).like(like, escape="\\")))
            .order_by(Contact.name).limit(CANDIDATE_LIMIT)
        ))
    return render_template("chatter/_follower_candidates.html", thread=thread, users=users,
                           contacts=contacts, query=query)


@bp.post("/chatter/<int:thread_id>/followers")
def add_follower(thread_id: int):
    """Add a user (who can read the record) or a contact as follower."""
    thread = load_thread(thread_id)
    if not access.can_manage_followers(current_user, thread):
        abort(403)
    form = FollowerForm()
    if not form.validate():
        return followers_fragment(thread, open_panel=True, error="Pick one person or contact to add.", status=422)
    if form.user_id.data:
        user = db.session.get(User, form.user_id.data)
        if user is None or not user.active:
            abort(404)
        if not access.can_read_thread(user, thread):
            return followers_fragment(thread, open_panel=True, status=422,
                                      error=f"{user.name} cannot see this record.")
        messaging.follow(thread, user=user)
        name = user.name
    else:
        contact = db.session.get(Contact, form.contact_id.data)
        if contact is None:
            abort(404)
        messaging.follow(thread, contact=contact)
        name = contact.name
    db.session.commit()
    if fragment_wanted():
        return followers_fragment(thread, open_panel=True)
    flash(f"{name} now follows this record.", "success")
    return back_to_record(thread)


@bp.post("/chatter/<int:thread_id>/followers/<int:follower_id>/delete")
def remove_follower(thread_id: int, follower_id: int):
    """Remove a follower (a user or a contact)."""
    thread = load_thread(thread_id)
    if not access.can_manage_followers(current_user, thread):
        abort(403)
    follower = db.session.get(Follower, follower_id)
    if follower is None or follower.thread_id != thread.id:
        abort(404)
    db.session.delete(follower)
    db.session.commit()
    if fragment_wanted():
        return followers_fragment(thread, open_panel=True)
    flash("Follower removed.", "success")
    return back_to_record(thread)


# ---- files -----------------------------------------------------------------------------------

@bp.get("/attachments/<int:attachment_id>")
def download(attachment_id: int):
    """An attachment's bytes for those who may see its message.

    Only real raster images (sniffed from the bytes) are shown inline, with their sniffed
    type; everything else is a download, `application/octet-stream`, `nosniff` and a
    sandboxing CSP, so an uploaded page or SVG never runs in our origin.
    """
    attachment = db.session.get(Attachment, attachment_id)
    if not access.can_download(current_user, attachment):
        abort(404)
    return send_attachment(attachment)


def send_attachment(attachment: Attachment):
    """The response for a file the caller may read (the portal's shared links use it too)."""
    try:
        with attachment_store.open_file(attachment) as fh:
            image_type = attachment_store.sniff_raster(fh.read(16))
    except FileNotFoundError:
        abort(404)
    # By path, so the response says its length: a file object would go out chunked, which
    # gunicorn's sendfile writes without the chunk framing (a broken download).
    response = send_file(
        attachment_store.local_path(attachment), mimetype=image_type or "application/octet-stream",
        as_attachment=image_type is None,
        download_name=attachment.filename, conditional=True, etag=attachment.storage_key,
        last_modified=attachment.created_at, max_age=3600,
    )
    response.cache_control.private = True
    response.cache_control.public = False
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
