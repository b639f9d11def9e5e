"""The ED triage simulator (ER7), driven over real HTTP through the production adapter."""
from __future__ import annotations

import json
import logging
import time

import pytest
import requests

from hospital.adapters.triage import TriageApi, TriageError, TriageUnavailable, sign
from hospital.observability import bind_correlation_id, reset_correlation_id
from infra.simulators.triage import CASES_PATH, TriageSimulator

KEY = "triage-shared-key-0123456789"
CASE = "case-er7-0001"
NAME, PHONE, ADDRESS, COMPLAINT = "张秀英", "13812345678", "人民大道200号", "老人突然倒地"
LAT, LON = 31.2304, 121.4737


def _case(case_id: str = CASE, version: int = 1, status: str = "received", **changes) -> dict:
    payload = {
        "case_id": case_id, "version": version, "status": status,
        "received_at": "2024-05-01T08:30:00.000Z", "caller_phone": PHONE,
        "patient": {"name": NAME, "gender": "female", "age": 72}, "complaint": COMPLAINT,
        "location": {"latitude": LAT, "longitude": LON, "coord_system": "gcj02", "accuracy_m": 30,
                     "address_text": ADDRESS},
    }
    payload.update(changes)
    return payload


@pytest.fixture
def sim():
    with TriageSimulator(KEY, fault_timeout_seconds=2) as sim:
        yield sim


@pytest.fixture
def api(sim):
    return TriageApi(sim.url, KEY)


@pytest.fixture
def correlation_id():
    token = bind_correlation_id("corr-triage-1")
    yield "corr-triage-1"
    reset_correlation_id(token)


def _raw_put(sim, body: bytes, *, key: str = KEY, signing_key: str = KEY, timestamp: int | None = None,
             case_id: str = CASE) -> requests.Response:
    """A push built by hand, to reach what the adapter never sends."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return requests.put(f"{sim.url}{CASES_PATH}/{case_id}", data=body, timeout=5, headers={
        "Content-Type": "application/json", "X-Api-Key": key,
        "X-Signature": sign(signing_key, timestamp, body)})


def _refused(call, *args, **kwargs) -> TriageError:
    with pytest.raises(TriageError) as info:
        call(*args, **kwargs)
    return info.value


def test_push_accepted_and_stored_ER7(sim, api, correlation_id):
    answer = api.push_case(_case())
    assert answer["case_id"] == CASE
    assert answer["accepted_version"] == 1
    assert answer["triage_ref"]
    [stored] = requests.get(f"{sim.url}/_sim/cases", timeout=5).json()["cases"]
    assert stored["case"] == _case()
    assert stored["accepted_version"] == 1
    assert stored["status"] == "received"
    assert stored["correlation_id"] == correlation_id
    # A location change, then a status change: each newer version replaces the stored one.
    moved = _case(version=2, location={"latitude": 31.2310, "longitude": 121.4740, "coord_system": "gcj02"})
    assert api.push_case(moved) == {"case_id": CASE, "accepted_version": 2,
                                    "triage_ref": answer["triage_ref"]}
    vehicle = {"vehicle_id": "amb-07", "plate_number": "沪A12345", "eta": "2024-05-01T08:52:00Z"}
    dispatched = _case(version=3, status="dispatched", vehicle=vehicle)
    assert api.push_case(dispatched)["accepted_version"] == 3
    [stored] = sim.cases(CASE)
    assert stored["case"] == dispatched
    assert stored["status"] == "dispatched"
    deliveries = sim.deliveries()
    assert [(d["version"], d["status"], d["result"]) for d in deliveries] == [
        (1, 201, "created"), (2, 200, "updated"), (3, 200, "updated")]
    assert all(d["correlation_id"] == correlation_id and d["time"] for d in deliveries)


def test_same_version_twice_is_stored_once_ER7(sim, api):
    first = api.push_case(_case())
    # A retry of the same version, even with different content, changes nothing.
    again = api.push_case(_case(location={"latitude": 30.0, "longitude": 120.0, "coord_system": "gcj02"}))
    assert again == first
    [stored] = sim.cases()
    assert stored["case"] == _case()
    assert [(d["status"], d["result"]) for d in sim.deliveries()] == [(201, "created"), (200, "duplicate")]


def test_older_version_after_newer_is_ignored_ER7(sim, api):
    newer = _case(version=5, status="en_route")
    api.push_case(newer)
    answer = api.push_case(_case(version=4, status="dispatched"))  # overtaken in flight
    assert answer["accepted_version"] == 5
    assert sim.cases(CASE)[0]["case"] == newer
    assert [(d["version"], d["status"], d["result"]) for d in sim.deliveries()] == [
        (5, 201, "created"), (4, 200, "older")]


def test_wrong_api_key_is_permanent_401_ER7(sim):
    error = _refused(TriageApi(sim.url, "not-the-key").push_case, _case())
    assert error.status == 401
    assert error.code == "invalid_api_key"
    assert not error.retryable
    assert not isinstance(error, TriageUnavailable)
    # Right key header, signature made with another key; or a body changed after signing.
    body = json.dumps(_case()).encode()
    reply = _raw_put(sim, body, signing_key="not-the-key")
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "invalid_signature"
    timestamp = int(time.time())
    tampered = body.replace(b"received", b"cancelled")
    reply = requests.put(f"{sim.url}{CASES_PATH}/{CASE}", data=tampered, timeout=5,
                         headers={"X-Api-Key": KEY, "X-Signature": sign(KEY, timestamp, body)})
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "invalid_signature"
    assert sim.cases() == []
    assert [(d["status"], d["result"], d["error"]) for d in sim.deliveries()] == [
        (401, "unauthorized", "invalid_api_key"), (401, "unauthorized", "invalid_signature"),
        (401, "unauthorized", "invalid_signature")]


def test_stale_signature_is_refused_ER7(sim, api):
    body = json.dumps(_case()).encode()
    reply = _raw_put(sim, body, timestamp=int(time.time()) - 301)
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "signature_expired"
    # The adapter signs with its own clock: a receiver clock 301 s ahead sees it as stale ...
    sim.advance_clock(301)
    error = _refused(api.push_case, _case())
    assert error.status == 401
    assert error.code == "signature_expired"
    assert not error.retryable
    assert sim.cases() == []
    # ... while skew within the 300 s tolerance is accepted.
    sim.advance_clock(-301 + 250)
    assert api.push_case(_case())["accepted_version"] == 1


def test_503_fault_is_retryable_ER7(sim, api):
    fault = {"mode": "http503", "count": 1}
    requests.post(f"{sim.url}/_sim/faults", json=fault, timeout=5).raise_for_status()
    with pytest.raises(TriageUnavailable) as info:
        api.push_case(_case())
    assert info.value.retryable
    assert info.value.status == 503
    assert sim.cases() == []
    assert api.push_case(_case())["accepted_version"] == 1  # only the next push failed
    sim.inject_fault("http500")
    with pytest.raises(TriageUnavailable) as info:
        api.push_case(_case(version=2))
    assert info.value.status == 500
    assert info.value.retryable
    assert [(d["version"], d["status"], d["result"]) for d in sim.deliveries()] == [
        (1, 503, "http503"), (1, 201, "created"), (2, 500, "http500")]


def test_timeout_fault_is_unavailable_ER7(sim):
    sim.inject_fault("timeout", seconds=1)
    started = time.monotonic()
    with pytest.raises(TriageUnavailable) as info:
        TriageApi(sim.url, KEY, timeout=(1, 0.3)).push_case(_case())
    assert time.monotonic() - started < 1
    assert info.value.retryable
    assert info.value.status is None
    assert info.value.__cause__ is None
    assert sim.cases() == []
    assert sim.deliveries()[0]["result"] == "timeout"
    # The retry of the same version goes through once the fault is spent.
    assert TriageApi(sim.url, KEY, timeout=(1, 2)).push_case(_case())["accepted_version"] == 1


def test_slow_fault_within_timeout_succeeds_ER7(sim):
    sim.inject_fault("slow", seconds=0.4)
    started = time.monotonic()
    assert TriageApi(sim.url, KEY, timeout=(1, 3)).push_case(_case())["accepted_version"] == 1
    assert time.monotonic() - started >= 0.4
    [delivery] = sim.deliveries()
    assert delivery["fault"] == "slow"
    assert delivery["result"] == "created"


@pytest.mark.parametrize(("changes", "field"), [
    ({"location": None}, "location"),
    ({"location": {"latitude": "31.2", "longitude": LON, "coord_system": "gcj02"}}, "location.latitude"),
    ({"location": {"latitude": LAT, "longitude": LON, "coord_system": "wgs84"}}, "location.coord_system"),
    ({"version": "1"}, "version"),
    ({"status": "teleported"}, "status"),
    ({"received_at": "2024-05-01T16:30:00+08:00"}, "received_at"),
    ({"patient": {"age": "72"}}, "patient.age"),
])
def test_bad_body_is_permanent_400_ER7(sim, api, changes, field):
    error = _refused(api.push_case, _case(**changes))
    assert error.status == 400
    assert not error.retryable
    assert error.code == "invalid_body"
    assert error.body["error"]["field"] == field
    assert sim.cases() == []
    assert sim.deliveries()[0]["result"] == "invalid"


def test_bad_body_shapes_refused_ER7(sim, api):
    payload = _case()
    del payload["case_id"]
    with pytest.raises(ValueError):  # the adapter cannot even name the resource
        api.push_case(payload)
    assert _raw_put(sim, b"[1, 2]").json()["error"]["field"] == "body"
    assert _raw_put(sim, b"{not json").status_code == 400
    reply = _raw_put(sim, json.dumps(_case(case_id="another-case")).encode())
    assert reply.status_code == 400
    assert reply.json()["error"]["field"] == "case_id"
    assert sim.cases() == []


def test_control_endpoints_ER7(sim, api):
    api.push_case(_case())
    api.push_case(_case(case_id="case-er7-0002"))
    listed = requests.get(f"{sim.url}/_sim/deliveries", params={"case_id": "case-er7-0002"}, timeout=5).json()
    assert [d["case_id"] for d in listed["deliveries"]] == ["case-er7-0002"]
    assert len({c["triage_ref"] for c in sim.cases()}) == 2
    assert requests.get(f"{sim.url}/_sim/stats", timeout=5).json()[CASES_PATH + "/{case_id}"] == 2
    requests.delete(f"{sim.url}/_sim/cases", timeout=5).raise_for_status()
    assert sim.cases() == []
    assert sim.deliveries() == []
    assert requests.post(f"{sim.url}/_sim/faults", json={"mode": "errcode"}, timeout=5).status_code == 400
    requests.post(f"{sim.url}/_sim/faults", json={"mode": "http503", "count": 5}, timeout=5)
    requests.delete(f"{sim.url}/_sim/faults", timeout=5).raise_for_status()
    assert api.push_case(_case())["accepted_version"] == 1
    sim.inject_fault("http500", count=3)
    sim.clear_faults()
    assert api.push_case(_case(version=2))["accepted_version"] == 2


def test_logs_carry_no_personal_data_ER7(sim, api, caplog, correlation_id):
    caplog.set_level(logging.DEBUG, logger="hospital.external")
    api.push_case(_case())
    with pytest.raises(TriageError) as bad:
        api.push_case(_case(version=2, location={"latitude": LAT, "longitude": LON, "coord_system": "wgs84"}))
    sim.inject_fault("http503")
    with pytest.raises(TriageUnavailable):
        api.push_case(_case(version=2))
    sim.inject_fault("timeout", seconds=1)
    with pytest.raises(TriageUnavailable) as timed_out:
        TriageApi(sim.url, KEY, timeout=(1, 0.2)).push_case(_case(version=2))

    records = [r for r in caplog.records if r.name == "hospital.external"]
    assert [r.external["status"] for r in records] == [201, 400, 503, None]
    assert all(r.external["system"] == "triage" and r.external["operation"] == "push_case" for r in records)
    assert records[0].levelno == logging.INFO
    assert {r.levelno for r in records[1:]} == {logging.WARNING}
    assert records[0].external["case_id"] == CASE
    assert records[0].external["accepted_version"] == 1
    assert records[1].external["error_code"] == "invalid_body"
    assert records[3].external["error"] == "ReadTimeout"
    dumped = " ".join(f"{r.getMessage()} {vars(r)}" for r in records)
    dumped += f" {bad.value} {timed_out.value} {api!r}"
    for raw in (NAME, PHONE, ADDRESS, COMPLAINT, str(LAT), str(LON), KEY):
        assert raw not in dumped
