"""credit care: enrolments and debts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:20:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table('credit_enrolments',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', Id, nullable=False),
    sa.Column('active_user_id', Id, nullable=True),
    sa.Column('provider_enrolment_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('limit_fen', sa.BigInteger(), nullable=False),
    sa.Column('consent_id', Id, nullable=False),
    sa.Column('created_at', Time, nullable=False),
    sa.Column('updated_at', Time, nullable=False),
    sa.Column('withdrawn_at', Time, nullable=True),
    sa.ForeignKeyConstraint(['consent_id'], ['consents.id'], name=op.f('fk_credit_enrolments_consent_id_consents')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_credit_enrolments_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_enrolments')),
    sa.UniqueConstraint('active_user_id', name=op.f('uq_credit_enrolments_active_user_id'))
    )
    op.create_index(op.f('ix_credit_enrolments_user_id'), 'credit_enrolments', ['user_id'], unique=False)
    op.create_table('credit_debts',
    sa.Column('order_id', sa.String(length=32), nullable=False),
    sa.Column('enrolment_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', Id, nullable=False),
    sa.Column('charge_id', sa.String(length=64), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('reversed_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('settled_by', sa.String(length=16), nullable=True),
    sa.Column('settled_at', Time, nullable=True),
    sa.Column('created_at', Time, nullable=False),
    sa.Column('updated_at', Time, nullable=False),
    sa.ForeignKeyConstraint(['enrolment_id'], ['credit_enrolments.id'], name=op.f('fk_credit_debts_enrolment_id_credit_enrolments')),
    sa.ForeignKeyConstraint(['order_id'], ['payment_orders.id'], name=op.f('fk_credit_debts_order_id_payment_orders')),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_credit_debts'))
    )
    op.create_index(op.f('ix_credit_debts_enrolment_id'), 'credit_debts', ['enrolment_id'], unique=False)
    op.create_index(op.f('ix_credit_debts_user_id'), 'credit_debts', ['user_id'], unique=False)
    op.create_index('ix_credit_debts_status', 'credit_debts', ['status', 'updated_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_credit_debts_status', table_name='credit_debts')
    op.drop_index(op.f('ix_credit_debts_user_id'), table_name='credit_debts')
    op.drop_index(op.f('ix_credit_debts_enrolment_id'), table_name='credit_debts')
    op.drop_table('credit_debts')
    op.drop_index(op.f('ix_credit_enrolments_user_id'), table_name='credit_enrolments')
    op.drop_table('credit_enrolments')
