"""Callbacks verify exactly as the spec says before anything changes: raw body, key chosen by
Wechatpay-Serial (both keys of a switch-over accepted), 5-minute window, probes fail; v2 MD5
or HMAC-SHA256 chosen right. Verified notifications that fit no order are acknowledged and
recorded for finance, and change no order (OC1, OP2)."""
import base64
import concurrent.futures
import json

import pytest
import requests
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from hospital.db import engine, tables
from infra import devenv
from tests.payments.support import (
    anomalies_of,
    create_order,
    ledger_rows,
    order_row,
    patient_with_bill,
    pay,
    wait_status,
)


def paying_order(platform, functions, amount="25.00"):
    _, token, bill = patient_with_bill(platform, amount=amount)
    order = create_order(functions, token, bill)[1]
    assert pay(functions, token, order["order_id"])[0] == 200
    return order["order_id"]


def paid_at_wechat(platform, order_id):
    """WeChat takes the money; the test sends (or tampers with) the notification itself."""
    platform.wechatpay.pay(devenv.DEV_V3_MCHID, order_id, notify=False)
    return platform.wechatpay.notification("payment", devenv.DEV_V3_MCHID, order_id)


def post_v3(platform, body: bytes, headers: dict):
    return requests.post(f"{platform.api.url}/callbacks/wechatpay/v3", data=body, headers=headers, timeout=10)


def unchanged(order_id):
    row = order_row(order_id)
    return row.status == "paying" and row.paid_fen == 0 and ledger_rows(order_id) == []


def resign(body: bytes, headers: dict, key) -> dict:
    message = f"{headers['Wechatpay-Timestamp']}\n{headers['Wechatpay-Nonce']}\n".encode() + body + b"\n"
    signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return {**headers, "Wechatpay-Signature": base64.b64encode(signature).decode()}


def test_each_platform_key_of_a_switch_over_is_accepted_by_its_serial(db, platform, functions):
    for serial in devenv.wechatpay_dev_keys()["platform"]:
        order_id = paying_order(platform, functions)
        body, headers = paid_at_wechat(platform, order_id)
        key = devenv.wechatpay_dev_keys()["platform"][serial]
        answer = post_v3(platform, body, resign(body, {**headers, "Wechatpay-Serial": serial}, key))
        assert answer.status_code == 204, answer.text
        assert order_row(order_id).status == "paid"


@pytest.mark.parametrize("attack", ["tampered_body", "wrong_key", "unknown_serial", "stale_timestamp", "probe",
                                    "missing_headers", "reserialised_json"])
def test_a_notification_that_fails_verification_is_401_and_changes_nothing(db, platform, functions, attack, caplog):
    order_id = paying_order(platform, functions)
    body, headers = paid_at_wechat(platform, order_id)
    if attack == "tampered_body":
        envelope = json.loads(body)
        envelope["summary"] = "x"
        body = json.dumps(envelope, ensure_ascii=False).encode()
    elif attack == "reserialised_json":  # same content, other bytes: the signature covers the raw bytes
        body = json.dumps(json.loads(body), ensure_ascii=False, indent=1).encode()
    elif attack == "wrong_key":
        headers = resign(body, headers, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    elif attack == "unknown_serial":
        headers = {**headers, "Wechatpay-Serial": "5157F09EFDC096DE15EBE81A47057A72AAAAAAAA"}
    elif attack == "stale_timestamp":
        platform.wechatpay.advance_clock(-301)
        try:
            body, headers = platform.wechatpay.notification("payment", devenv.DEV_V3_MCHID, order_id)
        finally:
            platform.wechatpay.advance_clock(301)
    elif attack == "probe":
        body, headers = platform.wechatpay.notification("payment", devenv.DEV_V3_MCHID, order_id, probe=True)
    elif attack == "missing_headers":
        headers = {"Content-Type": "application/json"}
    answer = post_v3(platform, body, headers)
    assert answer.status_code == 401
    assert answer.json()["code"] == "FAIL"
    assert answer.json()["message"]
    assert unchanged(order_id)
    assert any(r.getMessage() == "wechatpay v3 notification refused" for r in caplog.records)


def test_100_concurrent_identical_notifications_change_the_order_once(db, platform, functions):
    order_id = paying_order(platform, functions)
    body, headers = paid_at_wechat(platform, order_id)
    with concurrent.futures.ThreadPoolExecutor(25) as pool:
        answers = list(pool.map(lambda _: post_v3(platform, body, headers).status_code, range(100)))
    assert answers == [204] * 100
    row = order_row(order_id)
    assert row.status == "paid"
    assert row.paid_fen == 2500
    assert [(e.entry_type, e.amount_fen) for e in ledger_rows(order_id)] == [("payment", 2500)]
    with engine().connect() as conn:  # one state change: one HIS confirmation was published
        published = conn.execute(sa.select(sa.func.count()).select_from(tables.outbox).where(
            tables.outbox.c.message_type == "payment.paid", tables.outbox.c.payload.contains(order_id))).scalar_one()
    assert published == 1


def test_the_simulators_duplicate_and_concurrent_deliveries_are_applied_once(db, platform, functions):
    order_id = paying_order(platform, functions)
    platform.wechatpay.notify_options.update(duplicates=5, concurrent=True, probe_first=True)
    try:
        platform.wechatpay.pay(devenv.DEV_V3_MCHID, order_id)
        wait_status(order_id, "paid")
    finally:
        platform.wechatpay.notify_options.update(duplicates=1, concurrent=False, probe_first=False)
    from tests.conftest import wait_for

    deliveries = wait_for(lambda: (lambda d: d if len(d) >= 6 else None)(
        [n for n in platform.wechatpay.notifications if n["key"] == order_id]))
    assert sorted(n["status"] for n in deliveries) == [204] * 5 + [401]  # the probe was refused
    assert len(ledger_rows(order_id)) == 1


def test_a_verified_notification_for_an_unknown_order_is_acknowledged_and_recorded(db, platform, functions):
    sim = platform.wechatpay
    merchant = sim.merchants[devenv.DEV_V3_MCHID]
    stranger = "X" + order_row(paying_order(platform, functions)).id[1:]  # an order number we never issued
    sim._open_order(merchant, "v3", platform.mini_program_app_id, stranger, 999, "http://127.0.0.1:9/", "o-x", "?",
                    None)
    sim.pay(devenv.DEV_V3_MCHID, stranger, notify=False)
    body, headers = sim.notification("payment", devenv.DEV_V3_MCHID, stranger)
    assert post_v3(platform, body, headers).status_code == 204
    recorded = anomalies_of(stranger)
    assert [(a.reason, a.amount_fen) for a in recorded] == [("unknown_order", 999)]
    # Again: acknowledged, still recorded once.
    assert post_v3(platform, body, headers).status_code == 204
    assert len(anomalies_of(stranger)) == 1


def test_a_verified_notification_with_another_amount_changes_no_order(db, platform, functions):
    order_id = paying_order(platform, functions)
    platform.wechatpay.pay(devenv.DEV_V3_MCHID, order_id, notify=False)
    platform.wechatpay.orders[(devenv.DEV_V3_MCHID, order_id)]["total"] = 2499
    body, headers = platform.wechatpay.notification("payment", devenv.DEV_V3_MCHID, order_id)
    assert post_v3(platform, body, headers).status_code == 204
    assert unchanged(order_id)
    assert [(a.reason, a.amount_fen) for a in anomalies_of(order_id)] == [("amount_mismatch", 2499)]


def test_finance_sees_abnormal_orders_and_patients_do_not(db, platform, functions):
    from hospital.auth import sessions
    from tests.payments.support import api

    order_id = paying_order(platform, functions)
    platform.wechatpay.pay(devenv.DEV_V3_MCHID, order_id, notify=False)
    platform.wechatpay.orders[(devenv.DEV_V3_MCHID, order_id)]["total"] = 1
    body, headers = platform.wechatpay.notification("payment", devenv.DEV_V3_MCHID, order_id)
    post_v3(platform, body, headers)
    finance = sessions.sign_in_identity(platform.mini_program_app_id, f"o-fin-{order_id[:8]}")
    sessions.grant_role(finance["user"]["id"], "finance")
    token = sessions.sign_in_identity(platform.mini_program_app_id, f"o-fin-{order_id[:8]}")["access_token"]
    status, listed = api(functions, "PaymentsAdminFunction", "GET", "/admin/payments/anomalies", token)
    assert status == 200
    assert order_id in [a["order_id"] for a in listed["items"]]
    _, patient_token, _ = patient_with_bill(platform)
    assert api(functions, "PaymentsAdminFunction", "GET", "/admin/payments/anomalies", patient_token)[0] == 403
    with engine().connect() as conn:
        actions = conn.execute(sa.select(tables.audit_log.c.action).where(
            tables.audit_log.c.actor_user_id == finance["user"]["id"])).scalars().all()
    assert actions[-1] == "payments.anomalies_viewed"
