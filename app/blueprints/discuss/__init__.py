from flask import Blueprint

bp = Blueprint("discuss", __name__, url_prefix="/discuss")

from app.blueprints.discuss import livechat, routes  # noqa: E402,F401
