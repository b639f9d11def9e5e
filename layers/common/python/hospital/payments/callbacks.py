"""Provider notifications: verify exactly as docs/wechatpay.md says, have the adapter turn
them into results, apply them once, and answer in the platform's own format.

- A failed verification answers 401 with the platform's failure body, is logged with its
  reason, and changes nothing.
- A verified notification is always acknowledged once it is safely recorded (applied, found
  to be a duplicate, or recorded as an abnormal order): answering failure would make WeChat
  retry for a day. News is taken only for the merchant whose key signed it.
- Oversized bodies and our own trouble (database down) are answered by the guard every
  callback passes (payments.platform_answers), in the platform's format.
Slow follow-up (HIS confirmation, notices) is left to the payment-events queue.
"""
from __future__ import annotations

import json
import logging

from hospital.adapters import wechatpay_v2, wechatpay_v3
from hospital.adapters.wechatpay_v3 import VerificationFailed
from hospital.payments import medical_insurance, merchants, payment_news, results
from hospital.payments.platform_answers import Answer, wechatpay_v2_fail, wechatpay_v3_fail

log = logging.getLogger("hospital.payments")


def handle_v3(headers: dict, body: bytes) -> Answer:
    try:
        serial = wechatpay_v3.verify(headers, body, merchants.v3_keys())
        merchant = merchants.v3_merchant_of_serial(serial)
        envelope = json.loads(body)
        resource = wechatpay_v3.decrypt_resource(envelope["resource"], merchant.apiv3_key)
    except VerificationFailed as exc:
        log.warning("wechatpay v3 notification refused", extra={"reason": exc.reason})
        return wechatpay_v3_fail(401, "signature verification failed")
    except (ValueError, KeyError, TypeError):
        log.warning("wechatpay v3 notification refused", extra={"reason": "malformed envelope"})
        return wechatpay_v3_fail(400, "malformed notification")
    event = str(envelope.get("event_type") or "")
    try:
        if event == wechatpay_v3.PAYMENT_SUCCEEDED:
            outcome = payment_news.apply_payment(wechatpay_v3.notified_payment(resource, merchant.mchid))
        elif event == wechatpay_v3.MIXED_PAYMENT_SUCCEEDED:
            outcome = medical_insurance.apply_mixed("wechatpay_v3", wechatpay_v3.mixed_order(resource), merchant.mchid,
                                                    signed_by=merchant.mchid)
        elif event in wechatpay_v3.REFUND_EVENTS:
            outcome = results.apply_refund(wechatpay_v3.notified_refund(resource, event, merchant.mchid))
        else:
            log.info("wechatpay v3 notification of a kind we do not use", extra={"event_type": event[:40]})
            outcome = "ignored"
    except (KeyError, TypeError, ValueError):
        log.warning("wechatpay v3 resource malformed", extra={"event_type": event[:40]})
        return wechatpay_v3_fail(400, "malformed resource")
    log.info("wechatpay v3 notification", extra={"event_type": event[:40], "outcome": outcome,
                                                 "notification_id": str(envelope.get("id"))[:64]})
    return Answer(204)


def handle_v2_payment(_headers: dict, body: bytes) -> Answer:
    try:
        data = wechatpay_v2.parse_xml(body)
        merchant = _v2_merchant(data)
        wechatpay_v2.verify_signed(data, merchant.api_key)
    except VerificationFailed as exc:
        log.warning("wechatpay v2 payment notification refused", extra={"reason": exc.reason})
        return wechatpay_v2_fail(401, "signature verification failed")
    if data.get("return_code") != "SUCCESS" or data.get("result_code") != "SUCCESS":
        return Answer(200, wechatpay_v2.SUCCESS_ANSWER, "text/xml")  # a verified failure: nothing to apply
    try:
        result = wechatpay_v2.notified_payment(data, merchant.mchid)
    except (KeyError, ValueError):
        log.warning("wechatpay v2 payment notification malformed")
        return wechatpay_v2_fail(400, "malformed notification")
    outcome = payment_news.apply_payment(result)
    log.info("wechatpay v2 payment notification", extra={"outcome": outcome})
    return Answer(200, wechatpay_v2.SUCCESS_ANSWER, "text/xml")


def handle_v2_refund(_headers: dict, body: bytes) -> Answer:
    try:
        outer = wechatpay_v2.parse_xml(body)
        merchant = _v2_merchant(outer)
        data = wechatpay_v2.decrypt_refund_info(outer.get("req_info", ""), merchant.api_key)
    except VerificationFailed as exc:
        log.warning("wechatpay v2 refund notification refused", extra={"reason": exc.reason})
        return wechatpay_v2_fail(401, "decryption failed")
    result = wechatpay_v2.notified_refund(data, merchant.mchid)
    if result is None:
        log.warning("wechatpay v2 refund notification malformed")
        return wechatpay_v2_fail(400, "malformed notification")
    outcome = results.apply_refund(result)
    log.info("wechatpay v2 refund notification", extra={"outcome": outcome})
    return Answer(200, wechatpay_v2.SUCCESS_ANSWER, "text/xml")


def _v2_merchant(data: dict):
    merchant = next((m for m in merchants.v2_merchants() if m.mchid == data.get("mch_id")), None)
    if merchant is None:
        raise VerificationFailed("unknown v2 merchant")
    return merchant

