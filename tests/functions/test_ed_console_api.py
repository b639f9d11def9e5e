"""What the ED console reads and hears (ER3, ER6): the open cases to catch up on after a lost
connection, a step of a case pushed to every open console (an acknowledgement stops the ring
on all of them), and the ambulance's track for a case. Real WebSocket clients against the
local WebSocket API."""
import json

import sqlalchemy as sa

from hospital.db import engine, tables
from tests.conftest import api_event, call, make_patient
from tests.functions.test_live_rights import console_user, open_console
from tests.functions.test_rescue_dispatch import CALL, d, staff_member
from tests.functions.test_rescue_tracking import ambulance, dispatched_case, iso, point, post, seconds, start_of_track

LOCATION = {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "gcj02"}


def open_cases(functions, token, query=None):
    event = api_event("GET", "/dispatch/cases", resource="/dispatch/cases", token=token)
    if query:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return call(functions, "RescueDispatchFunction", event)


def console_ambulance(functions, token, case_id, since=None):
    return ambulance(functions, token, case_id, since, base="/dispatch/cases", function="RescueDispatchFunction")


def patient_case(platform, functions, address="人民广场1号"):
    _, token = make_patient(platform)
    status, case = call(functions, "RescueApiFunction", api_event(
        "POST", "/rescue/cases", body={"location": LOCATION, "address_text": address}, token=token))
    assert status == 201
    return case["case_id"]


def listed(functions, token):
    status, answer = open_cases(functions, token)
    assert status == 200
    return {item["case_id"]: item for item in answer["items"]}


def test_the_open_cases_list_what_a_console_catches_up_on_oldest_first_ER3(db, platform, functions):
    _, ntoken = staff_member(platform, "ed_nurse")
    _, dtoken = staff_member(platform, "dispatcher")
    first = patient_case(platform, functions, "人民广场1号")
    second = d(functions, dtoken, "POST", body=CALL)[1]["case_id"]
    closed = patient_case(platform, functions)
    assert d(functions, dtoken, "POST", closed, "/cancel", {"reason": "duplicate"})[0] == 200
    assert d(functions, ntoken, "POST", second, "/acknowledge", {})[0] == 200

    cases = listed(functions, ntoken)
    assert first in cases and second in cases and closed not in cases
    order = [case_id for case_id in cases if case_id in (first, second)]
    assert order == [first, second]  # the longest waiting first
    assert cases[first]["acknowledged_at"] is None
    assert cases[second]["acknowledged_at"] is not None
    assert cases[first]["address_text"] == "人民广场1号"
    assert cases[second]["address_text"] == CALL["address_text"]
    assert cases[first]["status"] in ("received", "alerted") and cases[first]["source"] == "mini_program"

    assert d(functions, dtoken, "POST", second, "/complete", {})[0] == 200
    assert second not in listed(functions, ntoken)


def test_the_open_cases_list_is_for_the_consoles_only_and_its_addresses_are_audited_ER3_EA3(db, platform,
                                                                                           functions):
    nurse, ntoken = staff_member(platform, "ed_nurse")
    _, patient_token = make_patient(platform)
    case_id = patient_case(platform, functions)
    assert open_cases(functions, patient_token)[0] == 403
    assert open_cases(functions, None)[0] == 401
    assert open_cases(functions, ntoken, {"status": "closed"})[0] == 400
    assert open_cases(functions, ntoken, {"limit": "0"})[0] == 400
    assert open_cases(functions, ntoken, {"_": "1700000000"})[0] == 200  # a cache-buster is ignored

    assert case_id in listed(functions, ntoken)
    with engine().connect() as conn:
        details = conn.execute(sa.select(tables.audit_log.c.details).where(
            tables.audit_log.c.action == "rescue.personal_data_viewed",
            tables.audit_log.c.actor_user_id == nurse.user_id)).scalars().all()
    assert any(case_id in (entry.get("targets") or []) and entry["fields"] == ["address_text"] for entry in details)


def test_the_limit_caps_the_list_ER3(db, platform, functions):
    _, ntoken = staff_member(platform, "ed_nurse")
    patient_case(platform, functions)
    patient_case(platform, functions)
    status, answer = open_cases(functions, ntoken, {"limit": "1"})
    assert status == 200 and len(answer["items"]) == 1


def changes_heard(console, case_id, timeout=2.0):
    """The case-change hints of `case_id` a console hears until it is quiet for `timeout`."""
    heard = []
    try:
        while True:
            message = json.loads(console.recv(timeout=timeout))
            if message.get("type") == "rescue.case_changed" and message["case_id"] == case_id:
                heard.append(message)
    except TimeoutError:
        return heard


def test_an_acknowledgement_is_pushed_to_every_open_console_once_ER3(db, platform, functions):
    first, second = console_user(platform), console_user(platform, "dispatcher")
    case_id = patient_case(platform, functions)
    with open_console(platform, first["access_token"]) as one, open_console(platform, second["access_token"]) as two:
        for _ in range(2):  # the second acknowledgement changes nothing and tells nothing
            assert d(functions, first["access_token"], "POST", case_id, "/acknowledge", {})[0] == 200
        expected = [{"type": "rescue.case_changed", "case_id": case_id, "node": "acknowledged"}]
        assert changes_heard(one, case_id) == expected
        assert changes_heard(two, case_id, timeout=0.5) == expected


def test_the_dispatchers_steps_are_pushed_to_the_consoles_without_personal_data_ER3(db, platform, functions):
    nurse = console_user(platform)
    _, dtoken = staff_member(platform, "dispatcher")
    case_id = patient_case(platform, functions)
    with open_console(platform, nurse["access_token"]) as console:
        assert d(functions, dtoken, "POST", case_id, "/accept", {})[0] == 200
        assert d(functions, dtoken, "POST", case_id, "/accept", {})[0] == 409  # refused: nothing to tell
        assert d(functions, dtoken, "POST", case_id, "/cancel", {"reason": "own_transport"})[0] == 200
        heard = changes_heard(console, case_id)
    assert [m["node"] for m in heard] == ["accepted", "cancelled"]
    assert all(set(m) == {"type", "case_id", "node"} for m in heard)


def test_the_console_reads_the_ambulances_track_of_any_case_ER6(db, platform, functions):
    _, ntoken = staff_member(platform, "ed_nurse")
    undispatched = patient_case(platform, functions)
    assert console_ambulance(functions, ntoken, undispatched)[0] == 404
    assert console_ambulance(functions, ntoken, "0" * 32)[0] == 404
    case_id, patient_token, ctoken, vehicle_id = dispatched_case(platform, functions)
    t0 = start_of_track()
    assert post(functions, ctoken, vehicle_id, [point(31.2290, 121.4690, t0),
                                                point(31.2291, 121.4702, t0 + seconds(10))])[0] == 200
    status, seen = console_ambulance(functions, ntoken, case_id, since=iso(t0 - seconds(60)))
    assert status == 200
    assert seen["vehicle_id"] == vehicle_id and seen["dispatch_closed"] is False
    assert [p["device_time"] for p in seen["track"]] == [iso(t0), iso(t0 + seconds(10))]
    assert seen["latest"]["device_time"] == iso(t0 + seconds(10))
    assert "track" not in console_ambulance(functions, ntoken, case_id)[1]
    assert console_ambulance(functions, patient_token, case_id)[0] == 403  # the patient has their own route
