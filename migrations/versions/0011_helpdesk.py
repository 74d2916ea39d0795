"""Helpdesk: teams, members, stages, ticket types, tags and tickets; aliases that open a team's tickets

Revision ID: 0011
Revises: 0010

"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('helpdesk_stages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('is_closing', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('is_folded', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('pauses_sla', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('mail_subject', sa.String(length=200), nullable=False),
    sa.Column('mail_body', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_helpdesk_stages'))
    )
    op.create_table('helpdesk_tags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('color', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_helpdesk_tags')),
    sa.UniqueConstraint('name', name=op.f('uq_helpdesk_tags_name'))
    )
    op.create_table('helpdesk_teams',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('slug', sa.String(length=80), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('assignment', sa.String(length=10), nullable=False),
    sa.Column('use_email', sa.Boolean(), server_default=sa.text('(true)'), nullable=False),
    sa.Column('use_website_form', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('use_livechat', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('use_sla', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('use_ratings', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('customers_may_close', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('(true)'), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("assignment in ('manual', 'random', 'balanced')", name=op.f('ck_helpdesk_teams_assignment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_helpdesk_teams')),
    sa.UniqueConstraint('name', name=op.f('uq_helpdesk_teams_name')),
    sa.UniqueConstraint('slug', name=op.f('uq_helpdesk_teams_slug'))
    )
    op.create_table('helpdesk_ticket_types',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_helpdesk_ticket_types')),
    sa.UniqueConstraint('name', name=op.f('uq_helpdesk_ticket_types_name'))
    )
    op.create_table('helpdesk_stage_teams',
    sa.Column('stage_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['stage_id'], ['helpdesk_stages.id'], name=op.f('fk_helpdesk_stage_teams_stage_id_helpdesk_stages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['helpdesk_teams.id'], name=op.f('fk_helpdesk_stage_teams_team_id_helpdesk_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('stage_id', 'team_id', name=op.f('pk_helpdesk_stage_teams'))
    )
    with op.batch_alter_table('helpdesk_stage_teams', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_helpdesk_stage_teams_team_id'), ['team_id'], unique=False)

    op.create_table('helpdesk_team_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('is_lead', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['helpdesk_teams.id'], name=op.f('fk_helpdesk_team_members_team_id_helpdesk_teams'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_helpdesk_team_members_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_helpdesk_team_members')),
    sa.UniqueConstraint('team_id', 'user_id', name='uq_helpdesk_team_members_team_user')
    )
    with op.batch_alter_table('helpdesk_team_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_helpdesk_team_members_user_id'), ['user_id'], unique=False)

    op.create_table('helpdesk_tickets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('stage_id', sa.Integer(), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('type_id', sa.Integer(), nullable=True),
    sa.Column('priority', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('stage_changed_at', sa.DateTime(), nullable=False),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('priority between 0 and 3', name=op.f('ck_helpdesk_tickets_priority')),
    sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], name=op.f('fk_helpdesk_tickets_assignee_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['customer_id'], ['contacts.id'], name=op.f('fk_helpdesk_tickets_customer_id_contacts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['stage_id'], ['helpdesk_stages.id'], name=op.f('fk_helpdesk_tickets_stage_id_helpdesk_stages'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['team_id'], ['helpdesk_teams.id'], name=op.f('fk_helpdesk_tickets_team_id_helpdesk_teams'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['type_id'], ['helpdesk_ticket_types.id'], name=op.f('fk_helpdesk_tickets_type_id_helpdesk_ticket_types'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_helpdesk_tickets'))
    )
    with op.batch_alter_table('helpdesk_tickets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_helpdesk_tickets_assignee_id'), ['assignee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_helpdesk_tickets_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_helpdesk_tickets_stage_id'), ['stage_id'], unique=False)
        batch_op.create_index('ix_helpdesk_tickets_team_stage', ['team_id', 'stage_id'], unique=False)

    op.create_table('helpdesk_ticket_tags',
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tag_id'], ['helpdesk_tags.id'], name=op.f('fk_helpdesk_ticket_tags_tag_id_helpdesk_tags'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['helpdesk_tickets.id'], name=op.f('fk_helpdesk_ticket_tags_ticket_id_helpdesk_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('ticket_id', 'tag_id', name=op.f('pk_helpdesk_ticket_tags'))
    )
    with op.batch_alter_table('helpdesk_ticket_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_helpdesk_ticket_tags_tag_id'), ['tag_id'], unique=False)

    with op.batch_alter_table('mail_aliases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('team_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_mail_aliases_team_id_helpdesk_teams'), 'helpdesk_teams', ['team_id'], ['id'], ondelete='SET NULL')



def downgrade():
    with op.batch_alter_table('mail_aliases', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_mail_aliases_team_id_helpdesk_teams'), type_='foreignkey')
        batch_op.drop_column('team_id')

    with op.batch_alter_table('helpdesk_ticket_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_helpdesk_ticket_tags_tag_id'))

    op.drop_table('helpdesk_ticket_tags')
    with op.batch_alter_table('helpdesk_tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_helpdesk_tickets_team_stage')
        batch_op.drop_index(batch_op.f('ix_helpdesk_tickets_stage_id'))
        batch_op.drop_index(batch_op.f('ix_helpdesk_tickets_customer_id'))
        batch_op.drop_index(batch_op.f('ix_helpdesk_tickets_assignee_id'))

    op.drop_table('helpdesk_tickets')
    with op.batch_alter_table('helpdesk_team_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_helpdesk_team_members_user_id'))

    op.drop_table('helpdesk_team_members')
    with op.batch_alter_table('helpdesk_stage_teams', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_helpdesk_stage_teams_team_id'))

    op.drop_table('helpdesk_stage_teams')
    op.drop_table('helpdesk_ticket_types')
    op.drop_table('helpdesk_teams')
    op.drop_table('helpdesk_tags')
    op.drop_table('helpdesk_stages')
