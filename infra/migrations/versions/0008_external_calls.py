"""external calls: every call to an external system, for lookup by order, case, patient,
system, time and outcome

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:00:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        'external_calls',
        sa.Column('id', Id, autoincrement=True, nullable=False),
        sa.Column('at', Time, nullable=False),
        sa.Column('system', sa.String(length=32), nullable=False),
        sa.Column('operation', sa.String(length=200), nullable=False),
        sa.Column('function', sa.String(length=64), nullable=True),
        sa.Column('correlation_id', sa.String(length=128), nullable=True),
        sa.Column('order_id', sa.String(length=32), nullable=True),
        sa.Column('case_id', sa.String(length=32), nullable=True),
        sa.Column('user_id', Id, nullable=True),
        sa.Column('latency_ms', sa.Integer(), nullable=True),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('http_status', sa.Integer(), nullable=True),
        sa.Column('error_code', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_external_calls')),
    )
    op.create_index('ix_external_calls_at', 'external_calls', ['at'])
    op.create_index('ix_external_calls_order_at', 'external_calls', ['order_id', 'at'])
    op.create_index('ix_external_calls_case_at', 'external_calls', ['case_id', 'at'])
    op.create_index('ix_external_calls_user_at', 'external_calls', ['user_id', 'at'])
    op.create_index('ix_external_calls_system_at', 'external_calls', ['system', 'at'])
    op.create_index('ix_external_calls_outcome_at', 'external_calls', ['outcome', 'at'])
    op.create_index('ix_external_calls_correlation_id', 'external_calls', ['correlation_id'])


def downgrade() -> None:
    op.drop_table('external_calls')
