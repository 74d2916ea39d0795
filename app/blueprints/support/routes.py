"""Routes of the help center and the website forms.

The form's POST is exempt from the session CSRF token: it must work inside an iframe on another
site, where the browser withholds our cookies. It is guarded instead by a signed, time-stamped
form token (a form filled faster than SUPPORT_FORM_MIN_SECONDS is refused), a honeypot input,
and rate limits per client IP and per email address. What the visitor typed is always sent back
with the errors, including when a limit is hit.
"""
import time

from flask import abort, current_app, g, make_response, redirect, render_template, request, url_for
from flask_limiter import RateLimitExceeded
from itsdangerous import BadSignature, SignatureExpired
from limits import parse_many

from app import CSP, wants_fragment
from app.blueprints.support import bp
from app.extensions import csrf, db, limiter
from app.services import accounts, contacts, helpcenter

INVALID = 422
HONEYPOT = "hp_note"
THANKS_MAX_AGE = 24 * 3600


def form_token(team) -> str:
    return accounts.signer("support-form").dumps({"t": team.id, "at": time.time()})


def _form_token_error(team) -> str | None:
    try:
        data = accounts.signer("support-form").loads(request.form.get("started", ""), max_age=2 * 24 * 3600)
    except SignatureExpired:
        return "This form was open for too long. Check your text and send it again."
    except BadSignature:
        return "This form could not be sent. Check your text and send it again."
    if not isinstance(data, dict) or data.get("t") != team.id:
        return "This form could not be sent. Check your text and send it again."
    if time.time() - float(data.get("at", 0)) < current_app.config["SUPPORT_FORM_MIN_SECONDS"]:
        return "That was quick! Check your text and send it again."
    return None


def _email_key() -> str:
    """The per-address limit's key: the address as routing would read it (case and spaces aside)."""
    raw = " ".join((request.form.get("email") or "").split()).lower()
    try:
        raw = contacts.normalize_address(raw).lower()
    except contacts.AddressError:
        pass
    return f"support-email:{raw[:254]}"


def _frameable(response):
    """Any site may frame this page (the embed snippet); everything else stays same-origin."""
    g.frameable = True
    response.headers["Content-Security-Policy"] = CSP.replace(
        "frame-ancestors 'self'", "frame-ancestors *")
    return response


def _team_or_404(slug: str):
    team = helpcenter.published_team(slug)
    if team is None:
        abort(404)
    return team


def _render_form(team, *, embedded: bool, values=None, errors=None, form_error: str | None = None,
                 status: int = 200):
    context = {"team": team, "embedded": embedded, "values": values, "errors": errors or {},
               "form_error": form_error, "fields": helpcenter.visible_fields(team), "token": form_token(team),
               "side_text": helpcenter.render_markdown(team.form_side_text) if team.form_side_text else None}
    template = "customer/_form.html" if wants_fragment() else "customer/form.html"
    response = make_response(render_template(template, **context), status)
    return _frameable(response) if embedded else response


# ---- help center ---------------------------------------------------------------------------------

@bp.get("/support")
def index():
    """Published teams, their FAQ (searchable), and the ways to get help."""
    teams = helpcenter.published_teams()
    query = " ".join(request.args.get("q", "").split())[:200]
    articles = helpcenter.faq_articles(teams, query)
    context = {"teams": teams, "query": query, "articles": articles, "excerpt": helpcenter.excerpt,
               "team_names": {t.id: t.name for t in teams}}
    if wants_fragment() and not request.htmx.history_restore_request:
        return render_template("customer/_faq_results.html", **context)
    return render_template("customer/index.html", **context)


@bp.get("/support/<slug>/faq/<int:article_id>")
def article(slug: str, article_id: int):
    team = _team_or_404(slug)
    found = helpcenter.published_article(team, article_id)
    if found is None:
        abort(404)
    others = [a for a in helpcenter.faq_articles([team]) if a.id != found.id][:8]
    return render_template("customer/article.html", team=team, article=found, others=others,
                           body=helpcenter.render_markdown(found.body))


# ---- the form --------------------------------------------------------------------------------------

@bp.get("/support/<slug>")
def form(slug: str):
    team = _team_or_404(slug)
    return _render_form(team, embedded=False)


@bp.get("/support/<slug>/embed")
def embed(slug: str):
    """The same form for an iframe on the company's site: no header or footer, frameable."""
    team = _team_or_404(slug)
    return _render_form(team, embedded=True)


@bp.post("/support/<slug>")
@csrf.exempt
@limiter.limit(lambda: current_app.config["SUPPORT_FORM_IP_LIMIT"])
def submit(slug: str):
    """Open a ticket from the form; errors come back inline with everything the visitor typed."""
    team = _team_or_404(slug)
    embedded = request.form.get("embedded") == "1"
    values = request.form
    if request.form.get(HONEYPOT):
        return _render_form(team, embedded=embedded, values=values, status=INVALID,
                            form_error="This form could not be sent. Check your text and send it again.")
    problem = _form_token_error(team)
    if problem:
        return _render_form(team, embedded=embedded, values=values, form_error=problem, status=INVALID)
    try:
        submission = helpcenter.check_submission(team, request.form, request.files.getlist("attachments"))
    except helpcenter.FormErrors as err:
        return _render_form(team, embedded=embedded, values=values, errors=err.errors, status=INVALID,
                            form_error="Some fields need your attention.")
    if not _count_for_address():
        return _limited(team)
    ticket = helpcenter.submit(team, submission)
    db.session.commit()
    target = url_for("support.thanks", token=accounts.signer("support-thanks").dumps(ticket.id), embedded=1 if embedded else None)
    if request.htmx:
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, 303)


@bp.get("/support/thanks/<token>")
def thanks(token: str):
    """The confirmation after sending: the reference and where the receipt went."""
    try:
        ticket_id = accounts.signer("support-thanks").loads(token, max_age=THANKS_MAX_AGE)
    except BadSignature:
        abort(404)
    from app.models import Ticket

    ticket = db.session.get(Ticket, ticket_id) if isinstance(ticket_id, int) else None
    if ticket is None:
        abort(404)
    embedded = request.args.get("embedded") == "1"
    response = make_response(render_template("customer/thanks.html", ticket=ticket, embedded=embedded))
    return _frameable(response) if embedded else response


def _count_for_address() -> bool:
    """Take one from the sender address's SUPPORT_FORM_EMAIL_LIMIT, False when it is used up.

    Only a valid submission counts (a mistyped form costs nothing), and each hit is one atomic
    step in the limiter's storage (Redis when configured), so concurrent posts cannot overshoot.
    """
    key = _email_key()
    return all(limiter.limiter.hit(item, "support-form", key)
               for item in parse_many(current_app.config["SUPPORT_FORM_EMAIL_LIMIT"]))


@bp.errorhandler(RateLimitExceeded)
def too_many(err):
    """The client address's limit on the form."""
    slug = (request.view_args or {}).get("slug")
    team = helpcenter.published_team(slug) if slug and request.endpoint == "support.submit" else None
    if team is None:
        return render_template("customer/error.html", code=429, title="Too many requests",
                               detail="Wait a minute and try again."), 429
    return _limited(team)


def _limited(team):
    """A limit on the form: the page again with the visitor's text and a clear 429."""
    message = ("You have sent several requests in a short time. Wait a few minutes and send this one "
               "again; your text is still here.")
    return _render_form(team, embedded=request.form.get("embedded") == "1", values=request.form,
                        form_error=message, status=429)
