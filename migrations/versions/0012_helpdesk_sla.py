"""Helpdesk: working calendars, SLA policies and ticket targets, pauses, timesheets, canned responses

Revision ID: 0012
Revises: 0011

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('helpdesk_calendars',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('tz', sa.String(length=64), nullable=False),
    sa.Column('week', sa.Text(), nullable=False),
    sa.Column('holidays', sa.Text(), nullable=False),
    sa.Column('special_days', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_helpdesk_calendars')),
    sa.UniqueConstraint('name', name=op.f('uq_helpdesk_calendars_name'))
    )
    op.create_table('helpdesk_canned_responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shortcut', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('used_count', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_helpdesk_canned_responses_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['team_id'], ['helpdesk_teams.id'], name=op.f('fk_helpdesk_canned_responses_team_id_helpdesk_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_helpdesk_canned_responses')),
    sa.UniqueConstraint('shortcut', name=op.f('uq_helpdesk_canned_responses_shortcut'))
    )
    with op.batch_alter_table('helpdesk_canned_responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_helpdesk_canned_responses_team_id'), ['team_id'], unique=False)

    op.create_table('helpdesk_sla_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('min_priority', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('first_reply_hours', sa.Float(), nullable=True),
    sa.Column('next_reply_hours', sa.Float(), nullable=True),
    sa.Column('resolution_hours', sa.Float(), nullable=True),
    sa.Column('resolution_stage_id', sa.Integer(), nullable=True),
    sa.Column('escalate_hours', sa.Float(), nullable=True),
    sa.Column('escalate_action', sa.String(length=20), server_default=sa.text("('')"), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('(true)'), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("escalate_action in ('', 'notify', 'raise_priority')", name=op.f('ck_helpdesk_sla_policies_escalate_action')),
    sa.CheckConstraint('coalesce(first_reply_hours, 0) >= 0 and coalesce(next_reply_hours, 0) >= 0 and coalesce(resolution_hours, 0) >= 0', name=op.f('ck_helpdesk_sla_policies_hours')),
    sa.CheckConstraint('min_priority between 0 and 3', name=op.f('ck_helpdesk_sla_policies_min_priority')),
    sa.ForeignKeyConstraint(['customer_id'], ['contacts.id'], name=op.f('fk_helpdesk_sla_policies_customer_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['resolution_stage_id'], ['helpdesk_stages.id'], name=op.f('fk_helpdesk_sla_policies_resolution_stage_id_helpdesk_stages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['team_id'], ['helpdesk_teams.id'], name=op.f('fk_helpdesk_sla_policies_team_id_helpdesk_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_helpdesk_sla_policies'))
    )
    with op.batch_alter_table('helpdesk_sla_policies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_helpdesk_sla_policies_team_id'), ['team_id'], unique=False)

    op.create_table('helpdesk_sla_policy_tags',
    sa.Column('policy_id', sa.Integer(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['policy_id'], ['helpdesk_sla_policies.id'], name=op.f('fk_helpdesk_sla_policy_tags_policy_id_helpdesk_sla_policies'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tag_id'], ['helpdesk_tags.id'], name=op.f('fk_helpdesk_sla_policy_tags_tag_id_helpdesk_tags'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('policy_id', 'tag_id', name=op.f('pk_helpdesk_sla_policy_tags'))
    )
    op.create_table('helpdesk_sla_policy_types',
    sa.Column('policy_id', sa.Integer(), nullable=False),
    sa.Column('type_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['policy_id'], ['helpdesk_sla_policies.id'], name=op.f('fk_helpdesk_sla_policy_types_policy_id_helpdesk_sla_policies'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['type_id'], ['helpdesk_ticket_types.id'], name=op.f('fk_helpdesk_sla_policy_types_type_id_helpdesk_ticket_types'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('policy_id', 'type_id', name=op.f('pk_helpdesk_sla_policy_types'))
    )
    op.create_table('helpdesk_ticket_pauses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['helpdesk_tickets.id'], name=op.f('fk_helpdesk_ticket_pauses_ticket_id_helpdesk_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_helpdesk_ticket_pauses'))
    )
    with op.batch_alter_table('helpdesk_ticket_pauses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_helpdesk_ticket_pauses_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('helpdesk_ticket_slas',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=False),
    sa.Column('target', sa.String(length=12), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('deadline', sa.DateTime(), nullable=True),
    sa.Column('status', sa.String(length=8), server_default=sa.text("'ongoing'"), nullable=False),
    sa.Column('reached_at', sa.DateTime(), nullable=True),
    sa.Column('escalated_at', sa.DateTime(), nullable=True),
    sa.Column('failure_notified_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("status in ('ongoing', 'reached', 'failed')", name=op.f('ck_helpdesk_ticket_slas_status')),
    sa.CheckConstraint("target in ('first_reply', 'next_reply', 'resolution')", name=op.f('ck_helpdesk_ticket_slas_target')),
    sa.ForeignKeyConstraint(['policy_id'], ['helpdesk_sla_policies.id'], name=op.f('fk_helpdesk_ticket_slas_policy_id_helpdesk_sla_policies'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['helpdesk_tickets.id'], name=op.f('fk_helpdesk_ticket_slas_ticket_id_helpdesk_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_helpdesk_ticket_slas')),
    sa.UniqueConstraint('ticket_id', 'policy_id', 'target', name='uq_helpdesk_ticket_slas_ticket_policy_target')
    )
    with op.batch_alter_table('helpdesk_ticket_slas', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_helpdesk_ticket_slas_policy_id'), ['policy_id'], unique=False)
        batch_op.create_index('ix_helpdesk_ticket_slas_status_deadline', ['status', 'deadline'], unique=False)

    op.create_table('helpdesk_timesheets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('minutes > 0 and minutes <= 14400', name=op.f('ck_helpdesk_timesheets_minutes')),
    sa.ForeignKeyConstraint(['ticket_id'], ['helpdesk_tickets.id'], name=op.f('fk_helpdesk_timesheets_ticket_id_helpdesk_tickets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_helpdesk_timesheets_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_helpdesk_timesheets'))
    )
    with op.batch_alter_table('helpdesk_timesheets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_helpdesk_timesheets_ticket_id'), ['ticket_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_helpdesk_timesheets_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('helpdesk_teams', schema=None) as batch_op:
        batch_op.add_column(sa.Column('calendar_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('daily_target', sa.Integer(), server_default=sa.text('5'), nullable=False))
        batch_op.create_foreign_key(batch_op.f('fk_helpdesk_teams_calendar_id_helpdesk_calendars'), 'helpdesk_calendars', ['calendar_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('helpdesk_tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_reply_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('sla_deadline', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('sla_failed', sa.Boolean(), server_default=sa.text('(false)'), nullable=False))
        batch_op.create_index('ix_helpdesk_tickets_open_order', ['team_id', 'closed_at', 'priority', 'sla_deadline'], unique=False)



def downgrade():
    with op.batch_alter_table('helpdesk_tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_helpdesk_tickets_open_order')
        batch_op.drop_column('sla_failed')
        batch_op.drop_column('sla_deadline')
        batch_op.drop_column('first_reply_at')

    with op.batch_alter_table('helpdesk_teams', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_helpdesk_teams_calendar_id_helpdesk_calendars'), type_='foreignkey')
        batch_op.drop_column('daily_target')
        batch_op.drop_column('calendar_id')

    with op.batch_alter_table('helpdesk_timesheets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_helpdesk_timesheets_user_id'))
        batch_op.drop_index(batch_op.f('ix_helpdesk_timesheets_ticket_id'))

    op.drop_table('helpdesk_timesheets')
    with op.batch_alter_table('helpdesk_ticket_slas', schema=None) as batch_op:
        batch_op.drop_index('ix_helpdesk_ticket_slas_status_deadline')
        batch_op.drop_index(batch_op.f('ix_helpdesk_ticket_slas_policy_id'))

    op.drop_table('helpdesk_ticket_slas')
    with op.batch_alter_table('helpdesk_ticket_pauses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_helpdesk_ticket_pauses_ticket_id'))

    op.drop_table('helpdesk_ticket_pauses')
    op.drop_table('helpdesk_sla_policy_types')
    op.drop_table('helpdesk_sla_policy_tags')
    with op.batch_alter_table('helpdesk_sla_policies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_helpdesk_sla_policies_team_id'))

    op.drop_table('helpdesk_sla_policies')
    with op.batch_alter_table('helpdesk_canned_responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_helpdesk_canned_responses_team_id'))

    op.drop_table('helpdesk_canned_responses')
    op.drop_table('helpdesk_calendars')
