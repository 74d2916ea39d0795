"""Routes of this area."""
from app.blueprints.activities import bp  # noqa: F401


@bp.get("/activities")
def mine():
    return "activities"
