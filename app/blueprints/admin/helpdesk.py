"""Settings pages: helpdesk (admins only, as every page of the admin blueprint)."""
from app.blueprints.admin import bp  # noqa: F401
