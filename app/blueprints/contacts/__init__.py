from flask import Blueprint

bp = Blueprint("contacts", __name__)

from app.blueprints.contacts import routes  # noqa: E402,F401
