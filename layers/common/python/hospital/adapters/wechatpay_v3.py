"""WeChat Pay API v3: request signing, answer and notification verification, resource
decryption, and the calls we make (JSAPI prepay, order query and close, refund and refund
query, medical-insurance mixed orders). The facts are in docs/wechatpay.md.

- Our requests carry `Authorization: WECHATPAY2-SHA256-RSA2048 mchid=..,nonce_str=..,
  signature=..,timestamp=..,serial_no=..`, signed with the merchant's private key over
  `METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n`.
- WeChat's answers and notifications are signed over `TIMESTAMP\\nNONCE\\nBODY\\n` (the raw
  bytes) with the key named by `Wechatpay-Serial`: a platform-certificate serial or a public
  key id (`PUB_KEY_ID_...`); during a switch-over both sign, so every key we hold is tried by
  its name, never in turn. Probes (`WECHATPAY/SIGNTEST/...`) fail like any bad signature.
- Serials are compared case-insensitively (and a hex serial with or without leading zeros):
  we hold and look them up as normal_serial() writes them. A platform certificate (PEM) names
  its own serial.
- Notification resources are AEAD_AES_256_GCM with the APIv3 key; verify first, then decrypt.
- Platform certificates (certificate mode): `GET /v3/certificates` lists them, each
  AEAD_AES_256_GCM-encrypted with the APIv3 key (`encrypt_certificate`).
- Calls share one HTTP session per container (hospital.adapters.http_sessions): GET queries
  are retried on a 5xx or a dropped connection, calls that create or move money never. Each
  call's record (hospital.external_calls) gets the `code` of a refusal, or says the answer
  failed verification or was not JSON.
- Answers and notifications become results (hospital.adapters.payment_results) here, at the
  end of this module; times are RFC 3339 with an offset, read as naive UTC.

Errors: `VerificationFailed` (reason for the log, never the key); `WeChatPayError` for a
business refusal (4xx with `code`, e.g. ORDER_NOT_EXIST); `UpstreamUnavailable` for 5xx,
timeouts and answers that fail verification: the caller retries or queries later.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hospital import external_calls
from hospital.adapters.payment_results import PaymentResult, RefundResult, fen
from hospital.errors import UpstreamUnavailable

log = logging.getLogger("hospital.wechatpay")

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
PROBE_PREFIX = "WECHATPAY/SIGNTEST/"
FRESHNESS_SECONDS = 300


class VerificationFailed(Exception):
    """A signature, key or time check failed; `reason` says which (safe to log)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class WeChatPayError(Exception):
    """WeChat Pay refused the call (4xx): `status`, `code`, `message`."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class BillNotReady(Exception):
    """The trade bill asked for is still being made (STATEMENT_CREATING): ask again later."""


@dataclass(frozen=True)
class MerchantV3:
    mchid: str
    appids: tuple[str, ...]
    serial_no: str           # our merchant certificate's serial
    private_key: Any         # cryptography RSAPrivateKey
    apiv3_key: bytes         # 32 bytes
    platform_keys: Mapping[str, Any] = field(default_factory=dict)  # serial or PUB_KEY_ID -> RSAPublicKey


@dataclass(frozen=True)
class PlatformCertificate:
    """A WeChat Pay platform certificate, decrypted and checked."""
    serial_no: str           # upper-case hex, read from the certificate
    pem: str
    public_key: Any
    not_before: dt.datetime  # aware, UTC
    not_after: dt.datetime


_HEX = frozenset("0123456789ABCDEF")


def normal_serial(serial: str) -> str:
    """How a serial is held and looked up: upper case; a hex serial also without leading
    zeros, as it is a number ("0A1B" and "A1B" are one certificate, however a tool wrote it).
    Public-key ids (PUB_KEY_ID_...) only change case."""
    text = str(serial).strip().upper()
    if text and set(text) <= _HEX:
        return text.lstrip("0") or "0"
    return text


def load_private_key(pem: str):
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    return load_pem_private_key(pem.encode(), password=None)


def is_certificate(pem: str) -> bool:
    return "BEGIN CERTIFICATE" in pem


def load_certificate(pem: str):
    from cryptography import x509

    return x509.load_pem_x509_certificate(pem.encode())


def certificate_serial(certificate) -> str:
    """The serial as WeChat Pay writes it: upper-case hex of the certificate's serial number."""
    return format(certificate.serial_number, "X")


def load_public_key(pem: str):
    """A PEM public key, or the public key of a PEM platform certificate."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    if is_certificate(pem):
        return load_certificate(pem).public_key()
    return load_pem_public_key(pem.encode())


def same_key(public_key, private_key) -> bool:
    """Whether a public key (say, of a certificate) belongs to this private key."""
    try:
        return public_key.public_numbers() == private_key.public_key().public_numbers()
    except AttributeError:  # different key types
        return False


def rsa_sign(private_key, message: bytes) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return base64.b64encode(private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def verify(headers: Mapping[str, str], body: bytes, keys: Mapping[str, Any], now: float | None = None) -> str:
    """Check a WeChat-signed message (notification or answer). Returns the serial used.
    `headers` must be case-insensitive or lower-cased."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    get = _getter(headers)
    timestamp, nonce = get("wechatpay-timestamp"), get("wechatpay-nonce")
    signature, serial = get("wechatpay-signature"), get("wechatpay-serial")
    if not (timestamp and nonce and signature and serial):
        raise VerificationFailed("missing Wechatpay-* headers")
    if signature.startswith(PROBE_PREFIX):
        raise VerificationFailed("signature probe")
    kind = get("wechatpay-signature-type")
    if kind and kind != SIGNATURE_TYPE:
        raise VerificationFailed(f"unsupported signature type {kind[:40]}")
    if (not (timestamp.isascii() and timestamp.isdigit())
            or abs((now if now is not None else time.time()) - int(timestamp)) > FRESHNESS_SECONDS):
        raise VerificationFailed("timestamp outside the 5-minute window")
    serial = normal_serial(serial)
    key = keys.get(serial)  # a Mapping may look a serial up again (hospital.payments.merchants)
    if key is None:
        raise VerificationFailed(f"unknown serial {serial[:64]}")
    try:
        raw_signature = base64.b64decode(signature, validate=True)
    except ValueError:
        raise VerificationFailed("signature is not base64") from None
    message = timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"
    try:
        key.verify(raw_signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise VerificationFailed("bad signature") from None
    return serial


def _aead_decrypt(resource: Mapping[str, Any], apiv3_key: bytes, what: str) -> bytes:
    """AEAD_AES_256_GCM: key = APIv3 key, nonce and associated data as given, tag at the end."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise VerificationFailed(f"unsupported {what} algorithm")
    try:
        ciphertext = base64.b64decode(resource["ciphertext"], validate=True)
        nonce = str(resource["nonce"]).encode()
        aad = str(resource.get("associated_data") or "").encode()
        return AESGCM(apiv3_key).decrypt(nonce, ciphertext, aad)
    except (KeyError, ValueError, InvalidTag, TypeError):
        raise VerificationFailed(f"{what} does not decrypt with our APIv3 key") from None


def decrypt_resource(resource: Mapping[str, Any], apiv3_key: bytes) -> dict:
    """The plaintext JSON of a notification's `resource` (AEAD_AES_256_GCM)."""
    plaintext = _aead_decrypt(resource, apiv3_key, "resource")
    try:
        data = json.loads(plaintext)
    except ValueError:
        raise VerificationFailed("resource does not decrypt with our APIv3 key") from None
    if not isinstance(data, dict):
        raise VerificationFailed("resource is not a JSON object")
    return data


def decrypt_certificate(item: Mapping[str, Any], apiv3_key: bytes) -> PlatformCertificate:
    """One entry of `GET /v3/certificates`: its `encrypt_certificate` decrypted, the certificate
    read, its serial checked against `serial_no`, its validity read from the certificate itself."""
    if not isinstance(item, Mapping) or not isinstance(item.get("encrypt_certificate"), Mapping):
        raise VerificationFailed("certificate entry without encrypt_certificate")
    plaintext = _aead_decrypt(item["encrypt_certificate"], apiv3_key, "certificate")
    try:
        pem = plaintext.decode("ascii")
        certificate = load_certificate(pem)
    except ValueError:
        raise VerificationFailed("encrypt_certificate is not a PEM certificate") from None
    serial = certificate_serial(certificate)
    if serial != normal_serial(str(item.get("serial_no") or "")):
        raise VerificationFailed(f"certificate serial {serial[:64]} is not the listed serial_no")
    return PlatformCertificate(serial, pem, certificate.public_key(), certificate.not_valid_before_utc,
                               certificate.not_valid_after_utc)


def authorization(merchant: MerchantV3, method: str, path_with_query: str, body: str,
                  timestamp: int | None = None, nonce: str | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or secrets.token_hex(16)
    message = f"{method}\n{path_with_query}\n{timestamp}\n{nonce}\n{body}\n".encode()
    signature = rsa_sign(merchant.private_key, message)
    return (f'{SIGNATURE_TYPE} mchid="{merchant.mchid}",nonce_str="{nonce}",signature="{signature}",'
            f'timestamp="{timestamp}",serial_no="{merchant.serial_no}"')


def jsapi_payment_params(merchant: MerchantV3, appid: str, prepay_id: str) -> dict:
    """What the page hands to wx.requestPayment / WeixinJSBridge (signType RSA)."""
    timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
    package = f"prepay_id={prepay_id}"
    pay_sign = rsa_sign(merchant.private_key, f"{appid}\n{timestamp}\n{nonce}\n{package}\n".encode())
    return {"appId": appid, "timeStamp": timestamp, "nonceStr": nonce, "package": package,
            "signType": "RSA", "paySign": pay_sign}


def _getter(headers: Mapping[str, str]):
    lowered = {str(k).lower(): v for k, v in headers.items()}
    return lowered.get


class Client:
    """Calls to WeChat Pay v3 for one merchant. `base_url` is https://api.mch.weixin.qq.com
    in production or the local simulator."""

    def __init__(self, merchant: MerchantV3, base_url: str, timeout: float = 5.0,
                 platform_keys: Mapping[str, Any] | None = None):
        self.merchant = merchant
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        # What answers are verified with: the merchant's keys, or a Mapping that can look again.
        self.platform_keys = merchant.platform_keys if platform_keys is None else platform_keys

    # -- payments -------------------------------------------------------------------
    def jsapi_prepay(self, *, appid: str, description: str, out_trade_no: str, amount_fen: int, openid: str,
                     notify_url: str, time_expire: str, attach: str | None = None) -> str:
        body = {"appid": appid, "mchid": self.merchant.mchid, "description": description[:127],
                "out_trade_no": out_trade_no, "time_expire": time_expire, "notify_url": notify_url,
                "amount": {"total": amount_fen, "currency": "CNY"}, "payer": {"openid": openid}}
        if attach:
            body["attach"] = attach
        return self._call("POST", "/v3/pay/transactions/jsapi", body)["prepay_id"]

    def query_order(self, out_trade_no: str) -> dict:
        """The order as WeChat sees it (trade_state SUCCESS, NOTPAY, CLOSED, REFUND, ...)."""
        return self._call("GET", f"/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={self.merchant.mchid}")

    def close_order(self, out_trade_no: str) -> None:
        self._call("POST", f"/v3/pay/transactions/out-trade-no/{out_trade_no}/close", {"mchid": self.merchant.mchid})

    # -- refunds --------------------------------------------------------------------
    def create_refund(self, *, out_trade_no: str, out_refund_no: str, reason: str, refund_fen: int, total_fen: int,
                      notify_url: str) -> dict:
        """Idempotent on out_refund_no at WeChat: the same number refunds once."""
        return self._call("POST", "/v3/refund/domestic/refunds", {
            "out_trade_no": out_trade_no, "out_refund_no": out_refund_no, "reason": reason[:80],
            "notify_url": notify_url, "amount": {"refund": refund_fen, "total": total_fen, "currency": "CNY"}})

    def query_refund(self, out_refund_no: str) -> dict:
        return self._call("GET", f"/v3/refund/domestic/refunds/{out_refund_no}")

    # -- medical insurance (mixed payment) -------------------------------------------
    def create_med_ins_order(self, body: dict) -> dict:
        return self._call("POST", "/v3/med-ins/orders", body)

    def query_med_ins_order(self, mix_trade_no: str) -> dict:
        return self._call("GET", f"/v3/med-ins/orders/mix-trade-no/{mix_trade_no}")

    def notify_med_ins_refund(self, mix_trade_no: str, body: dict) -> None:
        self._call("POST", f"/v3/med-ins/refunds/notify?mix_trade_no={mix_trade_no}", body)

    # -- platform certificates (certificate mode) --------------------------------------
    def platform_certificates(self) -> list[PlatformCertificate]:
        """Every platform certificate WeChat Pay lists for this merchant, decrypted and checked."""
        answer = self._send("GET", "/v3/certificates")
        held = self.platform_keys
        if len(held) or answer.status_code >= 400:
            self._check(answer, held)  # verify first, then decrypt
            return self._certificates(self._data(answer))
        # The very first download: we hold no platform key yet to check the answer with, so it
        # is checked with the certificates it carries. They decrypted with our APIv3 key, which
        # only WeChat Pay shares with us, and the signature shows that the private key of one of
        # them signed this very answer within the last 5 minutes.
        certificates = self._certificates(self._data(answer))
        self._check(answer, {c.serial_no: c.public_key for c in certificates})
        return certificates

    def _certificates(self, data: dict) -> list[PlatformCertificate]:
        items = data.get("data")
        if not isinstance(items, list):
            raise UpstreamUnavailable("WeChat Pay's certificate list has no data")
        try:
            return [decrypt_certificate(item, self.merchant.apiv3_key) for item in items]
        except VerificationFailed as exc:
            log.warning("wechatpay platform certificate refused", extra={"reason": exc.reason,
                                                                        "mchid": self.merchant.mchid})
            raise UpstreamUnavailable("WeChat Pay's certificate list failed verification") from None

    # -- transport ------------------------------------------------------------------
    # -- the trade bill ---------------------------------------------------------------
    def download_trade_bill(self, bill_date: dt.date, into, bill_type: str = "ALL", compressed: bool = True) -> bool:
        """Write the day's trade bill, uncompressed, to the binary file `into`, streamed in chunks
        (a busy day's bill is hundreds of megabytes) while its SHA1 is checked against the one
        the signed answer gave; the download itself is not signed. False: no trades that day
        (NO_STATEMENT_EXIST). BillNotReady: the bill is being made (STATEMENT_CREATING), ask later."""
        import hashlib
        import zlib

        import requests

        from hospital.adapters import http_sessions

        query = f"/v3/bill/tradebill?bill_date={bill_date.isoformat()}&bill_type={bill_type}"
        try:
            answer = self._call("GET", query + ("&tar_type=GZIP" if compressed else ""))
        except WeChatPayError as exc:
            if exc.code == "NO_STATEMENT_EXIST":
                return False
            if exc.code == "STATEMENT_CREATING":
                raise BillNotReady(f"the {bill_date} bill is still being made") from None
            raise
        url, expected = str(answer.get("download_url") or ""), str(answer.get("hash_value") or "").lower()
        if not url.startswith(self.base_url + "/") or answer.get("hash_type") != "SHA1" or not expected:
            raise UpstreamUnavailable("WeChat Pay's bill answer names no download of its own")
        path = url[len(self.base_url):]
        digest = hashlib.sha1()  # noqa: S324 - WeChat Pay's bill digest is SHA-1
        unzip = zlib.decompressobj(16 + zlib.MAX_WBITS) if compressed else None
        try:
            with http_sessions.session("wechatpay_v3").get(
                    url, headers={"Authorization": authorization(self.merchant, "GET", path, ""),
                                  "User-Agent": "hospital-backend"}, timeout=self.timeout, stream=True) as got:
                if got.status_code != 200:
                    raise UpstreamUnavailable(f"WeChat Pay's bill download answered {got.status_code}")
                for chunk in got.iter_content(1 << 16):
                    data = unzip.decompress(chunk) if unzip else chunk
                    digest.update(data)
                    into.write(data)
                if unzip:
                    rest = unzip.flush()
                    digest.update(rest)
                    into.write(rest)
        except (requests.RequestException, zlib.error) as exc:
            raise UpstreamUnavailable(f"WeChat Pay's bill did not download ({type(exc).__name__})") from None
        if digest.hexdigest() != expected:
            raise UpstreamUnavailable("WeChat Pay's bill does not match its SHA1: not used")
        return True

    def _call(self, method: str, path_with_query: str, body: dict | None = None) -> dict:
        answer = self._send(method, path_with_query, body)
        self._check(answer, self.platform_keys)
        return self._data(answer)

    def _send(self, method: str, path_with_query: str, body: dict | None = None):
        """The raw answer of a signed request; down or 5xx: UpstreamUnavailable."""
        import requests

        from hospital.adapters import http_sessions

        text = json.dumps(body, ensure_ascii=False, separators=(",", ":")) if body is not None else ""
        headers = {"Authorization": authorization(self.merchant, method, path_with_query, text),
                   "Accept": "application/json", "User-Agent": "hospital-backend"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            answer = http_sessions.session("wechatpay_v3").request(
                method, self.base_url + path_with_query, data=text.encode() or None, headers=headers,
                timeout=self.timeout)
        except requests.RequestException as exc:
            log.warning("wechatpay call failed", extra={"path": path_with_query.split("?")[0],
                                                        "error": type(exc).__name__})
            raise UpstreamUnavailable("WeChat Pay did not answer") from None
        if answer.status_code >= 500:
            raise UpstreamUnavailable(f"WeChat Pay answered {answer.status_code}")
        return answer

    @staticmethod
    def _check(answer, keys: Mapping[str, Any]) -> None:
        if answer.content or answer.status_code < 300:
            try:
                verify(answer.headers, answer.content, keys)
            except VerificationFailed as exc:
                log.warning("wechatpay answer failed verification", extra={"reason": exc.reason})
                external_calls.failed("unverified")
                raise UpstreamUnavailable("WeChat Pay's answer failed verification") from None

    @staticmethod
    def _data(answer) -> dict:
        if answer.status_code >= 400:
            try:
                error = answer.json()
            except ValueError:
                error = {}
            code = str(error.get("code") or "UNKNOWN") if isinstance(error, dict) else "UNKNOWN"
            external_calls.refused(code)
            raise WeChatPayError(answer.status_code, code,
                                 str(error.get("message") or "") if isinstance(error, dict) else "")
        if not answer.content:
            return {}
        try:
            data = answer.json()
        except ValueError:
            external_calls.failed("garbled")
            raise UpstreamUnavailable("WeChat Pay's answer is not JSON") from None
        return data if isinstance(data, dict) else {}


# -- answers and notifications as results ------------------------------------------------

PAYMENT_SUCCEEDED = "TRANSACTION.SUCCESS"          # notification event types we act on
MIXED_PAYMENT_SUCCEEDED = "MEDICAL_INSURANCE.SUCCESS"
REFUND_EVENTS = {"REFUND.SUCCESS": "SUCCESS", "REFUND.CLOSED": "CLOSED", "REFUND.ABNORMAL": "ABNORMAL"}
PAID_STATES = ("SUCCESS", "REFUND")                # a queried order that was paid (REFUND: and refunded since)
MIX_PAID = "MIX_PAY_SUCCESS"


def utc_time(value) -> dt.datetime | None:
    """An RFC 3339 time (2026-11-26T10:30:00+08:00) as naive UTC; None if absent. A time
    without an offset is refused (ValueError): it would be guessed, not read."""
    if not value:
        return None
    moment = dt.datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError("time without offset")
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _now() -> dt.datetime:
    from hospital.timeutil import utcnow

    return utcnow()


def notified_payment(resource: Mapping[str, Any], signed_by: str) -> PaymentResult:
    """The decrypted resource of a TRANSACTION.SUCCESS notification verified with the key of
    merchant `signed_by`. KeyError, TypeError or ValueError: the resource is malformed."""
    return PaymentResult(
        source="wechatpay_v3", mchid=str(resource.get("mchid") or signed_by), appid=str(resource.get("appid") or ""),
        out_trade_no=str(resource["out_trade_no"]), transaction_id=str(resource.get("transaction_id") or ""),
        trade_state=str(resource.get("trade_state")), total_fen=fen(resource["amount"]["total"]),
        paid_at=utc_time(resource.get("success_time")) or _now(), signed_by=signed_by)


def queried_payment(answer: Mapping[str, Any], out_trade_no: str, mchid: str) -> PaymentResult | None:
    """The answer of the order query (`{}` when WeChat has no such order) as a payment; None
    unless it was paid."""
    if answer.get("trade_state") not in PAID_STATES:
        return None
    return PaymentResult("query_v3", answer.get("mchid", mchid), answer.get("appid", ""), out_trade_no,
                         answer["transaction_id"], "SUCCESS", int(answer["amount"]["total"]),
                         utc_time(answer.get("success_time")) or _now())


def notified_refund(resource: Mapping[str, Any], event_type: str, signed_by: str) -> RefundResult:
    """The decrypted resource of a REFUND.* notification (event_type one of REFUND_EVENTS)."""
    return RefundResult(
        "wechatpay_v3", str(resource["out_refund_no"]),
        str(resource.get("refund_status") or REFUND_EVENTS[event_type]),
        fen(resource.get("amount", {}).get("refund")), resource.get("refund_id"),
        utc_time(resource.get("success_time")), mchid=str(resource.get("mchid") or signed_by), signed_by=signed_by)


def refund_result(answer: Mapping[str, Any], out_refund_no: str, source: str) -> RefundResult:
    """The answer of a refund request or a refund query: PROCESSING unless it says otherwise."""
    return RefundResult(source, out_refund_no, answer.get("status", "PROCESSING"),
                        answer.get("amount", {}).get("refund"), answer.get("refund_id"))


@dataclass(frozen=True)
class MixedOrder:
    """A medical-insurance mixed order as WeChat reports it (MEDICAL_INSURANCE.SUCCESS or the
    mixed-order query). Its numbers are kept as sent, so the domain compares them with its
    order and records any difference as it came."""
    out_trade_no: str
    mix_trade_no: Any
    fees: dict              # total_fee, med_ins_gov_fee, med_ins_self_fee, med_ins_other_fee, med_ins_cash_fee
    paid: bool              # mix_pay_status MIX_PAY_SUCCESS
    mchid: str              # "" when the answer names none
    appid: str
    paid_time: Any

    def payment_result(self, *, source: str, mchid: str, channel: str, signed_by: str | None = None) -> PaymentResult:
        """The paid mixed order as a payment. Asked only once its numbers matched the order's,
        so the amount is a whole number of fen; the time is read here (ValueError if bad)."""
        return PaymentResult(
            source=source, mchid=self.mchid or mchid, appid=self.appid, out_trade_no=self.out_trade_no,
            transaction_id=str(self.mix_trade_no), trade_state="SUCCESS", total_fen=int(self.fees["total_fee"]),
            paid_at=utc_time(self.paid_time) or _now(), channel=channel, signed_by=signed_by)


MIXED_ORDER_FEES = ("total_fee", "med_ins_gov_fee", "med_ins_self_fee", "med_ins_other_fee", "med_ins_cash_fee")


def mixed_order(answer: Mapping[str, Any]) -> MixedOrder:
    return MixedOrder(out_trade_no=str(answer.get("out_trade_no") or ""), mix_trade_no=answer.get("mix_trade_no"),
                      fees={k: answer.get(k) for k in MIXED_ORDER_FEES}, paid=answer.get("mix_pay_status") == MIX_PAID,
                      mchid=str(answer.get("mchid") or ""), appid=str(answer.get("appid") or ""),
                      paid_time=answer.get("paid_time"))
