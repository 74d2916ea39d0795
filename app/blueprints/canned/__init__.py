from flask import Blueprint

bp = Blueprint("canned", __name__)

from app.blueprints.canned import routes  # noqa: E402,F401
