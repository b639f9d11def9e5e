"""Online consultation on the internet hospital (OH1-OH3): the entry, and a signed, expiring
deep link to one doctor's page that carries no identity in clear.

The link's token (hospital.links.link_tokens, platform "internet_hospital") names the patient
by a pseudonym, a keyed hash of their user id: the platform recognises a returning patient
without learning who they are, and asks for their real-name verification itself, as it must.
"""
from __future__ import annotations

import urllib.parse

from hospital import audit, settings
from hospital.errors import Conflict, NotFound, UpstreamUnavailable
from hospital.timeutil import iso_utc

PLATFORM = "internet_hospital"


def entry() -> dict:
    """The home grid's entry: where the internet hospital opens, without anyone's identity."""
    base = settings.INTERNET_HOSPITAL_URL.get_optional()
    if not base:
        return {"state": "unavailable", "reason": "not_connected", "url": None}
    return {"state": "ready", "url": base}


def doctor_link(principal, dept_code: str, doctor_code: str) -> dict:
    """Entry: a link to the doctor's consultation page, valid LINK_TOKEN_MINUTES."""
    import datetime as dt

    from hospital.crypto import lookup_hash
    from hospital.links import link_tokens
    from hospital.outpatient import catalogue

    base = settings.INTERNET_HOSPITAL_URL.get_optional()
    if not base:
        raise UpstreamUnavailable("the internet hospital is not connected here", code="not_connected")
    doctor = next((d for d in catalogue.doctors(dept_code) if d["doctor_code"] == doctor_code), None)
    if doctor is None:
        raise NotFound("no such doctor in that department", field="doctor_code")
    if not doctor["online_consult"]:
        raise Conflict("this doctor does not consult online", field="doctor_code", code="no_online_consultation")
    pseudonym = lookup_hash(str(principal.user_id), "internet_hospital_patient")
    token, expires = link_tokens.issue(PLATFORM, pseudonym, doctor_code)
    audit.record(principal, "links.consultation_link", "doctor", doctor_code, "ok", {"platform": PLATFORM})
    url = f"{base.rstrip('/')}/doctors/{urllib.parse.quote(doctor_code, safe='')}?t={token}"
    return {"url": url, "doctor_code": doctor_code,
            "expires_at": iso_utc(dt.datetime.fromtimestamp(expires, dt.UTC).replace(tzinfo=None))}
