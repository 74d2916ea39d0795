from flask import Blueprint

bp = Blueprint("admin", __name__)

from app.blueprints.admin import routes, helpdesk, canned, website, livechat  # noqa: E402,F401
