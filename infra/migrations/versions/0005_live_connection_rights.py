"""live connections end with the session they were opened in

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 14:00:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

Time = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    with op.batch_alter_table('live_connections') as batch:
        batch.add_column(sa.Column('expires_at', Time, nullable=True))
        batch.add_column(sa.Column('session_id', sa.String(length=32), nullable=True))
        batch.create_index('ix_live_connections_session_id', ['session_id'])
        batch.create_index('ix_live_connections_user', ['user_id'])


def downgrade() -> None:
    with op.batch_alter_table('live_connections') as batch:
        batch.drop_index('ix_live_connections_user')
        batch.drop_index('ix_live_connections_session_id')
        batch.drop_column('session_id')
        batch.drop_column('expires_at')
