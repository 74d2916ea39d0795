"""imap_cursors: how far IMAP polling has read each mailbox (UIDVALIDITY, last UID), and its lease

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('imap_cursors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mailbox', sa.String(length=512), nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=True),
    sa.Column('last_uid', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('locked_until', sa.DateTime(), nullable=True),
    sa.Column('locked_by', sa.String(length=32), nullable=True),
    sa.Column('polled_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_imap_cursors')),
    sa.UniqueConstraint('mailbox', name=op.f('uq_imap_cursors_mailbox'))
    )


def downgrade():
    op.drop_table('imap_cursors')
