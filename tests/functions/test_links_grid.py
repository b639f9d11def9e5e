"""The home grid and the consents behind it (OI1, PE1, OV1, OV2, OH1): one call draws the grid
with each entry's state for the signed-in patient; a consent given opens its entry, withdrawn
closes it; a system this deployment does not reach is unavailable with that reason; a card
that is not the caller's is refused and changes nothing."""
import pytest

from hospital.links import grid_rules
from tests.conftest import make_patient
from tests.functions.links_support import links
from tests.outpatient.support import patient_with_card


def states(functions, token) -> dict:
    status, answer = links(functions, token, "GET", "/links/grid")
    assert status == 200
    assert [e["entry"] for e in answer["entries"]] == list(grid_rules.ENTRIES)
    return {e["entry"]: (e["state"], e.get("reason")) for e in answer["entries"]}


@pytest.fixture
def every_system(monkeypatch):
    monkeypatch.setenv("IMAGING_API_BASE", "http://127.0.0.1:9/imaging")
    monkeypatch.setenv("EXAM_API_BASE", "http://127.0.0.1:9/exam")
    monkeypatch.setenv("INTERNET_HOSPITAL_URL", "http://127.0.0.1:9/ih")


def test_a_new_patient_s_grid_says_what_each_entry_needs_OV1_OH1(db, platform, functions, every_system):
    _, token = make_patient(platform)
    assert states(functions, token) == {
        "rescue": ("ready", None), "registration": ("ready", None),
        "cloud_imaging": ("unavailable", "no_card"), "physical_exam": ("unavailable", "no_card"),
        "insurance_voucher": ("needs_consent", None), "online_consultation": ("ready", None),
        "credit_care": ("needs_consent", None)}


def test_a_system_the_deployment_does_not_reach_is_unavailable_OV1(db, platform, functions, monkeypatch):
    for name in ("IMAGING_API_BASE", "EXAM_API_BASE", "INTERNET_HOSPITAL_URL"):
        monkeypatch.delenv(name, raising=False)
    _, token = make_patient(platform)
    grid = states(functions, token)
    for entry in ("cloud_imaging", "physical_exam", "online_consultation"):
        assert grid[entry] == ("unavailable", "not_connected")


def test_consents_open_their_entries_and_withdrawing_closes_them_OI1_PE1(db, platform, functions, every_system):
    _, token, card, _ = patient_with_card(platform, functions)
    assert states(functions, token)["cloud_imaging"] == ("needs_consent", None)
    status, consent = links(functions, token, "POST", "/links/consents",
                            {"service": "cloud_imaging", "card_id": card["card_id"]})
    assert status == 201 and consent["card_id"] == card["card_id"]
    assert links(functions, token, "POST", "/links/consents",
                 {"service": "cloud_imaging", "card_id": card["card_id"]})[0] == 200  # the one there
    platform.insurance.add_person("PSN-grid")
    assert links(functions, token, "POST", "/links/consents", {
        "service": "insurance_voucher", "auth_code": platform.insurance.mint_auth_code("PSN-grid")})[0] == 201
    grid = states(functions, token)
    assert grid["cloud_imaging"] == ("ready", None) and grid["insurance_voucher"] == ("ready", None)
    status, listed = links(functions, token, "GET", "/links/consents")
    assert {c["service"] for c in listed["consents"]} == {"cloud_imaging", "insurance_voucher"}

    status, answer = links(functions, token, "DELETE", "/links/consents/cloud_imaging", resource=
                           "/links/consents/{service}", params={"service": "cloud_imaging"},
                           query={"card_id": card["card_id"]})
    assert (status, answer) == (200, {"withdrawn": True})
    assert states(functions, token)["cloud_imaging"] == ("needs_consent", None)


@pytest.mark.parametrize("body,field", [
    ({"service": "cloud_imaging"}, "card_id"),
    ({"service": "insurance_voucher", "card_id": "0" * 32}, "card_id"),
    ({"service": "physical_exam"}, "card_id"),
    ({"service": "dental"}, "service"),
    ({"service": "cloud_imaging", "card_id": "not-a-card"}, "card_id"),
    ({"service": "insurance_voucher", "extra": 1}, "extra"),
])
def test_a_consent_that_does_not_fit_is_refused_naming_the_field_OI1(db, platform, functions, body, field):
    _, token = make_patient(platform)
    status, answer = links(functions, token, "POST", "/links/consents", body)
    assert status == 400 and answer["error"]["field"] == field
    assert links(functions, token, "GET", "/links/consents")[1] == {"consents": []}


def test_another_patient_s_card_is_not_consented_for_OI1(db, platform, functions):
    _, token = make_patient(platform)
    _, _, card, _ = patient_with_card(platform, functions)
    status, answer = links(functions, token, "POST", "/links/consents",
                           {"service": "cloud_imaging", "card_id": card["card_id"]})
    assert status == 404 and answer["error"]["field"] == "card_id"
    assert links(functions, token, "GET", "/links/consents")[1] == {"consents": []}


# ---- online consultation (OH1-OH3) -------------------------------------------------------------

def test_a_doctor_s_consultation_link_is_signed_expiring_and_names_no_one_OH2_OH3(db, platform, functions,
                                                                                  every_system):
    import urllib.parse

    from hospital.links import link_tokens
    from infra import devenv
    from tests.outpatient.support import doctor_with_slots, hospital_today

    user, token = make_patient(platform)
    doctor = doctor_with_slots(platform, hospital_today())  # offers online consultation
    assert links(functions, token, "GET", "/links/online-consultation")[1] == \
        {"state": "ready", "url": "http://127.0.0.1:9/ih"}
    status, made = links(functions, token, "POST", "/links/online-consultation/links",
                         {"dept_code": doctor["dept_code"], "doctor_code": doctor["doctor_code"]})
    assert status == 201, made
    url = urllib.parse.urlsplit(made["url"])
    assert url.path == f"/ih/doctors/{doctor['doctor_code']}"
    assert set(urllib.parse.parse_qs(url.query)) == {"t"}  # the token is all the link carries
    sent = urllib.parse.parse_qs(url.query)["t"][0]
    kid, key = devenv.LINK_DEV_KEYS["internet_hospital"]
    claims = link_tokens.unseal({kid: key}, "internet_hospital", sent, doctor["doctor_code"])
    assert claims["sub"] != str(user.user_id) and len(claims["sub"]) == 64  # a pseudonym, stable per patient
    assert 0 < claims["exp"] - claims["iat"] <= 600
    again = links(functions, token, "POST", "/links/online-consultation/links",
                  {"dept_code": doctor["dept_code"], "doctor_code": doctor["doctor_code"]})[1]
    later = urllib.parse.parse_qs(urllib.parse.urlsplit(again["url"]).query)["t"][0]
    assert link_tokens.unseal({kid: key}, "internet_hospital", later, doctor["doctor_code"])["sub"] == claims["sub"]
    # Expired at its time; another doctor's page refuses it.
    with pytest.raises(link_tokens.InvalidLinkToken):
        link_tokens.unseal({kid: key}, "internet_hospital", sent, doctor["doctor_code"], now=claims["exp"])
    with pytest.raises(link_tokens.InvalidLinkToken):
        link_tokens.unseal({kid: key}, "internet_hospital", sent, "DR-OTHER")


def test_a_doctor_without_online_consultation_or_unknown_gets_no_link_OH3(db, platform, functions, every_system):
    from tests.outpatient.support import doctor_with_slots, hospital_today

    _, token = make_patient(platform)
    doctor = doctor_with_slots(platform, hospital_today())
    status, answer = links(functions, token, "POST", "/links/online-consultation/links",
                           {"dept_code": doctor["dept_code"], "doctor_code": "NOPE"})
    assert status == 404 and answer["error"]["field"] == "doctor_code"
    platform.his.add_doctor("DRNOOL", "王医生", doctor["dept_code"], online_consult=False)
    status, answer = links(functions, token, "POST", "/links/online-consultation/links",
                           {"dept_code": doctor["dept_code"], "doctor_code": "DRNOOL"})
    assert status == 409 and answer["error"]["code"] == "no_online_consultation"
