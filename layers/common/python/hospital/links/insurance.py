"""The medical-insurance e-voucher (OV1-OV3): the patient authorises us with an auth code from
the insurance platform (the same AUTH it uses for payment, hospital.adapters.medical_insurance),
which names their insurance person number; the consent keeps that number encrypted; the
e-insurance card is then read from the platform each time (1101) and shown masked."""
from __future__ import annotations

import base64

from hospital import crypto
from hospital.db import transaction
from hospital.errors import NotFound, UpstreamUnavailable, ValidationFailed
from hospital.links import consents
from hospital.links import mask_rules as mask

# The platform's answers that are about the patient's input, not the platform's trouble.
AUTH_CODE_REFUSED, PERSON_UNKNOWN = "1001", "2001"


def _context(user_id: int) -> str:
    return f"consents.insurance_voucher.psn_no:{user_id}"


def entry(principal) -> dict:
    """The entry's state, and where the patient authorises us at the insurance platform (its
    page answers the auth code the H5 page then posts to /links/consents)."""
    from hospital import settings

    with transaction() as conn:
        held = consents.holding(conn, principal.user_id, consents.INSURANCE_VOUCHER)
    return {"state": "ready" if held is not None else "needs_consent",
            "authorised_at": consents.view(held)["granted_at"] if held is not None else None,
            "authorise_url": f"{settings.MED_INS_API_BASE.get().rstrip('/')}/ecv/authorise"}


def authorise(principal, auth_code: str | None) -> tuple[dict, bool]:
    """The consent, with the person the auth code names; asked again while it holds, the one
    there (the code is not spent)."""
    from hospital.adapters import medical_insurance

    if not auth_code:
        raise ValidationFailed("the insurance platform's auth_code authorises the e-voucher", field="auth_code")
    with transaction() as conn:
        held = consents.holding(conn, principal.user_id, consents.INSURANCE_VOUCHER)
    if held is not None:
        return consents.view(held), False
    consents.require_connected(consents.INSURANCE_VOUCHER)
    try:
        psn_no = medical_insurance.client().person_of(auth_code)
    except medical_insurance.InsuranceRefused as exc:
        if exc.code != AUTH_CODE_REFUSED:
            raise UpstreamUnavailable("the insurance platform refused; try again later") from None
        raise ValidationFailed("the auth code is invalid or already used", field="auth_code",
                               code="invalid_auth_code") from None
    sealed = base64.b64encode(crypto.encrypt(psn_no, _context(principal.user_id))).decode("ascii")
    return consents.grant(principal, consents.INSURANCE_VOUCHER, None, {"psn_no_enc": sealed})


def card(principal) -> dict:
    """The e-insurance card, masked where sensitive: ID number, card number, name."""
    from hospital.adapters import medical_insurance

    with transaction() as conn:
        held = consents.require(conn, principal.user_id, consents.INSURANCE_VOUCHER)
    psn_no = crypto.decrypt_text(base64.b64decode(held.details["psn_no_enc"]), _context(principal.user_id))
    try:
        person = medical_insurance.client().person(psn_no or "")
    except medical_insurance.InsuranceRefused as exc:
        if exc.code != PERSON_UNKNOWN:
            raise UpstreamUnavailable("the insurance platform refused; try again later") from None
        raise NotFound("the insurance platform no longer knows this person; authorise again", code="not_insured") \
            from None
    return {"name": mask.name(person.name), "id_number": mask.id_number(person.certno),
            "ecard_no": mask.tail(person.ecard_no), "ecard_status": person.ecard_status,
            "gender": person.gender,
            "insurances": [{"type": i.type, "person_type": i.person_type, "balance_fen": i.balance_fen,
                            "region": i.region, "status": i.status} for i in person.insurances]}
