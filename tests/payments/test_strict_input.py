"""Strict input on the payment routes: ids in ASCII digits, consent that is JSON true, free
text without hidden characters. Each refusal is a 400 naming the field and changes nothing
(OC2, NF5)."""
import uuid

import pytest
import sqlalchemy as sa

from hospital.db import engine, tables
from tests.payments.support import api, patient_with_bill
from tests.payments.test_credit_care import ENROLMENT, credit_status
from tests.payments.test_refunds import finance_token

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def open_anomaly() -> int:
    from hospital.payments import anomalies

    with engine().begin() as conn:
        key = f"test:{uuid.uuid4().hex}"
        anomalies.record(conn, source="wechatpay_v3", reason="unknown_order", dedupe_key=key, amount_fen=100)
        return conn.execute(sa.select(tables.payment_anomalies.c.id)
                            .where(tables.payment_anomalies.c.dedupe_key == key)).scalar_one()


def anomaly(anomaly_id: int):
    with engine().connect() as conn:
        return conn.execute(
            sa.select(tables.payment_anomalies).where(tables.payment_anomalies.c.id == anomaly_id)).one()


def audit_count() -> int:
    with engine().connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(tables.audit_log)).scalar_one()


def resolve(functions, token, anomaly_id: str, resolution="refunded offline by the cashier"):
    return api(functions, "PaymentsAdminFunction", "POST", f"/admin/payments/anomalies/{anomaly_id}/resolve", token,
               {"resolution": resolution}, {"anomaly_id": anomaly_id}, "/admin/payments/anomalies/{anomaly_id}/resolve")


def test_an_anomaly_id_in_other_than_ascii_digits_is_400_and_resolves_nothing_NF5(db, platform, functions):
    number = open_anomaly()
    token = finance_token(platform, uuid.uuid4().hex[:8])
    before = audit_count()
    # "²" passes str.isdigit() but not int(); int() reads the other two as the anomaly's own id.
    for spelt in ("²", str(number).translate(ARABIC_INDIC), str(number).translate(FULL_WIDTH)):
        status, body = resolve(functions, token, spelt)
        assert status == 400, (spelt, body)
        assert body["error"]["field"] == "anomaly_id", (spelt, body)
    assert anomaly(number).resolved_at is None
    assert audit_count() == before
    status, body = resolve(functions, token, "9" * 40)  # beyond any id: no driver error either
    assert status == 400
    assert body["error"]["field"] == "anomaly_id"
    status, resolved = resolve(functions, token, str(number))
    assert status == 200
    assert resolved["resolution"] == "refunded offline by the cashier"


def test_an_unknown_anomaly_in_ascii_digits_is_still_404_NF5(db, platform, functions):
    token = finance_token(platform, uuid.uuid4().hex[:8])
    status, body = resolve(functions, token, "999999999")
    assert status == 404
    assert body["error"]["field"] == "anomaly_id"


def test_a_resolution_with_a_hidden_character_is_400_and_a_multiline_one_is_kept_NF5(db, platform, functions):
    number = open_anomaly()
    token = finance_token(platform, uuid.uuid4().hex[:8])
    status, body = resolve(functions, token, str(number), "已线下退款\u202e")
    assert status == 400
    assert body["error"]["field"] == "resolution"
    assert anomaly(number).resolved_at is None
    status, resolved = resolve(functions, token, str(number), "已线下退款\n收据号 0012")
    assert status == 200
    assert resolved["resolution"] == "已线下退款\n收据号 0012"


@pytest.mark.parametrize("consent", [1, 1.0, "true"])
def test_credit_consent_must_be_json_true_and_nothing_is_enrolled_otherwise_OC2_NF5(db, platform, functions,
                                                                                    consent):
    principal, token, _ = patient_with_bill(platform)
    status, body = api(functions, "PaymentsApiFunction", "POST", ENROLMENT, token,
                       {"consent": consent, "consent_version": "credit-care-2026.11"})
    assert status == 400
    assert body["error"]["field"] == "consent"
    with engine().connect() as conn:
        for table in (tables.credit_enrolments, tables.consents):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)
                                .where(table.c.user_id == principal.user_id)).scalar_one() == 0
    assert credit_status(functions, token)[1]["enrolled"] is False
