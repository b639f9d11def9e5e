"""Merchants still on WeChat Pay API v2 (XML, MD5 or HMAC-SHA256), chosen per merchant in
configuration: prepay through wechatpy, notifications verified with the right algorithm
(HMAC-SHA256 without sign_type accepted), refunds with the encrypted req_info."""
import hashlib

import pytest
import requests

from infra import devenv
from tests.payments.support import (
    create_order,
    deliver_queued,
    ledger_rows,
    order_row,
    patient_pays,
    patient_with_bill,
    pay,
    wait_status,
)


@pytest.fixture
def v2_merchant(monkeypatch):
    monkeypatch.setenv("WECHATPAY_MCHID", devenv.DEV_V2_MCHID)


def v2_order(platform, functions):
    _, token, bill = patient_with_bill(platform, amount="12.30")
    order_id = create_order(functions, token, bill)[1]["order_id"]
    status, paying = pay(functions, token, order_id)
    assert status == 200, paying
    return order_id, paying["request_payment"]


def test_v2_prepay_signs_the_page_parameters_with_the_merchant_key(db, platform, functions, v2_merchant):
    order_id, params = v2_order(platform, functions)
    assert order_row(order_id).api_version == "v2"
    assert params["signType"] == "MD5"
    fields = {k: v for k, v in params.items() if k != "paySign"}
    text = "&".join(f"{k}={fields[k]}" for k in sorted(fields)) + f"&key={devenv.wechatpay_dev_keys()['v2_api_key']}"
    assert params["paySign"] == hashlib.md5(text.encode()).hexdigest().upper()


@pytest.mark.parametrize("sign_type,include", [("MD5", False), ("MD5", True), ("HMAC-SHA256", False),
                                               ("HMAC-SHA256", True)])
def test_a_valid_v2_notification_is_accepted_with_or_without_sign_type(db, platform, functions, v2_merchant,
                                                                       sign_type, include):
    order_id, _ = v2_order(platform, functions)
    platform.wechatpay.notify_options.update(v2_sign_type=sign_type, v2_include_sign_type=include)
    try:
        patient_pays(platform, order_id)
        wait_status(order_id, "paid")
    finally:
        platform.wechatpay.notify_options.pop("v2_sign_type")
        platform.wechatpay.notify_options.pop("v2_include_sign_type")
    assert order_row(order_id).paid_fen == 1230
    from tests.conftest import wait_for

    last = wait_for(lambda: [n for n in platform.wechatpay.notifications if n["key"] == order_id])[-1]
    assert last["accepted"]
    assert last["status"] == 200


@pytest.mark.parametrize("change", ["total_fee", "sign", "dtd"])
def test_a_tampered_v2_notification_is_refused_and_changes_nothing(db, platform, functions, v2_merchant, change):
    order_id, _ = v2_order(platform, functions)
    platform.wechatpay.pay(devenv.DEV_V2_MCHID, order_id, notify=False)
    body, headers = platform.wechatpay.notification("payment", devenv.DEV_V2_MCHID, order_id)
    text = body.decode()
    if change == "total_fee":
        text = text.replace("<total_fee><![CDATA[1230]]>", "<total_fee><![CDATA[1]]>")
    elif change == "sign":
        text = text.replace("<sign><![CDATA[", "<sign><![CDATA[0")
    else:
        text = '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e "x">]>' + text
    answer = requests.post(f"{platform.api.url}/callbacks/wechatpay/v2/payment", data=text.encode(),
                           headers=headers, timeout=10)
    assert answer.status_code == 401
    assert "<return_code><![CDATA[FAIL]]></return_code>" in answer.text
    assert order_row(order_id).status == "paying"
    assert ledger_rows(order_id) == []


def test_a_v2_refund_goes_back_and_its_encrypted_notification_finishes_it(db, platform, functions, v2_merchant):
    from tests.payments.test_refunds import finance_token, refund_by_hand

    order_id, _ = v2_order(platform, functions)
    patient_pays(platform, order_id)
    wait_status(order_id, "paid")
    deliver_queued(platform, functions, "PaymentEventsQueue", until=lambda: order_row(order_id).status == "confirmed")
    refund = refund_by_hand(functions, finance_token(platform, order_id[:8]), order_id, 1230)[1]
    deliver_queued(platform, functions, "RefundsQueue", until=lambda: order_row(order_id).status == "refunded")
    assert [(e.entry_type, e.amount_fen) for e in ledger_rows(order_id)] == [("payment", 1230), ("refund", -1230)]
    sim_refund = platform.wechatpay.refunds[(devenv.DEV_V2_MCHID, refund["out_refund_no"])]
    assert sim_refund["api"] == "v2"
    assert sim_refund["status"] == "SUCCESS"


def test_a_v2_refund_notification_that_does_not_decrypt_is_refused(db, platform, functions):
    body = ("<xml><return_code>SUCCESS</return_code><appid><![CDATA[wx-service-account]]></appid>"
            f"<mch_id><![CDATA[{devenv.DEV_V2_MCHID}]]></mch_id><nonce_str><![CDATA[x]]></nonce_str>"
            "<req_info><![CDATA[bm90IGVuY3J5cHRlZCB3aXRoIG91ciBrZXkhISE=]]></req_info></xml>")
    answer = requests.post(f"{platform.api.url}/callbacks/wechatpay/v2/refund", data=body.encode(),
                           headers={"Content-Type": "text/xml"}, timeout=10)
    assert answer.status_code == 401
    assert "FAIL" in answer.text


@pytest.mark.parametrize("path", ["/callbacks/wechatpay/v2/payment", "/callbacks/wechatpay/v2/refund"])
def test_a_body_that_is_not_utf8_is_refused_in_the_platforms_format(db, platform, path):
    answer = requests.post(f"{platform.api.url}{path}", data=b"<xml>\xff\xfe</xml>",
                           headers={"Content-Type": "text/xml"}, timeout=10)
    assert answer.status_code == 401
    assert "<return_code><![CDATA[FAIL]]></return_code>" in answer.text
