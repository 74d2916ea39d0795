"""Outbound mail over SMTP: delivery state and headers on outbox mails, recipients linked to them

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_mails', schema=None) as batch_op:
        batch_op.add_column(sa.Column('from_name', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('reply_to', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('in_reply_to', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('references', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('auto_submitted', sa.Boolean(), server_default=sa.text('false'),
                                      nullable=False))
        # Mails written before SMTP existed were delivered by being written.
        batch_op.add_column(sa.Column('status', sa.String(length=16), server_default='sent', nullable=False))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('sent_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('error', sa.Text(), nullable=True))
        batch_op.create_index('ix_outbox_mails_status_next', ['status', 'next_attempt_at'], unique=False)
    with op.batch_alter_table('message_recipients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outbox_mail_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_message_recipients_outbox_mail_id'), ['outbox_mail_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_message_recipients_outbox_mail_id_outbox_mails'),
                                    'outbox_mails', ['outbox_mail_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('message_recipients', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_message_recipients_outbox_mail_id_outbox_mails'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_message_recipients_outbox_mail_id'))
        batch_op.drop_column('outbox_mail_id')
    with op.batch_alter_table('outbox_mails', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_mails_status_next')
        for column in ('error', 'sent_at', 'claimed_at', 'next_attempt_at', 'attempts', 'status',
                       'auto_submitted', 'references', 'in_reply_to', 'reply_to', 'from_name'):
            batch_op.drop_column(column)
