"""The home page and the health check."""
from flask import current_app, jsonify, redirect, url_for
from flask_login import current_user
from sqlalchemy import text

from app.blueprints.main import bp
from app.extensions import db


@bp.get("/")
def home():
    """Staff land in their inbox, customers on their profile; everyone else signs in first."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(url_for("inbox.index" if current_user.is_staff else "auth.profile"))


@bp.get("/healthz")
def healthz():
    """Database, realtime bus and job queue state as JSON: 200 when all are healthy, else 503."""
    report, healthy = {}, True
    checks = {
        "database": lambda: db.session.execute(text("SELECT 1")) and {"backend": db.engine.dialect.name},
        "redis": lambda: (
            {"backend": "embedded"} if not current_app.config["REDIS_URL"]
            else current_app.extensions["hilo_bus"].health()
        ),
        "jobs": lambda: current_app.extensions["hilo_jobs"].health(),
    }
    for name, check in checks.items():
        try:
            report[name] = {"ok": True, **check()}
        except Exception as err:  # report, never raise: this page exists to say what is down
            db.session.rollback()
            healthy = False
            report[name] = {"ok": False, "error": type(err).__name__}
    report["status"] = "ok" if healthy else "degraded"
    return jsonify(report), 200 if healthy else 503
