"""Ambulance tracking (ER6): batches from the crew, converted once to GCJ-02, impossible
jumps dropped and counted, readable by the case's patient only."""
import sqlalchemy as sa

from hospital import geo
from hospital.db import engine, tables
from tests.conftest import api_event, call, make_patient
from tests.functions.test_rescue_dispatch import d, staff_member, vehicle

LOCATION = {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "gcj02"}


def point(lat, lon, second, accuracy=8.0):
    return {"latitude": lat, "longitude": lon, "coord_system": "wgs84", "accuracy_m": accuracy,
            "speed_mps": 12.0, "heading": 90.0, "device_time": f"2026-11-26T08:00:{second:02d}Z"}


def post(functions, token, vehicle_id, points):
    return call(functions, "RescueStaffFunction", api_event(
        "POST", f"/staff/vehicles/{vehicle_id}/positions", resource="/staff/vehicles/{vehicle_id}/positions",
        body={"points": points}, token=token, path_parameters={"vehicle_id": vehicle_id}))


def ambulance(functions, token, case_id, since=None):
    event = api_event("GET", f"/rescue/cases/{case_id}/ambulance", resource="/rescue/cases/{case_id}/ambulance",
                      token=token, path_parameters={"case_id": case_id})
    if since:
        event["queryStringParameters"] = {"since": since}
        event["multiValueQueryStringParameters"] = {"since": [since]}
    return call(functions, "RescueApiFunction", event)


def dispatched_case(platform, functions):
    _, patient_token = make_patient(platform)
    status, case = call(functions, "RescueApiFunction",
                        api_event("POST", "/rescue/cases", body={"location": LOCATION}, token=patient_token))
    _, dtoken = staff_member(platform, "dispatcher")
    crew, ctoken = staff_member(platform, "staff")
    vehicle_id = vehicle()
    d(functions, dtoken, "POST", case["case_id"], "/accept", {})
    assert d(functions, dtoken, "POST", case["case_id"], "/dispatch",
             {"vehicle_id": vehicle_id, "crew_user_ids": [crew.user_id]})[0] == 200
    return case["case_id"], patient_token, ctoken, vehicle_id


def test_track_is_converted_filtered_counted_and_readable_by_the_patient_ER6(db, platform, functions):
    case_id, patient_token, ctoken, vehicle_id = dispatched_case(platform, functions)
    assert ambulance(functions, patient_token, case_id)[1]["latest"] is None  # dispatched, no fix yet
    batch = [point(31.2290, 121.4690, 0), point(31.2291, 121.4702, 10),
             point(31.2750, 121.4702, 20),  # 5 km in 10 s: a network fix, not the ambulance
             point(31.2292, 121.4714, 30)]
    status, answer = post(functions, ctoken, vehicle_id, batch)
    assert status == 200 and answer == {"accepted": 3, "dropped": {"impossible_jump": 1}}
    status, seen = ambulance(functions, patient_token, case_id, since="2026-11-26T07:59:00Z")
    assert status == 200 and seen["vehicle_id"] == vehicle_id
    expected = geo.to_gcj02(geo.Point(31.2292, 121.4714, "wgs84"))
    assert seen["latest"]["coord_system"] == "gcj02"
    assert abs(seen["latest"]["latitude"] - expected.latitude) < 1e-9
    assert abs(seen["latest"]["longitude"] - expected.longitude) < 1e-9
    assert [p["device_time"] for p in seen["track"]] == ["2026-11-26T08:00:00.000Z", "2026-11-26T08:00:10.000Z",
                                                         "2026-11-26T08:00:30.000Z"]
    assert len(ambulance(functions, patient_token, case_id, since="2026-11-26T08:00:05Z")[1]["track"]) == 2
    # The same batch again (a retried post) adds nothing.
    assert post(functions, ctoken, vehicle_id, batch)[1] == {"accepted": 0, "dropped": {"out_of_order": 4}}
    with engine().connect() as conn:
        assert conn.execute(sa.select(tables.vehicles.c.dropped_points).where(tables.vehicles.c.id == vehicle_id)).scalar_one() == 5
        stored = conn.execute(sa.select(tables.vehicle_positions.c.location_enc)
                              .where(tables.vehicle_positions.c.vehicle_id == vehicle_id)).scalars().all()
    assert len(stored) == 3 and all(b"31.2" not in blob for blob in stored)


def test_only_the_crew_posts_and_only_the_patient_reads_ER6(db, platform, functions):
    case_id, patient_token, ctoken, vehicle_id = dispatched_case(platform, functions)
    _, stranger_staff = staff_member(platform, "staff")
    status, body = post(functions, stranger_staff, vehicle_id, [point(31.2290, 121.4690, 0)])
    assert status == 403 and body["error"]["code"] == "not_vehicle_crew"
    assert post(functions, ctoken, "NO-SUCH-CAR", [point(31.2290, 121.4690, 0)])[0] == 404
    _, other_patient = make_patient(platform)
    assert ambulance(functions, other_patient, case_id)[0] == 404
    assert call(functions, "RescueStaffFunction", api_event(
        "POST", f"/staff/vehicles/{vehicle_id}/positions", resource="/staff/vehicles/{vehicle_id}/positions",
        body={"points": [point(31.2290, 121.4690, 0)]}, token=patient_token,
        path_parameters={"vehicle_id": vehicle_id}))[0] == 403


def test_bad_points_are_400_naming_the_field_ER6(db, platform, functions):
    case_id, patient_token, ctoken, vehicle_id = dispatched_case(platform, functions)
    naive = {**point(31.2290, 121.4690, 0), "device_time": "2026-11-26T08:00:00"}
    for points, field in [([naive], "points.0.device_time"), ([point(95.0, 121.4, 0)], "points.0.latitude"),
                          ([point(31.2, 121.4, 0)] * 121, "points"), ([], "points")]:
        status, body = post(functions, ctoken, vehicle_id, points)
        assert status == 400 and body["error"]["field"] == field, body
    status, body = ambulance(functions, patient_token, case_id, since="yesterday")
    assert status == 400 and body["error"]["field"] == "since"


def test_a_failed_live_push_does_not_fail_the_post_the_points_stay_readable_ER6(db, platform, functions, monkeypatch,
                                                                               caplog):
    from hospital.timeutil import utcnow

    case_id, patient_token, ctoken, vehicle_id = dispatched_case(platform, functions)
    # The patient follows the case, but the WebSocket API's management endpoint is unreachable.
    with engine().begin() as conn:
        patient = conn.execute(sa.select(tables.rescue_cases.c.patient_user_id)
                               .where(tables.rescue_cases.c.id == case_id)).scalar_one()
        conn.execute(tables.live_connections.insert().values(
            connection_id="conn-unreachable", user_id=patient, channel=f"case:{case_id}", connected_at=utcnow()))
    monkeypatch.setenv("LIVE_API_ENDPOINT", "http://127.0.0.1:9")
    status, answer = post(functions, ctoken, vehicle_id, [point(31.2290, 121.4690, 0)])
    assert status == 200 and answer == {"accepted": 1, "dropped": {}}
    assert any(r.getMessage() == "live push failed" for r in caplog.records)  # it was tried, and failed
    assert ambulance(functions, patient_token, case_id)[1]["latest"]["device_time"] == "2026-11-26T08:00:00.000Z"
