"""Which database errors mean "try again later" (503 with Retry-After) and which are faults
in our own SQL that must stay a 500 someone looks at (NF2). No database needed."""
import sqlite3

import pymysql
import pytest
import sqlalchemy.exc as e

from hospital.db.engine import is_unavailable


def wrapped(error: Exception) -> e.DBAPIError:
    return e.OperationalError("SELECT 1", {}, error)


@pytest.mark.parametrize("error", [
    pymysql.err.OperationalError(2003, "Can't connect to MySQL server on '127.0.0.1'"),
    pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query"),
    pymysql.err.OperationalError(1040, "Too many connections"),
    pymysql.err.OperationalError(1205, "Lock wait timeout exceeded"),
    pymysql.err.OperationalError(1927, "Connection was killed"),
    sqlite3.OperationalError("unable to open database file"),
    sqlite3.OperationalError("database is locked"),
])
def test_an_unreachable_or_busy_database_is_unavailable(error):
    assert is_unavailable(wrapped(error))


@pytest.mark.parametrize("error", [
    pymysql.err.OperationalError(1054, "Unknown column 'nope' in 'field list'"),
    sqlite3.OperationalError("no such column: nope"),
    sqlite3.OperationalError('near "selec": syntax error'),
])
def test_a_fault_in_our_own_sql_is_not_unavailability(error):
    assert not is_unavailable(wrapped(error))


def test_pool_exhaustion_and_lost_connections_are_unavailable_and_other_errors_are_not():
    assert is_unavailable(e.TimeoutError("QueuePool limit reached"))
    assert is_unavailable(e.DisconnectionError("stale"))
    assert not is_unavailable(ValueError("a bug"))
    assert not is_unavailable(e.IntegrityError("INSERT", {}, pymysql.err.IntegrityError(1062, "Duplicate entry")))
