"""Consent to a linked system (OI1, PE1, OV2): per card for cloud imaging, per patient for the
others; only for one's own bound card; asked twice (or twice at once) it is one consent;
withdrawn it holds no more; both ways audited."""
import concurrent.futures

import pytest
import sqlalchemy as sa

from hospital.db import engine, tables
from hospital.errors import Conflict, NotFound, ValidationFailed
from hospital.links import consents
from tests.conftest import make_patient
from tests.outpatient.support import patient_with_card


def audited(action: str, user_id: int) -> int:
    with engine().connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(tables.audit_log).where(
            tables.audit_log.c.action == action, tables.audit_log.c.actor_user_id == user_id)).scalar()


def test_imaging_is_consented_per_own_card_and_withdrawn_OI1(db, platform, functions):
    principal, _, card, _ = patient_with_card(platform, functions)
    other, _, other_card, _ = patient_with_card(platform, functions)
    made, created = consents.grant(principal, consents.CLOUD_IMAGING, card["card_id"])
    assert created and made["card_id"] == card["card_id"] and made["service"] == "cloud_imaging"
    again, created = consents.grant(principal, consents.CLOUD_IMAGING, card["card_id"])
    assert not created and again == made
    with pytest.raises(NotFound) as refused:
        consents.grant(principal, consents.CLOUD_IMAGING, other_card["card_id"])
    assert refused.value.field == "card_id"
    with engine().connect() as conn:
        assert consents.require(conn, principal.user_id, consents.CLOUD_IMAGING, card["card_id"]).id
        with pytest.raises(Conflict):
            consents.require(conn, other.user_id, consents.CLOUD_IMAGING, other_card["card_id"])
    assert consents.listing(principal) == [made]
    assert consents.withdraw(principal, consents.CLOUD_IMAGING, card["card_id"]) is True
    assert consents.withdraw(principal, consents.CLOUD_IMAGING, card["card_id"]) is False
    assert consents.listing(principal) == []
    with engine().connect() as conn, pytest.raises(Conflict) as refused:
        consents.require(conn, principal.user_id, consents.CLOUD_IMAGING, card["card_id"])
    assert refused.value.code == "consent_required"
    assert (audited("links.consent_granted", principal.user_id),
            audited("links.consent_withdrawn", principal.user_id)) == (1, 1)


@pytest.mark.parametrize("service,card", [("cloud_imaging", None), ("physical_exam", None),
                                          ("insurance_voucher", "x" * 32), ("dental", None)])
def test_a_consent_that_does_not_fit_its_service_is_refused_and_nothing_is_kept_PE1(db, platform, service, card):
    principal, _ = make_patient(platform)
    with pytest.raises(ValidationFailed):
        consents.grant(principal, service, card)
    assert consents.listing(principal) == []


def test_two_consents_at_once_make_one_PE1(mysql_db, platform):
    principal, _ = make_patient(platform)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        made = list(pool.map(lambda _: consents.grant(principal, consents.INSURANCE_VOUCHER), range(2)))
    assert sorted(created for _, created in made) == [False, True]
    assert len(consents.listing(principal)) == 1


def test_two_withdrawals_at_once_end_it_once_OV2(mysql_db, platform):
    principal, _ = make_patient(platform)
    consents.grant(principal, consents.INSURANCE_VOUCHER)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        ended = list(pool.map(lambda _: consents.withdraw(principal, consents.INSURANCE_VOUCHER), range(2)))
    assert sorted(ended) == [False, True]
    assert audited("links.consent_withdrawn", principal.user_id) == 1
