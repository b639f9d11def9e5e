"""The medical-insurance e-voucher (OV1-OV3), through the insurance platform's simulator over
real HTTP: the entry's state; the patient authorises with the platform's auth code (used once;
a bad one changes nothing); the e-insurance card is then shown with the ID number, card number
and name masked; withdrawn, it is shown no more."""
import uuid

import sqlalchemy as sa

from hospital.db import engine, tables
from tests.conftest import make_patient
from tests.functions.links_support import links


def authorised(platform, functions):
    """(user, token, person) of a patient who authorised the e-voucher."""
    user, token = make_patient(platform)
    psn_no = f"PSN{uuid.uuid4().hex[:10]}"
    person = platform.insurance.add_person(psn_no, name="张三丰", certno="110101199003074514")
    status, made = links(functions, token, "POST", "/links/consents",
                         {"service": "insurance_voucher", "auth_code": platform.insurance.mint_auth_code(psn_no)})
    assert status == 201 and made["service"] == "insurance_voucher"
    return user, token, person


def test_the_entry_needs_an_auth_code_then_shows_the_card_masked_OV1_OV2_OV3(db, platform, functions):
    _, token = make_patient(platform)
    entry = links(functions, token, "GET", "/links/insurance-voucher")[1]
    assert entry["state"] == "needs_consent" and entry["authorise_url"] == f"{platform.insurance.url}/ecv/authorise"
    assert links(functions, token, "GET", "/links/insurance-voucher/card")[1]["error"]["code"] == "consent_required"
    user, token, person = authorised(platform, functions)
    assert links(functions, token, "GET", "/links/insurance-voucher")[1]["state"] == "ready"
    status, card = links(functions, token, "GET", "/links/insurance-voucher/card")
    assert status == 200
    assert card["name"] == "张**" and card["id_number"] == "110***********4514"
    ecard_no = person["ecard"]["ecard_no"]
    assert card["ecard_no"] == "*" * (len(ecard_no) - 4) + ecard_no[-4:]
    assert card["insurances"][0]["balance_fen"] == 123456
    assert "110101199003074514" not in str(card) and person["baseinfo"]["psn_no"] not in str(card)
    with engine().connect() as conn:  # the person number is kept encrypted
        details = conn.execute(sa.select(tables.consents.c.details).where(
            tables.consents.c.user_id == user.user_id, tables.consents.c.kind == "link:insurance_voucher")).scalar()
    assert person["baseinfo"]["psn_no"] not in str(details)


def test_a_bad_or_spent_auth_code_is_refused_and_nothing_is_kept_OV2(db, platform, functions):
    _, token = make_patient(platform)
    code = platform.insurance.mint_auth_code("PSN-spent")
    platform.insurance.add_person("PSN-spent")
    assert links(functions, token, "POST", "/links/consents", {"service": "insurance_voucher", "auth_code": code}
                 )[0] == 201
    _, other = make_patient(platform)
    for body, field in (({"service": "insurance_voucher", "auth_code": code}, "auth_code"),
                        ({"service": "insurance_voucher", "auth_code": "AC-none"}, "auth_code"),
                        ({"service": "insurance_voucher"}, "auth_code")):
        status, refused = links(functions, other, "POST", "/links/consents", body)
        assert status == 400 and refused["error"]["field"] == field
    assert links(functions, other, "GET", "/links/consents")[1] == {"consents": []}


def test_withdrawn_the_card_is_shown_no_more_OV2(db, platform, functions):
    _, token, _ = authorised(platform, functions)
    assert links(functions, token, "DELETE", "/links/consents/insurance_voucher", resource="/links/consents/{service}",
                 params={"service": "insurance_voucher"})[1] == {"withdrawn": True}
    status, refused = links(functions, token, "GET", "/links/insurance-voucher/card")
    assert status == 409 and refused["error"]["code"] == "consent_required"
