"""The first vertical slice end to end, over HTTP through the local runtime (what `make run`
serves): WeChat sign-in, intake, outbox -> SQS -> queue-triggered function -> `alerted`,
owner-only reads, bad input refused with nothing written (ER1-ER5, NF1)."""
import time

import pytest
import requests
import sqlalchemy as sa

from hospital.db import engine, tables

LOCATION = {"latitude": 39.9042, "longitude": 116.4074, "coord_system": "gcj02", "accuracy_m": 12.0}


@pytest.fixture(scope="module", params=["mysql", "sqlite"])
def runtime(request, platform):
    from infra.local.runtime import LocalRuntime
    from tests.conftest import ROOT, _use_database

    _use_database(request.getfixturevalue(f"{request.param}_url"))
    rt = LocalRuntime(ROOT, api_port=0, control_port=0, start_schedules=False)
    with rt:
        yield rt


def sign_in(runtime, platform, openid):
    # The phone's side: wx.login() yields a code (the simulator mints it over its HTTP API).
    code = requests.post(f"{platform.wechat.url}/_sim/login-code",
                         json={"app_id": platform.mini_program_app_id, "openid": openid}, timeout=5).json()["code"]
    answer = requests.post(f"{runtime.api_url}/auth/wechat/mini-program", json={"code": code}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def bearer(session):
    return {"Authorization": f"Bearer {session['access_token']}"}


def case_count():
    with engine().connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(tables.rescue_cases)).scalar_one()


def test_intake_reaches_the_queue_consumer_and_only_the_owner_sees_it_ER1_ER3(runtime, platform):
    alice = sign_in(runtime, platform, "o-e2e-alice")
    created = requests.post(f"{runtime.api_url}/rescue/cases", json={"location": LOCATION, "address_text": "天安门广场"},
                            headers={**bearer(alice), "X-Correlation-Id": "e2e-corr-1"}, timeout=10)
    assert created.status_code == 201, created.text
    assert created.headers["X-Correlation-Id"] == "e2e-corr-1"
    case_id = created.json()["case_id"]

    deadline, case = time.monotonic() + 15, None
    while time.monotonic() < deadline:
        case = requests.get(f"{runtime.api_url}/rescue/cases/{case_id}", headers=bearer(alice), timeout=10).json()
        if case["status"] == "alerted":
            break
        time.sleep(0.2)
    assert [n["node"] for n in case["timeline"]] == ["call_received", "alerted"]
    assert case["location"] == LOCATION and case["address_text"] == "天安门广场"

    bob = sign_in(runtime, platform, "o-e2e-bob")
    other = requests.get(f"{runtime.api_url}/rescue/cases/{case_id}", headers=bearer(bob), timeout=10)
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    anonymous = requests.get(f"{runtime.api_url}/rescue/cases/{case_id}", timeout=10)
    assert anonymous.status_code == 401


@pytest.mark.parametrize("body,content_type,field", [
    (b'{"location": {"longitude": 116.4, "coord_system": "gcj02"}}', "application/json", "location.latitude"),
    (b'{"location": {"latitude": -90.5, "longitude": 116.4, "coord_system": "gcj02"}}', "application/json", "location.latitude"),
    (b'{"location": {"latitude": 39.9, "longitude": 116.4, "coord_system": "mercator"}}', "application/json", "location.coord_system"),
    (b'{"location": ', "application/json", "body"),
    (b'{"location": {"latitude": 39.9, "longitude": 116.4, "coord_system": "gcj02"}, "complaint": "' + b"x" * 40000 + b'"}', "application/json", "body"),
    (b"location=here", "application/x-www-form-urlencoded", "Content-Type"),
])
def test_bad_input_over_http_names_the_field_and_writes_nothing_ER5(runtime, platform, body, content_type, field):
    alice = sign_in(runtime, platform, "o-e2e-alice")
    before = case_count()
    answer = requests.post(f"{runtime.api_url}/rescue/cases", data=body,
                           headers={**bearer(alice), "Content-Type": content_type}, timeout=10)
    assert answer.status_code in (400, 415), answer.text
    assert answer.json()["error"]["field"] == field
    assert case_count() == before


def test_session_refresh_and_sign_out_over_http_NF1(runtime, platform):
    session = sign_in(runtime, platform, "o-e2e-carol")
    me = requests.get(f"{runtime.api_url}/auth/me", headers=bearer(session), timeout=10).json()
    assert me["roles"] == ["patient"]
    refreshed = requests.post(f"{runtime.api_url}/auth/refresh", json={"refresh_token": session["refresh_token"]}, timeout=10)
    assert refreshed.status_code == 200
    out = requests.post(f"{runtime.api_url}/auth/logout", json={"refresh_token": refreshed.json()["refresh_token"]},
                        headers=bearer(refreshed.json()), timeout=10)
    assert out.status_code == 200
    again = requests.post(f"{runtime.api_url}/auth/refresh", json={"refresh_token": refreshed.json()["refresh_token"]}, timeout=10)
    assert again.status_code == 401


def test_outbox_sweeper_relays_what_a_crashed_relay_left_behind(runtime):
    """A container died after commit and before its relay: the scheduled sweeper sends it."""
    import datetime as dt

    from hospital import outbox

    with engine().begin() as conn:
        left = outbox.add(conn, "rescue-events", "test.left_behind", {"n": 1})
        conn.execute(tables.outbox.update().where(tables.outbox.c.id == left.id)
                     .values(created_at=left.created_at - dt.timedelta(minutes=2)))
    assert runtime.trigger("OutboxSweeperFunction")["relayed"] >= 1
    with engine().connect() as conn:
        assert conn.execute(sa.select(tables.outbox.c.sent_at).where(tables.outbox.c.id == left.id)).scalar_one()


def test_concurrent_intakes_are_all_kept_once_and_each_caller_sees_only_their_own_ER1_ER3(runtime, platform):
    """Many people press the button at once: every case is created once, alerted once, and
    no answer carries another caller's case (requests run concurrently in the runtime)."""
    import concurrent.futures

    people = [sign_in(runtime, platform, f"o-e2e-crowd-{n}") for n in range(12)]

    def press(n):
        body = {"location": {**LOCATION, "latitude": 39.9 + n / 1000}, "address_text": f"门牌 {n} 号"}
        answer = requests.post(f"{runtime.api_url}/rescue/cases", json=body, timeout=30,
                               headers={**bearer(people[n]), "Idempotency-Key": f"crowd-{n}-press"})
        return n, answer.status_code, answer.json()

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        results = list(pool.map(press, [n for n in range(12) for _ in range(2)]))  # everyone presses twice
    assert {status for _, status, _ in results} <= {200, 201}
    by_person = {}
    for n, _, case in results:
        assert case["address_text"] == f"门牌 {n} 号"  # nobody got someone else's case
        by_person.setdefault(n, set()).add(case["case_id"])
    assert all(len(ids) == 1 for ids in by_person.values())  # the double press made one case

    deadline = time.monotonic() + 20
    pending = {n: next(iter(ids)) for n, ids in by_person.items()}
    while pending and time.monotonic() < deadline:
        for n, case_id in list(pending.items()):
            case = requests.get(f"{runtime.api_url}/rescue/cases/{case_id}", headers=bearer(people[n]), timeout=10).json()
            if case["status"] == "alerted":
                assert [x["node"] for x in case["timeline"]] == ["call_received", "alerted"]
                del pending[n]
        time.sleep(0.2)
    assert not pending, f"not alerted: {pending}"
