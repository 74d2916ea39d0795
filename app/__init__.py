"""Hilo: conversations on the records they are about."""
import logging
import os
import time
from functools import wraps
from pathlib import Path

from flask import Flask, abort, g, render_template, request
from flask_login import current_user, login_required
from flask_wtf.csrf import CSRFError
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.engine import Engine
from werkzeug.exceptions import HTTPException

from app.config import Config
from app.extensions import csrf, db, htmx, limiter, login_manager, migrate, sock

BLUEPRINTS = ("main", "auth", "admin", "contacts", "chatter", "activities", "inbox", "discuss", "ws", "search", "api", "helpdesk",
              "canned", "support", "portal", "livechat")

CUSTOMER_BLUEPRINTS = ("support", "portal", "livechat")

# No inline script anywhere; htmx's own indicator styles are turned off in base.html.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'self'"
)


def create_app(overrides: dict | None = None) -> Flask:
    """Build an app. `overrides` replaces Config values (tests use it)."""
    instance = Path(os.environ.get("HILO_INSTANCE_PATH", Path(__file__).resolve().parent.parent / "instance"))
    app = Flask(__name__, instance_path=str(instance))
    app.config.from_object(Config(instance, **(overrides or {})))
    if app.config["PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    sock.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)

    from app import models  # noqa: F401  (register every table)
    from app.services import jobs, pagecache, presence, realtime

    jobs.init_app(app)
    realtime.init_app(app)
    presence.init_app(app)
    pagecache.init_app(app)

    for area in BLUEPRINTS:
        module = __import__(f"app.blueprints.{area}", fromlist=["bp"])
        app.register_blueprint(module.bp)

    _register_login(app)
    _register_errors(app)
    _register_headers(app)
    _register_templates(app)
    from app import cli

    cli.init_app(app)
    return app


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """WAL and a busy timeout let web threads and the job thread share one SQLite file."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        from app.services.search import register_sqlite_functions  # the search triggers call it

        register_sqlite_functions(dbapi_connection)


def _register_login(app: Flask) -> None:
    from app.models import User

    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(value: str):
        user_id, _, token = value.partition(":")
        if not user_id.isdigit():
            return None
        from app.services import notifications

        row = db.session.execute(select(User, notifications.unread_column()).where(User.id == int(user_id))).first()
        user = row[0] if row is not None else None
        # A changed password rotates the token: every other session ends here.
        if user is None or not token or user.session_token != token or not user.active:
            return None
        notifications.remember_unread(user.id, row[1])
        return user


def wants_fragment() -> bool:
    return bool(request.htmx) and not request.htmx.boosted


def staff_required(view):
    """Signed-in staff only: anonymous visitors sign in, portal users get a 403."""
    from app.services import access  # (services import the app package's extensions)

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not access.is_staff(current_user):
            abort(403)
        return view(*args, **kwargs)
    return wrapped


def _register_errors(app: Flask) -> None:
    def render_error(code: int, title: str, detail: str):
        if wants_fragment():
            template = "errors/_error.html"
        elif request.blueprint in CUSTOMER_BLUEPRINTS:  # customers never see the staff chrome
            template = "customer/error.html"
        else:
            template = "errors/error.html"
        return render_template(template, code=code, title=title, detail=detail), code

    @app.errorhandler(CSRFError)
    def csrf_error(err):
        return render_error(400, "Your form expired", "Reload the page and try again; nothing was saved.")

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        code = err.code or 500
        titles = {
            400: "Bad request", 401: "Please sign in", 403: "Not allowed", 404: "Not found",
            405: "Not allowed", 413: "Too large", 422: "Check the form", 429: "Too many requests",
        }
        detail = err.description or ""
        if code == 413:
            limit = app.config["MAX_ATTACHMENT_BYTES"] // (1024 * 1024)
            detail = f"The upload is too large. Each file may be at most {limit} MB."
        if code == 429:
            detail = "Too many attempts. Wait a minute and try again."
        return render_error(code, titles.get(code, "Error"), detail)

    @app.errorhandler(OperationalError)
    def database_busy(err: OperationalError):
        db.session.rollback()
        if "database is locked" not in str(err):  # SQLite's writer queue outwaited the busy timeout
            return server_error(err)
        app.logger.warning("SQLite busy on %s %s", request.method, request.path)
        response = render_error(503, "Busy", "Hilo is busy right now; nothing was saved. Try again.")
        return response[0], 503, {"Retry-After": "2"}

    @app.errorhandler(Exception)
    def server_error(err: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        return render_error(500, "Something went wrong", "The error was logged. Please try again.")


def _register_headers(app: Flask) -> None:
    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def security_headers(response):
        if "started" in g:  # server time, for browsers' dev tools and bench/
            response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - g.started) * 1000:.1f}"
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not g.get("frameable"):  # the website form's embed (blueprints/support) may be framed
            response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        if request.htmx:
            response.headers.add("Vary", "HX-Request")
        return response


def _register_templates(app: Flask) -> None:
    from app import templating

    templating.init_app(app)
