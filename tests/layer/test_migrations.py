"""Alembic migrations are the only way the schema changes, and they match the code's tables."""
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hospital.db import engine
from hospital.db.tables import metadata


def test_migrated_schema_matches_the_table_definitions(db):
    with engine().connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_migrations_run_down_and_up_again(tmp_path):
    from infra import migrate

    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrate.upgrade(url)
    from alembic import command

    command.downgrade(migrate.alembic_config(url), "base")
    eng = sa.create_engine(url)
    assert set(sa.inspect(eng).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(url)
    assert "rescue_cases" in sa.inspect(eng).get_table_names()
    eng.dispose()
