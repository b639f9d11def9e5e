"""Ambulance tracking (ER6): batches from the crew, converted once to GCJ-02, impossible
jumps and device times outside the dispatch dropped and counted, readable by the case's
patient only."""
import datetime as dt

import pytest
import sqlalchemy as sa

from hospital import geo
from hospital.db import engine, tables
from tests.conftest import api_event, call, make_patient
from tests.functions.test_rescue_dispatch import d, s, staff_member, vehicle

LOCATION = {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "gcj02"}


def start_of_track() -> dt.datetime:
    """Now, to the millisecond the API shows: a track's device times count from here (a fix
    from before its dispatch, or minutes ahead of the server, is dropped)."""
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def point(lat, lon, at: dt.datetime, accuracy=8.0):
    return {"latitude": lat, "longitude": lon, "coord_system": "wgs84", "accuracy_m": accuracy,
            "speed_mps": 12.0, "heading": 90.0, "device_time": iso(at)}


def seconds(n: float) -> dt.timedelta:
    return dt.timedelta(seconds=n)


def post(functions, token, vehicle_id, points):
    return call(functions, "RescueStaffFunction", api_event(
        "POST", f"/staff/vehicles/{vehicle_id}/positions", resource="/staff/vehicles/{vehicle_id}/positions",
        body={"points": points}, token=token, path_parameters={"vehicle_id": vehicle_id}))


def ambulance(functions, token, case_id, since=None, base="/rescue/cases", function="RescueApiFunction"):
    """The ambulance of a case as the patient reads it, or (base, function) as a console does."""
    event = api_event("GET", f"{base}/{case_id}/ambulance", resource=base + "/{case_id}/ambulance",
                      token=token, path_parameters={"case_id": case_id})
    if since:
        event["queryStringParameters"] = {"since": since}
        event["multiValueQueryStringParameters"] = {"since": [since]}
    return call(functions, function, event)


def dispatched_case(platform, functions, vehicle_id=None, crew=None):
    """A patient's case with `vehicle_id` (a new one by default) dispatched with `crew` ((principal, token))."""
    _, patient_token = make_patient(platform)
    _status, case = call(functions, "RescueApiFunction",
                         api_event("POST", "/rescue/cases", body={"location": LOCATION}, token=patient_token))
    _, dtoken = staff_member(platform, "dispatcher")
    crew_member, ctoken = crew or staff_member(platform, "staff")
    vehicle_id = vehicle_id or vehicle()
    d(functions, dtoken, "POST", case["case_id"], "/accept", {})
    assert d(functions, dtoken, "POST", case["case_id"], "/dispatch",
             {"vehicle_id": vehicle_id, "crew_user_ids": [crew_member.user_id]})[0] == 200
    return case["case_id"], patient_token, ctoken, vehicle_id


def dropped_points(vehicle_id):
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.vehicles.c.dropped_points)
                            .where(tables.vehicles.c.id == vehicle_id)).scalar_one()


def stored_times(vehicle_id):
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.vehicle_positions.c.device_time)
                            .where(tables.vehicle_positions.c.vehicle_id == vehicle_id)
                            .order_by(tables.vehicle_positions.c.id)).scalars().all()


def test_track_is_converted_filtered_counted_and_readable_by_the_patient_ER6(db, platform, functions):
    case_id, patient_token, ctoken, vehicle_id = dispatched_case(platform, functions)
    t0 = start_of_track()
    assert ambulance(functions, patient_token, case_id)[1]["latest"] is None  # dispatched, no fix yet
    batch = [point(31.2290, 121.4690, t0), point(31.2291, 121.4702, t0 + seconds(10)),
             point(31.2750, 121.4702, t0 + seconds(20)),  # 5 km in 10 s: a network fix, not the ambulance
             point(31.2292, 121.4714, t0 + seconds(30))]
    status, answer = post(functions, ctoken, vehicle_id, batch)
    assert status == 200
    assert answer == {"accepted": 3, "dropped": {"impossible_jump": 1}}
    status, seen = ambulance(functions, patient_token, case_id, since=iso(t0 - seconds(60)))
    assert status == 200
    assert seen["vehicle_id"] == vehicle_id
    expected = geo.to_gcj02(geo.Point(31.2292, 121.4714, "wgs84"))
    assert seen["latest"]["coord_system"] == "gcj02"
    assert abs(seen["latest"]["latitude"] - expected.latitude) < 1e-9
    assert abs(seen["latest"]["longitude"] - expected.longitude) < 1e-9
    assert [p["device_time"] for p in seen["track"]] == [iso(t0), iso(t0 + seconds(10)), iso(t0 + seconds(30))]
    assert len(ambulance(functions, patient_token, case_id, since=iso(t0 + seconds(5)))[1]["track"]) == 2
    # The same batch again (a retried post) adds nothing.
    assert post(functions, ctoken, vehicle_id, batch)[1] == {"accepted": 0, "dropped": {"out_of_order": 4}}
    with engine().connect() as conn:
        assert conn.execute(sa.select(tables.vehicles.c.dropped_points)
                            .where(tables.vehicles.c.id == vehicle_id)).scalar_one() == 5
        stored = conn.execute(sa.select(tables.vehicle_positions.c.location_enc)
                              .where(tables.vehicle_positions.c.vehicle_id == vehicle_id)).scalars().all()
    assert len(stored) == 3
    assert all(b"31.2" not in blob for blob in stored)


def test_only_the_crew_posts_and_only_the_patient_reads_ER6(db, platform, functions):
    case_id, patient_token, ctoken, vehicle_id = dispatched_case(platform, functions)
    _, stranger_staff = staff_member(platform, "staff")
    t0 = start_of_track()
    status, body = post(functions, stranger_staff, vehicle_id, [point(31.2290, 121.4690, t0)])
    assert status == 403
    assert body["error"]["code"] == "not_vehicle_crew"
    assert post(functions, ctoken, "NO-SUCH-CAR", [point(31.2290, 121.4690, t0)])[0] == 404
    _, other_patient = make_patient(platform)
    assert ambulance(functions, other_patient, case_id)[0] == 404
    assert call(functions, "RescueStaffFunction", api_event(
        "POST", f"/staff/vehicles/{vehicle_id}/positions", resource="/staff/vehicles/{vehicle_id}/positions",
        body={"points": [point(31.2290, 121.4690, t0)]}, token=patient_token,
        path_parameters={"vehicle_id": vehicle_id}))[0] == 403


def test_bad_points_are_400_naming_the_field_ER6(db, platform, functions):
    case_id, patient_token, ctoken, vehicle_id = dispatched_case(platform, functions)
    t0 = start_of_track()
    naive = {**point(31.2290, 121.4690, t0), "device_time": "2026-11-26T08:00:00"}
    for points, field in [([naive], "points.0.device_time"), ([point(95.0, 121.4, t0)], "points.0.latitude"),
                          ([point(31.2, 121.4, t0)] * 121, "points"), ([], "points")]:
        status, body = post(functions, ctoken, vehicle_id, points)
        assert status == 400, body
        assert body["error"]["field"] == field, body
    status, body = ambulance(functions, patient_token, case_id, since="yesterday")
    assert status == 400
    assert body["error"]["field"] == "since"


def test_a_failed_live_push_does_not_fail_the_post_the_points_stay_readable_ER6(db, platform, functions, monkeypatch,
                                                                               caplog):
    from hospital.timeutil import utcnow

    case_id, patient_token, ctoken, vehicle_id = dispatched_case(platform, functions)
    # The patient follows the case, but the WebSocket API's management endpoint is unreachable.
    with engine().begin() as conn:
        patient = conn.execute(sa.select(tables.rescue_cases.c.patient_user_id)
                               .where(tables.rescue_cases.c.id == case_id)).scalar_one()
        conn.execute(tables.live_connections.insert().values(
            connection_id="conn-unreachable", user_id=patient, channel=f"case:{case_id}", connected_at=utcnow(),
            expires_at=utcnow() + dt.timedelta(minutes=15)))
    monkeypatch.setenv("LIVE_API_ENDPOINT", "http://127.0.0.1:9")
    t0 = start_of_track()
    status, answer = post(functions, ctoken, vehicle_id, [point(31.2290, 121.4690, t0)])
    assert status == 200
    assert answer == {"accepted": 1, "dropped": {}}
    assert any(r.getMessage() == "live push failed" for r in caplog.records)  # it was tried, and failed
    assert ambulance(functions, patient_token, case_id)[1]["latest"]["device_time"] == iso(t0)


def test_a_fix_dated_2099_is_dropped_and_the_real_fixes_after_it_are_kept_and_shown_ER6(db, platform, functions):
    case_id, patient_token, ctoken, vehicle_id = dispatched_case(platform, functions)
    t0 = start_of_track()
    assert post(functions, ctoken, vehicle_id, [point(31.2290, 121.4690, t0)])[1] == {"accepted": 1, "dropped": {}}
    bogus = point(31.2291, 121.4691, dt.datetime(2099, 1, 1, tzinfo=dt.UTC))
    status, answer = post(functions, ctoken, vehicle_id, [bogus])
    assert status == 200
    assert answer == {"accepted": 0, "dropped": {"future_time": 1}}
    status, answer = post(functions, ctoken, vehicle_id, [point(31.2300, 121.4700, t0 + seconds(10))])
    assert status == 200
    assert answer == {"accepted": 1, "dropped": {}}
    latest = ambulance(functions, patient_token, case_id)[1]["latest"]
    expected = geo.to_gcj02(geo.Point(31.2300, 121.4700, "wgs84"))
    assert latest["device_time"] == iso(t0 + seconds(10))
    assert abs(latest["latitude"] - expected.latitude) < 1e-9
    assert dropped_points(vehicle_id) == 1
    assert len(stored_times(vehicle_id)) == 2


def test_a_fix_up_to_two_minutes_ahead_of_the_server_is_kept_ER6(db, platform, functions):
    case_id, patient_token, ctoken, vehicle_id = dispatched_case(platform, functions)
    ahead = start_of_track() + seconds(100)  # a phone clock running fast, within the allowance
    assert post(functions, ctoken, vehicle_id, [point(31.2290, 121.4690, ahead)])[1] == {"accepted": 1, "dropped": {}}
    assert ambulance(functions, patient_token, case_id)[1]["latest"]["device_time"] == iso(ahead)


def test_a_fix_from_before_the_dispatch_is_dropped_with_its_reason_ER6(db, platform, functions):
    case_id, patient_token, ctoken, vehicle_id = dispatched_case(platform, functions)
    t0 = start_of_track()
    earlier_trip = point(31.2000, 121.4000, t0 - dt.timedelta(minutes=10))
    status, answer = post(functions, ctoken, vehicle_id, [earlier_trip, point(31.2290, 121.4690, t0)])
    assert status == 200
    assert answer == {"accepted": 1, "dropped": {"before_dispatch": 1}}
    seen = ambulance(functions, patient_token, case_id, since=iso(t0 - dt.timedelta(hours=1)))[1]
    assert [p["device_time"] for p in seen["track"]] == [iso(t0)]
    assert dropped_points(vehicle_id) == 1


def test_a_point_stored_far_ahead_before_the_rule_neither_shows_nor_blocks_the_track_ER6(db, platform, functions):
    from hospital import crypto
    from hospital.timeutil import utcnow

    case_id, patient_token, ctoken, vehicle_id = dispatched_case(platform, functions)
    with engine().begin() as conn:  # what an earlier version accepted
        dispatch_id = conn.execute(sa.select(tables.dispatches.c.id)
                                   .where(tables.dispatches.c.case_id == case_id)).scalar_one()
        conn.execute(tables.vehicle_positions.insert().values(
            vehicle_id=vehicle_id, dispatch_id=dispatch_id, reported_coord_system="wgs84", accuracy_m=5.0,
            location_enc=crypto.encrypt('{"latitude": 31.2, "longitude": 121.4}',
                                        f"vehicle_positions.location:{vehicle_id}"),
            device_time=dt.datetime(2099, 1, 1), server_time=utcnow()))
    t0 = start_of_track()
    status, answer = post(functions, ctoken, vehicle_id, [point(31.2290, 121.4690, t0)])
    assert status == 200
    assert answer == {"accepted": 1, "dropped": {}}
    seen = ambulance(functions, patient_token, case_id, since=iso(t0 - seconds(60)))[1]
    assert seen["latest"]["device_time"] == iso(t0)
    assert [p["device_time"] for p in seen["track"]] == [iso(t0)]


def test_a_new_dispatch_of_the_same_vehicle_is_not_judged_by_the_last_trip_ER6(db, platform, functions):
    crew = staff_member(platform, "staff")
    first_case, first_patient, ctoken, vehicle_id = dispatched_case(platform, functions, crew=crew)
    t0 = start_of_track()
    # The last fix of the first trip, from a phone whose clock runs almost two minutes fast.
    last_of_first = t0 + seconds(110)
    assert post(functions, ctoken, vehicle_id, [point(31.2290, 121.4690, last_of_first)])[1]["accepted"] == 1
    for node in ("en_route", "on_scene", "left_scene", "at_hospital", "handed_over", "back_in_service"):
        assert s(functions, ctoken, "POST", first_case, "/progress", {"node": node})[0] == 200
    second_case, second_patient, _, _ = dispatched_case(platform, functions, vehicle_id=vehicle_id, crew=crew)
    # Earlier than the first trip's last fix, and 20 km from it a few seconds later.
    first_of_second = start_of_track() + seconds(1)
    assert first_of_second < last_of_first
    status, answer = post(functions, ctoken, vehicle_id, [point(31.4090, 121.4690, first_of_second)])
    assert status == 200
    assert answer == {"accepted": 1, "dropped": {}}
    assert ambulance(functions, second_patient, second_case)[1]["latest"]["device_time"] == iso(first_of_second)
    assert ambulance(functions, first_patient, first_case)[1]["latest"]["device_time"] == iso(last_of_first)


@pytest.mark.parametrize("device_time", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_device_time_that_cannot_be_stored_is_400_naming_the_point_and_the_batch_writes_nothing_ER6_NF5(
        db, platform, functions, device_time):
    _case_id, _patient_token, ctoken, vehicle_id = dispatched_case(platform, functions)
    t0 = start_of_track()
    batch = [point(31.2290, 121.4690, t0), {**point(31.2291, 121.4691, t0 + seconds(10)), "device_time": device_time}]
    status, body = post(functions, ctoken, vehicle_id, batch)
    assert status == 400
    assert body["error"]["field"] == "points.1.device_time"
    assert stored_times(vehicle_id) == []
    assert dropped_points(vehicle_id) == 0
    # The crew's next batch goes through as if the bad one had never come.
    assert post(functions, ctoken, vehicle_id, batch[:1])[1] == {"accepted": 1, "dropped": {}}


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_since_that_cannot_be_converted_is_400_naming_it_ER6_NF5(db, platform, functions, since):
    case_id, patient_token, _ctoken, _vehicle_id = dispatched_case(platform, functions)
    with engine().connect() as conn:
        audited = conn.execute(sa.select(sa.func.count()).select_from(tables.audit_log)).scalar_one()
    status, body = ambulance(functions, patient_token, case_id, since=since)
    assert status == 400
    assert body["error"]["field"] == "since"
    with engine().connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.audit_log)).scalar_one() == audited
