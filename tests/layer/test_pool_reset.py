"""A pooled MySQL connection goes back to the pool without the pool's ROLLBACK after a
transaction that ended (a round trip saved on every request), and is rolled back when it
comes back inside one, so nothing left half done (and no lock) reaches the next user."""
import pymysql
import sqlalchemy as sa

from hospital.db import engine, tables, transaction


def test_a_committed_connection_returns_without_a_rollback(mysql_db, monkeypatch):
    with transaction() as conn:  # the engine's first connection (its dialect set-up rolls back once)
        conn.execute(sa.select(1))
    rollbacks = []
    original = pymysql.connections.Connection.rollback
    monkeypatch.setattr(pymysql.connections.Connection, "rollback",
                        lambda self: rollbacks.append(self) or original(self))
    for _ in range(3):
        with transaction() as conn:
            conn.execute(sa.select(sa.func.count()).select_from(tables.outbox))
    assert rollbacks == []


def test_a_connection_returned_inside_a_transaction_is_rolled_back_and_its_locks_freed(mysql_db):
    with transaction() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS pool_reset_probe (id INT PRIMARY KEY, v INT)"))
        conn.execute(sa.text("DELETE FROM pool_reset_probe"))
        conn.execute(sa.text("INSERT INTO pool_reset_probe VALUES (1, 0)"))
    raw = engine().raw_connection()  # below SQLAlchemy's Connection, which would roll back itself
    cursor = raw.cursor()
    cursor.execute("UPDATE pool_reset_probe SET v = 1 WHERE id = 1")  # an open transaction, a row lock
    cursor.close()
    raw.close()  # back to the pool still inside it
    with transaction() as conn:
        conn.execute(sa.text("SET SESSION innodb_lock_wait_timeout = 2"))
        conn.execute(sa.text("UPDATE pool_reset_probe SET v = v + 10 WHERE id = 1"))  # waits if the lock is held
        assert conn.execute(sa.text("SELECT v FROM pool_reset_probe WHERE id = 1")).scalar_one() == 10
        conn.execute(sa.text("SET SESSION innodb_lock_wait_timeout = DEFAULT"))
    with transaction() as conn:
        conn.execute(sa.text("DROP TABLE pool_reset_probe"))
