"""Helpdesk: indexes in the board's order (team, stage, priority descending, deadline, id) and the
list's (a team's open tickets by priority descending, deadline, newest: a partial index), so the first page of a 10,000-ticket
team is read from an index instead of sorting the team

Revision ID: 0013
Revises: 0012
"""
from alembic import op
import sqlalchemy as sa

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_helpdesk_tickets_open_order', table_name='helpdesk_tickets')
    op.create_index('ix_helpdesk_tickets_open_order', 'helpdesk_tickets',
                    ['team_id', sa.text('priority DESC'), 'sla_deadline', sa.text('id DESC')], unique=False,
                    postgresql_where=sa.text('closed_at IS NULL'), sqlite_where=sa.text('closed_at IS NULL'))
    op.create_index('ix_helpdesk_tickets_board', 'helpdesk_tickets',
                    ['team_id', 'stage_id', sa.text('priority DESC'), 'sla_deadline', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_helpdesk_tickets_board', table_name='helpdesk_tickets')
    op.drop_index('ix_helpdesk_tickets_open_order', table_name='helpdesk_tickets')
    op.create_index('ix_helpdesk_tickets_open_order', 'helpdesk_tickets',
                    ['team_id', 'closed_at', 'priority', 'sla_deadline'], unique=False)
