"""admin sign-in: back-office accounts (username, argon2id password, TOTP), their recovery
codes, the last activity of each back-office session, and how each session signed in

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 05:00:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
Blob = sa.LargeBinary().with_variant(mysql.BLOB(), "mysql", "mariadb")


def upgrade() -> None:
    with op.batch_alter_table('refresh_tokens') as batch_op:
        batch_op.add_column(sa.Column('auth_method', sa.String(length=32), nullable=True))
    op.create_table(
        'admin_accounts',
        sa.Column('user_id', Id, autoincrement=False, nullable=False),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('password_hash', sa.String(length=255), nullable=False),
        sa.Column('password_changed_at', Time, nullable=False),
        sa.Column('must_change_password', sa.Boolean(), nullable=False),
        sa.Column('totp_secret_enc', Blob, nullable=True),
        sa.Column('totp_confirmed_at', Time, nullable=True),
        sa.Column('last_totp_step', sa.BigInteger(), nullable=True),
        sa.Column('failed_attempts', sa.Integer(), nullable=False),
        sa.Column('locked_until', Time, nullable=True),
        sa.Column('challenge_id', sa.String(length=32), nullable=True),
        sa.Column('created_at', Time, nullable=False),
        sa.Column('created_by', Id, nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_admin_accounts_user_id_users')),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_admin_accounts')),
        sa.UniqueConstraint('username', name=op.f('uq_admin_accounts_username')),
    )
    op.create_table(
        'admin_recovery_codes',
        sa.Column('id', Id, autoincrement=True, nullable=False),
        sa.Column('user_id', Id, nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', Time, nullable=False),
        sa.Column('used_at', Time, nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_admin_recovery_codes_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_recovery_codes')),
        sa.UniqueConstraint('user_id', 'code_hash', name=op.f('uq_admin_recovery_codes_user_id_code_hash')),
    )
    op.create_table(
        'admin_session_activity',
        sa.Column('family_id', sa.String(length=32), nullable=False),
        sa.Column('user_id', Id, nullable=False),
        sa.Column('started_at', Time, nullable=False),
        sa.Column('last_seen_at', Time, nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_admin_session_activity_user_id_users')),
        sa.PrimaryKeyConstraint('family_id', name=op.f('pk_admin_session_activity')),
    )
    op.create_index('ix_admin_session_activity_user_id', 'admin_session_activity', ['user_id'])
    op.create_table(
        'admin_unknown_usernames',
        sa.Column('name_hash', sa.String(length=64), nullable=False),
        sa.Column('failed_attempts', sa.Integer(), nullable=False),
        sa.Column('locked_until', Time, nullable=True),
        sa.Column('updated_at', Time, nullable=False),
        sa.PrimaryKeyConstraint('name_hash', name=op.f('pk_admin_unknown_usernames')),
    )


def downgrade() -> None:
    op.drop_table('admin_unknown_usernames')
    op.drop_index('ix_admin_session_activity_user_id', table_name='admin_session_activity')
    op.drop_table('admin_session_activity')
    op.drop_table('admin_recovery_codes')
    op.drop_table('admin_accounts')
    with op.batch_alter_table('refresh_tokens') as batch_op:
        batch_op.drop_column('auth_method')
