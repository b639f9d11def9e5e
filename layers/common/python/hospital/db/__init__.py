"""Database access: SQLAlchemy Core over PyMySQL (SQLite for the embedded local run)."""
from hospital.db.engine import engine, is_unavailable, reset_engine, transaction

__all__ = ["engine", "is_unavailable", "reset_engine", "transaction"]
