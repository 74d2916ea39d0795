"""contacts: an index on lower(email), for the case-insensitive lookup every inbound mail makes

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_contacts_email_lower', 'contacts', [sa.text('lower(email)')], unique=False)


def downgrade():
    op.drop_index('ix_contacts_email_lower', table_name='contacts')
