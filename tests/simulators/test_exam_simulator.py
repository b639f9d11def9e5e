"""The physical-exam system simulator (PE1, PE2) over real HTTP, by hand: its signed API refuses
what the exam system must refuse, its controls seed it, and its report PDF is served only for a
link token (format v1, platform "exam") valid for that report and that member, each refusal
answered 403 with its reason and recorded. The tokens are made here, from the format alone."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import time
import uuid

import pytest
import requests

from infra.simulators.exam import ExamSimulator

KEY = "exam-simulator-test-key"
K1, K2 = os.urandom(32), os.urandom(32)
PDF = "/exam/v1/report-pdf"


def make_token(key: bytes, kid: str = "k1", *, platform: str = "exam", aad_platform: str | None = None,
               **claims) -> str:
    """A link token as the format says: v1.kid.b64url(nonce || AES-256-GCM(claims, AD))."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    now = int(time.time())
    body = {"v": 1, "aud": platform, "sub": "", "res": "", "iat": now, "exp": now + 300,
            "jti": uuid.uuid4().hex, **claims}
    nonce = os.urandom(12)
    associated = f"hospital-link/v1/{aad_platform or platform}".encode()
    sealed = AESGCM(key).encrypt(nonce, json.dumps(body).encode(), associated)
    return f"v1.{kid}." + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()


def signed(sim, method: str, path: str, payload=None, *, key: str = KEY, timestamp: int | None = None,
           body: bytes | None = None) -> requests.Response:
    data = body if body is not None else (json.dumps(payload).encode() if payload is not None else b"")
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(key.encode(), str(timestamp).encode() + b"." + data, hashlib.sha256).hexdigest()
    return requests.request(method, sim.url + path, data=data, timeout=5, headers={
        "Content-Type": "application/json", "X-Exam-Timestamp": str(timestamp), "X-Exam-Signature": signature})


def pdf(sim, token: str, report: str) -> requests.Response:
    return requests.get(sim.url + PDF, params={"token": token, "report": report}, timeout=5)


def refused(answer: requests.Response) -> str:
    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == "E_LINK_REFUSED"
    return answer.json()["reason"]


@pytest.fixture
def sim():
    with ExamSimulator(KEY, {"k1": K1}, fault_timeout_seconds=2) as sim:
        yield sim


@pytest.fixture
def member(sim):
    member = sim.add_member("id-hash-a", "mobile-hash-a")
    sim.authorisations[member] = {"member_id": member, "status": "authorised"}
    return member


@pytest.fixture
def report(sim, member):
    return sim.add_report(member)["report_id"]


# ---- the signed API ---------------------------------------------------------------------------

def test_authorise_then_read_then_withdraw_by_hand_PE1(sim):
    member = sim.add_member("id-hash-a", "mobile-hash-a")
    consent = {"id_number_hash": "id-hash-a", "mobile_hash": "mobile-hash-a",
               "consented_at": "2026-12-01T09:30:00+08:00", "consent_version": "v1"}
    answer = signed(sim, "POST", "/exam/v1/authorisations", consent)
    assert (answer.status_code, answer.json()) == (200, {"member_id": member, "status": "authorised"})
    assert signed(sim, "GET", f"/exam/v1/members/{member}/appointments").json() == []
    assert signed(sim, "DELETE", f"/exam/v1/authorisations/{member}").json() == {
        "member_id": member, "status": "withdrawn"}
    answer = signed(sim, "GET", f"/exam/v1/members/{member}/reports")
    assert (answer.status_code, answer.json()["code"]) == (403, "E_NOT_AUTHORISED")


def test_a_consent_missing_a_field_is_400_and_odd_hashes_match_nobody_PE1(sim):
    sim.add_member("id-hash-a", "mobile-hash-a")
    for missing in ("id_number_hash", "mobile_hash", "consented_at", "consent_version"):
        consent = {"id_number_hash": "id-hash-a", "mobile_hash": "mobile-hash-a",
                   "consented_at": "2026-12-01T09:30:00+08:00", "consent_version": "v1"}
        del consent[missing]
        answer = signed(sim, "POST", "/exam/v1/authorisations", consent)
        assert (answer.status_code, answer.json()["code"]) == (400, "E_PARAM")
    answer = signed(sim, "POST", "/exam/v1/authorisations", body=b"not json")
    assert answer.status_code == 400
    odd = {"id_number_hash": "身份证", "mobile_hash": "mobile-hash-a", "consented_at": "2026-12-01T09:30:00+08:00",
           "consent_version": "v1"}
    answer = signed(sim, "POST", "/exam/v1/authorisations", odd)
    assert (answer.status_code, answer.json()["code"]) == (404, "E_NO_MEMBER")
    assert sim.authorisations == {}


def test_the_signature_binds_the_key_the_body_and_the_time_PE1(sim, member):
    consent = {"id_number_hash": "id-hash-a", "mobile_hash": "mobile-hash-a",
               "consented_at": "2026-12-01T09:30:00+08:00", "consent_version": "v2"}
    for answer in (
        signed(sim, "POST", "/exam/v1/authorisations", consent, key="another-key"),
        signed(sim, "POST", "/exam/v1/authorisations", consent, timestamp=int(time.time()) - 301),
        requests.post(sim.url + "/exam/v1/authorisations", json=consent, timeout=5),  # unsigned
        requests.get(f"{sim.url}/exam/v1/reports/R1", timeout=5, headers={
            "X-Exam-Timestamp": "1²3", "X-Exam-Signature": "00"}),  # a digit that is not ASCII
        requests.get(f"{sim.url}/exam/v1/reports/R1", timeout=5, headers={
            "X-Exam-Timestamp": str(int(time.time())), "X-Exam-Signature": "é" * 64}),
    ):
        assert (answer.status_code, answer.json()["code"]) == (401, "E_AUTH")
    # Signed, then changed on the way.
    timestamp = int(time.time())
    data = json.dumps(consent).encode()
    signature = hmac.new(KEY.encode(), str(timestamp).encode() + b"." + data, hashlib.sha256).hexdigest()
    answer = requests.post(sim.url + "/exam/v1/authorisations", data=data.replace(b"v2", b"v3"), timeout=5,
                           headers={"X-Exam-Timestamp": str(timestamp), "X-Exam-Signature": signature})
    assert answer.status_code == 401
    assert sim.authorisations[member]["status"] == "authorised" and "consent_version" not in sim.authorisations[member]


def test_seeding_over_http_and_faults_by_route_PE2(sim):
    member = requests.post(sim.url + "/_sim/members", json={"id_number_hash": "i", "mobile_hash": "m"},
                           timeout=5).json()["member_id"]
    appointment = requests.post(sim.url + "/_sim/appointments", json={"member_id": member, "status": "checked_in"},
                                timeout=5).json()
    report = requests.post(sim.url + "/_sim/reports", json={"member_id": member, "status": "pending"},
                           timeout=5).json()
    assert appointment["status"] == "checked_in" and report["status"] == "pending" and report["published_at"] is None
    for path, body in (("/_sim/appointments", {"member_id": "M-NOBODY"}),
                       ("/_sim/reports", {"member_id": member, "colour": "red"}),
                       ("/_sim/reports", {"member_id": member, "status": "draft"}),
                       ("/_sim/link-keys", {"kid": "k2", "key_hex": "00" * 31}),
                       ("/_sim/link-keys", {"kid": "bad kid!", "key_hex": "00" * 32})):
        assert requests.post(sim.url + path, json=body, timeout=5).status_code == 400, (path, body)
    assert list(sim.link_keys) == ["k1"]

    sim.authorisations[member] = {"member_id": member, "status": "authorised"}
    route = "/exam/v1/members/{member_id}/appointments"
    assert requests.post(sim.url + "/_sim/faults", json={"path": route, "mode": "http500"}, timeout=5).ok
    assert signed(sim, "GET", f"/exam/v1/members/{member}/appointments").status_code == 500
    assert signed(sim, "GET", f"/exam/v1/members/{member}/appointments").json()[0]["appointment_id"] == \
        appointment["appointment_id"]
    assert sim.stats()[route] == 2


# ---- the report PDF behind a link token ----------------------------------------------------

def test_a_valid_token_gets_the_pdf_and_the_request_is_recorded_PE2(sim, member, report):
    token = make_token(K1, sub=member, res=report)
    answer = pdf(sim, token, report)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/pdf"
    body = answer.content
    assert body.startswith(b"%PDF-1.4\n") and body.endswith(b"%%EOF\n")
    # A valid file: every cross-reference offset points at its object.
    xref = int(re.search(rb"startxref\n(\d+)\n", body).group(1))
    assert body[xref:].startswith(b"xref\n")
    offsets = [int(line[:10]) for line in body[xref:].split(b"\n")[3:8]]
    assert [body[offset:].split(b"\n", 1)[0] for offset in offsets] == [b"%d 0 obj" % n for n in range(1, 6)]
    assert report.encode() in body
    [record] = sim.pdf_requests
    assert (record["report"], record["kid"], record["member_id"], record["status"], record["reason"]) == (
        report, "k1", member, 200, None)
    assert re.fullmatch(r"[0-9a-f]{32}", record["jti"])
    assert token not in json.dumps(requests.get(sim.url + "/_sim/pdf-requests", timeout=5).json())


def test_an_expired_token_is_refused_at_its_exp_and_not_before_PE2(sim, member, report):
    now = int(sim.now())
    token = make_token(K1, sub=member, res=report, iat=now, exp=now + 100)
    assert pdf(sim, token, report).status_code == 200
    sim.advance_clock(now + 100 - sim.now())  # the very second of exp
    assert refused(pdf(sim, token, report)) == "expired"


def test_a_token_from_the_future_is_taken_within_30_seconds_only_PE2(sim, member, report):
    now = int(sim.now())
    assert pdf(sim, make_token(K1, sub=member, res=report, iat=now + 20, exp=now + 320), report).status_code == 200
    assert refused(pdf(sim, make_token(K1, sub=member, res=report, iat=now + 90, exp=now + 390), report)) == \
        "not_yet_valid"


def test_any_altered_byte_is_tampered_PE2(sim, member, report):
    token = make_token(K1, sub=member, res=report)
    head, sealed = token.rsplit(".", 1)
    for position in (0, 11, 12, len(sealed) // 2, len(sealed) - 2):  # nonce, ciphertext, tag
        swapped = "A" if sealed[position] != "A" else "B"
        altered = f"{head}.{sealed[:position]}{swapped}{sealed[position + 1:]}"
        assert refused(pdf(sim, altered, report)) == "tampered", position
    for mangled in (token[:-4], token + "=", token + "!", "v2" + token[2:], token.replace(".", "", 1), "", "v1.k1.",
                    f"{head}.{sealed[:20]}"):
        assert refused(pdf(sim, mangled, report)) == "tampered", mangled
    # Sealed for another platform's associated data, though its claims say "exam".
    assert refused(pdf(sim, make_token(K1, sub=member, res=report, aad_platform="imaging"), report)) == "tampered"
    # Sealed with another key under a known kid.
    assert refused(pdf(sim, make_token(K2, sub=member, res=report), report)) == "tampered"


def test_an_unknown_kid_is_refused_and_keys_rotate_PE2(sim, member, report):
    assert refused(pdf(sim, make_token(K2, "k2", sub=member, res=report), report)) == "unknown_key"
    assert requests.post(sim.url + "/_sim/link-keys", json={"kid": "k2", "key_hex": K2.hex()}, timeout=5).ok
    assert pdf(sim, make_token(K2, "k2", sub=member, res=report), report).status_code == 200
    assert pdf(sim, make_token(K1, "k1", sub=member, res=report), report).status_code == 200  # both held
    assert requests.delete(sim.url + "/_sim/link-keys/k1", timeout=5).json() == {"kids": ["k2"]}
    assert refused(pdf(sim, make_token(K1, "k1", sub=member, res=report), report)) == "unknown_key"


def test_a_token_for_another_platform_is_wrong_audience_PE2(sim, member, report):
    token = make_token(K1, sub=member, res=report, platform="imaging", aad_platform="exam")
    assert refused(pdf(sim, token, report)) == "wrong_audience"


def test_a_token_for_another_report_is_wrong_report_PE2(sim, member, report):
    other = sim.add_report(member)["report_id"]
    token = make_token(K1, sub=member, res=report)
    assert refused(pdf(sim, token, other)) == "wrong_report"
    assert refused(pdf(sim, token, "")) == "wrong_report"


def test_another_members_report_is_refused_even_with_a_token_naming_it_PE2(sim, member, report):
    stranger = sim.add_member("id-hash-b", "mobile-hash-b")
    token = make_token(K1, sub=stranger, res=report)
    assert refused(pdf(sim, token, report)) == "not_this_members"
    assert [(r["member_id"], r["status"], r["reason"]) for r in sim.pdf_requests] == [
        (stranger, 403, "not_this_members")]


def test_a_report_unknown_or_still_pending_has_no_pdf_PE2(sim, member):
    answer = pdf(sim, make_token(K1, sub=member, res="R-NOTHING"), "R-NOTHING")
    assert (answer.status_code, answer.json()["code"]) == (404, "E_NO_REPORT")
    pending = sim.add_report(member, status="pending")["report_id"]
    answer = pdf(sim, make_token(K1, sub=member, res=pending), pending)
    assert (answer.status_code, answer.json()["code"]) == (409, "E_REPORT_PENDING")
    assert [r["status"] for r in sim.pdf_requests] == [404, 409]
