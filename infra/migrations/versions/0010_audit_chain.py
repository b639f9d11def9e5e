"""audit chain: each audit entry chained to the one before by a hash, the chain's head in a
one-row table, and the audit log append-only (triggers refuse UPDATE and DELETE)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 10:00:00
"""
import datetime as dt
import hashlib
import json

from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
GENESIS = "0" * 64
BATCH = 1000


# The chain's v1 hashing, written out here, not imported from the layer (hospital.audit_chain):
# a migration must not change when the layer does later.
def _content_hash(row) -> str:
    at = row.at if isinstance(row.at, dt.datetime) else dt.datetime.fromisoformat(row.at)
    details = row.details
    if isinstance(details, str):
        details = json.loads(details)
    fields = ["v1", at.isoformat(timespec="microseconds"), row.actor_user_id, row.actor_roles, row.action,
              row.target_type, row.target_id, row.result, details or {}, row.correlation_id]
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _link(previous: str, content: str) -> str:
    return hashlib.sha256((previous + content).encode("ascii")).hexdigest()


def upgrade() -> None:
    op.create_table(
        'audit_chain_head',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('seq', Id, nullable=False),
        sa.Column('prev_hash', sa.String(length=64), nullable=False),
        sa.Column('head_hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain_head')),
    )
    with op.batch_alter_table('audit_log') as batch_op:
        batch_op.add_column(sa.Column('seq', Id, nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('entry_hash', sa.String(length=64), nullable=True))

    # The entries written so far are chained in the order they were written (their ids).
    bind = op.get_bind()
    log = sa.table('audit_log', *(sa.column(name) for name in (
        'id', 'actor_user_id', 'actor_roles', 'action', 'target_type', 'target_id', 'result',
        'correlation_id', 'seq', 'prev_hash', 'entry_hash')),
        sa.column('at', sa.DateTime()), sa.column('details', sa.JSON()))
    seq, head, prev, last_id = 0, GENESIS, GENESIS, 0
    while True:
        rows = bind.execute(sa.select(log).where(log.c.id > last_id).order_by(log.c.id).limit(BATCH)).all()
        if not rows:
            break
        for row in rows:
            seq, prev = seq + 1, head
            head = _link(prev, _content_hash(row))
            bind.execute(log.update().where(log.c.id == row.id).values(seq=seq, prev_hash=prev, entry_hash=head))
        last_id = rows[-1].id
    op.bulk_insert(sa.table('audit_chain_head', sa.column('id'), sa.column('seq'), sa.column('prev_hash'),
                            sa.column('head_hash')),
                   [{'id': 1, 'seq': seq, 'prev_hash': prev, 'head_hash': head}])

    with op.batch_alter_table('audit_log') as batch_op:
        batch_op.alter_column('seq', existing_type=Id, nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('entry_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index('ix_audit_log_seq', ['seq'], unique=True)
        batch_op.create_index('ix_audit_log_action', ['action'], unique=False)
        batch_op.create_index('ix_audit_log_target', ['target_type', 'target_id'], unique=False)
        batch_op.create_index('ix_audit_log_at', ['at'], unique=False)

    # The audit log is append-only, as the ledger: the database itself refuses changes, whoever asks.
    if bind.dialect.name in ("mysql", "mariadb"):
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_log_no_{action.lower()} BEFORE {action} ON audit_log "
                       f"FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit entries are immutable'")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_log_no_{action.lower()} BEFORE {action} ON audit_log "
                       f"BEGIN SELECT RAISE(ABORT, 'audit entries are immutable'); END")


def downgrade() -> None:
    for action in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_log_no_{action}")
    with op.batch_alter_table('audit_log') as batch_op:
        batch_op.drop_index('ix_audit_log_at')
        batch_op.drop_index('ix_audit_log_target')
        batch_op.drop_index('ix_audit_log_action')
        batch_op.drop_index('ix_audit_log_seq')
        batch_op.drop_column('entry_hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('seq')
    op.drop_table('audit_chain_head')
