"""Dispatcher and crew: phone intake, accept, decide, dispatch, trip, completion rules and
who sees the caller's phone (ER5, ES1, ES2, EA3, EA4)."""
import concurrent.futures
import uuid

import sqlalchemy as sa

from hospital.auth import sessions
from hospital.db import engine, tables
from hospital.rescue import dispatch
from tests.conftest import acting_as, api_event, call, make_patient

CALL = {"caller_phone": "13912345678", "address_text": "世纪大道100号", "complaint": "胸痛出汗",
        "location": {"latitude": 31.2397, "longitude": 121.4998, "coord_system": "gcj02", "accuracy_m": 50.0}}


def staff_member(platform, role):
    principal, _ = make_patient(platform)
    sessions.grant_role(principal.user_id, role)
    from hospital.auth.tokens import Principal, issue_access_token

    with_role = acting_as(principal.user_id)
    return with_role, issue_access_token(Principal(user_id=principal.user_id, roles=frozenset({"patient", role})))


def vehicle():
    vehicle_id = f"V-{uuid.uuid4().hex[:8]}"
    dispatch.register_vehicle(vehicle_id, f"沪A{vehicle_id[-6:]}")
    return vehicle_id


def d(functions, token, method, case_id=None, suffix="", body=None):
    path = "/dispatch/cases" + (f"/{case_id}" if case_id else "") + suffix
    resource = "/dispatch/cases" + ("/{case_id}" if case_id else "") + suffix
    return call(functions, "RescueDispatchFunction",
                api_event(method, path, resource=resource, body=body, token=token,
                          path_parameters={"case_id": case_id} if case_id else None))


def s(functions, token, method, case_id, suffix="", body=None):
    return call(functions, "RescueStaffFunction", api_event(method, f"/staff/cases/{case_id}{suffix}",
                                                            resource="/staff/cases/{case_id}" + suffix, body=body,
                                                            token=token, path_parameters={"case_id": case_id}))


def audits(case_id):
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.audit_log.c.actor_user_id).where(
            tables.audit_log.c.action == "rescue.personal_data_viewed",
            tables.audit_log.c.target_id == case_id)).scalars().all()


def test_full_dispatched_case_completes_only_after_back_in_service_EA4_ES2(db, platform, functions):
    _dispatcher, dtoken = staff_member(platform, "dispatcher")
    crew, ctoken = staff_member(platform, "staff")
    status, case = d(functions, dtoken, "POST", body=CALL)
    assert status == 201
    assert case["source"] == "phone"
    assert case["caller_phone"] == CALL["caller_phone"]
    case_id = case["case_id"]
    assert d(functions, dtoken, "POST", case_id, "/accept", {})[0] == 200
    assert d(functions, dtoken, "POST", case_id, "/decision",
             {"dispatch": True, "reason": "life_threatening"})[0] == 200
    vehicle_id = vehicle()
    status, case = d(functions, dtoken, "POST", case_id, "/dispatch",
                     {"vehicle_id": vehicle_id, "crew_user_ids": [crew.user_id]})
    assert status == 200
    assert case["status"] == "dispatched"
    assert case["dispatches"][0]["vehicle_id"] == vehicle_id
    for node in ("en_route", "on_scene", "patient_contact", "left_scene", "at_hospital", "handed_over"):
        status, case = s(functions, ctoken, "POST", case_id, "/progress", {"node": node})
        assert status == 200
        assert case["status"] == node
        status, refused = d(functions, dtoken, "POST", case_id, "/complete", {})
        assert status == 409
        assert "back in service" in refused["error"]["message"]
    assert s(functions, ctoken, "POST", case_id, "/progress", {"node": "back_in_service"})[0] == 200
    status, case = d(functions, dtoken, "POST", case_id, "/complete", {})
    assert status == 200
    assert case["status"] == "completed"
    assert [n["node"] for n in case["timeline"]][-9:] == [
        "dispatched", "en_route", "on_scene", "patient_contact", "left_scene", "at_hospital", "handed_over",
        "back_in_service", "completed"]
    with engine().connect() as conn:
        assert conn.execute(sa.select(tables.vehicles.c.status)
                            .where(tables.vehicles.c.id == vehicle_id)).scalar_one() == "available"


def test_a_case_with_no_dispatch_completes_directly_EA4(db, platform, functions):
    _, dtoken = staff_member(platform, "dispatcher")
    case_id = d(functions, dtoken, "POST", body=CALL)[1]["case_id"]
    d(functions, dtoken, "POST", case_id, "/accept", {})
    d(functions, dtoken, "POST", case_id, "/decision", {"dispatch": False, "reason": "advice_given"})
    status, case = d(functions, dtoken, "POST", case_id, "/complete", {})
    assert status == 200
    assert case["status"] == "completed"
    assert case["dispatches"] == []


def test_illegal_transitions_are_409_with_the_reason_EA4(db, platform, functions):
    _, dtoken = staff_member(platform, "dispatcher")
    crew, _ctoken = staff_member(platform, "staff")
    case_id = d(functions, dtoken, "POST", body=CALL)[1]["case_id"]
    status, body = d(functions, dtoken, "POST", case_id, "/dispatch",
                     {"vehicle_id": vehicle(), "crew_user_ids": [crew.user_id]})
    assert status == 409
    assert "accepted" in body["error"]["message"]  # not accepted yet
    d(functions, dtoken, "POST", case_id, "/cancel", {"reason": "duplicate"})
    status, body = d(functions, dtoken, "POST", case_id, "/accept", {})
    assert status == 409
    assert body["error"]["code"] == "illegal_transition"
    status, body = d(functions, dtoken, "POST", case_id, "/dispatch",
                     {"vehicle_id": vehicle(), "crew_user_ids": [crew.user_id]})
    assert status == 409
    assert "cancelled" in body["error"]["message"]


def test_a_vehicle_goes_to_one_case_at_a_time_even_concurrently_EA4(mysql_db, platform, functions):
    _, dtoken = staff_member(platform, "dispatcher")
    crew, _ = staff_member(platform, "staff")
    case_ids = []
    for _ in range(4):
        case_id = d(functions, dtoken, "POST", body=CALL)[1]["case_id"]
        d(functions, dtoken, "POST", case_id, "/accept", {})
        case_ids.append(case_id)
    shared = vehicle()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda c: d(functions, dtoken, "POST", c, "/dispatch",
                                            {"vehicle_id": shared, "crew_user_ids": [crew.user_id]}), case_ids))
    assert sorted(status for status, _ in results) == [200, 409, 409, 409]
    assert {b["error"]["code"] for status, b in results if status == 409} == {"vehicle_unavailable"}
    with engine().connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.dispatches)
                            .where(tables.dispatches.c.vehicle_id == shared)).scalar_one() == 1


def test_concurrent_complete_and_dispatch_on_one_case_cannot_both_win_EA4(mysql_db, platform, functions):
    _, dtoken = staff_member(platform, "dispatcher")
    crew, _ = staff_member(platform, "staff")
    case_id = d(functions, dtoken, "POST", body=CALL)[1]["case_id"]
    d(functions, dtoken, "POST", case_id, "/accept", {})
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        a = pool.submit(d, functions, dtoken, "POST", case_id, "/complete", {})
        b = pool.submit(d, functions, dtoken, "POST", case_id, "/dispatch",
                        {"vehicle_id": vehicle(), "crew_user_ids": [crew.user_id]})
        statuses = sorted([a.result()[0], b.result()[0]])
    assert statuses == [200, 409]


def test_only_dispatchers_and_the_assigned_crew_see_the_callers_phone_and_each_view_is_audited_ES1_EA3(
        db, platform, functions):
    dispatcher, dtoken = staff_member(platform, "dispatcher")
    crew, ctoken = staff_member(platform, "staff")
    _other_crew, otoken = staff_member(platform, "staff")
    _, patient_token = make_patient(platform)
    case_id = d(functions, dtoken, "POST", body=CALL)[1]["case_id"]
    assert s(functions, ctoken, "GET", case_id)[0] == 404  # not assigned yet
    d(functions, dtoken, "POST", case_id, "/accept", {})
    d(functions, dtoken, "POST", case_id, "/dispatch", {"vehicle_id": vehicle(), "crew_user_ids": [crew.user_id]})
    status, seen = s(functions, ctoken, "GET", case_id)
    assert status == 200
    assert seen["caller_phone"] == CALL["caller_phone"]
    assert s(functions, otoken, "GET", case_id)[0] == 404
    assert s(functions, otoken, "POST", case_id, "/progress", {"node": "en_route"})[0] == 404
    assert d(functions, patient_token, "GET", case_id)[0] == 403
    assert d(functions, ctoken, "POST", body=CALL)[0] == 403  # crew cannot enter calls
    assert set(audits(case_id)) == {dispatcher.user_id, crew.user_id}


def test_dispatch_input_is_validated_EA4(db, platform, functions):
    _, dtoken = staff_member(platform, "dispatcher")
    crew, _ = staff_member(platform, "staff")
    case_id = d(functions, dtoken, "POST", body=CALL)[1]["case_id"]
    d(functions, dtoken, "POST", case_id, "/accept", {})
    for body, field in [({"vehicle_id": "NOPE-1", "crew_user_ids": [crew.user_id]}, "vehicle_id"),
                        ({"vehicle_id": vehicle(), "crew_user_ids": [999999999]}, "crew_user_ids"),
                        ({"vehicle_id": vehicle(), "crew_user_ids": []}, "crew_user_ids")]:
        status, answer = d(functions, dtoken, "POST", case_id, "/dispatch", body)
        assert status == 400, answer
        assert answer["error"]["field"] == field, answer
    status, answer = d(functions, dtoken, "POST", body={**CALL, "caller_phone": "110"})
    assert status == 400
    assert answer["error"]["field"] == "caller_phone"


def g(functions, token, case_id, session_id=None, body=None):
    suffix = "/guidance" + (f"/{session_id}/end" if session_id else "")
    resource = "/dispatch/cases/{case_id}/guidance" + ("/{session_id}/end" if session_id else "")
    params = {"case_id": case_id, **({"session_id": session_id} if session_id else {})}
    return call(functions, "RescueDispatchFunction", api_event("POST", f"/dispatch/cases/{case_id}{suffix}",
                                                               resource=resource, body=body, token=token,
                                                               path_parameters=params))


def test_guidance_sessions_are_recorded_with_who_when_duration_and_recording_ER9_ES3(db, platform, functions):
    _dispatcher, dtoken = staff_member(platform, "dispatcher")
    _nurse, ntoken = staff_member(platform, "ed_nurse")
    case_id = d(functions, dtoken, "POST", body=CALL)[1]["case_id"]
    status, started = g(functions, dtoken, case_id, body={"mode": "video"})
    assert status == 201
    assert started["mode"] == "video"
    status, ended = g(functions, ntoken, case_id, started["session_id"], {"recording_ref": "pbx:2026/11/26/call-1.wav"})
    assert status == 200
    assert ended["duration_s"] >= 0
    assert ended["recording_ref"] == "pbx:2026/11/26/call-1.wav"
    timeline = d(functions, dtoken, "GET", case_id)[1]["timeline"]
    started_node, ended_node = [n for n in timeline if n["node"].startswith("guidance_")]
    assert started_node["actor_role"] == "dispatcher"
    assert started_node["details"]["mode"] == "video"
    assert ended_node["actor_role"] == "ed_nurse"
    assert ended_node["details"]["session_id"] == started["session_id"]
    assert d(functions, dtoken, "GET", case_id)[1]["status"] in ("received", "alerted")  # guidance moves no status
    status, body = g(functions, dtoken, case_id, started["session_id"], {})
    assert status == 409
    assert body["error"]["code"] == "already_ended"
    assert g(functions, dtoken, case_id, uuid.uuid4().hex, {})[0] == 404
    assert g(functions, dtoken, case_id, body={"mode": "telepathy"})[1]["error"]["field"] == "mode"
    assert g(functions, dtoken, case_id, started["session_id"], {"recording_ref": "../../etc/passwd\n"})[0] == 400
    _, staff_token = staff_member(platform, "staff")
    assert g(functions, staff_token, case_id, body={"mode": "voice"})[0] == 403


def test_the_eds_acknowledgement_is_recorded_once_ER3(db, platform, functions):
    _nurse, ntoken = staff_member(platform, "ed_nurse")
    _, dtoken = staff_member(platform, "dispatcher")
    case_id = d(functions, dtoken, "POST", body=CALL)[1]["case_id"]
    for token in (ntoken, ntoken, dtoken):
        status, case = d(functions, token, "POST", case_id, "/acknowledge", {})
        assert status == 200
    acks = [n for n in case["timeline"] if n["node"] == "acknowledged"]
    assert len(acks) == 1
    assert acks[0]["actor_role"] == "ed_nurse"
    assert case["status"] in ("received", "alerted")


def test_a_decision_is_a_json_boolean_not_something_like_one_EA4_NF5(db, platform, functions):
    _, dtoken = staff_member(platform, "dispatcher")
    case_id = d(functions, dtoken, "POST", body=CALL)[1]["case_id"]
    d(functions, dtoken, "POST", case_id, "/accept", {})

    def nodes():
        with engine().connect() as conn:
            return conn.execute(sa.select(tables.rescue_events.c.node)
                                .where(tables.rescue_events.c.case_id == case_id)).scalars().all()

    before = nodes()
    for value in (1, 1.0, "true"):
        status, answer = d(functions, dtoken, "POST", case_id, "/decision", {"dispatch": value, "reason": "urgent"})
        assert status == 400, answer
        assert answer["error"]["field"] == "dispatch", answer
    assert nodes() == before
    assert "decided" not in before
    assert d(functions, dtoken, "POST", case_id, "/decision", {"dispatch": True, "reason": "urgent"})[0] == 200


def test_a_crew_id_beyond_any_stored_id_is_400_naming_the_field_EA4_NF5(db, platform, functions):
    _, dtoken = staff_member(platform, "dispatcher")
    case_id = d(functions, dtoken, "POST", body=CALL)[1]["case_id"]
    d(functions, dtoken, "POST", case_id, "/accept", {})
    vehicle_id = vehicle()
    # Beyond a BIGINT (SQLite's driver cannot even bind these), and not a JSON whole number:
    # true is not user 1, "5" not user 5.
    for not_an_id in (2**63, 10**30, True, "5", 5.0):
        status, answer = d(functions, dtoken, "POST", case_id, "/dispatch",
                           {"vehicle_id": vehicle_id, "crew_user_ids": [not_an_id]})
        assert status == 400, (not_an_id, answer)
        assert answer["error"]["field"] == "crew_user_ids.0", (not_an_id, answer)
    with engine().connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.dispatches)
                            .where(tables.dispatches.c.case_id == case_id)).scalar_one() == 0
