"""The physical-exam adapter (PE1 authorisation, PE2 appointments and reports) over real HTTP
against an ExamSimulator of each test's own: no database. Answers read into frozen records;
an unknown person, member or report, a withdrawn authorisation, a wrong key, a failing or
garbled exam system each end in the error the domain tells apart."""
from __future__ import annotations

import dataclasses
import datetime as dt
import urllib.parse

import pytest
import requests

from hospital.adapters import http_sessions
from hospital.adapters.exam import (
    Appointment,
    Authorisation,
    ExamAnswerMalformed,
    ExamClient,
    ExamMemberNotFound,
    ExamNotAuthorised,
    ExamRefused,
    ExamReportNotFound,
    ExamSignatureRejected,
    Report,
    ReportItem,
    ReportSummary,
    identity_hash,
)
from hospital.errors import UpstreamUnavailable
from hospital.timeutil import SHANGHAI
from infra.simulators.exam import ExamSimulator

KEY = "exam-adapter-test-key"
SALT = "exam-identity-salt-shared-out-of-band"
ID_NUMBER, MOBILE = "11010519491231002x", "13812345678"
CONSENTED = dt.datetime(2026, 12, 1, 9, 30, tzinfo=SHANGHAI)
REPORTS = "/exam/v1/members/{member_id}/reports"


@pytest.fixture
def sim():
    http_sessions.close_all()  # no pooled connection to an earlier test's simulator
    with ExamSimulator(KEY, {"k1": bytes(32)}, fault_timeout_seconds=2) as sim:
        yield sim
    http_sessions.close_all()


@pytest.fixture
def exam(sim):
    return ExamClient(sim.url, KEY, timeout=(1, 1))


@pytest.fixture
def member(sim):
    return sim.add_member(identity_hash(ID_NUMBER, "id_number", SALT), identity_hash(MOBILE, "mobile", SALT))


def authorise(exam) -> Authorisation:
    return exam.authorise(identity_hash(ID_NUMBER, "id_number", SALT), identity_hash(MOBILE, "mobile", SALT),
                          CONSENTED, "exam-consent-v1")


def test_the_identity_hash_is_keyed_normalised_and_never_the_number_itself_PE1():
    hashed = identity_hash(ID_NUMBER, "id_number", SALT)
    assert hashed == identity_hash(" 11010519491231002X ", "id_number", SALT)  # case and spaces of the check letter
    assert hashed == identity_hash("１１０１０５１９４９１２３１００２Ｘ", "id_number", SALT)  # full-width digits
    assert hashed != identity_hash(ID_NUMBER, "id_number", "another salt")
    assert identity_hash("13812345678", "mobile", SALT) != identity_hash("13812345678", "id_number", SALT)
    assert len(hashed) == 64 and ID_NUMBER.upper() not in hashed
    with pytest.raises(ValueError):
        identity_hash(ID_NUMBER, "name", SALT)


def test_authorise_links_the_patient_to_their_member_and_sends_no_number_in_clear_PE1(sim, exam, member):
    assert authorise(exam) == Authorisation(member, "authorised")
    held = sim.authorisations[member]
    assert (held["status"], held["consent_version"]) == ("authorised", "exam-consent-v1")
    assert dt.datetime.fromisoformat(held["consented_at"]) == CONSENTED
    # Again: the same member, nothing new.
    assert authorise(exam) == Authorisation(member, "authorised")
    assert list(sim.authorisations) == [member]
    with pytest.raises(dataclasses.FrozenInstanceError):
        authorise(exam).status = "withdrawn"  # type: ignore[misc]
    with pytest.raises(ValueError):
        exam.authorise("a", "b", dt.datetime(2026, 12, 1, 9, 30), "v1")  # a time without its offset


def test_a_person_the_exam_centre_does_not_know_is_member_not_found_PE1(sim, exam, member):
    with pytest.raises(ExamMemberNotFound) as info:
        exam.authorise(identity_hash("110105194912310038", "id_number", SALT), identity_hash(MOBILE, "mobile", SALT),
                       CONSENTED, "exam-consent-v1")
    assert (info.value.upstream_status, info.value.exam_code) == (404, "E_NO_MEMBER")
    # The right ID number with another mobile number is no match either.
    with pytest.raises(ExamMemberNotFound):
        exam.authorise(identity_hash(ID_NUMBER, "id_number", SALT), identity_hash("13900000000", "mobile", SALT),
                       CONSENTED, "exam-consent-v1")
    # Nor hashes made with another salt.
    with pytest.raises(ExamMemberNotFound):
        exam.authorise(identity_hash(ID_NUMBER, "id_number", "x"), identity_hash(MOBILE, "mobile", "x"),
                       CONSENTED, "exam-consent-v1")
    assert sim.authorisations == {}


def test_withdrawing_stops_the_reading_and_may_be_repeated_PE1(sim, exam, member):
    authorise(exam)
    assert exam.appointments(member) == ()
    assert exam.withdraw(member) == Authorisation(member, "withdrawn")
    assert exam.withdraw(member) == Authorisation(member, "withdrawn")
    assert sim.authorisations[member]["status"] == "withdrawn"
    for read in (exam.appointments, exam.reports):
        with pytest.raises(ExamNotAuthorised) as info:
            read(member)
        assert (info.value.upstream_status, info.value.exam_code) == (403, "E_NOT_AUTHORISED")
    with pytest.raises(ExamMemberNotFound):
        exam.withdraw("M-NOBODY")
    # Authorising again opens it again.
    authorise(exam)
    assert exam.reports(member) == ()


def test_appointments_are_read_into_records_PE2(sim, exam, member):
    authorise(exam)
    booked = sim.add_appointment(member, exam_date="2026-12-10")
    done = sim.add_appointment(member, package_name="中老年体检套餐", exam_date="2026-06-01", status="completed")
    other = sim.add_member("other-id-hash", "other-mobile-hash")
    sim.add_appointment(other)

    assert exam.appointments(member) == (
        Appointment(booked["appointment_id"], "入职体检套餐", dt.date(2026, 12, 10), "booked", "门诊楼三层体检中心"),
        Appointment(done["appointment_id"], "中老年体检套餐", dt.date(2026, 6, 1), "completed", "门诊楼三层体检中心"))


def test_reports_and_a_report_in_full_PE2(sim, exam, member):
    authorise(exam)
    final = sim.add_report(member, published_at="2026-11-25T10:00:00+08:00")
    pending = sim.add_report(member, status="pending", summary="", exam_date="2026-12-01")

    listed = exam.reports(member)
    assert listed == (
        ReportSummary(final["report_id"], final["appointment_id"], dt.date(2026, 11, 20), "final",
                      "血压偏高，余未见明显异常", dt.datetime(2026, 11, 25, 10, tzinfo=SHANGHAI)),
        ReportSummary(pending["report_id"], pending["appointment_id"], dt.date(2026, 12, 1), "pending", "", None))

    report = exam.report(final["report_id"])
    assert isinstance(report, Report)
    assert (report.member_id, report.status, report.conclusion, report.advice) == (
        member, "final", "血压偏高", "低盐饮食，三个月后复查血压")
    assert [section.name for section in report.sections] == ["一般检查", "血常规"]
    assert report.sections[0].items[0] == ReportItem("收缩压", "145", "mmHg", "90-139", "H")
    assert report.sections[1].items[0].flag == "L"
    assert report.sections[1].items[1] == ReportItem("乙肝表面抗原", "阴性", None, None, None)
    assert report.published_at is not None and report.published_at.utcoffset() == dt.timedelta(hours=8)


def test_unknown_members_and_reports_are_404s_PE2(sim, exam, member):
    with pytest.raises(ExamMemberNotFound):
        exam.appointments("M-NOBODY")
    with pytest.raises(ExamMemberNotFound):
        exam.reports("M-NOBODY")
    with pytest.raises(ExamReportNotFound) as info:
        exam.report("R-NOTHING")
    assert (info.value.upstream_status, info.value.exam_code) == (404, "E_NO_REPORT")
    # A report of a member who has not authorised: refused, not shown.
    report = sim.add_report(member)
    with pytest.raises(ExamNotAuthorised):
        exam.report(report["report_id"])
    # An id with a slash stays one path segment.
    with pytest.raises(ExamReportNotFound):
        exam.report("R/../../authorisations")
    with pytest.raises(ValueError):
        exam.report("")


def test_a_wrong_key_or_clock_is_a_signature_error_not_a_missing_member_PE1(sim, member):
    wrong = ExamClient(sim.url, "not-the-key")
    with pytest.raises(ExamSignatureRejected) as info:
        authorise(wrong)
    assert (info.value.upstream_status, info.value.exam_code) == (401, "E_AUTH")
    assert info.value.status == 503  # what a patient is answered: our key or clock is not theirs to fix
    assert isinstance(info.value, ExamRefused) and not isinstance(info.value, ExamMemberNotFound)
    with pytest.raises(ExamSignatureRejected):
        wrong.reports(member)
    assert sim.authorisations == {}
    # The right key, but the exam system's clock six minutes ahead of ours.
    sim.advance_clock(360)
    with pytest.raises(ExamSignatureRejected):
        authorise(ExamClient(sim.url, KEY))
    sim.advance_clock(-360)
    assert authorise(ExamClient(sim.url, KEY)).member_id == member


@pytest.mark.parametrize("mode", ["http500", "reset", "timeout"])
def test_an_exam_system_down_or_too_slow_is_upstream_unavailable_PE2(sim, exam, member, mode):
    authorise(exam)
    sim.inject_fault(REPORTS, mode, count=5)  # past the query's retries
    with pytest.raises(UpstreamUnavailable) as info:
        exam.reports(member)
    assert not isinstance(info.value, ExamAnswerMalformed)
    sim.clear_faults()
    assert exam.reports(member) == ()


def test_a_read_retried_after_one_500_succeeds_PE2(sim, exam, member):
    authorise(exam)
    sim.add_report(member)
    sim.inject_fault(REPORTS, "http500", count=1)
    assert len(exam.reports(member)) == 1
    assert sim.stats()[REPORTS] == 2


def test_an_authorisation_is_sent_once_whatever_happens_PE1(sim, exam, member):
    sim.inject_fault("/exam/v1/authorisations", "http500", count=1)
    with pytest.raises(UpstreamUnavailable):
        authorise(exam)
    assert sim.stats()["/exam/v1/authorisations"] == 1
    assert authorise(exam).member_id == member  # the caller's retry: the same answer


@pytest.mark.parametrize("mode", ["garbled", "errcode"])
def test_an_answer_that_is_not_json_or_not_the_format_is_malformed_PE2(sim, exam, member, mode):
    authorise(exam)
    sim.inject_fault(REPORTS, mode)
    with pytest.raises(ExamAnswerMalformed) as info:
        exam.reports(member)
    assert isinstance(info.value, UpstreamUnavailable)  # the domain may say "try later"
    assert info.value.field == (None if mode == "garbled" else "body")


@pytest.mark.parametrize(("change", "field"), [
    ({"status": "lost"}, "[0].status"),
    ({"exam_date": "2026/11/20"}, "[0].exam_date"),
    ({"published_at": "2026-11-25T10:00:00"}, "[0].published_at"),  # no offset
    ({"published_at": None}, "[0].published_at"),  # final without a publication time
    ({"report_id": ""}, "[0].report_id"),
    ({"summary": 3}, "[0].summary"),
])
def test_a_report_list_out_of_format_names_the_field_and_no_value_PE2(sim, exam, member, change, field):
    authorise(exam)
    report = sim.add_report(member)
    report.update(change)
    with pytest.raises(ExamAnswerMalformed) as info:
        exam.reports(member)
    assert info.value.field == field
    assert "血压" not in str(info.value)


@pytest.mark.parametrize(("change", "field"), [
    ({"sections": {}}, "sections"),
    ({"sections": [{"name": "x", "items": [{"name": "y", "value": "1", "unit": None, "reference_range": None,
                                             "flag": "HH"}]}]}, "sections[0].items[0].flag"),
    ({"sections": [{"name": "x", "items": [{"name": "y", "value": 1.5}]}]}, "sections[0].items[0].value"),
    ({"sections": ["x"]}, "sections[0]"),
    ({"conclusion": 7}, "conclusion"),
    ({"advice": None}, "advice"),
])
def test_a_report_detail_out_of_format_names_the_field_PE2(sim, exam, member, change, field):
    authorise(exam)
    report = sim.add_report(member)
    report.update(change)
    with pytest.raises(ExamAnswerMalformed) as info:
        exam.report(report["report_id"])
    assert info.value.field == field


def test_the_pdf_url_carries_the_token_and_the_report_only_PE2(sim, exam):
    url = exam.pdf_url("v1.k1.abc_-", "R 1/2")
    parts = urllib.parse.urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{sim.url}/exam/v1/report-pdf"
    assert urllib.parse.parse_qs(parts.query) == {"token": ["v1.k1.abc_-"], "report": ["R 1/2"]}
    answer = requests.get(url, timeout=5)
    assert answer.status_code == 403 and answer.json()["reason"] == "tampered"


def test_the_client_does_not_show_its_key():
    assert "secret-key" not in repr(ExamClient("https://exam.example", "secret-key"))
