"""outpatient registration: cards found by the HIS archive, registrations and their steps, what
the HIS answered when confirming a payment, suspensions by time slot and the HIS feed's cursor

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 22:00:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
Blob = sa.LargeBinary().with_variant(mysql.BLOB(), "mysql", "mariadb")


def Exact(length: int):
    return sa.String(length).with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"), "mysql", "mariadb")


def upgrade() -> None:
    with op.batch_alter_table('payment_orders') as batch:
        batch.add_column(sa.Column('his_confirmation', sa.JSON(), nullable=True))
    with op.batch_alter_table('patient_cards') as batch:
        batch.add_column(sa.Column('bound_card_hash', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('name_enc', Blob, nullable=True))
        batch.add_column(sa.Column('id_no_enc', Blob, nullable=True))
        batch.add_column(sa.Column('id_no_hash', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('phone_enc', Blob, nullable=True))
        batch.create_unique_constraint('uq_patient_cards_bound_card_hash', ['bound_card_hash'])
        batch.create_index('ix_patient_cards_id_no_hash', ['id_no_hash'])
    # Cards bound before this revision are bound: each holds its number until unbound.
    op.execute("UPDATE patient_cards SET bound_card_hash = card_no_hash WHERE unbound_at IS NULL")

    op.create_table(
        'registrations',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('user_id', Id, nullable=False),
        sa.Column('card_id', sa.String(length=32), nullable=False),
        sa.Column('his_patient_id', sa.String(length=64), nullable=False),
        sa.Column('slot_id', Exact(64), nullable=False),
        sa.Column('dept_code', sa.String(length=32), nullable=False),
        sa.Column('dept_name', sa.String(length=64), nullable=False),
        sa.Column('doctor_code', Exact(32), nullable=False),
        sa.Column('doctor_name', sa.String(length=64), nullable=False),
        sa.Column('visit_date', sa.Date(), nullable=False),
        sa.Column('start_time', sa.String(length=5), nullable=False),
        sa.Column('end_time', sa.String(length=5), nullable=False),
        sa.Column('fee_fen', sa.BigInteger(), nullable=False),
        sa.Column('hold_id', Exact(64), nullable=True),
        sa.Column('hold_expires_at', Time, nullable=True),
        sa.Column('order_id', sa.String(length=32), nullable=True),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('reg_no', sa.String(length=64), nullable=True),
        sa.Column('visit_no', sa.Integer(), nullable=True),
        sa.Column('failure', sa.String(length=200), nullable=True),
        sa.Column('cancel_source', sa.String(length=16), nullable=True),
        sa.Column('cancel_reason', sa.String(length=200), nullable=True),
        sa.Column('refund_id', sa.String(length=32), nullable=True),
        sa.Column('created_at', Time, nullable=False),
        sa.Column('updated_at', Time, nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_registrations_user_id_users')),
        sa.ForeignKeyConstraint(['card_id'], ['patient_cards.id'], name=op.f('fk_registrations_card_id_patient_cards')),
        sa.ForeignKeyConstraint(['order_id'], ['payment_orders.id'],
                                name=op.f('fk_registrations_order_id_payment_orders')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_registrations')),
        sa.UniqueConstraint('hold_id', name=op.f('uq_registrations_hold_id')),
        sa.UniqueConstraint('order_id', name=op.f('uq_registrations_order_id')),
    )
    op.create_index('ix_registrations_user_id', 'registrations', ['user_id'])
    op.create_index('ix_registrations_status', 'registrations', ['status', 'updated_at'])
    op.create_index('ix_registrations_doctor_day', 'registrations', ['doctor_code', 'visit_date'])
    op.create_index('ix_registrations_card_doctor_day', 'registrations', ['card_id', 'doctor_code', 'visit_date'])

    op.create_table(
        'registration_steps',
        sa.Column('id', Id, autoincrement=True, nullable=False),
        sa.Column('registration_id', sa.String(length=32), nullable=False),
        sa.Column('step', sa.String(length=32), nullable=False),
        sa.Column('at', Time, nullable=False),
        sa.Column('actor_user_id', Id, nullable=True),
        sa.Column('details', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'],
                                name=op.f('fk_registration_steps_registration_id_registrations')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_steps')),
    )
    op.create_index('ix_registration_steps_registration_id', 'registration_steps', ['registration_id'])

    op.create_table(
        'suspensions',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('dedupe_key', Exact(160), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('his_suspension_id', Exact(64), nullable=True),
        sa.Column('doctor_code', Exact(32), nullable=False),
        sa.Column('visit_date', sa.Date(), nullable=False),
        sa.Column('slot_ids', sa.JSON(), nullable=False),
        sa.Column('reason', sa.String(length=100), nullable=False),
        sa.Column('created_by', Id, nullable=True),
        sa.Column('found', sa.Integer(), nullable=True),
        sa.Column('created_at', Time, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_suspensions')),
        sa.UniqueConstraint('dedupe_key', name=op.f('uq_suspensions_dedupe_key')),
    )
    op.create_index('ix_suspensions_doctor_day', 'suspensions', ['doctor_code', 'visit_date'])
    op.create_table(
        'suspension_items',
        sa.Column('suspension_id', sa.String(length=32), nullable=False),
        sa.Column('registration_id', sa.String(length=32), nullable=False),
        sa.Column('notice', sa.String(length=16), nullable=True),
        sa.Column('notice_claimed_at', Time, nullable=True),
        sa.Column('notice_detail', sa.JSON(), nullable=True),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('error', sa.String(length=200), nullable=True),
        sa.Column('updated_at', Time, nullable=False),
        sa.ForeignKeyConstraint(['suspension_id'], ['suspensions.id'],
                                name=op.f('fk_suspension_items_suspension_id_suspensions')),
        sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'],
                                name=op.f('fk_suspension_items_registration_id_registrations')),
        sa.PrimaryKeyConstraint('suspension_id', 'registration_id', name=op.f('pk_suspension_items')),
    )
    op.create_table(
        'his_feed_cursors',
        sa.Column('feed', sa.String(length=32), nullable=False),
        sa.Column('cursor', sa.String(length=200), nullable=False),
        sa.Column('updated_at', Time, nullable=False),
        sa.PrimaryKeyConstraint('feed', name=op.f('pk_his_feed_cursors')),
    )


def downgrade() -> None:
    op.drop_table('his_feed_cursors')
    op.drop_table('suspension_items')
    op.drop_index('ix_suspensions_doctor_day', table_name='suspensions')
    op.drop_table('suspensions')
    op.drop_index('ix_registration_steps_registration_id', table_name='registration_steps')
    op.drop_table('registration_steps')
    op.drop_index('ix_registrations_card_doctor_day', table_name='registrations')
    op.drop_index('ix_registrations_doctor_day', table_name='registrations')
    op.drop_index('ix_registrations_status', table_name='registrations')
    op.drop_index('ix_registrations_user_id', table_name='registrations')
    op.drop_table('registrations')
    with op.batch_alter_table('patient_cards') as batch:
        batch.drop_index('ix_patient_cards_id_no_hash')
        batch.drop_constraint('uq_patient_cards_bound_card_hash', type_='unique')
        batch.drop_column('phone_enc')
        batch.drop_column('id_no_hash')
        batch.drop_column('id_no_enc')
        batch.drop_column('name_enc')
        batch.drop_column('bound_card_hash')
    with op.batch_alter_table('payment_orders') as batch:
        batch.drop_column('his_confirmation')
