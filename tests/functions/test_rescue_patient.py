"""Patient side of rescue beyond intake: my rescue persons (ER10), my case history (ER11),
location corrections (ER5), cancellation before dispatch (EA4)."""
import concurrent.futures
import uuid

import sqlalchemy as sa

from hospital.db import engine, tables
from tests.conftest import api_event, call, make_patient

LOCATION = {"latitude": 30.5728, "longitude": 104.0668, "coord_system": "gcj02", "accuracy_m": 25.0}
PERSON = {"name": "王秀英", "relation": "parent", "phone": "13800138000", "notes": "高血压，青霉素过敏"}


def api(functions, token, method, path, body=None, resource=None, params=None, query=None):
    event = api_event(method, path, resource=resource or path, body=body, token=token, path_parameters=params)
    if query:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return call(functions, "RescueApiFunction", event)


def person_path(functions, token, method, person_id, body=None):
    return api(functions, token, method, f"/rescue/persons/{person_id}", body, resource="/rescue/persons/{person_id}",
               params={"person_id": person_id})


def case_path(functions, token, method, case_id, suffix="", body=None):
    return api(functions, token, method, f"/rescue/cases/{case_id}{suffix}", body,
               resource="/rescue/cases/{case_id}" + suffix, params={"case_id": case_id})


def new_case(functions, token, **extra):
    status, case = api(functions, token, "POST", "/rescue/cases", {"location": LOCATION, **extra})
    assert status == 201, case
    return case["case_id"]


# ---- ER10: my rescue persons ---------------------------------------------------------------

def test_the_10th_rescue_person_is_accepted_and_the_11th_refused_with_the_10_intact_ER10(patient, functions):
    _, token = patient
    ids = []
    for n in range(10):
        status, person = api(functions, token, "POST", "/rescue/persons", {**PERSON, "name": f"家人{n}"})
        assert status == 201, person
        ids.append(person["person_id"])
    status, refused = api(functions, token, "POST", "/rescue/persons", {**PERSON, "name": "第十一位"})
    assert status == 409
    assert refused["error"]["code"] == "rescue_person_limit"
    assert "10" in refused["error"]["message"]
    status, listing = api(functions, token, "GET", "/rescue/persons")
    assert [p["person_id"] for p in listing["items"]] == ids
    assert [p["name"] for p in listing["items"]] == [f"家人{n}" for n in range(10)]
    # Removing one makes room again.
    assert person_path(functions, token, "DELETE", ids[0])[0] == 204
    assert api(functions, token, "POST", "/rescue/persons", {**PERSON, "name": "新家人"})[0] == 201


def test_concurrent_adds_cannot_pass_the_limit_ER10(mysql_db, platform, functions):
    _, token = make_patient(platform)
    for n in range(8):
        assert api(functions, token, "POST", "/rescue/persons", {**PERSON, "name": f"p{n}"})[0] == 201
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda n: api(functions, token, "POST", "/rescue/persons",
                                               {**PERSON, "name": f"race{n}"})[0], range(6)))
    assert sorted(statuses) == [201, 201, 409, 409, 409, 409]
    assert len(api(functions, token, "GET", "/rescue/persons")[1]["items"]) == 10


def test_rescue_person_crud_is_owner_only_validated_and_encrypted_ER10(patient, functions, platform):
    _, token = patient
    status, person = api(functions, token, "POST", "/rescue/persons", PERSON)
    assert status == 201
    assert person["notes"] == PERSON["notes"]
    status, updated = person_path(functions, token, "PUT", person["person_id"], {**PERSON, "phone": "02887654321"})
    assert status == 200
    assert updated["phone"] == "02887654321"
    with engine().connect() as conn:
        row = conn.execute(
            sa.select(tables.rescue_persons).where(tables.rescue_persons.c.id == person["person_id"])).one()
    assert "王秀英".encode() not in row.name_enc
    assert b"02887654321" not in row.phone_enc

    _, stranger = make_patient(platform)
    for method in ("GET", "PUT", "DELETE"):
        status, body = person_path(functions, stranger, method, person["person_id"],
                                   PERSON if method == "PUT" else None)
        assert status == 404, (method, body)

    for bad, field in [({**PERSON, "phone": "12345"}, "phone"), ({**PERSON, "name": " "}, "name"),
                       ({**PERSON, "relation": "boss"}, "relation"), ({"relation": "self"}, "name")]:
        status, body = api(functions, token, "POST", "/rescue/persons", bad)
        assert status == 400
        assert body["error"]["field"] == field


def test_a_removed_rescue_person_cannot_be_chosen_for_a_new_case_ER4(patient, functions):
    _, token = patient
    person_id = api(functions, token, "POST", "/rescue/persons", PERSON)[1]["person_id"]
    case_id = new_case(functions, token, rescue_person_id=person_id)
    assert person_path(functions, token, "DELETE", person_id)[0] == 204
    status, body = api(functions, token, "POST", "/rescue/cases", {"location": LOCATION, "rescue_person_id": person_id})
    assert status == 400
    assert body["error"]["field"] == "rescue_person_id"
    assert case_path(functions, token, "GET", case_id)[1]["rescue_person_id"] == person_id  # history keeps it


# ---- ER11: my case history ----------------------------------------------------------------

def test_history_is_newest_first_paged_and_own_only_ER11(patient, functions, platform):
    _, token = patient
    made = [new_case(functions, token, address_text=f"地址{n}") for n in range(5)]
    _, other = make_patient(platform)
    new_case(functions, other)
    seen, cursor = [], None
    for expected in (2, 2, 1):
        status, page = api(functions, token, "GET", "/rescue/cases",
                           query={"limit": "2", **({"cursor": cursor} if cursor else {})})
        assert status == 200
        assert len(page["items"]) == expected
        seen += [item["case_id"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert cursor is None
    assert seen == list(reversed(made))
    assert api(functions, token, "GET", "/rescue/cases", query={"limit": "1"})[1]["items"][0]["address_text"] == "地址4"


def test_history_paging_input_is_validated_ER11(patient, functions):
    _, token = patient
    for query, field in [({"limit": "0"}, "limit"), ({"limit": "51"}, "limit"), ({"limit": "ten"}, "limit"),
                         ({"cursor": "not-a-cursor"}, "cursor")]:
        status, body = api(functions, token, "GET", "/rescue/cases", query=query)
        assert status == 400
        assert body["error"]["field"] == field


# ---- ER5: location corrections, EA4: cancellation ------------------------------------------

def test_location_corrections_are_all_kept_and_on_the_timeline_ER5(patient, functions, platform):
    _, token = patient
    case_id = new_case(functions, token, address_text="旧地址")
    moved = {"latitude": 30.5801, "longitude": 104.0702, "coord_system": "wgs84", "accuracy_m": 6.0}
    status, case = case_path(functions, token, "POST", case_id, "/location",
                             {"location": moved, "address_text": "新地址"})
    assert status == 200
    assert case["location"] == moved
    assert case["address_text"] == "新地址"
    assert [h["latitude"] for h in case["location_history"]] == [LOCATION["latitude"], moved["latitude"]]
    assert case["timeline"][-1]["node"] == "location_changed"
    assert "30.5801" not in str(case["timeline"][-1]["details"])  # coordinates stay in encrypted storage

    _, stranger = make_patient(platform)
    assert case_path(functions, stranger, "POST", case_id, "/location", {"location": moved})[0] == 404
    status, body = case_path(functions, token, "POST", case_id, "/location", {"location": {**moved, "latitude": 100}})
    assert status == 400
    assert body["error"]["field"] == "location.latitude"


def test_cancel_before_dispatch_then_no_more_changes_EA4(patient, functions):
    _, token = patient
    case_id = new_case(functions, token)
    status, case = case_path(functions, token, "POST", case_id, "/cancel", {"reason": "mistaken_call"})
    assert status == 200
    assert case["status"] == "cancelled"
    assert case["timeline"][-1]["details"] == {"reason": "mistaken_call"}
    status, body = case_path(functions, token, "POST", case_id, "/cancel", {"reason": "mistaken_call"})
    assert status == 409
    assert body["error"]["code"] == "illegal_transition"
    status, body = case_path(functions, token, "POST", case_id, "/location", {"location": LOCATION})
    assert status == 409
    assert "open" in body["error"]["message"]
    status, body = case_path(functions, token, "POST", case_id, "/cancel", {"reason": "I feel better now"})
    assert status == 400
    assert body["error"]["field"] == "reason"


def test_cancel_after_dispatch_is_refused_with_the_reason_EA4(patient, functions):
    from hospital.rescue import case_store

    _, token = patient
    case_id = new_case(functions, token)
    with engine().begin() as conn:  # a dispatcher sends a vehicle (dispatch API comes with the dispatcher work)
        case_store.append_node(conn, case_id, "accepted", source="dispatch_console", actor_role="dispatcher")
        case_store.append_node(conn, case_id, "dispatched", source="dispatch_console", actor_role="dispatcher",
                               details={"vehicle": "沪A-120-07"})
    status, body = case_path(functions, token, "POST", case_id, "/cancel", {"reason": "own_transport"})
    assert status == 409
    assert "dispatched" in body["error"]["message"]
    assert case_path(functions, token, "GET", case_id)[1]["status"] == "dispatched"


def test_unknown_case_is_404_for_every_patient_action(patient, functions):
    _, token = patient
    ghost = uuid.uuid4().hex
    assert case_path(functions, token, "POST", ghost, "/cancel", {"reason": "other"})[0] == 404
    assert case_path(functions, token, "POST", ghost, "/location", {"location": LOCATION})[0] == 404
