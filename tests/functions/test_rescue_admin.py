"""Back office: dispatch records with the spec's intervals, median and 90th percentile,
counts, filters, CSV; caller details only for allowed roles, audited (EA1, EA2, EA3)."""
import datetime as dt
import uuid

import sqlalchemy as sa

from hospital.db import engine, tables
from tests.conftest import api_event
from tests.functions.test_rescue_dispatch import CALL, d, s, staff_member, vehicle

BASE = dt.datetime(2025, 3, 10, 1, 0, 0)  # 09:00 in Shanghai


def admin(functions, token, path, resource=None, query=None, params=None):
    event = api_event("GET", path, resource=resource or path, token=token, path_parameters=params)
    if query:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    result = functions.invoke("RescueAdminFunction", event).result
    return result


def run_case(functions, platform, dtoken, crew, ctoken, vehicle_id, offsets):
    """A dispatched case driven to completion, then its node times set to BASE + offsets."""
    case_id = d(functions, dtoken, "POST", body=CALL)[1]["case_id"]
    d(functions, dtoken, "POST", case_id, "/accept", {})
    d(functions, dtoken, "POST", case_id, "/dispatch", {"vehicle_id": vehicle_id, "crew_user_ids": [crew.user_id]})
    for node in ("en_route", "on_scene", "left_scene", "at_hospital", "handed_over", "back_in_service"):
        s(functions, ctoken, "POST", case_id, "/progress", {"node": node})
    d(functions, dtoken, "POST", case_id, "/complete", {})
    with engine().begin() as conn:
        conn.execute(tables.rescue_cases.update().where(tables.rescue_cases.c.id == case_id).values(created_at=BASE))
        for node, seconds in offsets.items():
            conn.execute(tables.rescue_events.update().where(tables.rescue_events.c.case_id == case_id,
                                                             tables.rescue_events.c.node == node)
                         .values(occurred_at=BASE + dt.timedelta(seconds=seconds)))
    return case_id


def test_dispatch_records_intervals_percentiles_filters_and_csv_EA1(db, platform, functions):
    _, dtoken = staff_member(platform, "dispatcher")
    crew, ctoken = staff_member(platform, "staff")
    _, atoken = staff_member(platform, "super_admin")
    vehicle_id = vehicle()
    for call_to_dispatch in (60, 120, 300):
        run_case(functions, platform, dtoken, crew, ctoken, vehicle_id, {
            "call_received": 0, "dispatched": call_to_dispatch, "en_route": call_to_dispatch + 90,
            "on_scene": call_to_dispatch + 600})
    result = admin(functions, atoken, "/admin/rescue/dispatches",
                   query={"from": "2025-03-10", "to": "2025-03-10", "vehicle_id": vehicle_id})
    assert result["statusCode"] == 200
    import json

    report = json.loads(result["body"])
    assert report["count"] == 3
    assert report["per_vehicle"] == {vehicle_id: 3}
    assert report["per_day"] == {"2025-03-10": 3}
    assert report["intervals"]["call_to_dispatch"] == {"n": 3, "median_s": 120.0, "p90_s": 300.0}
    assert report["intervals"]["turn_out"] == {"n": 3, "median_s": 90.0, "p90_s": 90.0}
    assert report["intervals"]["travel"]["median_s"] == 510.0
    assert {r["outcome"] for r in report["records"]} == {"completed"}
    # The day after is empty, and so is another outcome.
    assert json.loads(admin(functions, atoken, "/admin/rescue/dispatches", query={
        "from": "2025-03-11", "to": "2025-03-11", "vehicle_id": vehicle_id})["body"])["count"] == 0
    assert json.loads(admin(functions, atoken, "/admin/rescue/dispatches", query={
        "from": "2025-03-10", "to": "2025-03-10", "vehicle_id": vehicle_id, "outcome": "cancelled",
    })["body"])["count"] == 0
    exported = admin(functions, atoken, "/admin/rescue/dispatches", query={
        "from": "2025-03-10", "to": "2025-03-10", "vehicle_id": vehicle_id, "format": "csv"})
    assert exported["headers"]["Content-Type"].startswith("text/csv")
    lines = exported["body"].lstrip("\ufeff").strip().split("\r\n")
    assert lines[0].startswith("dispatch_id,case_id,vehicle_id")
    assert len(lines) == 4
    assert ",120.0," in "".join(lines[1:])


def test_report_input_is_validated_EA1(db, platform, functions):
    _, atoken = staff_member(platform, "super_admin")
    import json

    for query, field in [({"to": "2025-03-10"}, "from"), ({"from": "2025-03-10", "to": "2025-03-09"}, "to"),
                         ({"from": "2025-03-10", "to": "2025-03-10", "outcome": "lost"}, "outcome"),
                         ({"from": "10/03/2025", "to": "2025-03-10"}, "from")]:
        result = admin(functions, atoken, "/admin/rescue/dispatches", query=query)
        assert result["statusCode"] == 400
        assert json.loads(result["body"])["error"]["field"] == field


def test_caller_details_only_for_allowed_roles_and_audited_EA2_EA3(db, platform, functions):
    import json

    _, dtoken = staff_member(platform, "dispatcher")
    case_id = d(functions, dtoken, "POST", body=CALL)[1]["case_id"]
    path, resource, params = f"/admin/rescue/cases/{case_id}", "/admin/rescue/cases/{case_id}", {"case_id": case_id}
    it_admin, itoken = staff_member(platform, "it_admin")
    seen = json.loads(admin(functions, itoken, path, resource, params=params)["body"])
    assert seen["caller_phone"] is None
    assert seen["caller_details_visible"] is False
    assert next(n["node"] for n in seen["timeline"]) == "call_received"  # the full timeline (EA2)
    nurse, ntoken = staff_member(platform, "ed_nurse")
    seen = json.loads(admin(functions, ntoken, path, resource, params=params)["body"])
    assert seen["caller_phone"] == CALL["caller_phone"]
    with engine().connect() as conn:
        viewers = conn.execute(sa.select(tables.audit_log.c.actor_user_id).where(
            tables.audit_log.c.action == "rescue.personal_data_viewed",
            tables.audit_log.c.target_id == case_id)).scalars().all()
    # The dispatcher who took the call saw it too; the IT admin saw no personal field.
    assert nurse.user_id in viewers
    assert it_admin.user_id not in viewers
    for role in ("patient", "dispatcher", "staff", "finance"):
        _, token = staff_member(platform, role)
        assert admin(functions, token, path, resource, params=params)["statusCode"] == 403
    assert admin(functions, ntoken, f"/admin/rescue/cases/{uuid.uuid4().hex}", resource,
                 params={"case_id": uuid.uuid4().hex})["statusCode"] == 404


def test_report_dates_outside_2000_to_2099_are_400_naming_the_field_and_nothing_is_audited_EA1_NF5(
        db, platform, functions):
    import json

    _, atoken = staff_member(platform, "super_admin")

    def audited():
        with engine().connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(tables.audit_log)
                                .where(tables.audit_log.c.action == "rescue.dispatch_records")).scalar_one()

    before = audited()
    for query, field in [({"from": "0001-01-01", "to": "0001-01-01"}, "from"),
                         ({"from": "9999-12-31", "to": "9999-12-31"}, "from"),
                         ({"from": "2099-12-31", "to": "9999-12-31"}, "to"),
                         ({"from": "2099-12-31", "to": "2100-01-01"}, "to")]:
        result = admin(functions, atoken, "/admin/rescue/dispatches", query=query)
        assert result["statusCode"] == 400, query
        assert json.loads(result["body"])["error"]["field"] == field, query
    assert audited() == before
    assert admin(functions, atoken, "/admin/rescue/dispatches",
                 query={"from": "2099-12-31", "to": "2099-12-31"})["statusCode"] == 200
