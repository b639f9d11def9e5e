"""The rescue slice through its HTTP function with real API Gateway events (ER1, ER2, ER4, ER5)."""
import json
import uuid

import pytest
import sqlalchemy as sa

from hospital import outbox
from hospital.db import engine, tables
from hospital.unit_of_work import unit_of_work
from tests.conftest import api_event, call, make_patient

LOCATION = {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "wgs84", "accuracy_m": 35.5}


def create(functions, token, body, headers=None):
    return call(functions, "RescueApiFunction",
                api_event("POST", "/rescue/cases", body=body, token=token, headers=headers))


def get(functions, token, case_id):
    return call(functions, "RescueApiFunction", api_event(
        "GET", f"/rescue/cases/{case_id}", resource="/rescue/cases/{case_id}", token=token,
        path_parameters={"case_id": case_id}))


def counts():
    with engine().connect() as conn:
        return {name: conn.execute(sa.select(sa.func.count()).select_from(getattr(tables, name))).scalar_one()
                for name in ("rescue_cases", "rescue_events", "outbox")}


def add_rescue_person(owner_id: int) -> str:
    from hospital.auth.tokens import Principal
    from hospital.rescue import models, persons

    owner = Principal(user_id=owner_id, roles=frozenset({"patient"}))
    return persons.create(owner, models.RescuePersonIn(name="李四", relation="parent"))["person_id"]


def add_card(owner_id: int) -> str:
    from hospital import crypto
    from hospital.timeutil import utcnow

    card_id = uuid.uuid4().hex
    with engine().begin() as conn:
        conn.execute(tables.patient_cards.insert().values(
            id=card_id, user_id=owner_id, his_patient_id="HIS0001",
            card_no_enc=crypto.encrypt("0001234", f"patient_cards.card_no:{card_id}"),
            card_no_hash=crypto.lookup_hash("0001234", "card_no"), created_at=utcnow()))
    return card_id


def test_create_without_card_or_person_and_read_back_ER1_ER2_ER4(patient, functions):
    _principal, token = patient
    status, case = create(functions, token, {"location": LOCATION, "address_text": "人民大道200号"})
    assert status == 201
    assert case["status"] in ("received", "alerted")
    assert case["location"] == LOCATION
    assert case["address_text"] == "人民大道200号"
    assert case["timeline"][0]["node"] == "call_received"
    assert case["timeline"][0]["actor_role"] == "patient"
    status, again = get(functions, token, case["case_id"])
    assert status == 200
    assert again["case_id"] == case["case_id"]


def test_create_with_own_card_and_rescue_person_ER2_ER4(patient, functions):
    principal, token = patient
    body = {"location": LOCATION, "hospital_card_id": add_card(principal.user_id),
            "rescue_person_id": add_rescue_person(principal.user_id)}
    status, case = create(functions, token, body)
    assert status == 201
    assert case["hospital_card_id"] == body["hospital_card_id"]
    assert case["rescue_person_id"] == body["rescue_person_id"]


def test_case_and_its_first_node_and_outbox_message_are_written_together_ER3(patient, functions):
    _principal, token = patient
    before = counts()
    status, case = create(functions, token, {"location": LOCATION})
    assert status == 201
    after = counts()
    assert after["rescue_cases"] - before["rescue_cases"] == 1
    assert after["outbox"] - before["outbox"] == 1
    with engine().connect() as conn:
        row = conn.execute(sa.select(tables.outbox).order_by(tables.outbox.c.id.desc()).limit(1)).one()
        stored = conn.execute(sa.select(tables.rescue_cases.c.location_enc).where(
            tables.rescue_cases.c.id == case["case_id"])).scalar_one()
    assert json.loads(row.payload) == {"case_id": case["case_id"]}
    # Relayed after commit, within the request (a mark is owed only for a send that succeeded);
    # the send is recorded by the container's next unit of work, not by a commit of its own.
    assert row.sent_at is None and row.id in outbox.owed_marks()
    with unit_of_work():
        pass
    with engine().connect() as conn:
        assert conn.execute(sa.select(tables.outbox.c.sent_at).where(tables.outbox.c.id == row.id)).scalar_one()
    assert b"31.2304" not in stored  # location encrypted at rest


def test_another_patient_gets_404_and_no_token_gets_401_ER1(patient, functions, platform):
    _, token = patient
    _, case = create(functions, token, {"location": LOCATION})
    _, other_token = make_patient(platform)
    status, body = get(functions, other_token, case["case_id"])
    assert status == 404
    assert body["error"]["code"] == "not_found"
    status, body = get(functions, None, case["case_id"])
    assert status == 401
    assert body["error"]["field"] == "Authorization"
    status, _ = get(functions, "not-a-token", case["case_id"])
    assert status == 401


def test_staff_without_patient_role_is_refused_on_patient_routes_NF1(db, platform, functions):
    from hospital.auth import roles, sessions
    from hospital.auth.tokens import Principal, issue_access_token

    user, _ = make_patient(platform)
    sessions.grant_role(user.user_id, roles.STAFF)
    sessions.revoke_role(user.user_id, roles.PATIENT)  # a crew account that is nobody's patient
    staff = issue_access_token(Principal(user_id=user.user_id, roles=frozenset({roles.STAFF})))
    status, body = create(functions, staff, {"location": LOCATION})
    assert status == 403
    assert body["error"]["code"] == "forbidden"


@pytest.mark.parametrize("body,field", [
    ({"location": {"longitude": 121.4, "coord_system": "wgs84"}}, "location.latitude"),
    ({"location": {**LOCATION, "latitude": 91}}, "location.latitude"),
    ({"location": {**LOCATION, "longitude": 180.01}}, "location.longitude"),
    ({"location": {**LOCATION, "coord_system": "utm"}}, "location.coord_system"),
    ({}, "location"),
    ('{"location": {"latitude": 31.2,', "body"),
    ("[1, 2]", "body"),
    ({"location": LOCATION, "address_text": "x" * 20000}, "body"),
    ("", "body"),
    ("[" * 5000 + "]" * 5000, "body"),  # nesting deep enough to exhaust the JSON parser
])
def test_bad_input_is_400_naming_the_field_and_writes_nothing_ER5(patient, functions, body, field):
    _, token = patient
    before = counts()
    status, answer = create(functions, token, body)
    assert status == 400
    assert answer["error"]["field"] == field
    assert answer["error"]["message"]
    assert counts() == before


def test_someone_elses_rescue_person_or_card_is_400_and_writes_nothing_ER4(patient, functions, platform):
    _, token = patient
    other, _ = make_patient(platform)
    before = counts()
    status, answer = create(functions, token,
                            {"location": LOCATION, "rescue_person_id": add_rescue_person(other.user_id)})
    assert status == 400
    assert answer["error"]["field"] == "rescue_person_id"
    status, answer = create(functions, token, {"location": LOCATION, "hospital_card_id": add_card(other.user_id)})
    assert status == 400
    assert answer["error"]["field"] == "hospital_card_id"
    assert counts() == before


def test_same_idempotency_key_returns_the_first_case_ER1(patient, functions):
    _, token = patient
    key = {"Idempotency-Key": f"intake-{uuid.uuid4().hex}"}
    first_status, first = create(functions, token, {"location": LOCATION}, key)
    before = counts()
    again_status, again = create(functions, token, {"location": LOCATION}, key)
    assert (first_status, again_status) == (201, 200)
    assert again["case_id"] == first["case_id"]
    assert counts() == before
    status, answer = create(functions, token, {"location": LOCATION}, {"Idempotency-Key": "bad key!"})
    assert status == 400
    assert answer["error"]["field"] == "Idempotency-Key"


def test_works_in_a_lambda_sized_container_with_one_connection_NF2(patient, functions, monkeypatch):
    """Pool of one (the Lambda default) and a cold key ring: no self-deadlock on the data key."""
    from hospital import crypto
    from hospital.db import reset_engine

    monkeypatch.setenv("DB_POOL_SIZE", "1")
    reset_engine()
    crypto.forget_keys()
    try:
        _, token = patient
        status, _ = create(functions, token, {"location": LOCATION})
        assert status == 201
    finally:
        monkeypatch.undo()
        reset_engine()


# ---- strict input: 400 naming the field, nothing written, never a 500 -------------------------

def table_counts(*names):
    with engine().connect() as conn:
        return {name: conn.execute(sa.select(sa.func.count()).select_from(getattr(tables, name))).scalar_one()
                for name in names}


def patient_api(functions, token, method, path, body=None, query=None):
    event = api_event(method, path, body=body, token=token)
    if query:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return call(functions, "RescueApiFunction", event)


@pytest.mark.parametrize("limit", ["²", "١٢", "１２"])
def test_a_page_size_in_other_than_ascii_digits_is_400_naming_it_ER11_NF5(patient, functions, limit):
    _, token = patient
    create(functions, token, {"location": LOCATION})
    before = table_counts("rescue_cases", "audit_log")
    status, body = patient_api(functions, token, "GET", "/rescue/cases", query={"limit": limit})
    assert status == 400
    assert body["error"]["field"] == "limit"
    assert table_counts("rescue_cases", "audit_log") == before
    assert patient_api(functions, token, "GET", "/rescue/cases", query={"limit": "12"})[0] == 200


@pytest.mark.parametrize("consent", [1, 1.0, "true"])
def test_profile_link_consent_must_be_json_true_and_nothing_is_linked_otherwise_ER8_NF5(db, platform, functions,
                                                                                         consent):
    from tests.functions.test_profile_link import same_person

    _account, mini, _ = same_person(platform)
    before = table_counts("consents", "users", "audit_log")
    status, body = patient_api(functions, mini["access_token"], "POST", "/rescue/profile-link", {"consent": consent})
    assert status == 400
    assert body["error"]["field"] == "consent"
    assert table_counts("consents", "users", "audit_log") == before
    assert patient_api(functions, mini["access_token"], "GET", "/rescue/profile-link")[1]["linked"] is False


@pytest.mark.parametrize("name", ["李\u202e四", "李\u0007四"])
def test_a_rescue_person_named_with_a_hidden_character_is_400_naming_it_ER10_NF5(patient, functions, name):
    _, token = patient
    before = table_counts("rescue_persons")
    status, body = patient_api(functions, token, "POST", "/rescue/persons", {"name": name, "relation": "parent"})
    assert status == 400
    assert body["error"]["field"] == "name"
    assert table_counts("rescue_persons") == before


def test_a_rescue_person_cannot_be_renamed_with_a_hidden_character_ER10_NF5(patient, functions):
    _, token = patient
    person_id = patient_api(functions, token, "POST", "/rescue/persons", {"name": "李四", "relation": "parent"})[1][
        "person_id"]
    status, body = call(functions, "RescueApiFunction", api_event(
        "PUT", f"/rescue/persons/{person_id}", resource="/rescue/persons/{person_id}", token=token,
        path_parameters={"person_id": person_id}, body={"name": "\u202e四李", "relation": "parent"}))
    assert status == 400
    assert body["error"]["field"] == "name"
    assert [p["name"] for p in patient_api(functions, token, "GET", "/rescue/persons")[1]["items"]] == ["李四"]


def test_a_note_over_several_lines_is_kept_as_written_ER10_NF5(patient, functions):
    _, token = patient
    notes = "高血压\n青霉素过敏\t(2019)"
    status, person = patient_api(functions, token, "POST", "/rescue/persons",
                                 {"name": "李四", "relation": "parent", "notes": notes})
    assert status == 201
    assert person["notes"] == notes


@pytest.mark.parametrize("body,field", [
    ({"location": LOCATION, "address_text": "人民大道\u202e200号"}, "address_text"),
    ({"location": LOCATION, "complaint": "胸痛\u200b出汗"}, "complaint"),
])
def test_an_intake_with_hidden_characters_in_its_text_is_400_and_writes_nothing_ER2_NF5(patient, functions, body,
                                                                                         field):
    _, token = patient
    before = counts()
    status, answer = create(functions, token, body)
    assert status == 400
    assert answer["error"]["field"] == field
    assert counts() == before
