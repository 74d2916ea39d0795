"""Routes of this area."""
from app.blueprints.admin import bp  # noqa: F401


@bp.get("/admin/users")
def users():
    return "admin"
