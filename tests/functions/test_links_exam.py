"""Physical exams for the patient (PE1-PE2), through the exam system's simulator over real
HTTP: the consent for a card authorises its person at the exam system by keyed hashes (never
the numbers); then their own appointments and reports only; a PDF link the exam system opens
for that report and member only; a withdrawal tells the exam system and closes it all."""
import urllib.parse

import pytest
import requests

from hospital.adapters import exam as exam_adapter
from infra import devenv
from tests.functions.links_support import links
from tests.outpatient.support import patient_with_card


@pytest.fixture
def exam(platform):
    return platform.runtime.ctx.services["exam"]


def member_of(exam, record) -> str:
    """The card's person at the exam centre, as it knows them: by the keyed hashes."""
    salt = devenv.EXAM_DEV_SALT
    return exam.add_member(exam_adapter.identity_hash(record["id_no"], "id_number", salt),
                           exam_adapter.identity_hash(record["phone"], "mobile", salt))


def consent(functions, token, card_id):
    return links(functions, token, "POST", "/links/consents", {"service": "physical_exam", "card_id": card_id})


def report_call(functions, token, card_id, report_id, suffix="", method="GET", body=None):
    return links(functions, token, method, f"/links/exam/reports/{report_id}{suffix}", body,
                 "/links/exam/reports/{report_id}" + suffix, {"report_id": report_id},
                 None if body else {"card_id": card_id})


def test_the_consent_authorises_the_card_s_person_by_hashes_and_opens_their_records_PE1_PE2(
        db, platform, functions, exam):
    _, token, card, record = patient_with_card(platform, functions)
    member = member_of(exam, record)
    exam.add_appointment(member)
    final = exam.add_report(member)
    status, refused = links(functions, token, "GET", "/links/exam/reports", query={"card_id": card["card_id"]})
    assert status == 409 and refused["error"]["code"] == "consent_required"

    status, made = consent(functions, token, card["card_id"])
    assert status == 201 and made["service"] == "physical_exam"
    assert consent(functions, token, card["card_id"])[0] == 200
    sent = exam.authorisations[member]
    assert record["id_no"] not in str(sent) and record["phone"] not in str(sent)

    status, listed = links(functions, token, "GET", "/links/exam/appointments", query={"card_id": card["card_id"]})
    assert status == 200 and len(listed["appointments"]) == 1
    status, listed = links(functions, token, "GET", "/links/exam/reports", query={"card_id": card["card_id"]})
    assert status == 200 and [r["report_id"] for r in listed["reports"]] == [final["report_id"]]
    status, detail = report_call(functions, token, card["card_id"], final["report_id"])
    assert status == 200 and detail["sections"] and detail["conclusion"]


def test_the_pdf_link_opens_that_report_for_that_member_only_PE2(db, platform, functions, exam):
    _, token, card, record = patient_with_card(platform, functions)
    member = member_of(exam, record)
    mine = exam.add_report(member)
    _, _, _, other_record = patient_with_card(platform, functions)
    theirs = exam.add_report(member_of(exam, other_record))
    assert consent(functions, token, card["card_id"])[0] == 201

    status, link = report_call(functions, token, card["card_id"], mine["report_id"], "/pdf-link", "POST",
                               {"card_id": card["card_id"]})
    assert status == 201, link
    for secret in (record["id_no"], record["phone"], record["name"], member):
        assert secret not in link["url"] and urllib.parse.quote(secret) not in link["url"]
    opened = requests.get(link["url"], timeout=5)
    assert opened.status_code == 200 and opened.headers["Content-Type"].startswith("application/pdf")
    assert opened.content.startswith(b"%PDF")
    sent = urllib.parse.parse_qs(urllib.parse.urlsplit(link["url"]).query)["token"][0]
    other = requests.get(link["url"].split("?")[0], params={"token": sent, "report": theirs["report_id"]}, timeout=5)
    assert other.status_code == 403
    # Another member's report: not found, no link.
    assert report_call(functions, token, card["card_id"], theirs["report_id"])[0] == 404
    assert report_call(functions, token, card["card_id"], theirs["report_id"], "/pdf-link", "POST",
                       {"card_id": card["card_id"]})[0] == 404


def test_someone_the_exam_centre_does_not_know_gets_no_consent_PE1(db, platform, functions, exam):
    _, token, card, _ = patient_with_card(platform, functions)
    status, refused = consent(functions, token, card["card_id"])
    assert status == 404 and refused["error"]["code"] == "not_at_exam_centre"
    assert links(functions, token, "GET", "/links/consents")[1] == {"consents": []}


def test_a_withdrawal_tells_the_exam_system_and_closes_the_records_PE1(db, platform, functions, exam):
    _, token, card, record = patient_with_card(platform, functions)
    member = member_of(exam, record)
    assert consent(functions, token, card["card_id"])[0] == 201
    status, answer = links(functions, token, "DELETE", "/links/consents/physical_exam",
                           resource="/links/consents/{service}", params={"service": "physical_exam"},
                           query={"card_id": card["card_id"]})
    assert (status, answer) == (200, {"withdrawn": True})
    assert exam.authorisations[member]["status"] == "withdrawn"
    assert links(functions, token, "GET", "/links/exam/reports", query={"card_id": card["card_id"]})[0] == 409


def test_a_report_id_that_is_no_id_is_refused_before_the_exam_system_is_asked_PE2(db, platform, functions, exam):
    _, token, card, record = patient_with_card(platform, functions)
    member_of(exam, record)
    assert consent(functions, token, card["card_id"])[0] == 201
    for bad in ("..", "a/b", "x" * 65):
        status, refused = report_call(functions, token, card["card_id"], bad)
        assert status == 400 and refused["error"]["field"] == "report_id", bad


def test_an_authorisation_withdrawn_at_the_exam_centre_asks_for_consent_again_PE1(db, platform, functions, exam):
    _, token, card, record = patient_with_card(platform, functions)
    member = member_of(exam, record)
    assert consent(functions, token, card["card_id"])[0] == 201
    exam_adapter.ExamClient(exam.url, devenv.EXAM_DEV_KEY).withdraw(member)  # done on the exam centre's side
    status, refused = links(functions, token, "GET", "/links/exam/reports", query={"card_id": card["card_id"]})
    assert status == 409 and refused["error"]["code"] == "consent_lapsed"


def test_one_withdrawal_leaves_the_person_authorised_while_another_consent_for_them_holds_PE1(
        db, platform, functions, exam):
    from hospital.links import consents

    _, token, card, record = patient_with_card(platform, functions)
    member = member_of(exam, record)
    assert consent(functions, token, card["card_id"])[0] == 201
    other, _, other_card, _ = patient_with_card(platform, functions)
    consents.grant(other, consents.PHYSICAL_EXAM, other_card["card_id"], {"member_id": member})  # the same person
    assert links(functions, token, "DELETE", "/links/consents/physical_exam", resource="/links/consents/{service}",
                 params={"service": "physical_exam"}, query={"card_id": card["card_id"]})[1] == {"withdrawn": True}
    assert exam.authorisations[member]["status"] == "authorised"
