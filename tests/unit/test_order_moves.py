"""An order's move that the caller expects to succeed raises when refused, instead of
returning a bool nobody reads (no silent refusals). Runs on an in-memory SQLite database
with the orders table alone: no server, no moto."""
import datetime as dt

import pytest
import sqlalchemy as sa

from hospital.db import tables
from hospital.payments import orders


@pytest.fixture
def conn():
    engine = sa.create_engine("sqlite://")
    tables.metadata.create_all(engine)
    now = dt.datetime(2026, 12, 1)
    with engine.begin() as connection:
        connection.execute(tables.users.insert().values(id=1, status="active", created_at=now))
        connection.execute(tables.payment_orders.insert().values(
            id="o" * 32, user_id=1, kind="registration", his_ref="B1", his_patient_id="P1", description="x",
            amount_fen=100, status=orders.CONFIRMED, expires_at=now, created_at=now, updated_at=now))
        yield connection


def test_a_move_the_caller_counted_on_raises_when_refused(conn):
    with pytest.raises(orders.TransitionRefused):
        orders.move(conn, "o" * 32, orders.PAYING)  # confirmed orders are never paying again


def test_a_move_that_may_lose_a_race_says_so(conn):
    assert orders.try_move(conn, "o" * 32, orders.PAYING) is False
    assert orders.try_move(conn, "o" * 32, orders.REFUND_PENDING) is True
