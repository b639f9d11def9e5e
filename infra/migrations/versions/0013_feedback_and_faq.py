"""usage guidance: feedback tickets and their events, FAQ entries and their search terms; the
front desk role, and the permissions of tickets and the FAQ given to the built-in roles

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 10:00:00
"""
import datetime as dt

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
Blob = sa.LargeBinary().with_variant(mysql.BLOB(), "mysql", "mariadb")


# Written out, not imported from the layer (hospital.auth.permissions.SEEDED): a migration must
# not change when the layer does later.
FRONT_DESK = ("front_desk", "Front desk")
GRANTS = {
    "front_desk": ["session.self", "feedback.file", "feedback.follow", "faq.read", "faq.edit"],
    "staff": ["faq.read"],
    "dispatcher": ["faq.read"],
    "ed_nurse": ["faq.read"],
    "finance": ["faq.read", "faq.edit"],
    "it_admin": ["feedback.follow", "feedback.work", "faq.read"],
    "super_admin": ["feedback.file", "feedback.follow", "feedback.work", "faq.read", "faq.edit"],
}


def Exact(length: int):
    return sa.String(length).with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        'feedback_tickets',
        sa.Column('id', Id, autoincrement=True, nullable=False),
        sa.Column('request_id', Exact(32), nullable=False),
        sa.Column('category', sa.String(length=24), nullable=False),
        sa.Column('text_enc', Blob, nullable=False),
        sa.Column('ref_type', sa.String(length=16), nullable=True),
        sa.Column('ref_id', sa.String(length=32), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('filed_by', Id, nullable=False),
        sa.Column('assignee_user_id', Id, nullable=True),
        sa.Column('created_at', Time, nullable=False),
        sa.Column('updated_at', Time, nullable=False),
        sa.ForeignKeyConstraint(['filed_by'], ['users.id'], name=op.f('fk_feedback_tickets_filed_by_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback_tickets')),
        sa.UniqueConstraint('request_id', name=op.f('uq_feedback_tickets_request_id')),
    )
    op.create_index('ix_feedback_tickets_filed_by', 'feedback_tickets', ['filed_by', 'id'])
    op.create_index('ix_feedback_tickets_status', 'feedback_tickets', ['status', 'id'])
    op.create_index('ix_feedback_tickets_assignee', 'feedback_tickets', ['assignee_user_id', 'id'])
    op.create_table(
        'feedback_ticket_events',
        sa.Column('id', Id, autoincrement=True, nullable=False),
        sa.Column('ticket_id', Id, nullable=False),
        sa.Column('at', Time, nullable=False),
        sa.Column('actor_user_id', Id, nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('from_status', sa.String(length=16), nullable=True),
        sa.Column('to_status', sa.String(length=16), nullable=True),
        sa.Column('assignee_user_id', Id, nullable=True),
        sa.Column('note_enc', Blob, nullable=True),
        sa.ForeignKeyConstraint(['ticket_id'], ['feedback_tickets.id'],
                                name=op.f('fk_feedback_ticket_events_ticket_id_feedback_tickets')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback_ticket_events')),
    )
    op.create_index('ix_feedback_ticket_events_ticket', 'feedback_ticket_events', ['ticket_id', 'id'])
    op.create_table(
        'faq_entries',
        sa.Column('id', Id, autoincrement=True, nullable=False),
        sa.Column('question', sa.String(length=200), nullable=False),
        sa.Column('answer', sa.Text(), nullable=False),
        sa.Column('category', sa.String(length=24), nullable=False),
        sa.Column('tags', sa.JSON(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_by', Id, nullable=False),
        sa.Column('created_at', Time, nullable=False),
        sa.Column('updated_by', Id, nullable=False),
        sa.Column('updated_at', Time, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_faq_entries')),
    )
    op.create_table(
        'faq_terms',
        sa.Column('entry_id', Id, nullable=False),
        sa.Column('term', Exact(32), nullable=False),
        sa.Column('weight', sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(['entry_id'], ['faq_entries.id'], name=op.f('fk_faq_terms_entry_id_faq_entries')),
        sa.PrimaryKeyConstraint('entry_id', 'term', name=op.f('pk_faq_terms')),
    )
    op.create_index('ix_faq_terms_term', 'faq_terms', ['term', 'entry_id', 'weight'])
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    roles = sa.table('roles', sa.column('name', sa.String), sa.column('label', sa.String),
                     sa.column('builtin', sa.Boolean), sa.column('created_at', Time), sa.column('updated_at', Time))
    op.bulk_insert(roles, [dict(name=FRONT_DESK[0], label=FRONT_DESK[1], builtin=True, created_at=now, updated_at=now)])
    role_permissions = sa.table('role_permissions', sa.column('role', sa.String), sa.column('permission', sa.String))
    op.bulk_insert(role_permissions, [{"role": role, "permission": permission}
                                      for role, permissions in GRANTS.items() for permission in permissions])


def downgrade() -> None:
    op.execute("DELETE FROM role_permissions WHERE role = 'front_desk' OR permission IN "
               "('feedback.file', 'feedback.follow', 'feedback.work', 'faq.read', 'faq.edit')")
    op.execute("DELETE FROM user_roles WHERE role = 'front_desk'")
    op.execute("DELETE FROM roles WHERE name = 'front_desk'")
    # Their indexes go with the tables (MySQL refuses to drop one alone that backs a foreign key).
    for table in ('faq_terms', 'faq_entries', 'feedback_ticket_events', 'feedback_tickets'):
        op.drop_table(table)
