from flask import Blueprint

bp = Blueprint("helpdesk", __name__)

from app.blueprints.helpdesk import routes, board, dashboard  # noqa: E402,F401
