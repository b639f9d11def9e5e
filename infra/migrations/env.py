"""Alembic environment: migrations are the only way the schema changes.

The URL comes from the Alembic config (set by infra.migrate) or DATABASE_URL.
"""
from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool

from hospital.db.tables import metadata

config = context.config


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or os.environ["DATABASE_URL"]


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        # render_as_batch lets ALTERs work on SQLite (used by the embedded local run).
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
