"""The imaging platform's adapter (OI2, OI3) over real HTTP against the simulator: the QIDO-RS
query it sends for each filter, the DICOM JSON model read into Study, paging, 204, reports
found and absent, faults and refusals as their errors, malformed answers refused with the
place named (never a KeyError), and input refused before anything is sent."""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
import time
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hospital.adapters import http_sessions
from hospital.adapters.imaging import (
    ImagingAnswerUnreadable,
    ImagingAuthRefused,
    ImagingClient,
    ImagingRefused,
    Report,
    Study,
)
from hospital.errors import UpstreamUnavailable, ValidationFailed
from infra.simulators.imaging import ImagingSimulator

API_KEY = "imaging-adapter-test-key"
LINK_KEY = os.urandom(32)
PATIENT = "PID-000123"
STUDIES = "/dicom-web/studies"
REPORTS = "/reports/{study_uid}"
UID = "1.2.840.113619.2.55.3.604688119.969.1268071029.320"


@pytest.fixture
def sim():
    http_sessions.close_all()  # no pooled connection to an earlier test's simulator
    with ImagingSimulator(API_KEY, {"k1": LINK_KEY}, fault_timeout_seconds=2) as sim:
        yield sim
    http_sessions.close_all()


@pytest.fixture
def client(sim):
    return ImagingClient(sim.url, API_KEY, timeout=(1, 0.5))


@pytest.fixture
def studies(sim):
    made = [sim.add_study(PATIENT, study_date=day, study_time=time_, modalities=modalities, description=text,
                          accession_number=accession, series=series, instances=instances)
            for day, time_, modalities, text, accession, series, instances in (
                ("2024-01-01", "081500", ("CT",), "CT Chest", "A100", 3, 412),
                ("2024-01-15", "1430", ("MR",), "MRI Brain", "A200", 6, 980),
                ("2024-01-31", "235959.123", ("CT", "PT"), "PET-CT whole body", "A300", 5, 1220),
                ("2024-02-01", "09", ("US",), "US Abdomen", "A400", 1, 48))]
    sim.add_study("PID-OTHER", study_date="2024-01-15", modalities=("MR",), description="MRI Brain")
    return [study["study_uid"] for study in made]


def sent_query(sim) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(sim.api_requests[-1]["target"]).query)


def test_a_search_reads_the_studies_OI2(sim, client, studies):
    found = client.search_studies(PATIENT)
    assert [study.study_uid for study in found] == studies[::-1]
    assert found[1] == Study(study_uid=studies[2], patient_id=PATIENT, study_date=dt.date(2024, 1, 31),
                             study_time=dt.time(23, 59, 59, 123000), modalities=("CT", "PT"),
                             description="PET-CT whole body", accession_number="A300", series_count=5,
                             instance_count=1220)
    assert found[0].study_time == dt.time(9, 0) and found[2].study_time == dt.time(14, 30)
    # The patient's name (PatientName is among the default attributes) is not kept.
    assert "Test" not in repr(found)
    assert sent_query(sim) == [("PatientID", PATIENT), ("limit", "100"), ("offset", "0"),
                               ("includefield", "00081030")]
    assert sim.api_requests[-1]["authorization"] == f"Bearer {API_KEY}"


def test_the_request_asks_for_dicom_json(sim, client, studies):
    seen = {}

    def spy(req):
        seen.update(req.headers)
        return 204, b""

    sim.route("GET", "/dicom-web/studies", spy)
    assert client.search_studies(PATIENT) == []
    assert seen["Accept"] == "application/dicom+json"


@pytest.mark.parametrize(("filters", "query", "expected"), [
    ({"date_from": dt.date(2024, 1, 1), "date_to": dt.date(2024, 1, 31)}, ("StudyDate", "20240101-20240131"),
     [2, 1, 0]),
    ({"date_from": "2024-01-31"}, ("StudyDate", "20240131-"), [3, 2]),
    ({"date_to": dt.date(2024, 1, 1)}, ("StudyDate", "-20240101"), [0]),
    ({"date_from": "2024-01-15", "date_to": "2024-01-15"}, ("StudyDate", "20240115"), [1]),
    ({"modalities": ["PT", "US"]}, ("ModalitiesInStudy", "PT,US"), [3, 2]),
    ({"modalities": "CT"}, ("ModalitiesInStudy", "CT"), [2, 0]),
    ({"modalities": ["MR", "MR"]}, ("ModalitiesInStudy", "MR"), [1]),
    ({"description": "*ct*"}, ("StudyDescription", "*ct*"), [2, 0]),
    ({"description": "MRI Brai?"}, ("StudyDescription", "MRI Brai?"), [1]),
    ({"accession_number": "A400"}, ("AccessionNumber", "A400"), [3]),
])
def test_each_filter_is_sent_and_applied_OI2(sim, client, studies, filters, query, expected):
    found = client.search_studies(PATIENT, **filters)
    assert [study.study_uid for study in found] == [studies[i] for i in expected]
    assert query in sent_query(sim)


def test_paging_with_limit_and_offset(sim, client, studies):
    pages = [client.search_studies(PATIENT, limit=3, offset=offset) for offset in (0, 3, 6)]
    assert [[study.study_uid for study in page] for page in pages] == [studies[:0:-1], studies[:1], []]


def test_no_match_is_an_empty_list_OI2(sim, client, studies):
    assert client.search_studies("PID-NOBODY") == []
    assert client.search_studies(PATIENT, modalities=["MG"]) == []


def test_a_report_found_and_absent_OI2(sim, client, studies):
    sim.add_report(studies[0], status="final", findings="Small nodule.", impression="Follow up in 12 months.",
                   radiologist="Dr. Wang", reported_at="2024-01-02T10:30:00+08:00")
    assert client.report(studies[0]) == Report(
        study_uid=studies[0], accession_number="A100", status="final", findings="Small nodule.",
        impression="Follow up in 12 months.", radiologist="Dr. Wang",
        reported_at=dt.datetime(2024, 1, 2, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    sim.add_report(studies[1], status="preliminary", impression="")
    assert client.report(studies[1]).status == "preliminary"
    assert client.report(studies[2]) is None
    assert client.report("1.2.3") is None


# ---- faults and refusals ---------------------------------------------------------------------

def test_one_5xx_is_retried_by_the_session(sim, client, studies):
    sim.inject_fault(STUDIES, "http500", count=1)
    assert len(client.search_studies(PATIENT)) == 4
    assert sim.stats()[STUDIES] == 2


@pytest.mark.parametrize(("path", "mode", "count"), [
    (STUDIES, "http500", 3), (REPORTS, "http500", 3), (STUDIES, "timeout", 1), (REPORTS, "timeout", 1),
    (STUDIES, "garbled", 1), (REPORTS, "garbled", 1), (STUDIES, "reset", 3),
])
def test_faults_are_upstream_unavailable(sim, client, studies, path, mode, count):
    sim.inject_fault(path, mode, count=count)
    with pytest.raises(UpstreamUnavailable) as info:
        client.search_studies(PATIENT) if path == STUDIES else client.report(studies[0])
    assert type(info.value) is UpstreamUnavailable
    assert PATIENT not in str(info.value)


def test_a_down_platform_is_upstream_unavailable(studies):
    http_sessions.close_all()
    with pytest.raises(UpstreamUnavailable):
        ImagingClient("http://127.0.0.1:9", API_KEY, timeout=(0.5, 0.5)).search_studies(PATIENT)


def test_a_refused_key_is_its_own_error(sim, studies):
    wrong = ImagingClient(sim.url, "not-the-key")
    for call in (lambda: wrong.search_studies(PATIENT), lambda: wrong.report(studies[0])):
        with pytest.raises(ImagingAuthRefused) as info:
            call()
        assert info.value.upstream_status == 401
        assert isinstance(info.value, UpstreamUnavailable)
        assert "not-the-key" not in str(info.value)
    assert "not-the-key" not in repr(wrong)


def test_another_refusal_names_its_status(sim, client, studies):
    sim.answer_next(STUDIES, 400, {"error": "bad_query"})
    with pytest.raises(ImagingRefused) as info:
        client.search_studies(PATIENT)
    assert info.value.upstream_status == 400 and not isinstance(info.value, ImagingAuthRefused)
    assert info.value.status == 503  # what a patient is answered: the platform's refusal is not theirs
    sim.answer_next(STUDIES, 403, "<html>forbidden</html>")
    with pytest.raises(ImagingAuthRefused):
        client.search_studies(PATIENT)


# ---- malformed answers -------------------------------------------------------------------------

def dataset(**changes) -> dict:
    base = {"0020000D": {"vr": "UI", "Value": [UID]}, "00100020": {"vr": "LO", "Value": [PATIENT]},
            "00080020": {"vr": "DA", "Value": ["20240101"]}}
    base.update(changes)
    return {tag: element for tag, element in base.items() if element is not None}


def test_the_dicom_json_models_leeway_is_read(sim, client):
    sim.answer_next(STUDIES, 200, [dataset(**{
        "00201206": {"vr": "IS", "Value": ["3"]},            # IS as a string
        "00201208": {"vr": "IS", "Value": [12]},
        "00080061": {"vr": "CS", "Value": ["CT", None, "MR"]},  # a null among several values
        "00081030": {"vr": "LO"},                             # present, empty
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Zhang^San"}]},
        "00080020": None, "0020000D": None, "0020000d": {"vr": "UI", "Value": [UID]}})])  # hex in lower case
    sim.answer_next(STUDIES, 200, [])  # a 200 with no dataset: nothing matched
    [study] = client.search_studies(PATIENT)
    assert study == Study(UID, PATIENT, None, None, ("CT", "MR"), None, None, 3, 12)
    assert client.search_studies(PATIENT) == []


@pytest.mark.parametrize(("body", "field"), [
    ({"0020000D": {"vr": "UI", "Value": [UID]}}, "$"),
    (b'"not a list"', "$"),
    (b"", "$"),
    ([["0020000D"]], "[0]"),
    ([dataset(StudyInstanceUID={"vr": "UI", "Value": [UID]})], "[0]"),
    ([dataset(**{"0020000D": None})], "[0].0020000D"),
    ([dataset(**{"0020000D": {"vr": "UI"}})], "[0].0020000D"),
    ([dataset(**{"0020000D": {"vr": "UI", "Value": ["not.a.uid"]}})], "[0].0020000D"),
    ([dataset(**{"0020000D": {"vr": "UI", "Value": [UID, UID]}})], "[0].0020000D"),
    ([dataset(**{"0020000D": {"vr": "UI", "Value": UID}})], "[0].0020000D"),
    ([dataset(**{"0020000D": {"Value": [UID]}})], "[0].0020000D"),
    ([dataset(**{"0020000D": "1.2.3"})], "[0].0020000D"),
    ([dataset(**{"0020000D": {"vr": "UI", "Value": [123]}})], "[0].0020000D"),
    ([dataset(**{"00100020": None})], "[0].00100020"),
    ([dataset(**{"00100020": {"vr": "LO", "Value": ["PID-SOMEONE-ELSE"]}})], "[0].00100020"),
    ([dataset(), dataset(**{"00080020": {"vr": "DA", "Value": ["2024-01-01"]}})], "[1].00080020"),
    ([dataset(**{"00080020": {"vr": "DA", "Value": ["20240230"]}})], "[0].00080020"),
    ([dataset(**{"00080030": {"vr": "TM", "Value": ["25:00"]}})], "[0].00080030"),
    ([dataset(**{"00080030": {"vr": "TM", "Value": ["246000"]}})], "[0].00080030"),
    ([dataset(**{"00080061": {"vr": "CS", "Value": ["ct"]}})], "[0].00080061"),
    ([dataset(**{"00201206": {"vr": "IS", "Value": ["three"]}})], "[0].00201206"),
    ([dataset(**{"00201208": {"vr": "IS", "Value": [-1]}})], "[0].00201208"),
    ([dataset(**{"00201208": {"vr": "IS", "Value": [True]}})], "[0].00201208"),
])
def test_a_malformed_search_answer_names_where(sim, client, body, field):
    sim.answer_next(STUDIES, 200, body)
    with pytest.raises(ImagingAnswerUnreadable) as info:
        client.search_studies(PATIENT)
    assert info.value.field == field
    assert isinstance(info.value, UpstreamUnavailable)


def report_body(**changes) -> dict:
    base = {"study_uid": UID, "accession_number": "A1", "status": "final", "findings": "f", "impression": "i",
            "radiologist": "Dr. Li", "reported_at": "2024-01-02T10:30:00+08:00"}
    base.update(changes)
    return {key: value for key, value in base.items() if value is not ...}


@pytest.mark.parametrize(("body", "field"), [
    ([report_body()], "$"),
    (report_body(study_uid=...), "study_uid"),
    (report_body(study_uid="1.2.3"), "study_uid"),
    (report_body(status="draft"), "status"),
    (report_body(status=...), "status"),
    (report_body(findings=None), "findings"),
    (report_body(radiologist=""), "radiologist"),
    (report_body(accession_number=5), "accession_number"),
    (report_body(reported_at="2024-01-02T10:30:00"), "reported_at"),
    (report_body(reported_at="yesterday"), "reported_at"),
    (report_body(reported_at=...), "reported_at"),
])
def test_a_malformed_report_names_where(sim, client, body, field):
    sim.answer_next(REPORTS, 200, body)
    with pytest.raises(ImagingAnswerUnreadable) as info:
        client.report(UID)
    assert info.value.field == field


def test_a_report_without_accession_number(sim, client):
    sim.answer_next(REPORTS, 200, report_body(accession_number=None))
    assert client.report(UID).accession_number is None


# ---- input checked before anything is sent -----------------------------------------------------

@pytest.mark.parametrize(("args", "field"), [
    ({"patient_id": ""}, "patient_id"),
    ({"patient_id": "PID*"}, "patient_id"),
    ({"patient_id": "PID\\1"}, "patient_id"),
    ({"patient_id": "P" * 65}, "patient_id"),
    ({"patient_id": "PID\u202e1"}, "patient_id"),
    ({"patient_id": 123}, "patient_id"),
    ({"date_from": "2024-13-01"}, "date_from"),
    ({"date_from": "20240101"}, "date_from"),
    ({"date_to": dt.datetime(2024, 1, 1)}, "date_to"),
    ({"date_to": dt.date(1899, 12, 31)}, "date_to"),
    ({"date_from": "2024-02-01", "date_to": "2024-01-31"}, "date_from"),
    ({"modalities": ["ct"]}, "modalities"),
    ({"modalities": ["C"]}, "modalities"),
    ({"modalities": ["CTMRX"]}, "modalities"),
    ({"modalities": ["CT,MR"]}, "modalities"),
    ({"modalities": [None]}, "modalities"),
    ({"description": ""}, "description"),
    ({"description": "a\\b"}, "description"),
    ({"description": "x" * 65}, "description"),
    ({"accession_number": "A*"}, "accession_number"),
    ({"accession_number": "A" * 17}, "accession_number"),
    ({"limit": 0}, "limit"),
    ({"limit": 1001}, "limit"),
    ({"limit": True}, "limit"),
    ({"offset": -1}, "offset"),
])
def test_bad_input_is_refused_before_sending(sim, client, args, field):
    args = {"patient_id": PATIENT, **args}
    with pytest.raises(ValidationFailed) as info:
        client.search_studies(args.pop("patient_id"), **args)
    assert info.value.field == field
    assert sim.stats() == {}


@pytest.mark.parametrize("uid", ["", "1..2", "1.02", "abc", "1.2/../3", "1." + "2" * 64, None])
def test_a_report_of_a_malformed_uid_is_refused_before_sending(sim, client, uid):
    with pytest.raises(ValidationFailed) as info:
        client.report(uid)
    assert info.value.field == "study_uid"
    assert sim.stats() == {}


# ---- the viewer's link ---------------------------------------------------------------------------

def token_for(sub: str, res: str) -> str:
    """A link token following the v1 format (the issuing module is the lead's)."""
    now = int(time.time())
    claims = {"v": 1, "aud": "imaging", "sub": sub, "res": res, "iat": now, "exp": now + 300,
              "jti": secrets.token_hex(16)}
    nonce = os.urandom(12)
    sealed = AESGCM(LINK_KEY).encrypt(nonce, json.dumps(claims).encode(), b"hospital-link/v1/imaging")
    return "v1.k1." + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def test_the_viewer_url_carries_the_study_and_the_token_only_OI3(sim, client, studies):
    url = client.viewer_url(studies[0], token_for(PATIENT, studies[0]))
    assert PATIENT not in url
    assert [key for key, _ in parse_qsl(urlsplit(url).query)] == ["token", "study"]
    answer = requests.get(url, timeout=5)
    assert answer.status_code == 200
    assert answer.json() == {"study_uid": studies[0], "patient_id": PATIENT}
    with pytest.raises(ValidationFailed):
        client.viewer_url("not a uid", "v1.k1.x")
