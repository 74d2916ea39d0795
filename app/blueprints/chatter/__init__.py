from flask import Blueprint

bp = Blueprint("chatter", __name__)

from app.blueprints.chatter import routes  # noqa: E402,F401
