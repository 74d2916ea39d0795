"""The public help center and website ticket forms (SPEC §6.1–§6.2): no sign-in needed."""
from flask import Blueprint

bp = Blueprint("support", __name__)

from app.blueprints.support import routes  # noqa: E402,F401
