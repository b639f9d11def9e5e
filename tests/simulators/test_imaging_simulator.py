"""The cloud imaging platform's simulator over raw HTTP (OI2, OI3): QIDO-RS study search and its
filters as the platform matches them, the report API, bearer authentication, and the viewer
opening link tokens (v1) with its shared keys. The tokens here come from a maker written in
this file from the documented format alone."""
from __future__ import annotations

import base64
import json
import os
import secrets
import time

import pytest
import requests
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from infra.simulators.imaging import ImagingSimulator

API_KEY = "imaging-api-key-0123456789"
KEY_A, KEY_B = os.urandom(32), os.urandom(32)
PATIENT, OTHER = "PID-000123", "PID-000456"
BEARER = {"Authorization": f"Bearer {API_KEY}", "Accept": "application/dicom+json"}


def make_token(key: bytes = KEY_A, kid: str = "k1", *, sub: str = PATIENT, res: str, aud: str = "imaging",
               aad_platform: str = "imaging", iat: int | None = None, lifetime: int = 300) -> str:
    """A link token as the format says: v1.<kid>.b64url(nonce || AES-256-GCM(claims, aad))."""
    iat = int(time.time()) if iat is None else iat
    claims = {"v": 1, "aud": aud, "sub": sub, "res": res, "iat": iat, "exp": iat + lifetime,
              "jti": secrets.token_hex(16)}
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, json.dumps(claims).encode(), f"hospital-link/v1/{aad_platform}".encode())
    return f"v1.{kid}." + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


@pytest.fixture
def sim():
    with ImagingSimulator(API_KEY, {"k1": KEY_A, "k2": KEY_B}, fault_timeout_seconds=2) as sim:
        yield sim


def search(sim, params: dict | list, headers: dict | None = None) -> requests.Response:
    return requests.get(f"{sim.url}/dicom-web/studies", params=params, headers=BEARER if headers is None else headers,
                        timeout=5)


def uids(response: requests.Response) -> list[str]:
    if response.status_code == 204:
        return []
    assert response.status_code == 200, response.text
    return [dataset["0020000D"]["Value"][0] for dataset in response.json()]


@pytest.fixture
def studies(sim):
    """Four studies of the patient across January 2024, one of another patient on the same day."""
    made = {
        "jan01": sim.add_study(PATIENT, study_date="2024-01-01", modalities=("CT",), description="CT Chest",
                               accession_number="A100"),
        "jan15": sim.add_study(PATIENT, study_date="2024-01-15", modalities=("MR",), description="MRI Brain",
                               accession_number="A200"),
        "jan31": sim.add_study(PATIENT, study_date="2024-01-31", modalities=("CT", "PT"),
                               description="PET-CT whole body", accession_number="A300"),
        "feb01": sim.add_study(PATIENT, study_date="2024-02-01", modalities=("US",), description="US Abdomen",
                               accession_number="A400"),
        "other": sim.add_study(OTHER, study_date="2024-01-15", modalities=("MR",), description="MRI Brain",
                               accession_number="A999"),
    }
    return {name: study["study_uid"] for name, study in made.items()}


# ---- QIDO-RS ---------------------------------------------------------------------------------

def test_a_patients_studies_newest_first_in_the_dicom_json_model_OI2(sim, studies):
    answer = search(sim, {"PatientID": PATIENT, "includefield": "00081030"})
    assert answer.headers["Content-Type"] == "application/dicom+json"
    assert uids(answer) == [studies["feb01"], studies["jan31"], studies["jan15"], studies["jan01"]]
    dataset = answer.json()[1]
    assert dataset["00080020"] == {"vr": "DA", "Value": ["20240131"]}
    assert dataset["00080061"] == {"vr": "CS", "Value": ["CT", "PT"]}
    assert dataset["00081030"] == {"vr": "LO", "Value": ["PET-CT whole body"]}
    assert dataset["00100020"] == {"vr": "LO", "Value": [PATIENT]}
    assert dataset["00201206"]["vr"] == "IS" and dataset["00201208"]["vr"] == "IS"


def test_the_description_only_when_includefield_names_it(sim, studies):
    assert "00081030" not in search(sim, {"PatientID": PATIENT}).json()[0]
    assert "00081030" in search(sim, {"PatientID": PATIENT, "includefield": "StudyDescription"}).json()[0]
    assert "00081030" in search(sim, {"PatientID": PATIENT, "includefield": "all"}).json()[0]


@pytest.mark.parametrize(("study_date", "expected"), [
    ("20240101-20240131", ["jan31", "jan15", "jan01"]),   # both ends inclusive
    ("20240102-20240130", ["jan15"]),
    ("20240131-", ["feb01", "jan31"]),                    # open end
    ("-20240101", ["jan01"]),                             # open start
    ("20240115", ["jan15"]),                              # a single day
    ("20240116", []),
])
def test_study_date_ranges_and_their_edges_OI2(sim, studies, study_date, expected):
    assert uids(search(sim, {"PatientID": PATIENT, "StudyDate": study_date})) == [studies[name] for name in expected]


@pytest.mark.parametrize("study_date", ["2024-01-01", "20240132", "20240201-20240101", "-", "2024"])
def test_a_malformed_or_empty_date_range_is_refused(sim, studies, study_date):
    answer = search(sim, {"PatientID": PATIENT, "StudyDate": study_date})
    assert answer.status_code == 400
    assert answer.json()["error"] == "bad_query"


def test_modalities_match_any_listed_OI2(sim, studies):
    assert uids(search(sim, {"PatientID": PATIENT, "ModalitiesInStudy": "CT"})) == [studies["jan31"], studies["jan01"]]
    assert uids(search(sim, {"PatientID": PATIENT, "ModalitiesInStudy": "PT,US"})) == [studies["feb01"],
                                                                                       studies["jan31"]]
    assert uids(search(sim, {"PatientID": PATIENT, "ModalitiesInStudy": "MG"})) == []


@pytest.mark.parametrize(("pattern", "expected"), [
    ("mri*", ["jan15"]),            # case-insensitive, prefix
    ("*CT*", ["jan31", "jan01"]),
    ("*body", ["jan31"]),
    ("US Abdomen", ["feb01"]),      # no wildcard: the whole text
    ("US", []),
    ("CT Ches?", ["jan01"]),        # ? is one character
])
def test_description_wildcards_OI2(sim, studies, pattern, expected):
    assert uids(search(sim, {"PatientID": PATIENT, "StudyDescription": pattern})) == [studies[n] for n in expected]


def test_accession_number_is_exact_and_filters_combine(sim, studies):
    assert uids(search(sim, {"PatientID": PATIENT, "AccessionNumber": "A200"})) == [studies["jan15"]]
    assert uids(search(sim, {"PatientID": PATIENT, "AccessionNumber": "A20"})) == []
    assert uids(search(sim, {"PatientID": PATIENT, "AccessionNumber": "A999"})) == []  # another patient's
    assert uids(search(sim, {"PatientID": PATIENT, "StudyDate": "20240101-20240131", "ModalitiesInStudy": "CT",
                             "StudyDescription": "*chest*"})) == [studies["jan01"]]


def test_limit_and_offset_page_through_and_past_the_end_is_204(sim, studies):
    pages = [uids(search(sim, {"PatientID": PATIENT, "limit": 3, "offset": offset})) for offset in (0, 3, 6)]
    assert pages == [[studies["feb01"], studies["jan31"], studies["jan15"]], [studies["jan01"]], []]
    empty = search(sim, {"PatientID": PATIENT, "offset": 4})
    assert empty.status_code == 204 and empty.content == b""


def test_no_match_is_204_no_content(sim, studies):
    answer = search(sim, {"PatientID": "PID-NOBODY"})
    assert answer.status_code == 204
    assert answer.content == b""


@pytest.mark.parametrize("params", [
    {},                                                       # PatientID is required
    {"PatientID": PATIENT, "PatientName": "Li*"},             # not a filter this platform takes
    {"PatientID": PATIENT, "limit": "0"},
    {"PatientID": PATIENT, "offset": "-1"},
    [("PatientID", PATIENT), ("PatientID", OTHER)],
])
def test_a_query_the_platform_does_not_take_is_400(sim, studies, params):
    assert search(sim, params).status_code == 400


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY},
                                     {"Authorization": f"Basic {API_KEY}"}])
def test_the_api_needs_the_bearer_key(sim, studies, headers):
    answer = search(sim, {"PatientID": PATIENT}, headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    report = requests.get(f"{sim.url}/reports/{studies['jan01']}", headers=headers, timeout=5)
    assert report.status_code == 401


def test_reports_found_and_absent_OI2(sim, studies):
    sim.add_report(studies["jan01"], status="final", findings="Small nodule, right upper lobe.",
                   impression="Follow-up CT in 12 months.", reported_at="2024-01-02T10:30:00+08:00")
    answer = requests.get(f"{sim.url}/reports/{studies['jan01']}", headers=BEARER, timeout=5)
    assert answer.status_code == 200
    assert answer.json() == {"study_uid": studies["jan01"], "accession_number": "A100", "status": "final",
                             "findings": "Small nodule, right upper lobe.", "impression": "Follow-up CT in 12 months.",
                             "radiologist": "Dr. Li Wei", "reported_at": "2024-01-02T10:30:00+08:00"}
    assert requests.get(f"{sim.url}/reports/{studies['jan15']}", headers=BEARER, timeout=5).status_code == 404


def test_seeded_studies_have_reports_but_the_newest(sim):
    seeded = sim.seed(PATIENT, 4)
    assert len(uids(search(sim, {"PatientID": PATIENT}))) == 4
    statuses = [sim.reports[study["study_uid"]]["status"] for study in seeded]
    assert statuses == ["preliminary", "final", "final", "final"]


def test_faults_are_injected_per_path(sim, studies):
    sim.inject_fault("/dicom-web/studies", "http500", count=1)
    assert search(sim, {"PatientID": PATIENT}).status_code == 500
    assert search(sim, {"PatientID": PATIENT}).status_code == 200
    sim.inject_fault("/reports/{study_uid}", "http500", count=1)
    assert requests.get(f"{sim.url}/reports/{studies['jan01']}", headers=BEARER, timeout=5).status_code == 500


def test_controls_over_http(sim):
    study = requests.post(f"{sim.url}/_sim/studies", json={"patient_id": PATIENT, "study_date": "2024-03-03",
                                                           "modalities": ["DX"]}, timeout=5).json()
    assert requests.post(f"{sim.url}/_sim/reports", json={"study_uid": study["study_uid"]},
                         timeout=5).status_code == 200
    assert len(requests.post(f"{sim.url}/_sim/seed", json={"patient_id": OTHER, "n": 2}, timeout=5).json()) == 2
    assert requests.post(f"{sim.url}/_sim/link-keys", json={"kid": "k3", "key_hex": "00" * 32},
                         timeout=5).json() == {"kids": ["k1", "k2", "k3"]}
    assert requests.post(f"{sim.url}/_sim/link-keys", json={"kid": "k4", "key_hex": "00" * 8},
                         timeout=5).status_code == 400
    assert uids(search(sim, {"PatientID": PATIENT})) == [study["study_uid"]]


# ---- the viewer and the link token -------------------------------------------------------------

def view(sim, token: str, study: str) -> requests.Response:
    return requests.get(f"{sim.url}/viewer", params={"token": token, "study": study}, timeout=5)


def test_a_valid_token_opens_its_study_OI3(sim, studies):
    answer = view(sim, make_token(res=studies["jan15"]), studies["jan15"])
    assert answer.status_code == 200
    assert answer.json() == {"study_uid": studies["jan15"], "patient_id": PATIENT}


def test_either_shared_key_opens_it_rotation_OI3(sim, studies):
    assert view(sim, make_token(KEY_B, "k2", res=studies["jan01"]), studies["jan01"]).status_code == 200


def test_the_viewer_link_carries_no_identity_OI3(sim, studies):
    view(sim, make_token(res=studies["jan15"]), studies["jan15"])
    [request] = requests.get(f"{sim.url}/_sim/viewer-requests", timeout=5).json()
    assert set(request["query"]) == {"token", "study"}
    assert PATIENT not in request["target"] and "PID" not in request["target"]
    assert request["cookie"] is None


def flipped(token: str, index: int) -> str:
    """The token with one byte of its sealed part changed."""
    head, payload = token.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[index] ^= 0x01
    return f"{head}." + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


@pytest.mark.parametrize("index", [0, 11, 12, 30, -1])  # the nonce, the ciphertext, the tag
def test_a_token_with_one_byte_changed_is_tampered_OI3(sim, studies, index):
    token = make_token(res=studies["jan15"])
    answer = view(sim, flipped(token, index), studies["jan15"])
    assert answer.status_code == 403
    assert answer.json() == {"error": "tampered"}


@pytest.mark.parametrize("token", ["", "v1", "v1.k1", "v2.k1.AAAA", "v1.k1.not*base64", "v1.k1.AAAA",
                                   "v1.k1." + "A" * 40, "v1.k1.x.y"])
def test_a_token_that_is_not_one_is_tampered(sim, studies, token):
    answer = view(sim, token, studies["jan15"])
    assert answer.status_code == 403
    assert answer.json() == {"error": "tampered"}


def test_a_token_for_another_platform_does_not_authenticate_here(sim, studies):
    token = make_token(res=studies["jan15"], aud="exam", aad_platform="exam")
    assert view(sim, token, studies["jan15"]).json() == {"error": "tampered"}


def test_a_token_whose_audience_is_another_platform_OI3(sim, studies):
    answer = view(sim, make_token(res=studies["jan15"], aud="exam"), studies["jan15"])
    assert answer.status_code == 403
    assert answer.json() == {"error": "wrong_audience"}


def test_an_unknown_kid_OI3(sim, studies):
    answer = view(sim, make_token(KEY_A, "k9", res=studies["jan15"]), studies["jan15"])
    assert answer.status_code == 403
    assert answer.json() == {"error": "unknown_key"}
    # A known kid with another key's token: it does not decrypt.
    assert view(sim, make_token(KEY_B, "k1", res=studies["jan15"]), studies["jan15"]).json() == {"error": "tampered"}


def test_an_expired_token_OI3(sim, studies):
    token = make_token(res=studies["jan15"], lifetime=300)
    assert view(sim, token, studies["jan15"]).status_code == 200
    sim.advance_clock(298)  # iat is whole seconds: a second's margin for the time the test itself takes
    assert view(sim, token, studies["jan15"]).status_code == 200
    sim.advance_clock(3)
    answer = view(sim, token, studies["jan15"])
    assert answer.status_code == 403
    assert answer.json() == {"error": "expired"}


def test_a_token_from_the_future_beyond_the_skew(sim, studies):
    assert view(sim, make_token(res=studies["jan15"], iat=int(time.time()) + 20), studies["jan15"]).status_code == 200
    answer = view(sim, make_token(res=studies["jan15"], iat=int(time.time()) + 120), studies["jan15"])
    assert answer.json() == {"error": "expired"}


def test_a_token_for_another_study_OI3(sim, studies):
    answer = view(sim, make_token(res=studies["jan15"]), studies["jan01"])
    assert answer.status_code == 403
    assert answer.json() == {"error": "wrong_study"}
    assert requests.get(f"{sim.url}/viewer", params={"token": make_token(res=studies["jan15"])},
                        timeout=5).json() == {"error": "wrong_study"}


def test_a_token_for_another_patients_study_OI3(sim, studies):
    # Bound to the study asked for, but the study is not its subject's.
    answer = view(sim, make_token(sub=PATIENT, res=studies["other"]), studies["other"])
    assert answer.status_code == 403
    assert answer.json() == {"error": "not_this_patients"}
    missing = "1.2.3.4.5"
    assert view(sim, make_token(res=missing), missing).json() == {"error": "not_this_patients"}
