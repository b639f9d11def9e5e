"""Fixtures of the tests that speak to an HIS simulator of their own, straight through the
HIS adapter (no functions, no database)."""
import pytest

from hospital.adapters import http_sessions
from hospital.adapters.his import HisClient
from infra.simulators.his import HisSimulator
from tests.outpatient.support import HIS_KEY


@pytest.fixture
def sim():
    http_sessions.close_all()  # no pooled connection to an earlier test's simulator
    with HisSimulator(HIS_KEY, fault_timeout_seconds=2) as sim:
        sim.seed_outpatient(days=3)
        yield sim
    http_sessions.close_all()


@pytest.fixture
def his(sim):
    return HisClient(sim.url, HIS_KEY)
