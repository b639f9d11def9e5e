"""Database access: SQLAlchemy Core over PyMySQL (SQLite for the embedded local run)."""
from hospital.db.engine import engine, transaction, reset_engine  # noqa: F401
