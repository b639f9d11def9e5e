"""One engine per container, created on first use (never at import time).

Lambda runs one request at a time per container, so the pool keeps one connection by
default (DB_POOL_SIZE raises it for the in-process local runtime). Pre-ping replaces a
connection the server closed while the container was frozen; connect and read timeouts
stay below the function timeout so a stuck database fails the call, not the container.
"""
from __future__ import annotations

import contextlib
import threading

from hospital import config

_engine = None
_lock = threading.Lock()


def _create():
    import sqlalchemy as sa

    url = sa.engine.make_url(config.database_url())
    pool_size = config.env_int("DB_POOL_SIZE", 1)
    if url.get_backend_name() == "sqlite":
        eng = sa.create_engine(
            url,
            connect_args={"timeout": 15, "check_same_thread": False},
            pool_pre_ping=True,
        )

        @sa.event.listens_for(eng, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # WAL lets readers run beside the writer
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=15000")
            cur.close()

        @sa.event.listens_for(eng, "begin")
        def _sqlite_begin(conn):  # take the write lock up front, so two writers queue, not fail
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        # Let SQLAlchemy's "begin" event own BEGIN (pysqlite's own handling would defer it).
        @sa.event.listens_for(eng, "connect", insert=True)
        def _sqlite_autocommit(dbapi_conn, _record):
            dbapi_conn.isolation_level = None

        return eng
    return sa.create_engine(
        url,
        pool_size=pool_size,
        # No overflow on Lambda: code that opened a second connection while holding the
        # first would wait forever here, and a test with a pool of one proves none does.
        max_overflow=0 if pool_size == 1 else pool_size,
        pool_pre_ping=True,
        pool_recycle=280,
        connect_args={
            "connect_timeout": config.env_int("DB_CONNECT_TIMEOUT", 3),
            "read_timeout": config.env_int("DB_READ_TIMEOUT", 7),
            "write_timeout": config.env_int("DB_READ_TIMEOUT", 7),
            "charset": "utf8mb4",
        },
        isolation_level="READ COMMITTED",
    )


def engine():
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                _engine = _create()
    return _engine


@contextlib.contextmanager
def transaction():
    """A connection inside one transaction: commit on success, roll back on any error."""
    with engine().begin() as conn:
        yield conn


def reset_engine() -> None:
    """Drop the pool (tests switch databases; also used after a fork)."""
    global _engine
    with _lock:
        if _engine is not None:
            _engine.dispose()
        _engine = None
