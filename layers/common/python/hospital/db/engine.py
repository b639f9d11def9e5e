"""One engine per container, created on first use (never at import time).

Lambda runs one request at a time per container, so the pool keeps one connection by
default (DB_POOL_SIZE raises it for the in-process local runtime). A connection that sat
idle longer than DB_PING_AFTER seconds (a container frozen between invocations) is pinged
before use and replaced if the server closed it; a busy one is not pinged on every
checkout, which would add a round trip to each transaction. Connect and read timeouts stay
below the function timeout so a stuck database fails the call, not the container.
"""
from __future__ import annotations

import contextlib
import hashlib
import select
import threading
import time

from hospital import config, settings

_engine = None
_lock = threading.Lock()


def _create():
    import sqlalchemy as sa

    url = sa.engine.make_url(config.database_url())
    pool_size = settings.DB_POOL_SIZE.get()
    if url.get_backend_name() == "sqlite":
        eng = sa.create_engine(
            url,
            connect_args={"timeout": 15, "check_same_thread": False},
            pool_pre_ping=True,
            hide_parameters=True,
        )

        @sa.event.listens_for(eng, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # WAL lets readers run beside the writer
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=15000")
            cur.close()
            # MySQL's SHA2, which the audit log's chain computes its links with (hospital.audit).
            dbapi_conn.create_function("sha2", 2, _sha2, deterministic=True)

        @sa.event.listens_for(eng, "begin")
        def _sqlite_begin(conn):  # take the write lock up front, so two writers queue, not fail
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        # Let SQLAlchemy's "begin" event own BEGIN (pysqlite's own handling would defer it).
        @sa.event.listens_for(eng, "connect", insert=True)
        def _sqlite_autocommit(dbapi_conn, _record):
            dbapi_conn.isolation_level = None

        return eng
    eng = sa.create_engine(
        url,
        pool_size=pool_size,
        # No overflow on Lambda: code that opened a second connection while holding the
        # first would wait forever here, and a test with a pool of one proves none does.
        max_overflow=0 if pool_size == 1 else pool_size,
        pool_recycle=280,
        # Bound values (openids, encrypted blobs) stay out of exception texts and so out of logs.
        hide_parameters=True,
        connect_args={
            "connect_timeout": settings.DB_CONNECT_TIMEOUT.get(),
            "read_timeout": settings.DB_READ_TIMEOUT.get(),
            "write_timeout": settings.DB_READ_TIMEOUT.get(),
            "charset": "utf8mb4",
        },
        isolation_level="READ COMMITTED",
        # The pool's own reset would send a ROLLBACK on every return, a round trip after each
        # COMMIT; _rollback_if_open does it only for a connection still inside a transaction.
        pool_reset_on_return=None,
    )
    _ping_when_idle(eng, settings.DB_PING_AFTER.get())
    sa.event.listen(eng, "reset", _rollback_if_open)
    return eng


def _sha2(text: str | None, bits: int) -> str | None:
    """SHA2(text, 256) as MySQL answers it: the hex digest of the text's UTF-8 bytes."""
    if text is None or bits != 256:
        return None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


SERVER_STATUS_IN_TRANS = 1  # MySQL protocol: the status flag of an open transaction


def _rollback_if_open(dbapi_conn, _record, state) -> None:
    """Roll back a connection returned inside a transaction (the server says so in the status
    of its last answer, which PyMySQL keeps): nothing a caller left half done reaches the next."""
    if state.terminate_only:
        return
    if getattr(dbapi_conn, "server_status", SERVER_STATUS_IN_TRANS) & SERVER_STATUS_IN_TRANS:
        dbapi_conn.rollback()


def _ping_when_idle(eng, idle_seconds: int) -> None:
    import sqlalchemy as sa

    @sa.event.listens_for(eng, "checkin")
    def _checked_in(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(eng, "checkout")
    def _checked_out(dbapi_conn, record, _proxy):
        # Raising DisconnectionError makes the pool replace the connection with a fresh one
        # before any statement ran on it: nothing to repeat, nothing half done.
        if _closed_by_server(dbapi_conn):
            raise sa.exc.DisconnectionError("the server closed this pooled connection")
        if time.monotonic() - record.info.get("idle_since", time.monotonic()) < idle_seconds:
            return
        try:
            dbapi_conn.ping(reconnect=False)
        except Exception as exc:
            raise sa.exc.DisconnectionError(f"stale connection: {exc!r}") from exc


def _closed_by_server(dbapi_conn) -> bool:
    """An idle MySQL connection has nothing to read: if its socket is readable, the server
    closed it (KILL, wait_timeout, a restart) or left a last error packet. One poll of the
    socket, no round trip, so it runs on every checkout; a server that vanished without
    closing is found by the idle ping or by the read timeout instead."""
    sock = getattr(dbapi_conn, "_sock", None)
    if sock is None:
        return not getattr(dbapi_conn, "open", True)
    try:
        fileno = sock.fileno()
    except OSError:
        return True
    if fileno < 0:
        return True
    poller = select.poll()  # not select.select: it fails on descriptors above 1023
    poller.register(fileno, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


# MySQL/MariaDB errors that mean "not now" rather than "wrong SQL": no connection (2002, 2003,
# 2006, 2013, 2055), too many connections (1040), the server going away or killing us (1053,
# 1927, 4031), and contention (1205 lock wait timeout, 1213 deadlock).
_MYSQL_TRY_LATER = frozenset({2002, 2003, 2006, 2013, 2055, 1040, 1053, 1927, 4031, 1205, 1213})
# SQLite's equivalents are told apart by their message only.
_SQLITE_TRY_LATER = ("unable to open database file", "database is locked", "disk i/o error")


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database could not be reached, lost the connection or is too
    busy right now (the caller should try again later), rather than a fault in our own SQL
    (a missing column is an OperationalError too, and must stay a 500 that someone looks at)."""
    import sqlalchemy.exc as e

    if isinstance(exc, (e.TimeoutError, e.DisconnectionError)) or getattr(exc, "connection_invalidated", False):
        return True
    if not isinstance(exc, e.DBAPIError):
        return False
    cause = exc.orig
    args = getattr(cause, "args", None)
    code = args[0] if args else None
    if isinstance(code, int):
        return code in _MYSQL_TRY_LATER
    return any(text in str(cause).lower() for text in _SQLITE_TRY_LATER)


def describe_unavailable(exc: BaseException) -> dict:
    """What the log says of it: the driver's error class and its own message (no SQL, no values)."""
    cause = getattr(exc, "orig", None) or exc
    return {"error": type(cause).__name__, "cause": str(cause)[:200]}


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
