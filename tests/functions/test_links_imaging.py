"""Cloud imaging for the patient (OI1-OI3), through the imaging platform's simulator over real
HTTP: nothing without the consent for that card; the card's own studies and reports only; a
viewer link whose token the platform accepts for that study and that patient, and refuses
tampered, expired, for another study or once past its minutes; no ID number, card number,
name or patient id in any URL."""
import urllib.parse

import pytest

from tests.conftest import make_patient
from tests.functions.links_support import links
from tests.outpatient.support import patient_with_card

STUDIES = "/links/imaging/studies"




@pytest.fixture
def imaging(platform):
    return platform.runtime.ctx.services["imaging"]


def consented(platform, functions):
    """(token, card, HIS archive) of a patient who consented to imaging for their card."""
    _, token, card, record = patient_with_card(platform, functions)
    assert links(functions, token, "POST", "/links/consents",
                 {"service": "cloud_imaging", "card_id": card["card_id"]})[0] == 201
    return token, card, record


def study_of(functions, token, card_id, uid):
    return links(functions, token, "GET", f"{STUDIES}/{uid}", resource=STUDIES + "/{study_uid}",
                 params={"study_uid": uid}, query={"card_id": card_id})


def viewer_link(functions, token, card_id, uid):
    return links(functions, token, "POST", f"{STUDIES}/{uid}/viewer-link", {"card_id": card_id},
                 STUDIES + "/{study_uid}/viewer-link", {"study_uid": uid})


def test_no_study_is_shown_before_the_consent_for_that_card_OI1(db, platform, functions, imaging):
    _, token, card, record = patient_with_card(platform, functions)
    imaging.seed(record["patient_id"], 2)
    status, refused = links(functions, token, "GET", STUDIES, query={"card_id": card["card_id"]})
    assert status == 409 and refused["error"]["code"] == "consent_required"
    asked = len(imaging.api_requests)
    assert viewer_link(functions, token, card["card_id"], "1.2.3")[0] == 409
    assert len(imaging.api_requests) == asked  # nothing asked of the platform without consent


def test_the_card_s_studies_and_reports_are_listed_and_filtered_OI2(db, platform, functions, imaging):
    token, card, record = consented(platform, functions)
    made = imaging.seed(record["patient_id"], 3)
    imaging.seed("SOMEONE-ELSE", 2)
    status, listed = links(functions, token, "GET", STUDIES, query={"card_id": card["card_id"]})
    assert status == 200 and {s["study_uid"] for s in listed["studies"]} == {m["study_uid"] for m in made}
    one = made[-1]
    status, detail = study_of(functions, token, card["card_id"], one["study_uid"])
    assert status == 200 and detail["study_uid"] == one["study_uid"]
    assert detail["report"] is None or detail["report"]["status"] in ("final", "preliminary")
    modality = listed["studies"][0]["modalities"][0]
    status, filtered = links(functions, token, "GET", STUDIES, query={"card_id": card["card_id"],
                                                                      "modality": modality})
    assert status == 200 and all(modality in s["modalities"] for s in filtered["studies"])
    status, refused = links(functions, token, "GET", STUDIES, query={"card_id": card["card_id"], "from": "2026-13-01"})
    assert status == 400 and refused["error"]["field"] == "from"


def test_another_patient_s_study_or_card_is_not_found_OI2(db, platform, functions, imaging):
    token, card, _ = consented(platform, functions)
    theirs = imaging.seed("SOMEONE-ELSE", 1)[0]
    status, refused = study_of(functions, token, card["card_id"], theirs["study_uid"])
    assert status == 404 and refused["error"]["field"] == "study_uid"
    assert viewer_link(functions, token, card["card_id"], theirs["study_uid"])[0] == 404
    _, other_token = make_patient(platform)
    status, refused = links(functions, other_token, "GET", STUDIES, query={"card_id": card["card_id"]})
    assert status == 404 and refused["error"]["field"] == "card_id"


def test_the_viewer_opens_the_study_for_the_link_s_minutes_only_and_for_nothing_else_OI3(
        db, platform, functions, imaging):
    token, card, record = consented(platform, functions)
    made = imaging.seed(record["patient_id"], 2)
    status, link = viewer_link(functions, token, card["card_id"], made[0]["study_uid"])
    assert status == 201, link
    url = urllib.parse.urlsplit(link["url"])
    query = urllib.parse.parse_qs(url.query)
    for secret in (record["id_no"], record["card_no"], record["name"], record["phone"], record["patient_id"]):
        assert secret not in link["url"] and urllib.parse.quote(secret) not in link["url"]

    import requests

    opened = requests.get(link["url"], timeout=5)
    assert opened.status_code == 200 and opened.json()["study_uid"] == made[0]["study_uid"]
    sent = query["token"][0]
    base = f"{url.scheme}://{url.netloc}{url.path}"
    other_study = requests.get(base, params={"token": sent, "study": made[1]["study_uid"]}, timeout=5)
    assert other_study.status_code == 403
    tampered = sent[:-3] + ("AAA" if sent[-3:] != "AAA" else "BBB")
    assert requests.get(base, params={"token": tampered, "study": made[0]["study_uid"]},
                        timeout=5).json()["error"] == "tampered"
    imaging.advance_clock(600)  # past the link's minutes: the same link, replayed, is refused
    try:
        assert requests.get(link["url"], timeout=5).json() == {"error": "expired"}
    finally:
        imaging.advance_clock(-600)


def test_a_card_bound_again_needs_its_consent_again_OI1(db, platform, functions, imaging):
    from tests.outpatient.support import api, bind

    token, card, record = consented(platform, functions)
    assert api(functions, "DELETE", f"/outpatient/cards/{card['card_id']}", token,
               resource="/outpatient/cards/{card_id}", params={"card_id": card["card_id"]})[0] in (200, 204)
    status, again = bind(functions, token, record)
    assert status == 201 and again["card_id"] == card["card_id"]  # the same card keeps its id
    status, refused = links(functions, token, "GET", STUDIES, query={"card_id": card["card_id"]})
    assert status == 409 and refused["error"]["code"] == "consent_required"


def test_a_system_this_deployment_does_not_reach_takes_no_consent_OI1(db, platform, functions, monkeypatch):
    _, token, card, _ = patient_with_card(platform, functions)
    monkeypatch.delenv("IMAGING_API_BASE", raising=False)
    status, refused = links(functions, token, "POST", "/links/consents",
                            {"service": "cloud_imaging", "card_id": card["card_id"]})
    assert status == 503 and refused["error"]["code"] == "not_connected"
    assert links(functions, token, "GET", "/links/consents")[1] == {"consents": []}
