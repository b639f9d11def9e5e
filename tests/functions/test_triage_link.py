"""The ED triage link (ER7): case details and location reach the triage system through its
own queue, versioned, retried with a visible status, refused pushes not retried."""
import json
import uuid

import pytest

from hospital.db import transaction
from hospital.rescue import triage_link
from tests.conftest import api_event, call, make_patient
from tests.functions.test_rescue_dispatch import CALL, d, staff_member

LOCATION = {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "wgs84", "accuracy_m": 20.0}


def sqs_record(body: dict, receives: int = 1) -> dict:
    return {"messageId": str(uuid.uuid4()), "receiptHandle": "rh", "body": json.dumps(body),
            "attributes": {"ApproximateReceiveCount": str(receives)}, "messageAttributes": {},
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:hospital-dev-triage"}


def push(functions, case_id, receives=1):
    record = sqs_record({"message_id": "t", "type": "triage.case_changed", "data": {"case_id": case_id}}, receives)
    return functions.invoke("TriageLinkFunction", {"Records": [record]}).result


def status_of(case_id):
    with transaction() as conn:
        return triage_link.status_of(conn, case_id)


def new_case(functions, platform):
    _, token = make_patient(platform)
    status, case = call(functions, "RescueApiFunction", api_event(
        "POST", "/rescue/cases", body={"location": LOCATION, "address_text": "人民大道200号"}, token=token))
    assert status == 201
    return case["case_id"], token


@pytest.fixture
def triage(platform):
    platform.triage.clear_faults()
    yield platform.triage
    platform.triage.clear_faults()


def test_a_new_case_reaches_the_triage_system_through_its_queue_ER7(db, platform, functions, triage):
    case_id, _ = new_case(functions, platform)
    # The rescue-events consumer forwards the case to the triage queue, off the intake path.
    created = sqs_record({"message_id": f"m-{uuid.uuid4().hex}", "type": "rescue.case_created",
                          "data": {"case_id": case_id}})
    assert functions.invoke("RescueEventsFunction", {"Records": [created]}).result == {"batchItemFailures": []}
    sqs, url = platform.sqs(), platform.queue_url("TriageQueue")
    forwarded = []
    for _ in range(10):
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", []):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            if case_id in m["Body"]:
                forwarded.append(m)
        if forwarded:
            break
    assert len(forwarded) == 1
    record = {**sqs_record({}), "body": forwarded[0]["Body"], "attributes": forwarded[0]["Attributes"]}
    assert functions.invoke("TriageLinkFunction", {"Records": [record]}).result == {"batchItemFailures": []}
    [stored] = triage.cases(case_id)
    body = stored["case"]
    assert body["location"]["coord_system"] == "gcj02"
    assert abs(body["location"]["latitude"] - LOCATION["latitude"]) > 1e-4  # converted from WGS-84
    assert body["location"]["address_text"] == "人民大道200号"
    assert status_of(case_id)["status"] == "delivered"


def test_later_changes_push_newer_versions_and_old_results_do_not_regress_ER7(db, platform, functions, triage):
    case_id, token = new_case(functions, platform)
    push(functions, case_id)
    first = status_of(case_id)["version"]
    call(functions, "RescueApiFunction", api_event(
        "POST", f"/rescue/cases/{case_id}/location", resource="/rescue/cases/{case_id}/location", token=token,
        body={"location": {**LOCATION, "latitude": 31.2400}}, path_parameters={"case_id": case_id}))
    push(functions, case_id)
    status = status_of(case_id)
    assert status["version"] > first
    assert status["status"] == "delivered"
    with transaction() as conn:
        triage_link.record_result(conn, case_id, first, status="retrying", error="late result of an older push")
    assert status_of(case_id)["status"] == "delivered"  # the older version's result is ignored


def test_an_unreachable_triage_system_is_retried_and_finally_marked_failed_ER7(db, platform, functions, triage):
    case_id, _ = new_case(functions, platform)
    triage.inject_fault("http503", count=2)
    result = push(functions, case_id, receives=1)
    assert len(result["batchItemFailures"]) == 1  # comes back to the queue after a short delay
    assert status_of(case_id)["status"] == "retrying"
    result = push(functions, case_id, receives=triage_link.MAX_RECEIVES)
    assert len(result["batchItemFailures"]) == 1  # the queue moves it to the DLQ (alarm)
    failed = status_of(case_id)
    assert failed["status"] == "failed"
    assert failed["attempts"] == 2
    assert "503" in failed["error"]
    assert push(functions, case_id)["batchItemFailures"] == []  # the ED is back: delivered
    assert status_of(case_id)["status"] == "delivered"


def test_a_refused_push_is_not_retried_and_is_visible_ER7(db, platform, functions, triage, monkeypatch):
    from hospital import config
    from hospital.aws import client

    case_id, _ = new_case(functions, platform)
    wrong = client("secretsmanager").create_secret(Name=f"wrong-triage-{uuid.uuid4().hex[:6]}",
                                                   SecretString=json.dumps({"api_key": "not-the-key"}))
    monkeypatch.setenv("TRIAGE_SECRET_ARN", wrong["ARN"])
    config.clear_caches()
    try:
        assert push(functions, case_id)["batchItemFailures"] == []
        refused = status_of(case_id)
        assert refused["status"] == "rejected"
        assert refused["error"].startswith("401")
    finally:
        monkeypatch.undo()
        config.clear_caches()


def test_a_phone_call_without_coordinates_waits_for_a_location_and_dispatchers_see_it_ER7(
        db, platform, functions, triage):
    _, dtoken = staff_member(platform, "dispatcher")
    case_id = d(functions, dtoken, "POST", body={k: v for k, v in CALL.items() if k != "location"})[1]["case_id"]
    assert push(functions, case_id)["batchItemFailures"] == []
    _status, view = d(functions, dtoken, "GET", case_id)
    assert view["triage"]["status"] == "no_location"
    assert view["location"] is None
