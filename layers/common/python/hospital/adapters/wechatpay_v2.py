"""WeChat Pay API v2 (XML) for merchants still on it: calls through wechatpy, and the checks
wechatpy does not do the way the spec (docs/wechatpay.md) requires.

- Signatures: all non-empty fields but `sign`, sorted, `k=v&...&key=<API key>`, MD5 or
  HMAC-SHA256, upper-case hex. A notification may omit `sign_type` even when the merchant
  signs with HMAC: the algorithm is chosen by `sign_type` when present, else by length
  (32 = MD5, 64 = HMAC-SHA256); compared in constant time. (wechatpy's own
  parse_payment_result knows only MD5 and compares with ==.)
- Refund notifications are not signed: `req_info` is AES-256-ECB with the MD5 (lower hex) of
  the API key; decrypting it with our key is the proof.
- XML from outside is refused if it declares a DTD or entities (no entity expansion).
- Answers to our calls are signed too, and checked.
- wechatpy's loggers are held at WARNING: at DEBUG it logs the text it signs, which ends in
  `&key=<API key>`. Pinned here, where the only use of wechatpy is, so it holds whoever sets
  up logging (Lambda's log-level setting, a script, a test) and whatever level the root has.
- Calls share one HTTP session per container; the order and refund queries are retried on a
  5xx or a dropped connection, the calls that create or move money never. Each call's record
  (hospital.external_calls) gets the err_code (or return_code) of a refusal, or says the
  answer failed verification or was not XML.
- Notifications and answers become results (hospital.adapters.payment_results) here, at the
  end of this module; v2 times are Beijing time without an offset.
- The trade bill (`download_trade_bill`): `POST /pay/downloadbill` with appid, mch_id,
  nonce_str, sign_type, sign, bill_date (YYYYMMDD), bill_type (ALL, SUCCESS, REFUND) and
  tar_type=GZIP when compressed. The answer is the bill itself (gzip when asked for; the text
  layout is hospital.adapters.wechatpay_bill's), unsigned and with no digest, or an unsigned XML
  error: `No Bill Exist` (error_code 20002) is a day without trades, `Bill Creating` a bill not
  made yet (from about 10:00 the next day), anything else (20001: a bad parameter or signature)
  a WeChatPayError. wechatpy reads whole answers, so this call is made here, streamed.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
from dataclasses import dataclass

from hospital import external_calls
from hospital.adapters.payment_results import PaymentResult, RefundResult, fen
from hospital.adapters.wechatpay_v3 import BillNotReady, VerificationFailed, WeChatPayError
from hospital.errors import UpstreamUnavailable

log = logging.getLogger("hospital.wechatpay")
logging.getLogger("wechatpy").setLevel(logging.WARNING)

SUCCESS_ANSWER = ("<xml><return_code><![CDATA[SUCCESS]]></return_code>"
                  "<return_msg><![CDATA[OK]]></return_msg></xml>")


def failure_answer(message: str) -> str:
    safe = message.replace("]]>", "")
    return f"<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[{safe}]]></return_msg></xml>"


@dataclass(frozen=True)
class MerchantV2:
    mchid: str
    appids: tuple[str, ...]
    api_key: str                 # the 32-character API v2 key
    sign_type: str = "MD5"       # what we sign our calls with: MD5 or HMAC-SHA256
    # The merchant's API client certificate and key (PEM): v2 refunds (secapi/...) need them.
    client_cert_pem: str | None = None
    client_key_pem: str | None = None


def sign(params: dict, api_key: str, sign_type: str = "MD5") -> str:
    from wechatpy.pay.utils import calculate_signature, calculate_signature_hmac

    fields = {k: v for k, v in params.items() if k != "sign"}
    if sign_type == "HMAC-SHA256":
        return calculate_signature_hmac(fields, api_key)
    if sign_type == "MD5":
        return calculate_signature(fields, api_key)
    raise VerificationFailed(f"unsupported sign_type {sign_type[:20]}")


def parse_xml(raw: bytes | str) -> dict:
    """The fields of a flat <xml>...</xml> document, as strings."""
    from xml.parsers.expat import ExpatError

    import xmltodict

    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise VerificationFailed("not UTF-8") from None
    if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        raise VerificationFailed("XML with a DTD or entities")
    try:
        document = xmltodict.parse(text, disable_entities=True)
    except (ExpatError, ValueError, UnicodeDecodeError):
        raise VerificationFailed("not well-formed XML") from None
    data = (document or {}).get("xml")
    if not isinstance(data, dict):
        raise VerificationFailed("no <xml> root")
    return {k: ("" if v is None else str(v)) for k, v in data.items() if not isinstance(v, (dict, list))}


def verify_signed(data: dict, api_key: str) -> dict:
    """Check the `sign` of a v2 message (notification or answer); returns the fields."""
    given = data.get("sign") or ""
    sign_type = data.get("sign_type") or {32: "MD5", 64: "HMAC-SHA256"}.get(len(given))
    if sign_type is None:
        raise VerificationFailed("sign missing or of unknown length")
    expected = sign(data, api_key, sign_type)
    if not hmac.compare_digest(expected.encode(), given.upper().encode()):
        raise VerificationFailed("bad signature")
    return data


def decrypt_refund_info(req_info: str, api_key: str) -> dict:
    """The plaintext of a refund notification's req_info (AES-256-ECB, PKCS#7)."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = hashlib.md5(api_key.encode()).hexdigest().encode()  # noqa: S324 - the key WeChat Pay v2 specifies
    try:
        ciphertext = base64.b64decode(req_info, validate=True)
        decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()  # noqa: S305 - WeChat's format
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        plaintext = unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise VerificationFailed("req_info does not decrypt with our API key") from None
    try:
        text = plaintext.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise VerificationFailed("req_info does not decrypt with our API key") from None
    inner = text.replace("<root>", "<xml>").replace("</root>", "</xml>")
    return parse_xml(inner)


def jsapi_payment_params(merchant: MerchantV2, appid: str, prepay_id: str) -> dict:
    import secrets
    import time

    params = {"appId": appid, "timeStamp": str(int(time.time())), "nonceStr": secrets.token_hex(16),
              "package": f"prepay_id={prepay_id}", "signType": merchant.sign_type}
    params["paySign"] = sign(params, merchant.api_key, merchant.sign_type)
    return params


def _client_cert_files(mchid: str, cert_pem: str, key_pem: str) -> tuple[str, str]:
    """requests wants the client certificate as files: written once per container, owner-only,
    under the temporary directory (/tmp on Lambda)."""
    import os
    import tempfile

    folder = os.path.join(tempfile.gettempdir(), f"wechatpay-{mchid}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    paths = []
    for name, pem in (("cert.pem", cert_pem), ("key.pem", key_pem)):
        path = os.path.join(folder, name)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
            handle.write(pem)
        paths.append(path)
    return paths[0], paths[1]


class Client:
    """Calls to WeChat Pay v2 for one merchant and app, through wechatpy."""

    def __init__(self, merchant: MerchantV2, appid: str, base_url: str, timeout: float = 5.0):
        from wechatpy.pay import WeChatPay

        from hospital.adapters import http_sessions

        self.merchant = merchant
        self.appid = appid
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._pay = WeChatPay(appid=appid, api_key=merchant.api_key, mch_id=merchant.mchid, timeout=timeout)
        self._pay.API_BASE_URL = base_url.rstrip("/") + "/"  # the simulator, or api.mch.weixin.qq.com
        self._pay._http = http_sessions.session("wechatpay_v2")  # not a new session (and connection) per call
        if merchant.client_cert_pem and merchant.client_key_pem:
            self._pay.mch_cert, self._pay.mch_key = _client_cert_files(
                merchant.mchid, merchant.client_cert_pem, merchant.client_key_pem)

    def unified_order(self, *, description: str, out_trade_no: str, amount_fen: int, openid: str, notify_url: str,
                      time_expire, client_ip: str, attach: str | None = None) -> str:
        # client_ip always given: wechatpy would otherwise look up our external IP online.
        data = self._call(lambda: self._pay.order.create(
            trade_type="JSAPI", body=description[:127], total_fee=amount_fen, notify_url=notify_url,
            client_ip=client_ip, user_id=openid, out_trade_no=out_trade_no, attach=attach,
            time_expire=time_expire, sign_type=self.merchant.sign_type))
        return data["prepay_id"]

    def query_order(self, out_trade_no: str) -> dict:
        return self._call(lambda: self._pay.order.query(out_trade_no=out_trade_no), query=True)

    def close_order(self, out_trade_no: str) -> dict:
        return self._call(lambda: self._pay.order.close(out_trade_no))

    def create_refund(self, *, out_trade_no: str, out_refund_no: str, refund_fen: int, total_fee: int,
                      reason: str, notify_url: str) -> dict:
        return self._call(lambda: self._pay.refund.apply(
            total_fee=total_fee, refund_fee=refund_fen, out_refund_no=out_refund_no, out_trade_no=out_trade_no,
            refund_desc=reason[:80], notify_url=notify_url))

    def query_refund(self, out_refund_no: str) -> dict:
        return self._call(lambda: self._pay.refund.query(out_refund_no=out_refund_no), query=True)

    def download_trade_bill(self, bill_date: dt.date, into, bill_type: str = "ALL", compressed: bool = True) -> bool:
        """Write the day's trade bill, uncompressed, to the binary file `into`, streamed in chunks
        (a busy day's bill is hundreds of megabytes). False: no trades that day (No Bill Exist),
        nothing written. BillNotReady: the bill is being made (Bill Creating), ask later.
        WeChatPayError: any other refusal. UpstreamUnavailable: down, 5xx, or an answer that
        is neither the bill nor WeChat's XML (an HTML page of a proxy, a broken gzip)."""
        import itertools
        import secrets
        import zlib

        import requests

        from hospital.adapters import http_sessions

        fields = {"appid": self.appid, "mch_id": self.merchant.mchid, "nonce_str": secrets.token_hex(16),
                  "sign_type": self.merchant.sign_type, "bill_date": bill_date.strftime("%Y%m%d"),
                  "bill_type": bill_type}
        if compressed:
            fields["tar_type"] = "GZIP"
        fields["sign"] = sign(fields, self.merchant.api_key, self.merchant.sign_type)
        body = "<xml>" + "".join(f"<{k}>{v}</{k}>" for k, v in fields.items()) + "</xml>"
        unzip = zlib.decompressobj(16 + zlib.MAX_WBITS) if compressed else None
        try:
            with http_sessions.idempotent_query(), http_sessions.session("wechatpay_v2").post(
                    self.base_url + "/pay/downloadbill", data=body.encode("utf-8"), timeout=self.timeout,
                    headers={"Content-Type": "text/xml; charset=utf-8", "User-Agent": "hospital-backend"},
                    stream=True) as got:
                if got.status_code != 200:
                    raise UpstreamUnavailable(f"WeChat Pay v2's bill download answered {got.status_code}")
                chunks = got.iter_content(1 << 16)
                first = next((chunk for chunk in chunks if chunk), b"")
                if not first:
                    raise UpstreamUnavailable("WeChat Pay v2 answered an empty bill")
                if first.lstrip()[:1] == b"<":  # an error is XML; a bill is text or gzip, never "<"
                    return self._bill_refusal(first + b"".join(chunks), bill_date)
                for chunk in itertools.chain((first,), chunks):
                    data = unzip.decompress(chunk) if unzip else chunk
                    into.write(data)
                if unzip:
                    into.write(unzip.flush())
                    if not unzip.eof:
                        raise UpstreamUnavailable("WeChat Pay v2's bill ended before its gzip did")
        except (requests.RequestException, zlib.error) as exc:
            raise UpstreamUnavailable(f"WeChat Pay v2's bill did not download ({type(exc).__name__})") from None
        return True

    @staticmethod
    def _bill_refusal(answer: bytes, bill_date: dt.date) -> bool:
        """What an XML answer to downloadbill says: False for No Bill Exist, else it raises."""
        try:
            data = parse_xml(answer)
        except VerificationFailed:
            raise UpstreamUnavailable("WeChat Pay v2 answered neither a bill nor its XML") from None
        message = data.get("return_msg", "")
        if data.get("error_code") == "20002" or message.lower() == "no bill exist":
            return False
        if message.lower() == "bill creating":
            raise BillNotReady(f"the {bill_date} bill is still being made")
        raise WeChatPayError(400, data.get("error_code") or data.get("return_code") or "FAIL", message)

    def _call(self, call, query: bool = False) -> dict:
        import requests
        from wechatpy.exceptions import WeChatPayException

        from hospital.adapters import http_sessions

        try:
            if query:  # v2 queries are POSTs too: retried only because they only read
                with http_sessions.idempotent_query():
                    data = call()
            else:
                data = call()
        except WeChatPayException as exc:
            if exc.return_code is None:  # transport: HTTP error status
                raise UpstreamUnavailable("WeChat Pay v2 did not answer") from None
            if exc.return_code != "SUCCESS":
                external_calls.refused(exc.return_code)
                raise WeChatPayError(400, str(exc.return_code), str(exc.return_msg or "")) from exc
            external_calls.refused(exc.errcode or exc.result_code)
            raise WeChatPayError(400, str(exc.errcode or exc.result_code), str(exc.errmsg or "")) from exc
        except requests.RequestException as exc:
            log.warning("wechatpay v2 call failed", extra={"error": type(exc).__name__})
            raise UpstreamUnavailable("WeChat Pay v2 did not answer") from None
        if not isinstance(data, dict):
            external_calls.failed("garbled")
            raise UpstreamUnavailable("WeChat Pay v2 answered something that is not XML")
        try:
            verify_signed(dict(data), self.merchant.api_key)
        except VerificationFailed as exc:
            log.warning("wechatpay v2 answer failed verification", extra={"reason": exc.reason})
            external_calls.failed("unverified")
            raise UpstreamUnavailable("WeChat Pay v2's answer failed verification") from None
        return dict(data)


# -- notifications and answers as results --------------------------------------------------

REFUND_STATES = {"SUCCESS": "SUCCESS", "REFUNDCLOSE": "CLOSED", "CHANGE": "ABNORMAL"}
PAID_STATES = ("SUCCESS", "REFUND")  # a queried order that was paid (REFUND: and refunded since)


def utc_time(value) -> dt.datetime | None:
    """A v2 time, Beijing time without an offset (20261126103000 or 2026-11-26 10:30:00), as
    naive UTC; None if absent, ValueError if it is neither form."""
    if not value:
        return None
    text = str(value)
    fmt = "%Y%m%d%H%M%S" if text.isdigit() else "%Y-%m-%d %H:%M:%S"
    return dt.datetime.strptime(text, fmt) - dt.timedelta(hours=8)


def _now() -> dt.datetime:
    from hospital.timeutil import utcnow

    return utcnow()


def notified_payment(data: dict, signed_by: str) -> PaymentResult:
    """A verified payment notification that says SUCCESS (return_code and result_code).
    KeyError or ValueError: it is malformed."""
    return PaymentResult(
        source="wechatpay_v2", mchid=data["mch_id"], appid=data.get("appid", ""), out_trade_no=data["out_trade_no"],
        transaction_id=data["transaction_id"], trade_state="SUCCESS", total_fen=fen(data["total_fee"]),
        paid_at=utc_time(data.get("time_end")) or _now(), signed_by=signed_by)


def notified_refund(data: dict, signed_by: str) -> RefundResult | None:
    """The decrypted req_info of a refund notification; None when it names no refund or a
    state we do not know."""
    state = REFUND_STATES.get(data.get("refund_status", ""))
    if state is None or not data.get("out_refund_no"):
        return None
    return RefundResult(
        "wechatpay_v2", data["out_refund_no"], state, fen(data.get("refund_fee")) if data.get("refund_fee") else None,
        data.get("refund_id"), utc_time(data.get("success_time")), mchid=signed_by, signed_by=signed_by)


def queried_payment(answer: dict, out_trade_no: str, mchid: str) -> PaymentResult | None:
    """The answer of the order query (`{}` when WeChat has no such order) as a payment; None
    unless it was paid."""
    if answer.get("trade_state") not in PAID_STATES:
        return None
    return PaymentResult("query_v2", answer.get("mch_id", mchid), answer.get("appid", ""), out_trade_no,
                         answer["transaction_id"], "SUCCESS", int(answer["total_fee"]),
                         utc_time(answer.get("time_end")) or _now())


def refund_result(answer: dict, out_refund_no: str) -> RefundResult:
    """The answer of a refund request: accepted, so PROCESSING until a notification or a query."""
    return RefundResult("refund_worker", out_refund_no, "PROCESSING",
                        int(answer["refund_fee"]) if answer.get("refund_fee") else None, answer.get("refund_id"))


def queried_refund(answer: dict, out_refund_no: str) -> RefundResult:
    """The answer of the refund query (its first refund, `_0`): PROCESSING unless final."""
    return RefundResult("query_v2", out_refund_no, REFUND_STATES.get(answer.get("refund_status_0", ""), "PROCESSING"),
                        int(answer["refund_fee_0"]) if answer.get("refund_fee_0") else None, answer.get("refund_id_0"))
