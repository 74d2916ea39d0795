from flask import Blueprint

bp = Blueprint("helpdesk", __name__)

from app.blueprints.helpdesk import routes, board, dashboard, parts  # noqa: E402,F401
