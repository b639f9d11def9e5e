"""Platform callbacks under abuse and trouble: an oversized body is refused with 413 in the
platform's own format before anything parses it; a verified notification pays only an order
we opened at WeChat, for the merchant whose key signed it (else it goes to the anomaly list);
a database that cannot be reached is answered in the platform's failure format with
Retry-After, so the platform retries (OP2, AS1)."""
import base64
import json
import secrets
import time
import uuid

import pytest
import requests

from hospital.payments import platform_answers
from infra import devenv
from tests.conftest import api_event
from tests.payments.support import anomalies_of, create_order, ledger_rows, order_row, patient_with_bill, pay

CALLBACKS = [("/callbacks/wechatpay/v3", "json_fail"), ("/callbacks/wechatpay/v2/payment", "xml_fail"),
             ("/callbacks/wechatpay/v2/refund", "xml_fail"), ("/callbacks/credit", "json_fail"),
             ("/callbacks/medical-insurance", "infcode")]


def invoke_callback(functions, path, body: bytes, headers: dict | None = None):
    event = api_event("POST", path, headers={"Content-Type": "text/xml" if "/v2/" in path else "application/json",
                                             **(headers or {})})
    event["body"] = body.decode("latin-1") if isinstance(body, bytes) else body
    return functions.invoke("PaymentCallbacksFunction", event).result


def in_platform_format(result, kind) -> bool:
    body = result["body"]
    if kind == "xml_fail":
        return result["headers"]["Content-Type"].startswith("text/xml") and "<return_code><![CDATA[FAIL]]>" in body
    data = json.loads(body)
    return data.get("code") == "FAIL" if kind == "json_fail" else data.get("infcode") == -1


@pytest.mark.parametrize("path,kind", CALLBACKS)
def test_a_body_over_the_limit_is_refused_with_413_in_the_platform_s_format(db, functions, path, kind):
    # The reviewer's 9.6 MB unsigned XML, and just over the limit for the others.
    size = 9_600_000 if path.endswith("v2/payment") else platform_answers.MAX_CALLBACK_BODY + 1
    body = (b"<xml>" + b"<a>x</a>" * (size // 8) + b"</xml>") if "/v2/" in path else b'{"pad": "' + b"x" * size + b'"}'
    result = invoke_callback(functions, path, body)
    assert result["statusCode"] == 413
    assert in_platform_format(result, kind)


@pytest.mark.parametrize("path,kind", CALLBACKS)
def test_a_body_at_the_limit_is_read_and_verified_as_usual(db, functions, path, kind):
    filler = platform_answers.MAX_CALLBACK_BODY - 20
    body = (b"<xml><a>" + b"x" * filler + b"</a></xml>") if "/v2/" in path else b'{"pad": "' + b"x" * filler + b'"}'
    assert len(body) <= platform_answers.MAX_CALLBACK_BODY
    result = invoke_callback(functions, path, body)
    assert result["statusCode"] in (400, 401)
    assert in_platform_format(result, kind)  # unsigned: refused as such


def test_callbacks_and_the_rescue_intake_have_their_own_reserved_concurrency():
    from infra.local.template import Template
    from tests.conftest import ROOT

    template = Template.from_file(ROOT / "template.yaml")
    reserved = {lid: res.properties.get("ReservedConcurrentExecutions")
                for lid, res in template.resources.items() if res.type == "AWS::Serverless::Function"}
    for function, parameter in (("PaymentCallbacksFunction", "PaymentCallbacksReservedConcurrency"),
                                ("RescueApiFunction", "RescueIntakeReservedConcurrency")):
        condition, value, otherwise = reserved[function]["Fn::If"]
        assert value == {"Ref": parameter}
        assert otherwise == {"Ref": "AWS::NoValue"}
        assert template.conditions[condition] is True  # reserved unless a stage sets 0
        assert int(template.parameters[parameter]) > 0


# --- which merchant's news pays which order ---------------------------------------------------

def signed_v3_payment(order_id: str, amount_fen: int, mchid: str, appid: str) -> tuple[bytes, dict]:
    """A TRANSACTION.SUCCESS notification encrypted with our APIv3 key and signed with our
    platform certificate, as WeChat would send it, naming whatever merchant and app it says."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    keys = devenv.wechatpay_dev_keys()
    serial = next(s for s in keys["platform"] if not s.startswith("PUB_KEY_ID_"))
    resource = {"appid": appid, "mchid": mchid, "out_trade_no": order_id,
                "transaction_id": "42000" + "".join(secrets.choice("0123456789") for _ in range(23)),
                "trade_type": "JSAPI", "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "bank_type": "OTHERS",
                "success_time": "2026-12-01T10:00:00+08:00", "payer": {"openid": "o-forged"},
                "amount": {"total": amount_fen, "payer_total": amount_fen, "currency": "CNY", "payer_currency": "CNY"}}
    nonce = secrets.token_hex(6)
    ciphertext = AESGCM(keys["apiv3_key"].encode()).encrypt(nonce.encode(), json.dumps(resource).encode(),
                                                            b"transaction")
    body = json.dumps({"id": str(uuid.uuid4()), "create_time": "2026-12-01T10:00:01+08:00",
                       "resource_type": "encrypt-resource", "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功",
                       "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
                                    "ciphertext": base64.b64encode(ciphertext).decode(),
                                    "associated_data": "transaction", "nonce": nonce}}).encode()
    timestamp, header_nonce = str(int(time.time())), secrets.token_hex(16)
    signature = keys["platform"][serial].sign(f"{timestamp}\n{header_nonce}\n".encode() + body + b"\n",
                                              padding.PKCS1v15(), hashes.SHA256())
    return body, {"Content-Type": "application/json", "Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": header_nonce,
                  "Wechatpay-Serial": serial, "Wechatpay-Signature": base64.b64encode(signature).decode(),
                  "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}


def post_v3(platform, body, headers):
    return requests.post(f"{platform.api.url}/callbacks/wechatpay/v3", data=body, headers=headers, timeout=10)


def unpaid(order_id) -> bool:
    row = order_row(order_id)
    return row.status in ("created", "paying") and row.paid_fen == 0 and ledger_rows(order_id) == []


def news_refused(platform, order: dict, mchid: str, appid: str) -> list[str]:
    """Send a signed payment notification naming `mchid` and `appid` for `order`: it is
    acknowledged (verified news), pays nothing, and the anomaly reasons recorded are returned."""
    body, headers = signed_v3_payment(order["order_id"], order["amount_fen"], mchid, appid)
    assert post_v3(platform, body, headers).status_code == 204
    assert unpaid(order["order_id"])
    return [a.reason for a in anomalies_of(order["order_id"])]


def new_order(platform, functions) -> tuple[str, dict]:
    _, token, bill = patient_with_bill(platform)
    return token, create_order(functions, token, bill)[1]


def test_news_naming_another_merchant_and_app_pays_no_order_never_sent_to_wechat_OP2_AS1(db, platform, functions):
    """The reviewer's case: signed with our key, naming another mchid and appid, for an order
    that was never sent to WeChat. Acknowledged (it is verified), recorded, nothing paid."""
    _, order = new_order(platform, functions)
    assert news_refused(platform, order, "1900009999", "wx-someone-else") == ["merchant_mismatch"]


def test_our_own_merchant_s_news_pays_no_order_never_sent_to_wechat_OP2_AS1(db, platform, functions):
    _, order = new_order(platform, functions)
    assert news_refused(platform, order, devenv.DEV_V3_MCHID, platform.mini_program_app_id) == \
        ["never_sent_to_provider"]


def test_news_of_another_merchant_signed_with_our_key_pays_no_order_we_opened_OP2_AS1(db, platform, functions):
    token, order = new_order(platform, functions)
    assert pay(functions, token, order["order_id"])[0] == 200  # opened at WeChat for our merchant
    assert news_refused(platform, order, "1900009999", platform.mini_program_app_id) == ["merchant_mismatch"]
    # The genuine notification still pays it.
    body, headers = signed_v3_payment(order["order_id"], order["amount_fen"], devenv.DEV_V3_MCHID,
                                      platform.mini_program_app_id)
    assert post_v3(platform, body, headers).status_code == 204
    assert order_row(order["order_id"]).status == "paid"
