"""Helpdesk pages: dashboard (see the package's routes.py for access rules)."""
from app.blueprints.helpdesk import bp  # noqa: F401
