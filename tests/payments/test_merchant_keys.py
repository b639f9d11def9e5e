"""Merchant keys an operator can manage: one bad entry in the WeChat Pay secret is logged by
its mchid and left out while the other merchants keep working; serials match whatever their
case, and a certificate names its own serial; a key added to the secret verifies at once
(the secret is read again, at most once per 30 s); wechatpy never logs the v2 API key."""
import datetime as dt
import json
import logging
import uuid

import pytest

from hospital.payments import merchants
from infra import devenv
from tests.payments.support import (
    certificate_pem,
    create_order,
    merchant_entry,
    order_row,
    patient_pays,
    patient_with_bill,
    pay,
    pem_of,
    put_wechatpay_secret,
    resign_v3,
    rsa_key,
    wait_status,
    wechatpay_secret,
    wechatpay_secret_restored,
)
from tests.payments.test_notification_verification import paid_at_wechat, paying_order, post_v3, unchanged

V3, V2 = devenv.DEV_V3_MCHID, devenv.DEV_V2_MCHID
CST = dt.timezone(dt.timedelta(hours=8))
CERTIFICATE_SERIAL = next(iter(devenv.wechatpay_dev_keys()["platform_certificates"]))
PUBLIC_KEY_ID = next(s for s in devenv.wechatpay_dev_keys()["platform"] if s.startswith("PUB_KEY_ID_"))


@pytest.fixture
def fresh_container():
    """What a new container knows of the secret: nothing yet."""
    from hospital import config

    config.clear_caches()
    merchants.clear_cache()
    with wechatpay_secret_restored() as arn:
        yield arn


@pytest.fixture
def logs(caplog):
    """caplog, hearing the hospital loggers too (their JSON handler does not pass records on)."""
    hospital = logging.getLogger("hospital")
    hospital.addHandler(caplog.handler)
    caplog.set_level(logging.INFO)
    try:
        yield caplog
    finally:
        hospital.removeHandler(caplog.handler)


def forget_secret():
    from hospital import config

    config.clear_caches()
    merchants.clear_cache()


def test_a_malformed_merchant_entry_is_logged_by_mchid_and_left_out_and_the_others_keep_working(
        db, platform, functions, fresh_container, monkeypatch, logs):
    document = wechatpay_secret()
    bad_apiv3_key = "k" * 31
    broken_private_key = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
    document["merchants"] += [
        {"mchid": "1900000901", "api": "v3", "appids": ["wx-x"], "serial_no": "AB12",
         "private_key": broken_private_key, "apiv3_key": "a" * 32},
        {"mchid": "1900000902", "api": "v3", "appids": ["wx-x"], "serial_no": "AB12",
         "private_key": pem_of(rsa_key(), private=True), "apiv3_key": bad_apiv3_key},
        {"mchid": "1900000903", "api": "v4", "appids": ["wx-x"]},
        {"mchid": "1900000904", "api": "v2", "appids": ["wx-x"]},
    ]
    put_wechatpay_secret(document)
    forget_secret()

    # v3 (answered 400 "malformed notification" before) and v2 (answered 500) both work.
    order_id = paying_order(platform, functions)
    patient_pays(platform, order_id)
    wait_status(order_id, "paid")
    monkeypatch.setenv("WECHATPAY_MCHID", V2)
    _, token, bill = patient_with_bill(platform, amount="12.30")
    v2_order = create_order(functions, token, bill)[1]["order_id"]
    assert pay(functions, token, v2_order)[0] == 200
    patient_pays(platform, v2_order)
    wait_status(v2_order, "paid")

    left_out = {r.mchid: r.reason for r in logs.records if r.getMessage() == "wechatpay merchant left out"}
    assert left_out == {"1900000901": "private_key does not parse",
                        "1900000902": "apiv3_key is 31 bytes, not 32",
                        "1900000903": "unknown api 'v4' (v3 or v2)",
                        "1900000904": "api_key missing"}
    assert all(r.levelno == logging.ERROR for r in logs.records if r.getMessage() == "wechatpay merchant left out")
    logged = " ".join(f"{r.getMessage()} {vars(r)}" for r in logs.records)
    assert bad_apiv3_key not in logged
    assert "bm90IGEga2V5" not in logged
    with pytest.raises(Exception, match="1900000901 is not in the WeChat Pay secret"):
        merchants.by_mchid("1900000901")


def test_a_platform_key_that_does_not_parse_is_left_out_alone(db, platform, functions, fresh_container, logs):
    document = wechatpay_secret()
    merchant_entry(document, V3)["platform_keys"]["PUB_KEY_ID_0119000010920261126000000000999"] = "not a PEM"
    put_wechatpay_secret(document)
    forget_secret()
    order_id = paying_order(platform, functions)
    body, headers = paid_at_wechat(platform, order_id)
    key = devenv.wechatpay_dev_keys()["platform"][CERTIFICATE_SERIAL]
    assert post_v3(platform, body, resign_v3(body, headers, key, CERTIFICATE_SERIAL)).status_code == 204
    assert [(r.mchid, r.serial) for r in logs.records if r.getMessage() == "wechatpay platform key left out"] == [
        (V3, "PUB_KEY_ID_0119000010920261126000000000999")]


def test_serials_match_whatever_their_case_and_a_certificate_names_its_own(db, platform, functions, fresh_container):
    document = wechatpay_secret()
    keys = merchant_entry(document, V3)["platform_keys"]
    # The certificate filed under a name that is not its serial; the public key id in lower case.
    keys["SOMETHING-ELSE"] = keys.pop(CERTIFICATE_SERIAL)
    keys[PUBLIC_KEY_ID.lower()] = keys.pop(PUBLIC_KEY_ID)
    put_wechatpay_secret(document)
    forget_secret()
    for serial, header in ((CERTIFICATE_SERIAL, CERTIFICATE_SERIAL.lower()),
                           (CERTIFICATE_SERIAL, "0" + CERTIFICATE_SERIAL),
                           (PUBLIC_KEY_ID, PUBLIC_KEY_ID), (PUBLIC_KEY_ID, PUBLIC_KEY_ID.lower())):
        order_id = paying_order(platform, functions)
        body, headers = paid_at_wechat(platform, order_id)
        key = devenv.wechatpay_dev_keys()["platform"][serial]
        answer = post_v3(platform, body, resign_v3(body, headers, key, header))
        assert answer.status_code == 204, (header, answer.text)
        assert order_row(order_id).status == "paid"


def test_a_merchant_certificate_gives_the_merchant_serial_and_must_belong_to_its_key(platform, fresh_container):
    sim_merchant = platform.wechatpay.merchants[V3]
    merchant_key = devenv.wechatpay_dev_keys()["merchant_key"]
    certificate = certificate_pem(merchant_key)
    from hospital.adapters import wechatpay_v3

    serial = wechatpay_v3.certificate_serial(wechatpay_v3.load_certificate(certificate))
    document = wechatpay_secret()
    entry = merchant_entry(document, V3)
    entry.pop("serial_no")
    entry["certificate"] = certificate
    put_wechatpay_secret(document)
    forget_secret()
    original_serial, sim_merchant.merchant_serial = sim_merchant.merchant_serial, serial
    try:
        merchant = merchants.by_mchid(V3)
        assert merchant.serial_no == serial
        # WeChat Pay accepts our requests only under that serial.
        with pytest.raises(wechatpay_v3.WeChatPayError) as refused:
            merchants.client(merchant).query_order(f"NO{uuid.uuid4().hex[:12]}")
        assert refused.value.code == "ORDER_NOT_EXIST"
    finally:
        sim_merchant.merchant_serial = original_serial
    entry["certificate"] = certificate_pem(rsa_key())  # someone else's certificate
    with pytest.raises(merchants.BadEntry, match="private_key does not belong to the certificate"):
        merchants.parse_entry(entry)


def test_a_key_added_to_the_secret_verifies_at_once_and_reading_again_is_rate_limited(
        db, platform, functions, fresh_container):
    merchants.v3_keys()  # the container has read the secret (cached for 5 minutes)
    new_key, newer_key = rsa_key(), rsa_key()
    new_id, newer_id = "PUB_KEY_ID_0119000010920261126000000000777", "PUB_KEY_ID_0119000010920261126000000000778"
    document = wechatpay_secret()
    merchant_entry(document, V3)["platform_keys"][new_id] = pem_of(new_key)
    put_wechatpay_secret(document)

    order_id = paying_order(platform, functions)
    body, headers = paid_at_wechat(platform, order_id)
    answer = post_v3(platform, body, resign_v3(body, headers, new_key, new_id))
    assert answer.status_code == 204, answer.text
    assert order_row(order_id).status == "paid"

    # Within 30 s of that reading, an unknown serial is refused without reading again.
    merchant_entry(document, V3)["platform_keys"][newer_id] = pem_of(newer_key)
    put_wechatpay_secret(document)
    order_id = paying_order(platform, functions)
    body, headers = paid_at_wechat(platform, order_id)
    assert post_v3(platform, body, resign_v3(body, headers, newer_key, newer_id)).status_code == 401
    assert unchanged(order_id)


def test_wechatpy_never_logs_the_v2_api_key_even_with_the_root_logger_at_debug(platform, logs):
    # The secret is read first: botocore at DEBUG logs every answer of Secrets Manager whole.
    merchant = merchants.by_mchid(V2)
    logs.set_level(logging.DEBUG)  # the root logger, and every logger without its own level
    client = merchants.client(merchant)
    out_trade_no = f"LOG{uuid.uuid4().hex[:20]}"
    prepay_id = client.unified_order(description="挂号费", out_trade_no=out_trade_no, amount_fen=100,
                                     openid="o-log-test",
                                     notify_url=f"{platform.api.url}/callbacks/wechatpay/v2/payment",
                                     time_expire=dt.datetime.now(CST) + dt.timedelta(minutes=15),
                                     client_ip="127.0.0.1")
    assert prepay_id
    assert client.query_order(out_trade_no)["trade_state"] == "NOTPAY"
    captured = logs.text + json.dumps([str(r.args) for r in logs.records])
    assert any(r.name == "urllib3.connectionpool" for r in logs.records)  # DEBUG lines are captured
    assert merchant.api_key not in captured
