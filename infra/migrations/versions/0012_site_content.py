"""site content: pages, notices and menus of the WeChat site, each item with its reviewed versions;
the permissions to edit and publish it, given to the built-in roles that keep the site

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 10:00:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
LongText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
# Written out, not imported from the layer (hospital.auth.permissions.SEEDED): a migration must
# not change when the layer does later.
GRANTS = {"it_admin": ["content.edit", "content.publish"], "super_admin": ["content.edit", "content.publish"]}


def upgrade() -> None:
    op.create_table(
        'content_items',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('slug', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('latest_version', sa.Integer(), nullable=False),
        sa.Column('published_version', sa.Integer(), nullable=True),
        sa.Column('published_at', Time, nullable=True),
        sa.Column('published_by', Id, nullable=True),
        sa.Column('created_at', Time, nullable=False),
        sa.Column('created_by', Id, nullable=False),
        sa.Column('updated_at', Time, nullable=False),
        sa.Column('updated_by', Id, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_content_items')),
        sa.UniqueConstraint('kind', 'slug', name='uq_content_items_kind_slug'),
    )
    op.create_index('ix_content_items_status_kind', 'content_items', ['status', 'kind'])
    op.create_table(
        'content_versions',
        sa.Column('id', Id, autoincrement=True, nullable=False),
        sa.Column('item_id', sa.String(length=32), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=100), nullable=False),
        sa.Column('body_html', LongText, nullable=True),
        sa.Column('menu', sa.JSON(), nullable=True),
        sa.Column('pinned', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('shown_from', Time, nullable=True),
        sa.Column('shown_until', Time, nullable=True),
        sa.Column('restored_from', sa.Integer(), nullable=True),
        sa.Column('author_id', Id, nullable=False),
        sa.Column('created_at', Time, nullable=False),
        sa.Column('state', sa.String(length=12), nullable=False),
        sa.Column('submitted_at', Time, nullable=True),
        sa.Column('submitted_by', Id, nullable=True),
        sa.Column('reviewed_at', Time, nullable=True),
        sa.Column('reviewed_by', Id, nullable=True),
        sa.Column('review_note', sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(['item_id'], ['content_items.id'],
                                name=op.f('fk_content_versions_item_id_content_items')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_content_versions')),
        sa.UniqueConstraint('item_id', 'version', name='uq_content_versions_item_id_version'),
    )


    role_permissions = sa.table('role_permissions', sa.column('role', sa.String), sa.column('permission', sa.String))
    op.bulk_insert(role_permissions, [{"role": role, "permission": permission}
                                      for role, permissions in GRANTS.items() for permission in permissions])


def downgrade() -> None:
    op.execute("DELETE FROM role_permissions WHERE permission IN ('content.edit', 'content.publish')")
    op.drop_table('content_versions')
    op.drop_index('ix_content_items_status_kind', table_name='content_items')
    op.drop_table('content_items')
