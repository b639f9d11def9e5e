"""Physical exams for the patient (PE1-PE2): the consent for one of their cards authorises the
exam system to answer for that card's person, who it finds by keyed hashes of the ID number and
mobile the card was bound with (hospital.adapters.exam.identity_hash; the salt is shared with
the exam system, never the numbers); then that person's appointments and reports, and a link
to a report's PDF whose token names the member at the exam system and the report only."""
from __future__ import annotations

import contextlib
import datetime as dt

from hospital import config, settings
from hospital.db import transaction
from hospital.errors import Conflict, NotFound
from hospital.links import consents, link_tokens
from hospital.timeutil import iso_utc, utcnow

PLATFORM = "exam"
CONSENT_VERSION = "exam-link-2026.12"


def authorise(principal, card_id: str) -> tuple[dict, bool]:
    """The consent for the card's person: the exam system authorised first, then recorded.
    Asked again while it holds, the consent there is answered and nothing is sent."""
    from hospital.adapters import exam
    from hospital.outpatient import cards

    with transaction() as conn:
        card = consents.own_card(conn, principal.user_id, card_id)
        held = consents.holding(conn, principal.user_id, consents.PHYSICAL_EXAM, card_id)
    if held is not None:
        return consents.view(held), False
    id_no, phone = cards.identity_of(card)
    if not id_no or not phone:
        raise Conflict("this card was bound without the ID number and phone the exam centre knows people by",
                       field="card_id", code="card_without_identity")
    consents.require_connected(consents.PHYSICAL_EXAM)
    salt = config.secret_value(settings.EXAM_SECRET_ARN, "identity_salt")
    client = exam.client()
    try:
        answer = client.authorise(exam.identity_hash(id_no, "id_number", salt),
                                  exam.identity_hash(phone, "mobile", salt), utcnow().replace(tzinfo=dt.UTC),
                                  CONSENT_VERSION)
    except exam.ExamMemberNotFound:
        raise NotFound("the exam centre has no record of this card's person", field="card_id",
                       code="not_at_exam_centre") from None
    try:
        return consents.grant(principal, consents.PHYSICAL_EXAM, card_id,
                              {"member_id": answer.member_id, "consent_version": CONSENT_VERSION})
    except Exception:
        # Not recorded here (the card unbound meanwhile, the database gone): the exam system is
        # told to forget it again, unless another consent of ours holds for that person.
        with contextlib.suppress(Exception):
            if not _others_hold(answer.member_id, None):
                client.withdraw(answer.member_id)
        raise


def withdraw(principal, card_id: str) -> bool:
    """The exam system told first (a member it no longer knows counts as told), then ours ends."""
    from hospital.adapters import exam

    with transaction() as conn:
        held = consents.holding(conn, principal.user_id, consents.PHYSICAL_EXAM, card_id)
    if held is None:
        return False
    member_id = held.details["member_id"]
    # The exam system authorises a person, not a consent: one of ours for the same person (a
    # second card of theirs, another family member's phone) keeps it authorised.
    if not _others_hold(member_id, held.id):
        with contextlib.suppress(exam.ExamMemberNotFound):
            exam.client().withdraw(member_id)
    return consents.withdraw(principal, consents.PHYSICAL_EXAM, card_id)


def _others_hold(member_id: str, but: int | None) -> bool:
    """Whether a consent of ours other than `but` holds for the exam system's member."""
    import sqlalchemy as sa

    from hospital.db import tables as t

    c = t.consents.c
    with transaction() as conn:
        rows = conn.execute(sa.select(c.id, c.details).where(
            c.kind == consents.kind_of(consents.PHYSICAL_EXAM), c.withdrawn_at.is_(None))).all()
    return any(row.id != but and (row.details or {}).get("member_id") == member_id for row in rows)


def _member(principal, card_id: str) -> str:
    consents.require_connected(consents.PHYSICAL_EXAM)
    with transaction() as conn:
        consents.own_card(conn, principal.user_id, card_id)
        return consents.require(conn, principal.user_id, consents.PHYSICAL_EXAM, card_id).details["member_id"]


@contextlib.contextmanager
def _lapsed():
    """The exam system no longer holds the person's authorisation (withdrawn on its side): the
    patient consents again; nothing else it refuses is the patient's to fix (503)."""
    from hospital.adapters import exam

    try:
        yield
    except exam.ExamNotAuthorised:
        raise Conflict("the exam centre no longer holds your authorisation: consent again", field="card_id",
                       code="consent_lapsed") from None


def appointments(principal, card_id: str) -> dict:
    from hospital.adapters import exam

    member_id = _member(principal, card_id)
    with _lapsed():
        found = exam.client().appointments(member_id)
    return {"card_id": card_id, "appointments": [
        {"appointment_id": a.appointment_id, "package_name": a.package_name, "exam_date": a.exam_date.isoformat(),
         "status": a.status, "centre": a.centre} for a in found]}


def reports(principal, card_id: str) -> dict:
    from hospital.adapters import exam

    member_id = _member(principal, card_id)
    with _lapsed():
        found = exam.client().reports(member_id)
    return {"card_id": card_id, "reports": [_summary(r) for r in found]}


def report(principal, card_id: str, report_id: str) -> dict:
    found = _own_report(_member(principal, card_id), report_id)
    return {**_summary(found), "conclusion": found.conclusion, "advice": found.advice,
            "sections": [{"name": section.name, "items": [
                {"name": i.name, "value": i.value, "unit": i.unit, "reference_range": i.reference_range,
                 "flag": i.flag} for i in section.items]} for section in found.sections]}


def pdf_link(principal, card_id: str, report_id: str) -> dict:
    from hospital.adapters import exam

    member_id = _member(principal, card_id)
    found = _own_report(member_id, report_id)
    if found.status != "final":
        raise Conflict("the report is not final yet", field="report_id", code="report_pending")
    token, expires = link_tokens.issue(PLATFORM, member_id, found.report_id)
    return {"url": exam.client().pdf_url(token, found.report_id), "report_id": found.report_id,
            "expires_at": iso_utc(dt.datetime.fromtimestamp(expires, dt.UTC).replace(tzinfo=None))}


def _own_report(member_id: str, report_id: str):
    from hospital.adapters import exam

    try:
        found = exam.client().report(report_id)
    except (exam.ExamReportNotFound, exam.ExamNotAuthorised):  # not there, or another person's
        found = None
    if found is None or found.member_id != member_id:
        raise NotFound("no such report of this card's person", field="report_id")
    return found


def _summary(r) -> dict:
    return {"report_id": r.report_id, "appointment_id": r.appointment_id, "exam_date": r.exam_date.isoformat(),
            "status": r.status, "summary": r.summary,
            "published_at": r.published_at.isoformat() if r.published_at else None}
