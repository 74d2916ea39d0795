"""Inbound mail: aliases that take mail in, and every mail received, kept raw with its route

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('mail_aliases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('local_part', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=32), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_aliases')),
    sa.UniqueConstraint('local_part', name=op.f('uq_mail_aliases_local_part'))
    )
    op.create_table('inbound_mails',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=255), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.Column('sender', sa.String(length=254), nullable=True),
    sa.Column('recipients', sa.Text(), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=True),
    sa.Column('alias_id', sa.Integer(), nullable=True),
    sa.Column('thread_id', sa.Integer(), nullable=True),
    sa.Column('chatter_message_id', sa.Integer(), nullable=True),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['alias_id'], ['mail_aliases.id'], name=op.f('fk_inbound_mails_alias_id_mail_aliases'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['chatter_message_id'], ['messages.id'], name=op.f('fk_inbound_mails_chatter_message_id_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['thread_id'], ['threads.id'], name=op.f('fk_inbound_mails_thread_id_threads'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_mails')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_inbound_mails_dedupe_key'))
    )
    with op.batch_alter_table('inbound_mails', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_mails_received_at'), ['received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_mails_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_mails_thread_id'), ['thread_id'], unique=False)


def downgrade():
    op.drop_table('inbound_mails')
    op.drop_table('mail_aliases')
