from flask import Blueprint

bp = Blueprint("helpdesk", __name__)

from app.blueprints.helpdesk import routes  # noqa: E402,F401
