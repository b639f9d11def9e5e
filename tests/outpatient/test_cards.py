"""Hospital cards (the start of every outpatient flow): bound after the HIS found the archive
by name, identity card number and phone; kept encrypted; at most a configured number; a card
bound to another WeChat user refused; unbound and bound again."""
import threading

import pytest
import requests
import sqlalchemy as sa

from hospital import crypto
from hospital.db import engine, tables
from tests.conftest import make_patient
from tests.outpatient.support import api, archive, bind, card_row, id_number, patient_with_card


def bindings(platform, patient_id):
    views = requests.get(f"{platform.his.url}/_sim/bindings", timeout=5).json()
    return [b for b in views if b["patient_id"] == patient_id]


def test_a_card_is_bound_after_the_his_finds_the_archive_and_kept_encrypted(db, platform, functions):
    principal, token = make_patient(platform)
    record = archive(platform, name="王小明")

    status, card = bind(functions, token, record)

    assert status == 201, card
    assert set(card) == {"card_id", "card_no", "name", "bound_at"}  # never the ID number or phone
    assert card["name"] == "王**" and card["card_no"].endswith(record["card_no"][-4:])
    assert record["card_no"] not in card["card_no"]
    row = card_row(card["card_id"])
    assert row.user_id == principal.user_id and row.his_patient_id == record["patient_id"]
    for column in ("card_no_enc", "name_enc", "id_no_enc", "phone_enc"):
        sealed = getattr(row, column)
        assert record["id_no"].encode() not in sealed and record["phone"].encode() not in sealed
    assert crypto.decrypt_text(row.id_no_enc, f"patient_cards.id_no:{row.id}") == record["id_no"]
    assert crypto.decrypt_text(row.phone_enc, f"patient_cards.phone:{row.id}") == record["phone"]
    assert row.id_no_hash == crypto.lookup_hash(record["id_no"], "id_number")
    assert row.bound_card_hash == row.card_no_hash == crypto.lookup_hash(record["card_no"], "card_no")
    assert len(bindings(platform, record["patient_id"])) == 1
    status, listed = api(functions, "GET", "/outpatient/cards", token)
    assert status == 200 and [c["card_id"] for c in listed] == [card["card_id"]]


def test_binding_the_same_card_again_returns_it(db, platform, functions):
    _, token, card, record = patient_with_card(platform, functions)

    status, again = bind(functions, token, record)

    assert status == 200 and again["card_id"] == card["card_id"]
    with engine().connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.patient_cards).where(
            tables.patient_cards.c.his_patient_id == record["patient_id"])).scalar_one() == 1


@pytest.mark.parametrize("change, status, code, field", [
    ({"phone": "13800000000"}, 409, "archive_mismatch", "name"),
    ({"name": "李四"}, 409, "archive_mismatch", "name"),
    ({"id_no": None}, 404, "no_archive", "id_no"),                   # a valid number the HIS does not know
    ({"id_no": "110105194912310021"}, 400, "invalid_field", "id_no"),  # wrong check character
    ({"phone": "1380000"}, 400, "invalid_field", "phone"),
    ({"consent": False}, 400, "invalid_field", "consent"),
])
def test_what_does_not_match_the_archive_or_is_malformed_is_refused_and_binds_nothing(
        db, platform, functions, change, status, code, field):
    principal, token = make_patient(platform)
    record = archive(platform)
    if change.get("id_no", "") is None:
        change = {"id_no": id_number()}

    got, body = bind(functions, token, record, **change)

    assert got == status, body
    assert body["error"]["code"] == code and body["error"]["field"] == field
    with engine().connect() as conn:
        assert conn.execute(sa.select(tables.patient_cards).where(
            tables.patient_cards.c.user_id == principal.user_id)).first() is None
    assert bindings(platform, record["patient_id"]) == []


def test_a_card_bound_to_another_wechat_user_is_refused(db, platform, functions):
    _, _, card, record = patient_with_card(platform, functions)
    other, other_token = make_patient(platform)

    status, body = bind(functions, other_token, record)

    assert status == 409 and body["error"]["code"] == "card_bound_elsewhere"
    assert card_row(card["card_id"]).unbound_at is None
    with engine().connect() as conn:
        assert conn.execute(sa.select(tables.patient_cards).where(
            tables.patient_cards.c.user_id == other.user_id)).first() is None


def test_at_most_the_configured_number_of_cards(db, platform, functions, monkeypatch):
    monkeypatch.setenv("MAX_CARDS_PER_USER", "2")
    _, token = make_patient(platform)
    assert bind(functions, token, archive(platform))[0] == 201
    assert bind(functions, token, archive(platform))[0] == 201  # the second: the last one allowed

    third = archive(platform)
    status, body = bind(functions, token, third)

    assert status == 409 and body["error"]["code"] == "card_limit"
    assert "2" in body["error"]["message"]
    assert bindings(platform, third["patient_id"]) == []


def test_an_unbound_card_may_be_bound_by_another_user_and_again_by_the_first(db, platform, functions):
    _, token, card, record = patient_with_card(platform, functions)

    status, _ = api(functions, "DELETE", f"/outpatient/cards/{card['card_id']}", token,
                    resource="/outpatient/cards/{card_id}", params={"card_id": card["card_id"]})

    assert status == 204
    assert api(functions, "GET", "/outpatient/cards", token)[1] == []
    row = card_row(card["card_id"])
    assert row.unbound_at is not None and row.bound_card_hash is None
    _, other_token = make_patient(platform)
    status, taken = bind(functions, other_token, record)
    assert status == 201
    # Back to the first user only once the second lets go; then the first user's own row returns.
    assert bind(functions, token, record)[1]["error"]["code"] == "card_bound_elsewhere"
    api(functions, "DELETE", f"/outpatient/cards/{taken['card_id']}", other_token,
        resource="/outpatient/cards/{card_id}", params={"card_id": taken["card_id"]})
    status, again = bind(functions, token, record)
    assert status == 201 and again["card_id"] == card["card_id"]
    assert card_row(card["card_id"]).unbound_at is None


def test_a_card_of_someone_else_cannot_be_unbound(db, platform, functions):
    _, _, card, _ = patient_with_card(platform, functions)
    _, other_token = make_patient(platform)

    status, body = api(functions, "DELETE", f"/outpatient/cards/{card['card_id']}", other_token,
                       resource="/outpatient/cards/{card_id}", params={"card_id": card["card_id"]})

    assert status == 404 and body["error"]["field"] == "card_id"
    assert card_row(card["card_id"]).unbound_at is None


def test_two_users_binding_one_card_at_once_one_wins(mysql_db, platform, functions):
    record = archive(platform)
    tokens = [make_patient(platform)[1] for _ in range(2)]
    answers = []
    start = threading.Barrier(2)

    def go(token):
        start.wait()
        answers.append(bind(functions, token, record))

    threads = [threading.Thread(target=go, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(status for status, _ in answers) == [201, 409]
    with engine().connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.patient_cards).where(
            tables.patient_cards.c.his_patient_id == record["patient_id"],
            tables.patient_cards.c.bound_card_hash.is_not(None))).scalar_one() == 1


def test_a_card_with_a_registration_whose_visit_is_over_can_be_unbound(db, platform, functions):
    import datetime as dt

    from tests.outpatient.support import book, doctor_with_slots, hospital_today, patient_with_card

    _, token, card, _ = patient_with_card(platform, functions)
    doctor = doctor_with_slots(platform, hospital_today() + dt.timedelta(days=1))
    held = book(functions, token, card["card_id"], doctor)[1]
    path, resource = f"/outpatient/cards/{card['card_id']}", "/outpatient/cards/{card_id}"
    status, body = api(functions, "DELETE", path, token, resource=resource, params={"card_id": card["card_id"]})
    assert status == 409 and body["error"]["code"] == "card_has_registrations"
    with engine().begin() as conn:  # a month later: the visit is long past
        conn.execute(tables.registrations.update().where(tables.registrations.c.id == held["registration_id"])
                     .values(visit_date=hospital_today() - dt.timedelta(days=30)))

    status, _ = api(functions, "DELETE", path, token, resource=resource, params={"card_id": card["card_id"]})

    assert status == 204
