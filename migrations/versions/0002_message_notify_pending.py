"""messages.notify_pending: follower fan-out runs in a job after commit

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notify_pending', sa.Boolean(), server_default=sa.text('false'),
                                      nullable=False))
        batch_op.create_index('ix_messages_notify_pending', ['id'], unique=False,
                              postgresql_where=sa.text('notify_pending'),
                              sqlite_where=sa.text('notify_pending'))


def downgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_notify_pending')
        batch_op.drop_column('notify_pending')
