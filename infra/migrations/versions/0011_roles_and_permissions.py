"""roles and permissions: roles as sets of named permissions, seeded with the built-in roles
(the authorisation matrix the routes had as fixed role lists); a role held by a user may be
limited to a department; suspensions remember their department

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 09:00:00
"""
import datetime as dt

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

# The built-in roles as of this revision, written out, not imported from the layer
# (hospital.auth.permissions.SEEDED): a migration must not change when the layer does later.
SEEDED = {
    "patient": ("Patient", ["session.self", "rescue.call", "outpatient.book", "payments.pay"]),
    "staff": ("Ambulance crew", ["session.self", "rescue.crew", "staff.duty"]),
    "dispatcher": ("Dispatcher (120)", ["session.self", "rescue.dispatch", "rescue.console"]),
    "ed_nurse": ("Emergency department nurse", ["session.self", "rescue.console", "staff.duty", "rescue.records"]),
    "finance": ("Finance", ["session.self", "payments.read", "payments.manage", "reconciliation.read",
                            "reconciliation.manage", "consistency.check"]),
    "it_admin": ("IT administration", ["session.self", "rescue.records", "consistency.check", "logs.read",
                                       "audit.read"]),
    "super_admin": ("Super admin", ["session.self", "rescue.records", "payments.read", "payments.manage",
                                    "reconciliation.read", "reconciliation.manage", "consistency.check",
                                    "logs.read", "audit.read", "outpatient.schedule", "access.manage",
                                    "access.grant_any"]),
}


def upgrade() -> None:
    roles = op.create_table('roles',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('builtin', sa.Boolean(), nullable=False),
    sa.Column('created_at', Time, nullable=False),
    sa.Column('updated_at', Time, nullable=False),
    sa.Column('updated_by', Id, nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_roles'))
    )
    role_permissions = op.create_table('role_permissions',
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('permission', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['role'], ['roles.name'], name=op.f('fk_role_permissions_role_roles')),
    sa.PrimaryKeyConstraint('role', 'permission', name=op.f('pk_role_permissions'))
    )
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    op.bulk_insert(roles, [dict(name=name, label=label, builtin=True, created_at=now, updated_at=now)
                           for name, (label, _) in SEEDED.items()])
    op.bulk_insert(role_permissions, [dict(role=name, permission=permission)
                                      for name, (_, permissions) in SEEDED.items() for permission in permissions])
    with op.batch_alter_table('user_roles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('department', sa.String(length=32), nullable=True))
        batch_op.create_index('ix_user_roles_role', ['role'], unique=False)
        batch_op.create_foreign_key(op.f('fk_user_roles_role_roles'), 'roles', ['role'], ['name'])
    with op.batch_alter_table('suspensions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dept_code', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('suspensions', schema=None) as batch_op:
        batch_op.drop_column('dept_code')
    with op.batch_alter_table('user_roles', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_user_roles_role_roles'), type_='foreignkey')
        batch_op.drop_index('ix_user_roles_role')
        batch_op.drop_column('department')
    op.drop_table('role_permissions')
    op.drop_table('roles')
