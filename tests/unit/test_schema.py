"""The schema built by the migrations equals the models, on this run's database."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db
from app.services.search import include_schema_name


# SQLite cannot reflect expression indexes (lower(email)); PostgreSQL compares them.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_migrated_schema_matches_models(app):
    with db.engine.connect() as conn:
        # (as migrations/env.py: the search table of migration 0004 is hand-written, not a model)
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "include_name": include_schema_name})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"
