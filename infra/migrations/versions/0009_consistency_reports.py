"""consistency reports: each run of the consistency checks, with the rows that broke them; the
abnormal orders looked up by order and by refund

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 10:00:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        'consistency_reports',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('requested_by', Id, nullable=True),
        sa.Column('started_at', Time, nullable=False),
        sa.Column('finished_at', Time, nullable=False),
        sa.Column('broken', sa.Integer(), nullable=False),
        sa.Column('findings', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_consistency_reports')),
    )
    op.create_index('ix_consistency_reports_started_at', 'consistency_reports', ['started_at'])
    # The watchdog asks, for each stuck order or refund, whether an open entry names it already.
    op.create_index('ix_payment_anomalies_order_id', 'payment_anomalies', ['order_id'])
    op.create_index('ix_payment_anomalies_out_refund_no', 'payment_anomalies', ['out_refund_no'])


def downgrade() -> None:
    op.drop_index('ix_payment_anomalies_out_refund_no', table_name='payment_anomalies')
    op.drop_index('ix_payment_anomalies_order_id', table_name='payment_anomalies')
    op.drop_index('ix_consistency_reports_started_at', table_name='consistency_reports')
    op.drop_table('consistency_reports')
