"""medical-insurance mixed payment: the split on orders, the steps on refunds

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 10:30:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

Time = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
ORDER_COLUMNS = (("mix_trade_no", sa.String(length=64)), ("ins_pay_ord_id", sa.String(length=64)),
                 ("ins_fund_fen", sa.BigInteger()), ("ins_account_fen", sa.BigInteger()),
                 ("ins_other_fen", sa.BigInteger()), ("cash_fen", sa.BigInteger()))
REFUND_COLUMNS = (("cash_fen", sa.BigInteger()), ("insurance_fen", sa.BigInteger()), ("cash_done_at", Time),
                  ("insurance_done_at", Time), ("notified_at", Time))


def upgrade() -> None:
    with op.batch_alter_table('payment_orders') as batch:
        for name, kind in ORDER_COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))
    with op.batch_alter_table('payment_refunds') as batch:
        for name, kind in REFUND_COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('payment_refunds') as batch:
        for name, _ in reversed(REFUND_COLUMNS):
            batch.drop_column(name)
    with op.batch_alter_table('payment_orders') as batch:
        for name, _ in reversed(ORDER_COLUMNS):
            batch.drop_column(name)
