from flask import Blueprint

bp = Blueprint("ws", __name__)

from app.blueprints.ws import routes  # noqa: E402,F401
