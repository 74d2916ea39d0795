"""inbound_mails: an index on (sender, received_at) for the per-sender rate limit

Revision ID: 0009
Revises: 0008
"""
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('inbound_mails', schema=None) as batch_op:
        batch_op.create_index('ix_inbound_mails_sender_received', ['sender', 'received_at'], unique=False)


def downgrade():
    with op.batch_alter_table('inbound_mails', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_mails_sender_received')
