"""reconciliation: a lease per day, runs with their inputs' hashes, findings for finance, and
the trades carried over midnight

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:00:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def Exact(length: int):
    return sa.String(length).with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"), "mysql", "mariadb")


def upgrade() -> None:
    op.create_index('ix_payment_orders_paid_at', 'payment_orders', ['paid_at'])
    op.create_index('ix_payment_orders_his_confirmed_at', 'payment_orders', ['his_confirmed_at'])
    op.create_index('ix_payment_refunds_created_at', 'payment_refunds', ['created_at'])
    op.create_table(
        'reconciliation_days',
        sa.Column('bill_date', sa.Date(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('lease_token', sa.String(length=32), nullable=True),
        sa.Column('lease_until', Time, nullable=True),
        sa.Column('last_run_id', Id, nullable=True),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('next_try_at', Time, nullable=True),
        sa.Column('updated_at', Time, nullable=False),
        sa.PrimaryKeyConstraint('bill_date', name='pk_reconciliation_days'),
    )
    op.create_index('ix_reconciliation_days_status_next', 'reconciliation_days', ['status', 'next_try_at'])
    op.create_table(
        'reconciliation_runs',
        sa.Column('id', Id, autoincrement=True, nullable=False),
        sa.Column('bill_date', sa.Date(), nullable=False),
        sa.Column('trigger', sa.String(length=16), nullable=False),
        sa.Column('requested_by', Id, nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('inputs', sa.JSON(), nullable=True),
        sa.Column('counts', sa.JSON(), nullable=True),
        sa.Column('error', sa.String(length=300), nullable=True),
        sa.Column('started_at', Time, nullable=False),
        sa.Column('finished_at', Time, nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_reconciliation_runs'),
    )
    op.create_index('ix_reconciliation_runs_date', 'reconciliation_runs', ['bill_date', 'id'])
    op.create_table(
        'reconciliation_findings',
        sa.Column('id', Id, autoincrement=True, nullable=False),
        sa.Column('bill_date', sa.Date(), nullable=False),
        sa.Column('fingerprint', Exact(160), nullable=False),
        sa.Column('run_id', Id, nullable=False),
        sa.Column('kind', sa.String(length=24), nullable=False),
        sa.Column('source', sa.String(length=24), nullable=False),
        sa.Column('trade', sa.String(length=8), nullable=False),
        sa.Column('trade_key', Exact(64), nullable=False),
        sa.Column('order_id', sa.String(length=64), nullable=True),
        sa.Column('ours_fen', sa.BigInteger(), nullable=True),
        sa.Column('theirs_fen', sa.BigInteger(), nullable=True),
        sa.Column('detail', sa.String(length=300), server_default='', nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('resolved_at', Time, nullable=True),
        sa.Column('resolved_by', Id, nullable=True),
        sa.Column('resolution', sa.String(length=500), nullable=True),
        sa.Column('created_at', Time, nullable=False),
        sa.Column('updated_at', Time, nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_reconciliation_findings'),
        sa.UniqueConstraint('bill_date', 'fingerprint', name='uq_reconciliation_findings_bill_date_fingerprint'),
    )
    op.create_index('ix_reconciliation_findings_date_kind', 'reconciliation_findings',
                    ['bill_date', 'kind', 'status'])
    op.create_table(
        'reconciliation_carry_overs',
        sa.Column('into_date', sa.Date(), nullable=False),
        sa.Column('source', sa.String(length=24), nullable=False),
        sa.Column('trade_key', Exact(64), nullable=False),
        sa.Column('direction', sa.String(length=8), nullable=False),
        sa.Column('from_date', sa.Date(), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('order_id', sa.String(length=64), nullable=False),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('mchid', sa.String(length=32), server_default='', nullable=False),
        sa.Column('appid', sa.String(length=64), server_default='', nullable=False),
        sa.Column('run_id', Id, nullable=False),
        sa.PrimaryKeyConstraint('into_date', 'source', 'trade_key', name='pk_reconciliation_carry_overs'),
    )


def downgrade() -> None:
    op.drop_table('reconciliation_carry_overs')
    op.drop_index('ix_reconciliation_findings_date_kind', table_name='reconciliation_findings')
    op.drop_table('reconciliation_findings')
    op.drop_index('ix_reconciliation_runs_date', table_name='reconciliation_runs')
    op.drop_table('reconciliation_runs')
    op.drop_index('ix_reconciliation_days_status_next', table_name='reconciliation_days')
    op.drop_table('reconciliation_days')
    op.drop_index('ix_payment_refunds_created_at', table_name='payment_refunds')
    op.drop_index('ix_payment_orders_his_confirmed_at', table_name='payment_orders')
    op.drop_index('ix_payment_orders_paid_at', table_name='payment_orders')
