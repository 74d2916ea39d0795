"""Customers (SPEC §6): website form fields, FAQ articles and ratings of a team; a team's side
text and reopen-on-reply switch; a ticket's extra data from its form

Revision ID: 0014
Revises: 0013
"""
from alembic import op
import sqlalchemy as sa

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('helpdesk_faq_articles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('published', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['helpdesk_teams.id'], name=op.f('fk_helpdesk_faq_articles_team_id_helpdesk_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_helpdesk_faq_articles'))
    )
    with op.batch_alter_table('helpdesk_faq_articles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_helpdesk_faq_articles_team_id'), ['team_id'], unique=False)

    op.create_table('helpdesk_form_fields',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('label', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('placeholder', sa.String(length=120), nullable=False),
    sa.Column('help_text', sa.String(length=300), nullable=False),
    sa.Column('default', sa.String(length=200), nullable=False),
    sa.Column('choices', sa.Text(), nullable=False),
    sa.Column('required', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('visible', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('target', sa.String(length=20), server_default=sa.text("'extra'"), nullable=False),
    sa.CheckConstraint("kind in ('text', 'email', 'phone', 'url', 'select')", name=op.f('ck_helpdesk_form_fields_kind')),
    sa.CheckConstraint("target in ('extra', 'priority', 'type', 'tags', 'customer_phone', 'customer_company')", name=op.f('ck_helpdesk_form_fields_target')),
    sa.ForeignKeyConstraint(['team_id'], ['helpdesk_teams.id'], name=op.f('fk_helpdesk_form_fields_team_id_helpdesk_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_helpdesk_form_fields')),
    sa.UniqueConstraint('team_id', 'key', name='uq_helpdesk_form_fields_team_key')
    )
    with op.batch_alter_table('helpdesk_form_fields', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_helpdesk_form_fields_team_id'), ['team_id'], unique=False)

    op.create_table('helpdesk_ratings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('value', sa.String(length=12), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("value in ('satisfied', 'okay', 'dissatisfied')", name=op.f('ck_helpdesk_ratings_value')),
    sa.ForeignKeyConstraint(['agent_id'], ['users.id'], name=op.f('fk_helpdesk_ratings_agent_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_helpdesk_ratings_contact_id_contacts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['team_id'], ['helpdesk_teams.id'], name=op.f('fk_helpdesk_ratings_team_id_helpdesk_teams'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['helpdesk_tickets.id'], name=op.f('fk_helpdesk_ratings_ticket_id_helpdesk_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_helpdesk_ratings')),
    sa.UniqueConstraint('ticket_id', name=op.f('uq_helpdesk_ratings_ticket_id'))
    )
    with op.batch_alter_table('helpdesk_ratings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_helpdesk_ratings_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_helpdesk_ratings_team_id'), ['team_id'], unique=False)

    with op.batch_alter_table('helpdesk_teams', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reopen_on_reply', sa.Boolean(), server_default=sa.text('true'), nullable=False))
        batch_op.add_column(sa.Column('form_side_text', sa.Text(), server_default=sa.text("''"), nullable=False))

    with op.batch_alter_table('helpdesk_tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('extra_data', sa.JSON(), server_default=sa.text("'{}'"), nullable=False))



def downgrade():
    with op.batch_alter_table('helpdesk_tickets', schema=None) as batch_op:
        batch_op.drop_column('extra_data')

    with op.batch_alter_table('helpdesk_teams', schema=None) as batch_op:
        batch_op.drop_column('form_side_text')
        batch_op.drop_column('reopen_on_reply')

    with op.batch_alter_table('helpdesk_ratings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_helpdesk_ratings_team_id'))
        batch_op.drop_index(batch_op.f('ix_helpdesk_ratings_agent_id'))

    op.drop_table('helpdesk_ratings')
    with op.batch_alter_table('helpdesk_form_fields', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_helpdesk_form_fields_team_id'))

    op.drop_table('helpdesk_form_fields')
    with op.batch_alter_table('helpdesk_faq_articles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_helpdesk_faq_articles_team_id'))

    op.drop_table('helpdesk_faq_articles')
