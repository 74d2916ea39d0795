"""The customer portal (SPEC §6.3–§6.4): sign-in by emailed link, my tickets, a ticket's public
conversation, replies, closing, ratings; and the per-ticket links from mails."""
from flask import Blueprint

bp = Blueprint("portal", __name__, url_prefix="/my")

from app.blueprints.portal import ratings, routes  # noqa: E402,F401
