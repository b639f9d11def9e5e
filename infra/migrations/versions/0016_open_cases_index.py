"""the ED consoles' list of open rescue cases, read every few seconds: by status, oldest first

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 12:00:00
"""
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_rescue_cases_status_created", "rescue_cases", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_rescue_cases_status_created", table_name="rescue_cases")
