"""Routes of this area."""
from app.blueprints.chatter import bp  # noqa: F401
