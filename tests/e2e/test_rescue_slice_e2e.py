"""The first vertical slice end to end, over HTTP through the local runtime (what `make run`
serves): WeChat sign-in, intake, outbox -> SQS -> queue-triggered function -> `alerted`,
owner-only reads, bad input refused with nothing written (ER1-ER5, NF1)."""
import time

import pytest
import requests
import sqlalchemy as sa

from hospital.db import engine, tables
from tests.conftest import acting_as

LOCATION = {"latitude": 39.9042, "longitude": 116.4074, "coord_system": "gcj02", "accuracy_m": 12.0}


@pytest.fixture(scope="module", params=["mysql", "sqlite"])
def runtime(request, platform):
    from infra.local.runtime import LocalRuntime
    from tests.conftest import ROOT, _use_database

    _use_database(request.getfixturevalue(f"{request.param}_url"))
    # The slice is watched end to end here: nobody left on duty and no message left on the
    # rescue queues by tests that ran before (sample events, other modules) may join in.
    with engine().begin() as conn:
        conn.execute(tables.on_duty.delete())
    sqs = platform.sqs()
    for queue in ("RescueEventsQueue", "NotificationsQueue", "TriageQueue"):
        url = platform.queue_url(queue)
        while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in got:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    # Its own WebSocket server on a free port; LIVE_API_ENDPOINT unset so pushes go to it.
    rt = LocalRuntime(ROOT, api_port=0, control_port=0, websocket_port=0, start_schedules=False,
                      env={"LIVE_API_ENDPOINT": None})
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
    created = requests.post(f"{runtime.api_url}/rescue/cases",
                            json={"location": LOCATION, "address_text": "天安门广场"},
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
    assert case["location"] == LOCATION
    assert case["address_text"] == "天安门广场"

    bob = sign_in(runtime, platform, "o-e2e-bob")
    other = requests.get(f"{runtime.api_url}/rescue/cases/{case_id}", headers=bearer(bob), timeout=10)
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "not_found"
    anonymous = requests.get(f"{runtime.api_url}/rescue/cases/{case_id}", timeout=10)
    assert anonymous.status_code == 401


@pytest.mark.parametrize("body,content_type,field", [
    (b'{"location": {"longitude": 116.4, "coord_system": "gcj02"}}', "application/json", "location.latitude"),
    (b'{"location": {"latitude": -90.5, "longitude": 116.4, "coord_system": "gcj02"}}', "application/json",
     "location.latitude"),
    (b'{"location": {"latitude": 39.9, "longitude": 116.4, "coord_system": "mercator"}}', "application/json",
     "location.coord_system"),
    (b'{"location": ', "application/json", "body"),
    (b'{"location": {"latitude": 39.9, "longitude": 116.4, "coord_system": "gcj02"}, "complaint": "'
     + b"x" * 40000 + b'"}', "application/json", "body"),
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
    refreshed = requests.post(f"{runtime.api_url}/auth/refresh", json={"refresh_token": session["refresh_token"]},
                              timeout=10)
    assert refreshed.status_code == 200
    out = requests.post(f"{runtime.api_url}/auth/logout", json={"refresh_token": refreshed.json()["refresh_token"]},
                        headers=bearer(refreshed.json()), timeout=10)
    assert out.status_code == 200
    again = requests.post(f"{runtime.api_url}/auth/refresh",
                          json={"refresh_token": refreshed.json()["refresh_token"]}, timeout=10)
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
            case = requests.get(f"{runtime.api_url}/rescue/cases/{case_id}", headers=bearer(people[n]),
                                timeout=10).json()
            if case["status"] == "alerted":
                assert [x["node"] for x in case["timeline"]] == ["call_received", "alerted"]
                del pending[n]
        time.sleep(0.2)
    assert not pending, f"not alerted: {pending}"


def test_the_ed_console_gets_new_cases_live_and_the_patient_the_ambulance_ER3_ER6(runtime, platform):
    """Over the WebSocket API served by the local runtime: a new case reaches a connected ED
    console within seconds (and the delivery is on the timeline); the patient following the
    case receives the ambulance's positions."""
    import json

    from websockets.sync.client import connect

    from hospital.auth import sessions
    from hospital.auth.tokens import Principal, issue_access_token
    from hospital.rescue import dispatch

    nurse = sign_in(runtime, platform, "o-e2e-nurse")
    sessions.grant_role(nurse["user"]["id"], "ed_nurse")
    nurse_token = issue_access_token(Principal(nurse["user"]["id"], frozenset({"ed_nurse"})))
    ws = runtime.ws_url.rstrip("/") + "/dev"
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do: the handshake fails, however the client says so
        connect(f"{ws}?token=forged", open_timeout=5).close()  # refused at the handshake
    with connect(f"{ws}?token={nurse_token}", open_timeout=5) as console:
        patient = sign_in(runtime, platform, "o-e2e-live-patient")
        started = time.monotonic()
        created = requests.post(f"{runtime.api_url}/rescue/cases", json={"location": LOCATION},
                                headers=bearer(patient), timeout=10).json()
        alert = json.loads(console.recv(timeout=10))
        assert alert["type"] == "rescue.alert"
        assert alert["case_id"] == created["case_id"]
        assert time.monotonic() - started < 5
    alerted, deadline = [], time.monotonic() + 10
    while not alerted and time.monotonic() < deadline:  # the node is written just after the push
        case = requests.get(f"{runtime.api_url}/rescue/cases/{created['case_id']}", headers=bearer(patient),
                            timeout=10).json()
        alerted = [n for n in case["timeline"] if n["node"] == "alerted"]
        time.sleep(0.1)
    [alerted] = alerted
    assert alerted["details"]["channel"] == "ed_console"
    assert alerted["details"]["delivered"] == 1

    sessions.grant_role(nurse["user"]["id"], "dispatcher")
    dispatcher = acting_as(nurse["user"]["id"])
    crew = sign_in(runtime, platform, "o-e2e-live-crew")
    sessions.grant_role(crew["user"]["id"], "staff")
    crew_token = issue_access_token(Principal(crew["user"]["id"], frozenset({"staff"})))
    vehicle_id = f"E2E-{created['case_id'][:6]}"
    dispatch.register_vehicle(vehicle_id, f"沪E{created['case_id'][:5]}")
    dispatch.step(dispatcher, "dispatcher", created["case_id"], "accepted")
    dispatch.dispatch(dispatcher, created["case_id"], vehicle_id, [crew["user"]["id"]])
    # A fix taken now: one from before the dispatch would be dropped.
    fix_time = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with connect(f"{ws}?token={patient['access_token']}", open_timeout=5) as phone:
        phone.send(json.dumps({"action": "subscribe", "case_id": created["case_id"]}))
        assert json.loads(phone.recv(timeout=10)) == {"type": "subscribed", "case_id": created["case_id"], "ok": True}
        posted = requests.post(f"{runtime.api_url}/staff/vehicles/{vehicle_id}/positions", timeout=10,
                               headers={"Authorization": f"Bearer {crew_token}"},
                               json={"points": [{"latitude": 39.9050, "longitude": 116.4000, "coord_system": "wgs84",
                                                 "accuracy_m": 5.0, "device_time": fix_time}]})
        assert posted.json() == {"accepted": 1, "dropped": {}}
        update = json.loads(phone.recv(timeout=10))
        assert update["type"] == "rescue.vehicle_position"
        assert update["vehicle_id"] == vehicle_id
        assert update["position"]["coord_system"] == "gcj02"
