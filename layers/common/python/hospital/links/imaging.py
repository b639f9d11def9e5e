"""Cloud imaging for the patient (OI1-OI3): the studies and reports of one of their bound
cards, after their consent for that card, and a link to the imaging viewer that carries a
link token (hospital.links.link_tokens, platform "imaging") bound to the study and to the
card's patient id at the platform, never the id itself.

The card's HIS patient id is the PatientID the imaging platform files studies under; a study
is only shown or linked when the platform lists it under that id."""
from __future__ import annotations

import datetime as dt

from hospital.db import transaction
from hospital.errors import NotFound, ValidationFailed
from hospital.links import consents, link_tokens
from hospital.timeutil import iso_utc

PLATFORM = "imaging"
MAX_STUDIES = 100


# The adapter names what it checks by its own arguments; the patient's request by its query.
_QUERY_FIELDS = {"date_from": "from", "date_to": "to", "modalities": "modality", "description": "description",
                 "accession_number": "accession", "study_uid": "study_uid"}


def _patient_id(principal, card_id: str) -> str:
    """The HIS patient of the caller's card, once their consent for it is found."""
    consents.require_connected(consents.CLOUD_IMAGING)
    with transaction() as conn:
        card = consents.own_card(conn, principal.user_id, card_id)
        consents.require(conn, principal.user_id, consents.CLOUD_IMAGING, card_id)
    return card.his_patient_id


def studies(principal, card_id: str, date_from: dt.date | None, date_to: dt.date | None,
            modality: str | None, description: str | None = None, accession: str | None = None) -> dict:
    """StudyDate from-to, ModalitiesInStudy, StudyDescription (* ? wildcards), AccessionNumber."""
    from hospital.adapters import imaging

    patient_id = _patient_id(principal, card_id)
    try:
        found = imaging.client().search_studies(
            patient_id, date_from=date_from, date_to=date_to, modalities=(modality,) if modality else (),
            description=description, accession_number=accession, limit=MAX_STUDIES)
    except ValidationFailed as exc:
        raise ValidationFailed(exc.message, field=_QUERY_FIELDS.get(exc.field or "", exc.field)) from None
    return {"card_id": card_id, "studies": [study_view(study) for study in found]}


def study(principal, card_id: str, study_uid: str) -> dict:
    """One study of the card's patient, with its report (None until there is one)."""
    from hospital.adapters import imaging

    client = imaging.client()
    found = _one(client, _patient_id(principal, card_id), study_uid)
    report = client.report(found.study_uid)
    return {**study_view(found), "report": None if report is None else {
        "status": report.status, "findings": report.findings, "impression": report.impression,
        "radiologist": report.radiologist, "reported_at": report.reported_at.isoformat()}}


def viewer_link(principal, card_id: str, study_uid: str) -> dict:
    """A link to the viewer for the study, valid LINK_TOKEN_MINUTES."""
    from hospital.adapters import imaging

    client = imaging.client()
    patient_id = _patient_id(principal, card_id)
    found = _one(client, patient_id, study_uid)
    token, expires = link_tokens.issue(PLATFORM, patient_id, found.study_uid)
    return {"url": client.viewer_url(found.study_uid, token), "study_uid": found.study_uid,
            "expires_at": iso_utc(dt.datetime.fromtimestamp(expires, dt.UTC).replace(tzinfo=None))}


def _one(client, patient_id: str, study_uid: str):
    # QIDO-RS finds it among the patient's studies: one is only theirs when found under their id.
    found = next(iter(client.search_studies(patient_id, study_uid=study_uid, limit=1)), None)
    if found is None:
        raise NotFound("no such study of this card's patient", field="study_uid")
    return found


def study_view(found) -> dict:
    return {"study_uid": found.study_uid, "study_date": found.study_date.isoformat() if found.study_date else None,
            "modalities": list(found.modalities), "description": found.description,
            "accession_number": found.accession_number, "series": found.series_count,
            "instances": found.instance_count}
