"""The rescue-events consumer: records `alerted` once per message, reports only failed
records back (partial batch failure), carries the correlation id (ER3)."""
import json
import uuid

from tests.conftest import api_event, call

LOCATION = {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "gcj02"}


def sqs_event(*bodies):
    return {"Records": [{
        "messageId": str(uuid.uuid4()), "receiptHandle": "rh-" + uuid.uuid4().hex, "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795000000000"},
        "messageAttributes": {"correlation_id": {"stringValue": "corr-consumer", "dataType": "String",
                                                 "stringListValues": [], "binaryListValues": []}},
        "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:hospital-dev-rescue-events", "awsRegion": "us-east-1",
    } for body in bodies]}


def created(case_id, message_id):
    return json.dumps({"message_id": message_id, "type": "rescue.case_created", "data": {"case_id": case_id}})


def new_case(functions, token):
    status, case = call(functions, "RescueApiFunction",
                        api_event("POST", "/rescue/cases", body={"location": LOCATION}, token=token))
    assert status == 201
    return case["case_id"]


def timeline(functions, token, case_id):
    _, case = call(functions, "RescueApiFunction", api_event(
        "GET", f"/rescue/cases/{case_id}", resource="/rescue/cases/{case_id}", token=token,
        path_parameters={"case_id": case_id}))
    return case


def test_duplicate_delivery_records_alerted_once_ER3(patient, functions):
    _, token = patient
    case_id = new_case(functions, token)
    message_id = f"dup-{uuid.uuid4().hex[:8]}"
    for _ in range(3):  # the same outbox message delivered three times
        result = functions.invoke("RescueEventsFunction", sqs_event(created(case_id, message_id)))
        assert result.result == {"batchItemFailures": []}
    case = timeline(functions, token, case_id)
    nodes = [n["node"] for n in case["timeline"]]
    assert nodes == ["call_received", "alerted"]
    assert case["status"] == "alerted"


def test_only_the_failed_record_comes_back_ER3(patient, functions):
    _, token = patient
    good = new_case(functions, token)
    event = sqs_event(created(good, f"ok-{uuid.uuid4().hex[:8]}"), "{not json", created(uuid.uuid4().hex, "m-unknown"))
    result = functions.invoke("RescueEventsFunction", event)
    failed = {f["itemIdentifier"] for f in result.result["batchItemFailures"]}
    assert failed == {event["Records"][1]["messageId"], event["Records"][2]["messageId"]}
    assert "alerted" in [n["node"] for n in timeline(functions, token, good)["timeline"]]
