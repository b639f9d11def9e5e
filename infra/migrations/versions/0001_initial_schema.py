"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-26 06:57:37.281926
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

# Written out here, not imported from the layer: a migration must not change when the
# layer's table definitions do later.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
Blob = sa.LargeBinary().with_variant(sa.BLOB(), "mysql", "mariadb")


def Exact(length: int):
    """Byte-for-byte comparison on MySQL (its default collations fold case)."""
    return sa.String(length).with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('at', Time, nullable=False),
    sa.Column('actor_user_id', Id, nullable=True),
    sa.Column('actor_roles', sa.String(length=200), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target_type', sa.String(length=64), nullable=True),
    sa.Column('target_id', sa.String(length=64), nullable=True),
    sa.Column('result', sa.String(length=16), nullable=False),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.Column('correlation_id', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_actor_at', ['actor_user_id', 'at'], unique=False)

    op.create_table('outbox',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('destination', sa.String(length=64), nullable=False),
    sa.Column('message_type', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('correlation_id', sa.String(length=128), nullable=True),
    sa.Column('created_at', Time, nullable=False),
    sa.Column('sent_at', Time, nullable=True),
    sa.Column('claimed_until', Time, nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_pending', ['sent_at', 'created_at'], unique=False)

    op.create_table('users',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('status', sa.String(length=16), server_default='active', nullable=False),
    sa.Column('created_at', Time, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users'))
    )
    op.create_table('wechat_access_tokens',
    sa.Column('app_id', sa.String(length=64), nullable=False),
    sa.Column('token_enc', Blob, nullable=True),
    sa.Column('expires_at', Time, nullable=True),
    sa.Column('lease_until', Time, nullable=True),
    sa.Column('updated_at', Time, nullable=False),
    sa.PrimaryKeyConstraint('app_id', name=op.f('pk_wechat_access_tokens'))
    )
    op.create_table('patient_cards',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', Id, nullable=False),
    sa.Column('his_patient_id', sa.String(length=64), nullable=False),
    sa.Column('card_no_enc', Blob, nullable=False),
    sa.Column('card_no_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', Time, nullable=False),
    sa.Column('unbound_at', Time, nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_patient_cards_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_cards')),
    sa.UniqueConstraint('user_id', 'card_no_hash', name=op.f('uq_patient_cards_user_id_card_no_hash'))
    )
    with op.batch_alter_table('patient_cards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_cards_user_id'), ['user_id'], unique=False)

    op.create_table('refresh_tokens',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('user_id', Id, nullable=False),
    sa.Column('family_id', sa.String(length=32), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('app_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', Time, nullable=False),
    sa.Column('expires_at', Time, nullable=False),
    sa.Column('used_at', Time, nullable=True),
    sa.Column('revoked_at', Time, nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_refresh_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refresh_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_refresh_tokens_token_hash'))
    )
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refresh_tokens_family_id'), ['family_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refresh_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('rescue_persons',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('owner_user_id', Id, nullable=False),
    sa.Column('name_enc', Blob, nullable=False),
    sa.Column('phone_enc', Blob, nullable=True),
    sa.Column('phone_hash', sa.String(length=64), nullable=True),
    sa.Column('relation', sa.String(length=32), nullable=True),
    sa.Column('notes_enc', Blob, nullable=True),
    sa.Column('created_at', Time, nullable=False),
    sa.Column('updated_at', Time, nullable=False),
    sa.Column('deleted_at', Time, nullable=True),
    sa.ForeignKeyConstraint(['owner_user_id'], ['users.id'], name=op.f('fk_rescue_persons_owner_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rescue_persons'))
    )
    with op.batch_alter_table('rescue_persons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rescue_persons_owner_user_id'), ['owner_user_id'], unique=False)

    op.create_table('user_roles',
    sa.Column('user_id', Id, nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('granted_at', Time, nullable=False),
    sa.Column('granted_by', Id, nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_roles_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', 'role', name=op.f('pk_user_roles'))
    )
    op.create_table('wechat_identities',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('app_id', sa.String(length=64), nullable=False),
    sa.Column('openid', Exact(128), nullable=False),
    sa.Column('unionid_hash', sa.String(length=64), nullable=True),
    sa.Column('user_id', Id, nullable=False),
    sa.Column('created_at', Time, nullable=False),
    sa.Column('last_login_at', Time, nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_wechat_identities_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wechat_identities')),
    sa.UniqueConstraint('app_id', 'openid', name=op.f('uq_wechat_identities_app_id_openid'))
    )
    with op.batch_alter_table('wechat_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wechat_identities_unionid_hash'), ['unionid_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_wechat_identities_user_id'), ['user_id'], unique=False)

    op.create_table('rescue_cases',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('patient_user_id', Id, nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('card_id', sa.String(length=32), nullable=True),
    sa.Column('rescue_person_id', sa.String(length=32), nullable=True),
    sa.Column('location_enc', Blob, nullable=True),
    sa.Column('coord_system', sa.String(length=8), nullable=True),
    sa.Column('address_enc', Blob, nullable=True),
    sa.Column('complaint_enc', Blob, nullable=True),
    sa.Column('caller_phone_enc', Blob, nullable=True),
    sa.Column('intake_user_id', Id, nullable=True),
    sa.Column('legal_basis', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('idempotency_key', Exact(64), nullable=True),
    sa.Column('triage_status', sa.String(length=16), nullable=True),
    sa.Column('triage_version', sa.BigInteger(), nullable=True),
    sa.Column('triage_ref', sa.String(length=64), nullable=True),
    sa.Column('triage_attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('triage_error', sa.String(length=200), nullable=True),
    sa.Column('triage_updated_at', Time, nullable=True),
    sa.Column('created_at', Time, nullable=False),
    sa.Column('updated_at', Time, nullable=False),
    sa.ForeignKeyConstraint(['card_id'], ['patient_cards.id'], name=op.f('fk_rescue_cases_card_id_patient_cards')),
    sa.ForeignKeyConstraint(['patient_user_id'], ['users.id'], name=op.f('fk_rescue_cases_patient_user_id_users')),
    sa.ForeignKeyConstraint(['rescue_person_id'], ['rescue_persons.id'], name=op.f('fk_rescue_cases_rescue_person_id_rescue_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rescue_cases')),
    sa.UniqueConstraint('patient_user_id', 'idempotency_key', name=op.f('uq_rescue_cases_patient_user_id_idempotency_key'))
    )
    with op.batch_alter_table('rescue_cases', schema=None) as batch_op:
        batch_op.create_index('ix_rescue_cases_patient_created', ['patient_user_id', 'created_at'], unique=False)

    op.create_table('rescue_events',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('node', sa.String(length=32), nullable=False),
    sa.Column('occurred_at', Time, nullable=False),
    sa.Column('actor_user_id', Id, nullable=True),
    sa.Column('actor_role', sa.String(length=32), nullable=True),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.Column('dedupe_key', Exact(96), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['rescue_cases.id'], name=op.f('fk_rescue_events_case_id_rescue_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rescue_events')),
    sa.UniqueConstraint('case_id', 'dedupe_key', name=op.f('uq_rescue_events_case_id_dedupe_key'))
    )
    with op.batch_alter_table('rescue_events', schema=None) as batch_op:
        batch_op.create_index('ix_rescue_events_case_id', ['case_id', 'id'], unique=False)



    op.create_table('rescue_locations',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('location_enc', Blob, nullable=False),
    sa.Column('coord_system', sa.String(length=8), nullable=False),
    sa.Column('address_enc', Blob, nullable=True),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('reported_at', Time, nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['rescue_cases.id'], name=op.f('fk_rescue_locations_case_id_rescue_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rescue_locations'))
    )
    with op.batch_alter_table('rescue_locations', schema=None) as batch_op:
        batch_op.create_index('ix_rescue_locations_case_id', ['case_id', 'id'], unique=False)

    op.create_table('vehicles',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('plate', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('dropped_points', sa.Integer(), server_default='0', nullable=False),
    sa.Column('updated_at', Time, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vehicles')),
    sa.UniqueConstraint('plate', name=op.f('uq_vehicles_plate'))
    )
    op.create_table('dispatches',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('vehicle_id', sa.String(length=32), nullable=False),
    sa.Column('dispatcher_user_id', Id, nullable=False),
    sa.Column('created_at', Time, nullable=False),
    sa.Column('closed_at', Time, nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['rescue_cases.id'], name=op.f('fk_dispatches_case_id_rescue_cases')),
    sa.ForeignKeyConstraint(['vehicle_id'], ['vehicles.id'], name=op.f('fk_dispatches_vehicle_id_vehicles')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispatches'))
    )
    with op.batch_alter_table('dispatches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dispatches_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dispatches_vehicle_id'), ['vehicle_id'], unique=False)

    op.create_table('dispatch_crew',
    sa.Column('dispatch_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', Id, nullable=False),
    sa.ForeignKeyConstraint(['dispatch_id'], ['dispatches.id'], name=op.f('fk_dispatch_crew_dispatch_id_dispatches')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_dispatch_crew_user_id_users')),
    sa.PrimaryKeyConstraint('dispatch_id', 'user_id', name=op.f('pk_dispatch_crew'))
    )

    op.create_table('vehicle_positions',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('vehicle_id', sa.String(length=32), nullable=False),
    sa.Column('dispatch_id', sa.String(length=32), nullable=True),
    sa.Column('location_enc', Blob, nullable=False),
    sa.Column('reported_coord_system', sa.String(length=8), nullable=False),
    sa.Column('accuracy_m', sa.Float(), nullable=True),
    sa.Column('speed_mps', sa.Float(), nullable=True),
    sa.Column('heading', sa.Float(), nullable=True),
    sa.Column('device_time', Time, nullable=False),
    sa.Column('server_time', Time, nullable=False),
    sa.ForeignKeyConstraint(['dispatch_id'], ['dispatches.id'], name=op.f('fk_vehicle_positions_dispatch_id_dispatches')),
    sa.ForeignKeyConstraint(['vehicle_id'], ['vehicles.id'], name=op.f('fk_vehicle_positions_vehicle_id_vehicles')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vehicle_positions'))
    )
    with op.batch_alter_table('vehicle_positions', schema=None) as batch_op:
        batch_op.create_index('ix_vehicle_positions_vehicle_time', ['vehicle_id', 'device_time'], unique=False)

    op.create_table('guidance_sessions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('started_by', Id, nullable=False),
    sa.Column('started_at', Time, nullable=False),
    sa.Column('ended_by', Id, nullable=True),
    sa.Column('ended_at', Time, nullable=True),
    sa.Column('recording_ref', sa.String(length=256), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['rescue_cases.id'], name=op.f('fk_guidance_sessions_case_id_rescue_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guidance_sessions'))
    )
    with op.batch_alter_table('guidance_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guidance_sessions_case_id'), ['case_id'], unique=False)

    op.create_table('live_connections',
    sa.Column('connection_id', Exact(128), nullable=False),
    sa.Column('user_id', Id, nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=True),
    sa.Column('connected_at', Time, nullable=False),
    sa.PrimaryKeyConstraint('connection_id', name=op.f('pk_live_connections'))
    )
    with op.batch_alter_table('live_connections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_live_connections_channel'), ['channel'], unique=False)

    op.create_table('on_duty',
    sa.Column('user_id', Id, nullable=False),
    sa.Column('since', Time, nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_on_duty_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_on_duty'))
    )

    op.create_table('consents',
    sa.Column('id', Id, autoincrement=True, nullable=False),
    sa.Column('user_id', Id, nullable=False),
    sa.Column('kind', sa.String(length=48), nullable=False),
    sa.Column('granted_at', Time, nullable=False),
    sa.Column('granted_via', sa.String(length=64), nullable=False),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.Column('withdrawn_at', Time, nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_consents_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consents'))
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consents_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_table('consents')
    op.drop_table('on_duty')
    op.drop_table('live_connections')
    op.drop_table('guidance_sessions')
    op.drop_table('vehicle_positions')
    op.drop_table('dispatch_crew')
    op.drop_table('dispatches')
    op.drop_table('vehicles')
    op.drop_table('rescue_locations')
    with op.batch_alter_table('rescue_events', schema=None) as batch_op:
        batch_op.drop_index('ix_rescue_events_case_id')

    op.drop_table('rescue_events')
    with op.batch_alter_table('rescue_cases', schema=None) as batch_op:
        batch_op.drop_index('ix_rescue_cases_patient_created')

    op.drop_table('rescue_cases')
    with op.batch_alter_table('wechat_identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wechat_identities_user_id'))
        batch_op.drop_index(batch_op.f('ix_wechat_identities_unionid_hash'))

    op.drop_table('wechat_identities')
    op.drop_table('user_roles')
    with op.batch_alter_table('rescue_persons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rescue_persons_owner_user_id'))

    op.drop_table('rescue_persons')
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refresh_tokens_user_id'))
        batch_op.drop_index(batch_op.f('ix_refresh_tokens_family_id'))

    op.drop_table('refresh_tokens')
    with op.batch_alter_table('patient_cards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_cards_user_id'))

    op.drop_table('patient_cards')
    op.drop_table('wechat_access_tokens')
    op.drop_table('users')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_pending')

    op.drop_table('outbox')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_actor_at')

    op.drop_table('audit_log')
