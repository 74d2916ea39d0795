"""Routes of this area."""
from app.blueprints.inbox import bp  # noqa: F401


@bp.get("/inbox")
def index():
    return "inbox"
