"""Helpdesk pages: dashboard (see the package's routes.py for access rules)."""
from app.blueprints.helpdesk import bp  # noqa: F401
from flask import redirect, url_for


@bp.get("/helpdesk")
def dashboard():
    """The helpdesk's home."""
    return redirect(url_for("helpdesk.tickets"))
