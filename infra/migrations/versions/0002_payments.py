"""payments: orders, refunds, ledger, anomalies

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 10:30:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def Exact(length: int):
    return sa.String(length).with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table('payment_orders',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', Id, nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('his_ref', Exact(64), nullable=False),
    sa.Column('his_patient_id', sa.String(length=64), nullable=False),
    sa.Column('description', sa.String(length=128), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('open_his_ref', Exact(64), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('mchid', sa.String(length=32), nullable=True),
    sa.Column('appid', sa.String(length=64), nullable=True),
    sa.Column('api_version', sa.String(length=4), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('prepay_id', sa.String(length=64), nullable=True),
    sa.Column('expires_at', Time, nullable=False),
    sa.Column('transaction_id', sa.String(length=64), nullable=True),
    sa.Column('paid_at', Time, nullable=True),
    sa.Column('paid_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('refunded_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('his_confirmed_at', Time, nullable=True),
    sa.Column('his_attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('his_error', sa.String(length=200), nullable=True),
    sa.Column('closed_reason', sa.String(length=32), nullable=True),
    sa.Column('checked_at', Time, nullable=True),
    sa.Column('created_at', Time, nullable=False),
    sa.Column('updated_at', Time, nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_payment_orders_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_orders')),
    sa.UniqueConstraint('kind', 'open_his_ref', name=op.f('uq_payment_orders_kind_open_his_ref'))
    )
    op.create_index('ix_payment_orders_user_created', 'payment_orders', ['user_id', 'created_at'], unique=False)
    op.create_index('ix_payment_orders_status_updated', 'payment_orders', ['status', 'updated_at'], unique=False)
    op.create_table('payment_refunds',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('order_id', sa.String(length=32), nullable=False),
    sa.Column('out_refund_no', Exact(64), nullable=False),
    sa.Column('route', sa.String(length=16), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=48), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('provider_refund_id', sa.String(length=64), nullable=True),
    sa.Column('requested_by', Id, nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('created_at', Time, nullable=False),
    sa.Column('updated_at', Time, nullable=False),
    sa.Column('finished_at', Time, nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['payment_orders.id'], name=op.f('fk_payment_refunds_order_id_payment_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_refunds')),
    sa.UniqueConstraint('out_refund_no', name=op.f('uq_payment_refunds_out_refund_no'))
    )
    op.create_index(op.f('ix_payment_refunds_order_id'), 'payment_refunds', ['order_id'], unique=False)
    op.create_index('ix_payment_refunds_status_updated', 'payment_refunds', ['status', 'updated_at'], unique=False)
    op.create_table('ledger_entries',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('order_id', sa.String(length=32), nullable=False),
    sa.Column('refund_id', sa.String(length=32), nullable=True),
    sa.Column('entry_type', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=24), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('provider_ref', sa.String(length=64), nullable=True),
    sa.Column('dedupe_key', Exact(128), nullable=False),
    sa.Column('occurred_at', Time, nullable=False),
    sa.Column('created_at', Time, nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['payment_orders.id'], name=op.f('fk_ledger_entries_order_id_payment_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entries')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_ledger_entries_dedupe_key'))
    )
    op.create_index(op.f('ix_ledger_entries_order_id'), 'ledger_entries', ['order_id'], unique=False)
    op.create_table('payment_anomalies',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=True),
    sa.Column('out_refund_no', sa.String(length=64), nullable=True),
    sa.Column('provider_ref', sa.String(length=64), nullable=True),
    sa.Column('amount_fen', sa.BigInteger(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.Column('dedupe_key', Exact(160), nullable=False),
    sa.Column('created_at', Time, nullable=False),
    sa.Column('resolved_at', Time, nullable=True),
    sa.Column('resolved_by', Id, nullable=True),
    sa.Column('resolution', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_anomalies')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_payment_anomalies_dedupe_key'))
    )
    op.create_index('ix_payment_anomalies_open', 'payment_anomalies', ['resolved_at', 'created_at'], unique=False)
    # The ledger is append-only: the database itself refuses changes, whoever asks.
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER ledger_entries_no_{action.lower()} BEFORE {action} ON ledger_entries "
                       f"FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ledger entries are immutable'")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER ledger_entries_no_{action.lower()} BEFORE {action} ON ledger_entries "
                       f"BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END")


def downgrade() -> None:
    for action in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS ledger_entries_no_{action}")
    op.drop_index('ix_payment_anomalies_open', table_name='payment_anomalies')
    op.drop_table('payment_anomalies')
    op.drop_index(op.f('ix_ledger_entries_order_id'), table_name='ledger_entries')
    op.drop_table('ledger_entries')
    op.drop_index('ix_payment_refunds_status_updated', table_name='payment_refunds')
    op.drop_index(op.f('ix_payment_refunds_order_id'), table_name='payment_refunds')
    op.drop_table('payment_refunds')
    op.drop_index('ix_payment_orders_status_updated', table_name='payment_orders')
    op.drop_index('ix_payment_orders_user_created', table_name='payment_orders')
    op.drop_table('payment_orders')
