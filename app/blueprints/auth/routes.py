"""Routes of this area."""
from app.blueprints.auth import bp  # noqa: F401


@bp.route("/login", methods=["GET", "POST"])
def login():
    return "login"


@bp.post("/logout")
def logout():
    return "logout"


@bp.get("/profile")
def profile():
    return "profile"


@bp.get("/users/<int:user_id>/avatar")
def avatar(user_id):
    return ""
