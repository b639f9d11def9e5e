"""links to the hospital's other systems: the patient's permission to use them

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 12:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    role_permissions = sa.table('role_permissions', sa.column('role', sa.String), sa.column('permission', sa.String))
    op.bulk_insert(role_permissions, [{"role": "patient", "permission": "links.own"}])


def downgrade() -> None:
    op.execute("DELETE FROM role_permissions WHERE permission = 'links.own'")
