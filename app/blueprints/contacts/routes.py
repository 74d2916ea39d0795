"""Routes of this area."""
from app.blueprints.contacts import bp  # noqa: F401


@bp.get("/contacts")
def index():
    return "contacts"
