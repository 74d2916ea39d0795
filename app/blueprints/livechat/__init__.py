"""The website live chat (SPEC §7): the loader any site embeds, the visitor's chat window and its
socket. No sign-in: a visitor is known by a signed token their browser keeps."""
from flask import Blueprint

bp = Blueprint("livechat", __name__, url_prefix="/livechat")

from app.blueprints.livechat import routes, socket  # noqa: E402,F401
