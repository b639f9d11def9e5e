"""SnapStart's hooks against a real database: the connection a container held before the hook is
closed on the server, and the next request opens a new one on a new engine (NF1)."""
import pytest
import sqlalchemy as sa

from hospital import snapshot
from hospital.db import engine
from tests.conftest import api_event, call, make_patient, wait_for

ALIVE = sa.text("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = :id")


def _connection_id(eng) -> int:
    with eng.connect() as conn:
        return conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar_one()


@pytest.mark.parametrize("hook", [snapshot.before_snapshot, snapshot.after_restore], ids=lambda hook: hook.__name__)
def test_after_a_hook_the_next_request_opens_a_new_database_connection(hook, mysql_db, platform, functions):
    _, token = make_patient(platform)
    assert call(functions, "RescueApiFunction", api_event("GET", "/rescue/cases", token=token))[0] == 200
    held_engine = engine()
    held_pool = held_engine.pool
    held_id = _connection_id(held_engine)
    assert held_pool.checkedin() >= 1  # a warm container: connections wait in the pool

    hook()

    assert held_pool.checkedin() == 0
    assert call(functions, "RescueApiFunction", api_event("GET", "/rescue/cases", token=token))[0] == 200
    assert engine() is not held_engine
    with engine().connect() as conn:
        assert conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar_one() != held_id
        # Closed on the server (the server may take a moment to let it go), not left open.
        wait_for(lambda: conn.execute(ALIVE, {"id": held_id}).scalar_one() == 0)
