"""Provider notifications: verify exactly as docs/wechatpay.md says, turn them into
results, apply them once, and answer in the platform's own format.

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

import datetime as dt
import json
import logging

from hospital.adapters import wechatpay_v2, wechatpay_v3
from hospital.adapters.wechatpay_v3 import VerificationFailed
from hospital.payments import merchants, results
from hospital.payments.platform_answers import Answer, wechatpay_v2_fail, wechatpay_v3_fail

log = logging.getLogger("hospital.payments")

V3_REFUND_EVENTS = {"REFUND.SUCCESS": "SUCCESS", "REFUND.CLOSED": "CLOSED", "REFUND.ABNORMAL": "ABNORMAL"}


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
        if event == "TRANSACTION.SUCCESS":
            outcome = results.apply_payment(_v3_payment(resource, merchant.mchid))
        elif event == "MEDICAL_INSURANCE.SUCCESS":
            from hospital.payments import medical_insurance

            outcome = medical_insurance.apply_result("wechatpay_v3", resource, merchant.mchid, signed_by=merchant.mchid)
        elif event in V3_REFUND_EVENTS:
            outcome = results.apply_refund(results.RefundResult(
                "wechatpay_v3", str(resource["out_refund_no"]), str(resource.get("refund_status") or V3_REFUND_EVENTS[event]),
                _int(resource.get("amount", {}).get("refund")), resource.get("refund_id"),
                _rfc3339(resource.get("success_time")), mchid=str(resource.get("mchid") or merchant.mchid),
                signed_by=merchant.mchid))
        else:
            log.info("wechatpay v3 notification of a kind we do not use", extra={"event_type": event[:40]})
            outcome = "ignored"
    except (KeyError, TypeError, ValueError):
        log.warning("wechatpay v3 resource malformed", extra={"event_type": event[:40]})
        return wechatpay_v3_fail(400, "malformed resource")
    log.info("wechatpay v3 notification", extra={"event_type": event[:40], "outcome": outcome,
                                                 "notification_id": str(envelope.get("id"))[:64]})
    return Answer(204)


def _v3_payment(resource: dict, mchid: str) -> results.PaymentResult:
    return results.PaymentResult(
        source="wechatpay_v3", mchid=str(resource.get("mchid") or mchid), appid=str(resource.get("appid") or ""),
        out_trade_no=str(resource["out_trade_no"]), transaction_id=str(resource.get("transaction_id") or ""),
        trade_state=str(resource.get("trade_state")), total_fen=_int(resource["amount"]["total"]),
        paid_at=_rfc3339(resource.get("success_time")) or _now(), signed_by=mchid)


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
        result = results.PaymentResult(
            source="wechatpay_v2", mchid=data["mch_id"], appid=data.get("appid", ""), out_trade_no=data["out_trade_no"],
            transaction_id=data["transaction_id"], trade_state="SUCCESS", total_fen=_int(data["total_fee"]),
            paid_at=_v2_time(data.get("time_end")) or _now(), signed_by=merchant.mchid)
    except (KeyError, ValueError):
        log.warning("wechatpay v2 payment notification malformed")
        return wechatpay_v2_fail(400, "malformed notification")
    outcome = results.apply_payment(result)
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
    state = {"SUCCESS": "SUCCESS", "REFUNDCLOSE": "CLOSED", "CHANGE": "ABNORMAL"}.get(data.get("refund_status", ""))
    if state is None or not data.get("out_refund_no"):
        log.warning("wechatpay v2 refund notification malformed")
        return wechatpay_v2_fail(400, "malformed notification")
    outcome = results.apply_refund(results.RefundResult(
        "wechatpay_v2", data["out_refund_no"], state, _int(data.get("refund_fee")) if data.get("refund_fee") else None,
        data.get("refund_id"), _v2_time(data.get("success_time")), mchid=merchant.mchid, signed_by=merchant.mchid))
    log.info("wechatpay v2 refund notification", extra={"outcome": outcome})
    return Answer(200, wechatpay_v2.SUCCESS_ANSWER, "text/xml")


def _v2_merchant(data: dict):
    merchant = next((m for m in merchants.v2_merchants() if m.mchid == data.get("mch_id")), None)
    if merchant is None:
        raise VerificationFailed("unknown v2 merchant")
    return merchant



def _int(value) -> int:
    if isinstance(value, bool):
        raise ValueError("not an amount")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        from hospital import text

        number = text.whole_number(value, low=0, high=text.MAX_ID)  # ASCII digits only
        if number is not None:
            return number
    raise ValueError("not an amount in fen")


def _rfc3339(value) -> dt.datetime | None:
    if not value:
        return None
    moment = dt.datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError("time without offset")
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)


def _v2_time(value) -> dt.datetime | None:
    """v2 times are Beijing time: 20261126103000 or 2026-11-26 10:30:00."""
    if not value:
        return None
    text = str(value)
    fmt = "%Y%m%d%H%M%S" if text.isdigit() else "%Y-%m-%d %H:%M:%S"
    return (dt.datetime.strptime(text, fmt) - dt.timedelta(hours=8))


def _now() -> dt.datetime:
    from hospital.timeutil import utcnow

    return utcnow()
