"""WeChat Pay simulator: API v3 (JSON, RSA-signed) and v2 (XML, MD5/HMAC-SHA256), on one port.

It checks our requests the way WeChat does (v3 Authorization signature with the merchant's
key, v2 `sign`), keeps orders and refunds, and sends payment and refund notifications to the
`notify_url` of the order or refund, signed and encrypted as WeChat does, with WeChat's retry
schedule (15 tries over about a day; `retry_scale` compresses it for tests). Its own signing
is written here from the spec, not borrowed from the backend's adapter, so a mistake on one
side shows up as a failure instead of cancelling out.

API (what the backend calls):
  v3  POST /v3/pay/transactions/jsapi                       -> {"prepay_id"}
      GET  /v3/pay/transactions/out-trade-no/{no}?mchid=     -> the order
      POST /v3/pay/transactions/out-trade-no/{no}/close      -> 204
      POST /v3/refund/domestic/refunds                       -> the refund (PROCESSING)
      GET  /v3/refund/domestic/refunds/{out_refund_no}       -> the refund
      GET  /v3/certificates                                  -> the platform certificates, each
           AEAD_AES_256_GCM-encrypted with the merchant's APIv3 key (associated data "certificate")
      GET  /v3/bill/tradebill?bill_date=&bill_type=[&tar_type=GZIP] -> {hash_type, hash_value, download_url}
      GET  /v3/billdownload/file?token=                      -> the bill (unsigned)
  v2  POST /pay/unifiedorder, /pay/orderquery, /pay/closeorder, /secapi/pay/refund, /pay/refundquery,
      POST /pay/downloadbill                                 -> the bill, or XML No Bill Exist (20002)

Test and demo controls (not WeChat's):
  POST /_sim/pay {"prepay_id"} or {"mchid", "out_trade_no"}  the patient pays; notification follows
  POST /_sim/refunds/{out_refund_no}/finish {"status": "SUCCESS"|"CLOSED"|"ABNORMAL"}
  POST /_sim/notify-options {"duplicates", "concurrent", "probe_first", "delay_seconds", "signing"}
  GET  /_sim/orders, /_sim/refunds, /_sim/notifications
  POST /_sim/resend {"kind": "payment"|"refund", "key": out_trade_no|out_refund_no} (again, as WeChat may)
  POST /_sim/platform-certificates/rotate {"mchid"} -> {"serial_no"}: a new platform certificate,
       listed by /v3/certificates at once; it signs only once activated, as when WeChat publishes
       a certificate ahead of using it
  POST /_sim/platform-certificates/{serial_no}/activate {"mchid"}: it signs from now on (at random
       with the other keys, unless the merchant's `signing` names one)
  POST /_sim/bills/creating {"day": "YYYY-MM-DD", "creating": true}  that day's bill is still being
       made (STATEMENT_CREATING, v2 `Bill Creating`) until set false again
  /_sim/statement-edits (infra.simulators.statement_edits): a day's bill drops, changes or adds
       entries. An entry is a payment (the order's fields: out_trade_no, total in fen, bill_state
       for its 交易状态, default SUCCESS) or a refund (out_refund_no, refund in fen, status).
Refunds finish by themselves after `refund_seconds` (SUCCESS) unless `refund_mode` is "manual".

Run alone: python -m infra.devenv wechatpay --port 7003 (with generated dev keys).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from infra.simulators import statement_edits
from infra.simulators._http import Request, SimulatorServer
from infra.simulators.statement_edits import StatementEdits

# 15 tries: the first, then these waits (seconds): about 24 hours in all.
RETRY_SCHEDULE = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600)
CST = timezone(timedelta(hours=8))
V2_SUCCESS = "SUCCESS"


@dataclass
class SimMerchant:
    """What WeChat knows of a merchant: the keys it verifies us with and signs with."""
    mchid: str
    appids: tuple[str, ...]
    api: str = "v3"                       # v3 or v2
    apiv3_key: str = ""                   # 32 characters (v3)
    api_key: str = ""                     # 32 characters (v2)
    merchant_serial: str = ""             # the serial our requests must name (v3)
    merchant_public_key: Any = None       # verifies our requests (v3)
    platform_keys: dict[str, Any] = field(default_factory=dict)  # serial/PUB_KEY_ID -> private key
    signing: str = "random"               # "random" (switch-over: both sign), or one serial
    certificates: dict[str, Any] = field(default_factory=dict)   # serial -> X.509 platform certificate
    standby_keys: dict[str, Any] = field(default_factory=dict)   # published certificates not signing yet


class WeChatPaySimulator(SimulatorServer):
    def __init__(self, merchants: list[SimMerchant], host: str = "127.0.0.1", port: int = 0, *,
                 retry_scale: float = 1.0, refund_mode: str = "auto", refund_seconds: float = 0.2):
        super().__init__(host, port)
        self.merchants = {m.mchid: m for m in merchants}
        self.retry_scale = retry_scale
        self.refund_mode = refund_mode
        self.refund_seconds = refund_seconds
        self.orders: dict[tuple[str, str], dict] = {}
        self.refunds: dict[tuple[str, str], dict] = {}
        self.med_orders: dict[tuple[str, str], dict] = {}   # (mchid, mix_trade_no) -> mixed order
        self.med_refund_notices: list[dict] = []
        self.bill_tokens: dict[str, bytes] = {}   # download token -> file bytes (gzip or plain)
        self.bills_creating: set[str] = set()     # days (YYYY-MM-DD) whose bill is still being made
        self.statement_edits = StatementEdits()   # discrepancies put into a day's bill
        self.notifications: list[dict] = []   # every delivery attempt: kind, key, status, attempt
        self.notify_options = {"duplicates": 1, "concurrent": False, "probe_first": False, "delay_seconds": 0.0}
        self._timers: list[threading.Timer] = []
        for method, path, handler in (
            ("POST", "/v3/pay/transactions/jsapi", self._v3_jsapi),
            ("GET", "/v3/pay/transactions/out-trade-no/{out_trade_no}", self._v3_query),
            ("POST", "/v3/pay/transactions/out-trade-no/{out_trade_no}/close", self._v3_close),
            ("POST", "/v3/refund/domestic/refunds", self._v3_refund),
            ("GET", "/v3/refund/domestic/refunds/{out_refund_no}", self._v3_refund_query),
            ("GET", "/v3/certificates", self._v3_certificates),
            ("POST", "/_sim/platform-certificates/rotate", self._ctl_rotate_certificate),
            ("POST", "/_sim/platform-certificates/{serial_no}/activate", self._ctl_activate_certificate),
            ("POST", "/v3/med-ins/orders", self._v3_med_order),
            ("GET", "/v3/med-ins/orders/mix-trade-no/{mix_trade_no}", self._v3_med_query),
            ("POST", "/v3/med-ins/refunds/notify", self._v3_med_refund_notify),
            ("POST", "/_sim/med-ins/pay", self._ctl_med_pay),
            ("GET", "/v3/bill/tradebill", self._v3_tradebill),
            ("GET", "/v3/billdownload/file", self._v3_bill_download),
            ("POST", "/pay/downloadbill", self._v2_downloadbill),
            ("POST", "/_sim/bills/creating", self._ctl_bill_creating),
            ("POST", "/pay/unifiedorder", self._v2_unifiedorder),
            ("POST", "/pay/orderquery", self._v2_orderquery),
            ("POST", "/pay/closeorder", self._v2_closeorder),
            ("POST", "/secapi/pay/refund", self._v2_refund),
            ("POST", "/pay/refundquery", self._v2_refundquery),
            ("POST", "/_sim/pay", self._ctl_pay),
            ("POST", "/_sim/refunds/{out_refund_no}/finish", self._ctl_finish_refund),
            ("POST", "/_sim/notify-options", self._ctl_notify_options),
            ("POST", "/_sim/resend", self._ctl_resend),
            ("GET", "/_sim/orders", lambda req: (200, list(self.orders.values()))),
            ("GET", "/_sim/refunds", lambda req: (200, list(self.refunds.values()))),
            ("GET", "/_sim/notifications", lambda req: (200, list(self.notifications))),
        ):
            self.route(method, path, handler)
        statement_edits.add_routes(self, self.statement_edits)

    def stop(self) -> None:
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
        super().stop()

    # ---- v3: authentication and signing -------------------------------------------------
    def _v3_caller(self, req: Request) -> SimMerchant | tuple:
        """The merchant whose Authorization header checks out, or an error reply."""
        header = req.headers.get("Authorization") or ""
        scheme, _, params = header.partition(" ")
        fields = dict(part.split("=", 1) for part in params.split(",") if "=" in part)
        fields = {k.strip(): v.strip().strip('"') for k, v in fields.items()}
        merchant = self.merchants.get(fields.get("mchid", ""))
        if scheme != "WECHATPAY2-SHA256-RSA2048" or merchant is None or merchant.api != "v3":
            return self._v3_error(401, "SIGN_ERROR", "Authorization is missing or names an unknown merchant")
        if fields.get("serial_no") != merchant.merchant_serial:
            return self._v3_error(401, "SIGN_ERROR", "serial_no is not the merchant's certificate")
        timestamp = fields.get("timestamp", "")
        if not timestamp.isdigit() or abs(self.now() - int(timestamp)) > 300:
            return self._v3_error(401, "SIGN_ERROR", "timestamp expired")
        nonce = fields.get("nonce_str", "")
        message = f"{req.method}\n{req.target}\n{timestamp}\n{nonce}\n".encode() + req.body + b"\n"
        try:
            _rsa_verify(merchant.merchant_public_key, base64.b64decode(fields.get("signature", "")), message)
        except Exception:  # noqa: BLE001 - any failure is a bad signature
            return self._v3_error(401, "SIGN_ERROR", "signature does not verify")
        return merchant

    def _signed(self, merchant: SimMerchant, status: int, body: Any) -> tuple:
        """A v3 answer signed like WeChat's: Wechatpay-* headers over the exact body bytes."""
        data = b"" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return status, data, {"Content-Type": "application/json", **self._signature_headers(merchant, data)}

    def _signature_headers(self, merchant: SimMerchant, data: bytes, probe: bool = False) -> dict:
        with self._lock:
            serial = (random.choice(sorted(merchant.platform_keys)) if merchant.signing == "random"
                      else merchant.signing)
        timestamp, nonce = str(int(self.now())), secrets.token_hex(16)
        if probe:
            signature = "WECHATPAY/SIGNTEST/" + base64.b64encode(secrets.token_bytes(64)).decode()
        else:
            signature = base64.b64encode(_rsa_sign(merchant.platform_keys[serial],
                                                   f"{timestamp}\n{nonce}\n".encode() + data + b"\n")).decode()
        return {"Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": nonce, "Wechatpay-Signature": signature,
                "Wechatpay-Serial": serial, "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
                "Request-ID": uuid.uuid4().hex}

    def _v3_error(self, status: int, code: str, message: str, merchant: SimMerchant | None = None) -> tuple:
        if merchant is not None:
            return self._signed(merchant, status, {"code": code, "message": message})
        return status, {"code": code, "message": message}

    # ---- v3: payments -------------------------------------------------------------------
    def _v3_jsapi(self, req: Request):
        merchant = self._v3_caller(req)
        if isinstance(merchant, tuple):
            return merchant
        try:
            body = req.json()
            appid, total = body["appid"], body["amount"]["total"]
            out_trade_no, notify_url, openid = body["out_trade_no"], body["notify_url"], body["payer"]["openid"]
        except (ValueError, KeyError, TypeError):
            return self._v3_error(400, "PARAM_ERROR", "missing or malformed field", merchant)
        problem = _order_problem(merchant, body.get("mchid"), appid, total, out_trade_no, notify_url)
        if problem:
            return self._v3_error(400, "PARAM_ERROR", problem, merchant)
        order, error = self._open_order(merchant, "v3", appid, out_trade_no, total, notify_url, openid,
                                        body.get("description", ""), body.get("attach"))
        if error:
            return self._v3_error(400, error[0], error[1], merchant)
        return self._signed(merchant, 200, {"prepay_id": order["prepay_id"]})

    def _v3_query(self, req: Request):
        merchant = self._v3_caller(req)
        if isinstance(merchant, tuple):
            return merchant
        order = self.orders.get((merchant.mchid, req.params["out_trade_no"]))
        if order is None or req.query.get("mchid") != merchant.mchid:
            return self._v3_error(404, "ORDER_NOT_EXIST", "订单不存在", merchant)
        return self._signed(merchant, 200, self._v3_transaction(order))

    def _v3_close(self, req: Request):
        merchant = self._v3_caller(req)
        if isinstance(merchant, tuple):
            return merchant
        with self._lock:
            order = self.orders.get((merchant.mchid, req.params["out_trade_no"]))
            if order is None:
                return self._v3_error(404, "ORDER_NOT_EXIST", "订单不存在", merchant)
            if order["trade_state"] in ("SUCCESS", "REFUND"):
                return self._v3_error(400, "ORDERPAID", "订单已支付", merchant)
            order["trade_state"] = "CLOSED"
        return self._signed(merchant, 204, None)

    def _v3_transaction(self, order: dict) -> dict:
        paid = order["trade_state"] in ("SUCCESS", "REFUND")
        result = {"appid": order["appid"], "mchid": order["mchid"], "out_trade_no": order["out_trade_no"],
                  "trade_state": order["trade_state"], "trade_state_desc": order["trade_state"],
                  "amount": {"total": order["total"], "currency": "CNY"}}
        if order.get("attach"):
            result["attach"] = order["attach"]
        if paid:
            result.update({"transaction_id": order["transaction_id"], "trade_type": "JSAPI", "bank_type": "OTHERS",
                           "success_time": order["success_time"], "payer": {"openid": order["openid"]},
                           "amount": {"total": order["total"], "payer_total": order["total"], "currency": "CNY",
                                      "payer_currency": "CNY"}})
        return result

    # ---- v3: refunds --------------------------------------------------------------------
    def _v3_refund(self, req: Request):
        merchant = self._v3_caller(req)
        if isinstance(merchant, tuple):
            return merchant
        try:
            body = req.json()
            out_refund_no, refund, total = body["out_refund_no"], body["amount"]["refund"], body["amount"]["total"]
            out_trade_no = body["out_trade_no"]
        except (ValueError, KeyError, TypeError):
            return self._v3_error(400, "PARAM_ERROR", "missing or malformed field", merchant)
        created, error = self._open_refund(merchant, "v3", out_trade_no, out_refund_no, refund, total,
                                           body.get("notify_url"))
        if error:
            return self._v3_error(400 if error[0] != "RESOURCE_NOT_EXISTS" else 404, error[0], error[1], merchant)
        return self._signed(merchant, 200, self._v3_refund_view(created))

    def _v3_refund_query(self, req: Request):
        merchant = self._v3_caller(req)
        if isinstance(merchant, tuple):
            return merchant
        refund = self.refunds.get((merchant.mchid, req.params["out_refund_no"]))
        if refund is None:
            return self._v3_error(404, "RESOURCE_NOT_EXISTS", "退款单不存在", merchant)
        return self._signed(merchant, 200, self._v3_refund_view(refund))

    def _v3_refund_view(self, refund: dict) -> dict:
        order = self.orders[(refund["mchid"], refund["out_trade_no"])]
        view = {"refund_id": refund["refund_id"], "out_refund_no": refund["out_refund_no"],
                "transaction_id": order["transaction_id"], "out_trade_no": refund["out_trade_no"],
                "channel": "ORIGINAL", "user_received_account": "支付用户零钱", "status": refund["status"],
                "create_time": refund["create_time"],
                "amount": {"total": order["total"], "refund": refund["refund"], "payer_total": order["total"],
                           "payer_refund": refund["refund"], "currency": "CNY"}}
        if refund.get("success_time"):
            view["success_time"] = refund["success_time"]
        return view

    # ---- v3: platform certificates --------------------------------------------------------
    def _v3_certificates(self, req: Request):
        from cryptography.hazmat.primitives.serialization import Encoding

        merchant = self._v3_caller(req)
        if isinstance(merchant, tuple):
            return merchant
        with self._lock:
            listed = sorted(merchant.certificates.items())
        data = []
        for serial, certificate in listed:
            nonce, aad = secrets.token_hex(6), "certificate"
            ciphertext = _aes_gcm_encrypt(merchant.apiv3_key.encode(), nonce.encode(), aad.encode(),
                                          certificate.public_bytes(Encoding.PEM))
            data.append({"serial_no": serial,
                         "effective_time": _rfc3339(certificate.not_valid_before_utc.timestamp()),
                         "expire_time": _rfc3339(certificate.not_valid_after_utc.timestamp()),
                         "encrypt_certificate": {"algorithm": "AEAD_AES_256_GCM", "nonce": nonce,
                                                 "associated_data": aad,
                                                 "ciphertext": base64.b64encode(ciphertext).decode()}})
        return self._signed(merchant, 200, {"data": data})

    def rotate_platform_certificate(self, mchid: str, days: int = 1825) -> str:
        """WeChat publishes a new platform certificate: listed at once, signing once activated."""
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        serial_number = new_certificate_serial_number()
        certificate = platform_certificate(key, serial_number, days)
        serial = format(serial_number, "X")
        with self._lock:
            merchant = self.merchants[mchid]
            merchant.certificates[serial] = certificate
            merchant.standby_keys[serial] = key
        return serial

    def activate_platform_certificate(self, mchid: str, serial: str) -> None:
        """The published certificate signs from now on (with the others, at random)."""
        with self._lock:
            merchant = self.merchants[mchid]
            merchant.platform_keys[serial] = merchant.standby_keys.pop(serial)

    def retire_platform_certificate(self, mchid: str, serial: str) -> None:
        """The certificate is withdrawn: neither listed nor signing."""
        with self._lock:
            merchant = self.merchants[mchid]
            for book in (merchant.certificates, merchant.standby_keys, merchant.platform_keys):
                book.pop(serial, None)
            if merchant.signing == serial:
                merchant.signing = "random"

    def _ctl_rotate_certificate(self, req: Request):
        body = req.json() or {}
        if body.get("mchid") not in self.merchants:
            return 404, {"error": "no such merchant"}
        return 200, {"serial_no": self.rotate_platform_certificate(body["mchid"], int(body.get("days", 1825)))}

    def _ctl_activate_certificate(self, req: Request):
        body = req.json() or {}
        merchant = self.merchants.get(body.get("mchid", ""))
        if merchant is None or req.params["serial_no"] not in merchant.standby_keys:
            return 404, {"error": "no such certificate waiting"}
        self.activate_platform_certificate(merchant.mchid, req.params["serial_no"])
        return 200, {"ok": True}

    # ---- v3: medical-insurance mixed orders ----------------------------------------------
    MED_FEES = ("med_ins_gov_fee", "med_ins_self_fee", "med_ins_other_fee", "med_ins_cash_fee")

    def _v3_med_order(self, req: Request):
        merchant = self._v3_caller(req)
        if isinstance(merchant, tuple):
            return merchant
        try:
            body = req.json()
            fees = {k: body[k] for k in ("total_fee", "wechat_pay_cash_fee", *self.MED_FEES)}
            out_trade_no, notify_url = body["out_trade_no"], body["notify_url"]
            appid, openid = body["appid"], body["openid"]
            body["pay_order_id"], body["pay_auth_no"]
        except (ValueError, KeyError, TypeError):
            return self._v3_error(400, "PARAM_ERROR", "missing or malformed field", merchant)
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in fees.values()) or \
                fees["total_fee"] != sum(fees[k] for k in self.MED_FEES) or \
                fees["wechat_pay_cash_fee"] != fees["med_ins_cash_fee"]:
            return self._v3_error(400, "PARAM_ERROR", "total_fee must be gov + self + other + cash", merchant)
        with self._lock:
            existing = [o for o in self.med_orders.values() if o["out_trade_no"] == out_trade_no
                        and o["mchid"] == merchant.mchid]
            if existing:
                return self._signed(merchant, 200, self._med_view(existing[0]))
            order = {"mchid": merchant.mchid, "appid": appid, "openid": openid, "out_trade_no": out_trade_no,
                     "mix_trade_no": "MIX" + uuid.uuid4().hex[:24], "notify_url": notify_url, "api": "v3",
                     "pay_order_id": body["pay_order_id"], "mix_pay_status": "MIX_PAY_CREATED",
                     "self_pay_status": "SELF_PAY_CREATED" if fees["med_ins_cash_fee"] else "NO_SELF_PAY",
                     "med_ins_pay_status": "MED_INS_PAY_CREATED", "paid_time": None, **fees}
            self.med_orders[(merchant.mchid, order["mix_trade_no"])] = order
        if fees["med_ins_cash_fee"]:  # the cash part is an ordinary transaction (refunded as one)
            self._open_order(merchant, "v3", appid, out_trade_no, fees["med_ins_cash_fee"], notify_url, openid,
                             "医保自费部分", None)
        return self._signed(merchant, 200, self._med_view(order))

    def _med_view(self, order: dict) -> dict:
        return {k: order[k] for k in ("mix_trade_no", "mix_pay_status", "self_pay_status", "med_ins_pay_status",
                                      "out_trade_no", "appid", "mchid", "total_fee", "wechat_pay_cash_fee",
                                      "pay_order_id", "paid_time", *self.MED_FEES)}

    def _v3_med_query(self, req: Request):
        merchant = self._v3_caller(req)
        if isinstance(merchant, tuple):
            return merchant
        order = self.med_orders.get((merchant.mchid, req.params["mix_trade_no"]))
        if order is None:
            return self._v3_error(404, "RESOURCE_NOT_EXISTS", "订单不存在", merchant)
        return self._signed(merchant, 200, self._med_view(order))

    def _v3_med_refund_notify(self, req: Request):
        merchant = self._v3_caller(req)
        if isinstance(merchant, tuple):
            return merchant
        order = self.med_orders.get((merchant.mchid, req.query.get("mix_trade_no", "")))
        try:
            body = req.json()
            parts = (body["med_refund_gov_fee"], body["med_refund_self_fee"], body["med_refund_other_fee"])
            total, out_refund_no = body["med_refund_total_fee"], body["out_refund_no"]
        except (ValueError, KeyError, TypeError):
            return self._v3_error(400, "PARAM_ERROR", "missing or malformed field", merchant)
        if order is None:
            return self._v3_error(404, "RESOURCE_NOT_EXISTS", "订单不存在", merchant)
        if total != sum(parts) or parts != (order["med_ins_gov_fee"], order["med_ins_self_fee"],
                                            order["med_ins_other_fee"]):
            return self._v3_error(400, "PARAM_ERROR", "insurance refund must match the insurance parts", merchant)
        with self._lock:
            if not any(n["out_refund_no"] == out_refund_no for n in self.med_refund_notices):
                self.med_refund_notices.append({"mix_trade_no": order["mix_trade_no"], **body})
        return self._signed(merchant, 204, None)

    def pay_med_ins(self, mchid: str, mix_trade_no: str, notify: bool = True) -> dict:
        """The patient confirms the mixed payment: insurance parts and the cash part."""
        with self._lock:
            order = self.med_orders[(mchid, mix_trade_no)]
            if order["mix_pay_status"] != "MIX_PAY_CREATED":
                raise ValueError(f"mixed order is {order['mix_pay_status']}")
            order.update(mix_pay_status="MIX_PAY_SUCCESS", med_ins_pay_status="MED_INS_PAY_SUCCESS",
                         self_pay_status="SELF_PAY_SUCCESS" if order["med_ins_cash_fee"] else "NO_SELF_PAY",
                         paid_time=_rfc3339(self.now()))
        if order["med_ins_cash_fee"]:
            self.pay(mchid, order["out_trade_no"], notify=False)
        if notify:
            self.send_notification("med_ins", mchid, mix_trade_no)
        return order

    def _ctl_med_pay(self, req: Request):
        body = req.json() or {}
        match = [o for o in self.med_orders.values() if o["mix_trade_no"] == body.get("mix_trade_no")
                 or o["out_trade_no"] == body.get("out_trade_no")]
        if not match:
            return 404, {"error": "no such mixed order"}
        return 200, self.pay_med_ins(match[0]["mchid"], match[0]["mix_trade_no"])

    # ---- trade bills (reconciliation) ------------------------------------------------------
    def trade_bill(self, mchid: str, bill_date: str, bill_type: str = "ALL") -> str | None:
        """The day's bill in WeChat's layout (docs/wechatpay.md): a header, data lines
        whose every value starts with a backtick, a summary header and line. None: no trades.
        The day's statement edits (`statement_edits`) apply to its entries first."""
        day = bill_date
        columns = {"ALL": BILL_ALL, "SUCCESS": BILL_SUCCESS, "REFUND": BILL_REFUND}[bill_type]
        with self._lock:
            entries = [{**order, "kind": "payment"} for order in self.orders.values()
                       if order["mchid"] == mchid and order.get("success_time")
                       and _cst_day(order["success_time"]) == day]
            entries += [{**self.orders[(mchid, refund["out_trade_no"])], **refund, "kind": "refund"}
                        for refund in self.refunds.values()
                        if refund["mchid"] == mchid and _cst_day(refund["create_time"]) == day]
        entries = self.statement_edits.apply(day, entries, lambda kind, on: self._blank_bill_entry(mchid, kind, on))
        rows = [self._bill_row(entry) for entry in entries
                if bill_type == "ALL" or (bill_type == "SUCCESS") == (entry["kind"] == "payment")]
        if not rows:
            return None
        payments = [r for r in rows if r["_kind"] == "payment"]
        refunds = [r for r in rows if r["_kind"] == "refund"]
        settle = sum(r["_settle_fen"] for r in payments)
        refunded = sum(r["_refund_fen"] for r in refunds)
        fee = sum(r["_fee_milli"] for r in rows)  # in 1/100000 yuan
        lines = [",".join(columns)]
        lines += [",".join("`" + str(r.get(c, "")) for c in columns) for r in rows]
        lines.append(",".join(BILL_SUMMARY))
        lines.append(",".join("`" + v for v in (str(len(rows)), _yuan(settle), _yuan(refunded), "0.00",
                                               _fee(fee), _yuan(settle), _yuan(refunded))))
        return "\r\n".join(lines) + "\r\n"

    def _bill_row(self, entry: dict) -> dict:
        """One bill line of a payment (an order) or a refund (the refund over its order's fields)."""
        refund = entry["kind"] == "refund"
        total = entry["total"]
        # 0.54%, rounded half up to the fen, printed with 5 decimals; negative on refund rows.
        fee_fen = ((entry["refund"] if refund else total) * 54 + 5000) // 10000
        fee_milli = (-fee_fen if refund else fee_fen) * 1000
        time_text = _v2_time(entry["create_time"] if refund else entry["success_time"], sep=True)
        row = {"交易时间": time_text, "公众账号ID": entry["appid"], "商户号": entry["mchid"], "特约商户号": "0",
               "设备号": "", "微信订单号": entry["transaction_id"], "商户订单号": entry["out_trade_no"],
               "用户标识": entry["openid"], "交易类型": "JSAPI",
               "交易状态": "REFUND" if refund else entry.get("bill_state") or "SUCCESS",
               "付款银行": "OTHERS", "货币种类": "CNY", "应结订单金额": _yuan(0 if refund else total),
               "代金券金额": "0.00", "微信退款单号": entry["refund_id"] if refund else "0",
               "商户退款单号": entry["out_refund_no"] if refund else "0",
               "退款金额": _yuan(entry["refund"] if refund else 0), "充值券退款金额": "0.00",
               "退款类型": "ORIGINAL" if refund else "", "退款状态": entry["status"] if refund else "",
               "商品名称": entry.get("description") or "",
               "商户数据包": json.dumps({"attach": entry.get("attach")}, ensure_ascii=False),
               "手续费": _fee(fee_milli), "费率": "0.54%", "订单金额": _yuan(0 if refund else total),
               "申请退款金额": _yuan(entry["refund"] if refund else 0), "费率备注": "",
               "退款申请时间": time_text if refund else "",
               "退款成功时间": _v2_time(entry.get("success_time"), sep=True) if refund else "",
               "_kind": entry["kind"], "_settle_fen": 0 if refund else total,
               "_refund_fen": entry["refund"] if refund else 0, "_fee_milli": fee_milli}
        return row

    def _blank_bill_entry(self, mchid: str, kind: str, day: str) -> dict:
        """A trade of `kind` on `day` that nobody made here (statement_edits.add fills it in)."""
        if kind not in ("payment", "refund"):
            raise ValueError("a trade bill entry is a payment or a refund")
        noon = datetime.combine(datetime.fromisoformat(day).date(), datetime.min.time(), CST) + timedelta(hours=12)
        entry = {"kind": kind, "mchid": mchid, "appid": self.merchants[mchid].appids[0],
                 "out_trade_no": "STRAY" + uuid.uuid4().hex[:16].upper(), "total": 100, "openid": "o-stray",
                 "transaction_id": "42000" + "".join(random.choices("0123456789", k=23)), "description": "",
                 "attach": None, "success_time": noon.isoformat(timespec="seconds")}
        if kind == "refund":
            entry.update(out_refund_no="RSTRAY" + uuid.uuid4().hex[:16].upper(), refund_id="50" + uuid.uuid4().hex[:26],
                         refund=entry["total"], status="SUCCESS", create_time=entry["success_time"])
        return entry

    def _v3_tradebill(self, req: Request):
        import gzip

        merchant = self._v3_caller(req)
        if isinstance(merchant, tuple):
            return merchant
        bill_type, bill_date = req.query.get("bill_type", "ALL"), req.query.get("bill_date", "")
        if bill_type not in ("ALL", "SUCCESS", "REFUND"):
            return self._v3_error(400, "PARAM_ERROR", "bill_type", merchant)
        if not _is_date(bill_date, "%Y-%m-%d"):
            return self._v3_error(400, "PARAM_ERROR", "bill_date", merchant)
        if bill_date in self.bills_creating:
            return self._v3_error(400, "STATEMENT_CREATING", "账单生成中", merchant)
        text = self.trade_bill(merchant.mchid, bill_date, bill_type)
        if text is None:
            return self._v3_error(400, "NO_STATEMENT_EXIST", "账单不存在", merchant)
        data = text.encode("utf-8")
        token = uuid.uuid4().hex
        self.bill_tokens[token] = gzip.compress(data) if req.query.get("tar_type") == "GZIP" else data
        digest = hashlib.sha1(data).hexdigest()  # noqa: S324 - WeChat Pay's bill digest is SHA-1
        return self._signed(merchant, 200, {"hash_type": "SHA1", "hash_value": digest,
                                            "download_url": f"{self.url}/v3/billdownload/file?token={token}"})

    def _v3_bill_download(self, req: Request):
        merchant = self._v3_caller(req)
        if isinstance(merchant, tuple):
            return merchant
        data = self.bill_tokens.get(req.query.get("token", ""))
        if data is None:
            return self._v3_error(404, "RESOURCE_NOT_EXISTS", "下载链接已失效", merchant)
        return 200, data, {"Content-Type": "application/octet-stream"}  # not signed, as at WeChat

    def _v2_downloadbill(self, req: Request):
        """The bill itself as the answer (gzip with tar_type=GZIP), or an unsigned XML error:
        `No Bill Exist` (20002) for a day without trades, `Bill Creating` while it is made,
        20001 for a bad parameter."""
        import gzip

        merchant, fields, error = self._v2_caller(req)
        if error:
            return error
        bill_type, tar_type = fields.get("bill_type") or "ALL", fields.get("tar_type") or ""
        if bill_type not in ("ALL", "SUCCESS", "REFUND"):
            return 200, _to_xml({"return_code": "FAIL", "return_msg": "invalid bill_type", "error_code": "20001"}), _XML
        if not _is_date(fields.get("bill_date", ""), "%Y%m%d"):
            return 200, _to_xml({"return_code": "FAIL", "return_msg": "invalid bill_date", "error_code": "20001"}), _XML
        if tar_type not in ("", "GZIP"):
            return 200, _to_xml({"return_code": "FAIL", "return_msg": "invalid tar_type", "error_code": "20001"}), _XML
        day = _v2_date(fields["bill_date"])
        if day in self.bills_creating:
            return 200, _to_xml({"return_code": "FAIL", "return_msg": "Bill Creating"}), _XML
        text = self.trade_bill(merchant.mchid, day, bill_type)
        if text is None:
            return 200, _to_xml({"return_code": "FAIL", "return_msg": "No Bill Exist", "error_code": "20002"}), _XML
        if tar_type == "GZIP":
            return 200, gzip.compress(text.encode("utf-8")), {"Content-Type": "application/octet-stream"}
        return 200, text, {"Content-Type": "text/plain; charset=utf-8"}

    # ---- shared order and refund book-keeping ---------------------------------------------
    def _open_order(self, merchant, api, appid, out_trade_no, total, notify_url, openid, description, attach):
        with self._lock:
            existing = self.orders.get((merchant.mchid, out_trade_no))
            if existing is not None:
                if existing["trade_state"] in ("SUCCESS", "REFUND"):
                    return None, ("ORDERPAID", "该订单已支付")
                if existing["trade_state"] == "CLOSED":
                    return None, ("ORDERCLOSED", "订单已关闭")
                if existing["total"] != total or existing["openid"] != openid:
                    return None, ("OUT_TRADE_NO_USED", "商户订单号重复")
                return existing, None  # the same order asked again: the same prepay id
            order = {"mchid": merchant.mchid, "appid": appid, "out_trade_no": out_trade_no, "total": total,
                     "notify_url": notify_url, "openid": openid, "description": description, "attach": attach,
                     "prepay_id": "wx" + uuid.uuid4().hex[:30], "trade_state": "NOTPAY", "api": api,
                     "transaction_id": None, "success_time": None, "refunded": 0}
            self.orders[(merchant.mchid, out_trade_no)] = order
            return order, None

    def _open_refund(self, merchant, api, out_trade_no, out_refund_no, refund, total, notify_url):
        with self._lock:
            existing = self.refunds.get((merchant.mchid, out_refund_no))
            if existing is not None:
                return existing, None  # the same out_refund_no refunds once
            order = self.orders.get((merchant.mchid, out_trade_no))
            if order is None or order["trade_state"] not in ("SUCCESS", "REFUND"):
                return None, ("RESOURCE_NOT_EXISTS", "订单不存在或未支付")
            if not isinstance(refund, int) or isinstance(refund, bool) or refund < 1 or total != order["total"]:
                return None, ("PARAM_ERROR", "退款金额或订单金额不正确")
            if order["refunded"] + refund > order["total"]:
                return None, ("NOT_ENOUGH", "退款金额超过可退金额")
            order["refunded"] += refund
            order["trade_state"] = "REFUND"
            created = {"mchid": merchant.mchid, "out_trade_no": out_trade_no, "out_refund_no": out_refund_no,
                       "refund_id": "50" + uuid.uuid4().hex[:26], "refund": refund, "status": "PROCESSING",
                       "notify_url": notify_url or order["notify_url"], "api": api,
                       "create_time": _rfc3339(self.now()), "success_time": None}
            self.refunds[(merchant.mchid, out_refund_no)] = created
        if self.refund_mode == "auto":
            self._later(self.refund_seconds, self.finish_refund, merchant.mchid, out_refund_no, "SUCCESS")
        return created, None

    def pay(self, mchid: str, out_trade_no: str, notify: bool = True) -> dict:
        """The patient confirms the payment in WeChat; the notification follows (unless a
        test wants to send its own: see notification())."""
        with self._lock:
            order = self.orders[(mchid, out_trade_no)]
            if order["trade_state"] != "NOTPAY":
                raise ValueError(f"order is {order['trade_state']}, not payable")
            order["trade_state"] = "SUCCESS"
            order["transaction_id"] = "42000" + "".join(random.choices("0123456789", k=23))
            order["success_time"] = _rfc3339(self.now())
        if notify:
            self.send_notification("payment", mchid, out_trade_no)
        return order

    def _book(self, kind: str) -> dict:
        return {"payment": self.orders, "refund": self.refunds, "med_ins": self.med_orders}[kind]

    def notification(self, kind: str, mchid: str, key: str, probe: bool = False) -> tuple[bytes, dict]:
        """The body and headers WeChat would send for this order or refund now."""
        record = self._book(kind)[(mchid, key)]
        if record["api"] == "v3":
            return self._v3_notification(self.merchants[mchid], kind, record, probe)
        return self._v2_notification(self.merchants[mchid], kind, record, probe)

    def finish_refund(self, mchid: str, out_refund_no: str, status: str = "SUCCESS") -> dict:
        with self._lock:
            refund = self.refunds[(mchid, out_refund_no)]
            if refund["status"] not in ("PROCESSING", "ABNORMAL"):
                return refund
            refund["status"] = status
            if status == "SUCCESS":
                refund["success_time"] = _rfc3339(self.now())
            if status == "CLOSED":
                self.orders[(mchid, refund["out_trade_no"])]["refunded"] -= refund["refund"]
        self.send_notification("refund", mchid, out_refund_no)
        return refund

    # ---- notifications --------------------------------------------------------------------
    def send_notification(self, kind: str, mchid: str, key: str) -> None:
        options = dict(self.notify_options)
        copies = max(1, int(options.get("duplicates", 1)))
        start = float(options.get("delay_seconds", 0.0))
        if options.get("probe_first"):
            self._later(start, self._deliver, kind, mchid, key, 0, True)
        for _ in range(copies):  # concurrent copies leave together, as from several WeChat servers
            self._later(start, self._deliver, kind, mchid, key, 0, False)
            if not options.get("concurrent"):
                start += 0.05

    def _deliver(self, kind: str, mchid: str, key: str, attempt: int, probe: bool) -> None:
        import requests

        merchant = self.merchants[mchid]
        record = self._book(kind)[(mchid, key)]
        url = record["notify_url"]
        if record["api"] == "v3":
            data, headers = self._v3_notification(merchant, kind, record, probe)
        else:
            data, headers = self._v2_notification(merchant, kind, record, probe)
        try:
            answer = requests.post(url, data=data, headers=headers, timeout=5)
            status = answer.status_code
            accepted = status in (200, 204) and (record["api"] == "v3" or b"SUCCESS" in answer.content)
        except requests.RequestException as exc:
            status, accepted = type(exc).__name__, False
        with self._lock:
            self.notifications.append({"kind": kind, "key": key, "attempt": attempt + 1, "status": status,
                                       "accepted": accepted, "probe": probe, "at": self.now()})
        if not accepted and not probe and attempt < len(RETRY_SCHEDULE):
            self._later(RETRY_SCHEDULE[attempt] * self.retry_scale, self._deliver, kind, mchid, key, attempt + 1, False)

    def _v3_notification(self, merchant: SimMerchant, kind: str, record: dict, probe: bool) -> tuple[bytes, dict]:
        if kind == "payment":
            event_type, resource_type, plain = "TRANSACTION.SUCCESS", "transaction", self._v3_transaction(record)
            summary = "支付成功"
        elif kind == "med_ins":
            event_type, resource_type, plain = "MEDICAL_INSURANCE.SUCCESS", "medical_insurance", self._med_view(record)
            summary = "医保混合支付成功"
        else:
            event_type = {"SUCCESS": "REFUND.SUCCESS", "CLOSED": "REFUND.CLOSED",
                          "ABNORMAL": "REFUND.ABNORMAL"}[record["status"]]
            resource_type, summary = "refund", "退款状态变更"
            view = self._v3_refund_view(record)
            plain = {"mchid": record["mchid"], "transaction_id": view["transaction_id"],
                     "out_trade_no": record["out_trade_no"], "refund_id": record["refund_id"],
                     "out_refund_no": record["out_refund_no"], "refund_status": record["status"],
                     "success_time": record.get("success_time"), "user_received_account": "支付用户零钱",
                     "amount": {k: view["amount"][k] for k in ("total", "refund", "payer_total", "payer_refund")}}
        nonce, aad = secrets.token_hex(6), resource_type
        ciphertext = _aes_gcm_encrypt(merchant.apiv3_key.encode(), nonce.encode(), aad.encode(),
                                      json.dumps(plain, ensure_ascii=False).encode())
        envelope = {"id": str(uuid.uuid4()), "create_time": _rfc3339(self.now()), "resource_type": "encrypt-resource",
                    "event_type": event_type, "summary": summary,
                    "resource": {"original_type": resource_type, "algorithm": "AEAD_AES_256_GCM",
                                 "ciphertext": base64.b64encode(ciphertext).decode(), "associated_data": aad,
                                 "nonce": nonce}}
        data = json.dumps(envelope, ensure_ascii=False).encode()
        return data, {"Content-Type": "application/json", **self._signature_headers(merchant, data, probe)}

    # ---- v2 -------------------------------------------------------------------------------
    def _v2_caller(self, req: Request) -> tuple[SimMerchant | None, dict, tuple | None]:
        try:
            fields = _parse_xml(req.body)
        except ValueError:
            return None, {}, (200, _v2_fail("XML_FORMAT_ERROR"), _XML)
        merchant = self.merchants.get(fields.get("mch_id", ""))
        if merchant is None or merchant.api != "v2":
            return None, fields, (200, _v2_fail("MCHID_NOT_EXIST"), _XML)
        if fields.get("appid") not in merchant.appids:
            return None, fields, (200, _v2_fail("APPID_MCHID_NOT_MATCH"), _XML)
        sign_type = fields.get("sign_type") or "MD5"
        if not hmac.compare_digest(_v2_sign(fields, merchant.api_key, sign_type), fields.get("sign", "")):
            return None, fields, (200, _v2_fail("SIGNERROR"), _XML)
        return merchant, fields, None

    def _v2_answer(self, merchant: SimMerchant, fields: dict, result: dict, sign_type: str) -> tuple:
        body = {"return_code": "SUCCESS", "return_msg": "OK", "appid": fields["appid"], "mch_id": merchant.mchid,
                "nonce_str": secrets.token_hex(16), **result}
        body["sign"] = _v2_sign(body, merchant.api_key, sign_type)
        return 200, _to_xml(body), _XML

    def _v2_unifiedorder(self, req: Request):
        merchant, fields, error = self._v2_caller(req)
        if error:
            return error
        try:
            total = int(fields["total_fee"])
            order, problem = self._open_order(merchant, "v2", fields["appid"], fields["out_trade_no"], total,
                                              fields["notify_url"], fields.get("openid", ""), fields.get("body", ""),
                                              fields.get("attach"))
        except (KeyError, ValueError):
            order, problem = None, ("PARAM_ERROR", "参数错误")
        if problem:
            return self._v2_answer(merchant, fields, {"result_code": "FAIL", "err_code": problem[0],
                                                      "err_code_des": problem[1]}, fields.get("sign_type") or "MD5")
        return self._v2_answer(merchant, fields, {"result_code": V2_SUCCESS, "trade_type": "JSAPI",
                                                  "prepay_id": order["prepay_id"]}, fields.get("sign_type") or "MD5")

    def _v2_orderquery(self, req: Request):
        merchant, fields, error = self._v2_caller(req)
        if error:
            return error
        order = self.orders.get((merchant.mchid, fields.get("out_trade_no", "")))
        sign_type = fields.get("sign_type") or "MD5"
        if order is None:
            return self._v2_answer(merchant, fields, {"result_code": "FAIL", "err_code": "ORDERNOTEXIST",
                                                      "err_code_des": "此交易订单号不存在"}, sign_type)
        result = {"result_code": V2_SUCCESS, "out_trade_no": order["out_trade_no"], "trade_state": order["trade_state"],
                  "total_fee": str(order["total"])}
        if order["transaction_id"]:
            result.update({"transaction_id": order["transaction_id"], "openid": order["openid"],
                           "cash_fee": str(order["total"]), "time_end": _v2_time(order["success_time"]),
                           "trade_type": "JSAPI", "bank_type": "OTHERS"})
        return self._v2_answer(merchant, fields, result, sign_type)

    def _v2_closeorder(self, req: Request):
        merchant, fields, error = self._v2_caller(req)
        if error:
            return error
        sign_type = fields.get("sign_type") or "MD5"
        with self._lock:
            order = self.orders.get((merchant.mchid, fields.get("out_trade_no", "")))
            if order is None:
                code = "ORDERNOTEXIST"
            elif order["trade_state"] in ("SUCCESS", "REFUND"):
                code = "ORDERPAID"
            else:
                order["trade_state"], code = "CLOSED", None
        if code:
            return self._v2_answer(merchant, fields, {"result_code": "FAIL", "err_code": code, "err_code_des": code},
                                   sign_type)
        return self._v2_answer(merchant, fields, {"result_code": V2_SUCCESS}, sign_type)

    def _v2_refund(self, req: Request):
        merchant, fields, error = self._v2_caller(req)
        if error:
            return error
        sign_type = fields.get("sign_type") or "MD5"
        try:
            refund, problem = self._open_refund(merchant, "v2", fields["out_trade_no"], fields["out_refund_no"],
                                                int(fields["refund_fee"]), int(fields["total_fee"]),
                                                fields.get("notify_url"))
        except (KeyError, ValueError):
            refund, problem = None, ("PARAM_ERROR", "参数错误")
        if problem:
            return self._v2_answer(merchant, fields, {"result_code": "FAIL", "err_code": problem[0],
                                                      "err_code_des": problem[1]}, sign_type)
        return self._v2_answer(merchant, fields, {
            "result_code": V2_SUCCESS, "out_trade_no": refund["out_trade_no"], "out_refund_no": refund["out_refund_no"],
            "refund_id": refund["refund_id"], "refund_fee": str(refund["refund"]),
            "total_fee": str(self.orders[(merchant.mchid, refund["out_trade_no"])]["total"])}, sign_type)

    def _v2_refundquery(self, req: Request):
        merchant, fields, error = self._v2_caller(req)
        if error:
            return error
        sign_type = fields.get("sign_type") or "MD5"
        refund = self.refunds.get((merchant.mchid, fields.get("out_refund_no", "")))
        if refund is None:
            return self._v2_answer(merchant, fields, {"result_code": "FAIL", "err_code": "REFUNDNOTEXIST",
                                                      "err_code_des": "退款订单查询失败"}, sign_type)
        status = {"PROCESSING": "PROCESSING", "SUCCESS": "SUCCESS", "CLOSED": "REFUNDCLOSE",
                  "ABNORMAL": "CHANGE"}[refund["status"]]
        return self._v2_answer(merchant, fields, {
            "result_code": V2_SUCCESS, "out_trade_no": refund["out_trade_no"], "refund_count": "1",
            "out_refund_no_0": refund["out_refund_no"], "refund_id_0": refund["refund_id"],
            "refund_fee_0": str(refund["refund"]), "refund_status_0": status}, sign_type)

    def _v2_notification(self, merchant: SimMerchant, kind: str, record: dict, probe: bool) -> tuple[bytes, dict]:
        order = self.orders[(record["mchid"], record["out_trade_no"])]
        if kind == "payment":
            body = {"return_code": "SUCCESS", "result_code": "SUCCESS", "appid": order["appid"],
                    "mch_id": merchant.mchid, "nonce_str": secrets.token_hex(16), "openid": order["openid"],
                    "trade_type": "JSAPI", "bank_type": "OTHERS", "total_fee": str(order["total"]),
                    "cash_fee": str(order["total"]), "transaction_id": order["transaction_id"],
                    "out_trade_no": order["out_trade_no"], "time_end": _v2_time(order["success_time"])}
            if order.get("attach"):
                body["attach"] = order["attach"]
            sign_type = self.notify_options.get("v2_sign_type", "MD5")
            if self.notify_options.get("v2_include_sign_type", sign_type != "MD5"):
                body["sign_type"] = sign_type
            body["sign"] = _v2_sign(body, merchant.api_key, sign_type)
            if probe:
                body["sign"] = "0" * len(body["sign"])
        else:
            status = {"SUCCESS": "SUCCESS", "CLOSED": "REFUNDCLOSE", "ABNORMAL": "CHANGE"}[record["status"]]
            inner = {"transaction_id": order["transaction_id"], "out_trade_no": order["out_trade_no"],
                     "refund_id": record["refund_id"], "out_refund_no": record["out_refund_no"],
                     "total_fee": str(order["total"]), "refund_fee": str(record["refund"]),
                     "settlement_refund_fee": str(record["refund"]), "refund_status": status,
                     "success_time": _v2_time(record.get("success_time"), sep=True),
                     "refund_recv_accout": "支付用户零钱", "refund_account": "REFUND_SOURCE_RECHARGE_FUNDS",
                     "refund_request_source": "API"}
            plain = _to_xml(inner).replace("<xml>", "<root>").replace("</xml>", "</root>").encode()
            key = hashlib.md5(merchant.api_key.encode()).hexdigest().encode()  # noqa: S324 - WeChat Pay v2's key
            body = {"return_code": "SUCCESS", "appid": order["appid"], "mch_id": merchant.mchid,
                    "nonce_str": secrets.token_hex(16),
                    "req_info": base64.b64encode(_aes_ecb_encrypt(key, plain)).decode()}
            if probe:
                body["req_info"] = base64.b64encode(secrets.token_bytes(64)).decode()
        return _to_xml(body).encode(), {"Content-Type": "text/xml"}

    # ---- controls -------------------------------------------------------------------------
    def _ctl_pay(self, req: Request):
        body = req.json() or {}
        if "prepay_id" in body:
            match = [o for o in self.orders.values() if o["prepay_id"] == body["prepay_id"]]
            if not match:
                return 404, {"error": "no order with that prepay_id"}
            mchid, out_trade_no = match[0]["mchid"], match[0]["out_trade_no"]
        else:
            mchid, out_trade_no = body.get("mchid", ""), body.get("out_trade_no", "")
            if (mchid, out_trade_no) not in self.orders:
                return 404, {"error": "no such order"}
        return 200, self.pay(mchid, out_trade_no)

    def _ctl_finish_refund(self, req: Request):
        body = req.json() or {}
        status = body.get("status", "SUCCESS")
        if status not in ("SUCCESS", "CLOSED", "ABNORMAL"):
            raise ValueError("status must be SUCCESS, CLOSED or ABNORMAL")
        match = [r for r in self.refunds.values() if r["out_refund_no"] == req.params["out_refund_no"]]
        if not match:
            return 404, {"error": "no such refund"}
        return 200, self.finish_refund(match[0]["mchid"], match[0]["out_refund_no"], status)

    def _ctl_bill_creating(self, req: Request):
        body = req.json() or {}
        day = datetime.fromisoformat(str(body.get("day"))).date().isoformat()
        (self.bills_creating.add if body.get("creating", True) else self.bills_creating.discard)(day)
        return 200, {"creating": sorted(self.bills_creating)}

    def _ctl_notify_options(self, req: Request):
        self.notify_options.update(req.json() or {})
        return 200, self.notify_options

    def _ctl_resend(self, req: Request):
        body = req.json() or {}
        kind, key = body.get("kind"), body.get("key")
        book = self._book(kind) if kind in ("payment", "refund", "med_ins") else {}
        match = [k for k in book if k[1] == key]
        if not match:
            return 404, {"error": "nothing to resend"}
        self.send_notification(kind, match[0][0], key)
        return 200, {"ok": True}

    def _later(self, seconds: float, fn, *args) -> None:
        timer = threading.Timer(max(0.0, seconds), fn, args)
        timer.daemon = True
        with self._lock:
            self._timers = [t for t in self._timers if t.is_alive()]
            self._timers.append(timer)
        timer.start()


# ---- helpers (written from the spec, independent of the backend's adapter) -------------------
_XML = {"Content-Type": "text/xml; charset=utf-8"}
BILL_ALL = ["交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识",
            "交易类型", "交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额", "微信退款单号",
            "商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态", "商品名称", "商户数据包", "手续费",
            "费率", "订单金额", "申请退款金额", "费率备注"]
BILL_SUCCESS = [c for c in BILL_ALL if c not in ("微信退款单号", "商户退款单号", "退款金额", "充值券退款金额",
                                                 "退款类型", "退款状态", "申请退款金额")]
BILL_REFUND = [*BILL_ALL[:14], "退款申请时间", "退款成功时间", *BILL_ALL[14:]]
BILL_SUMMARY = ["总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额", "订单总金额",
                "申请退款总金额"]


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _fee(hundred_thousandths: int) -> str:
    """Yuan with 5 decimals (fees), from integer 1/100000 yuan."""
    sign = "-" if hundred_thousandths < 0 else ""
    value = abs(hundred_thousandths)
    return f"{sign}{value // 100000}.{value % 100000:05d}"


def _is_date(text: str, fmt: str) -> bool:
    try:
        datetime.strptime(text, fmt)
    except (TypeError, ValueError):
        return False
    return True


def _v2_date(text: str) -> str:
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 and text.isdigit() else text


def _order_problem(merchant: SimMerchant, mchid, appid, total, out_trade_no, notify_url) -> str | None:
    if mchid != merchant.mchid:
        return "mchid does not match the caller"
    if appid not in merchant.appids:
        return "appid is not bound to this merchant"
    if not isinstance(total, int) or isinstance(total, bool) or total < 1:
        return "amount.total must be a positive integer (fen)"
    if not isinstance(out_trade_no, str) or not 6 <= len(out_trade_no) <= 32:
        return "out_trade_no must be 6 to 32 characters"
    if not isinstance(notify_url, str) or "?" in notify_url or not notify_url.startswith(("https://", "http://")):
        return "notify_url must be an absolute URL without a query string"
    return None


def new_certificate_serial_number() -> int:
    """A serial of 40 hex digits, as WeChat Pay's are, that fits X.509 (positive, 20 octets)."""
    return secrets.randbits(159) | (1 << 156)


def platform_certificate(private_key, serial_number: int, days: int = 1825):
    """A self-signed platform certificate for `private_key` (WeChat's are issued by its own CA;
    the backend relies on the APIv3-key encryption of the download, not on the chain)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tenpay.com (simulator)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com platform certificate (simulator)")])
    now = datetime.now(UTC).replace(microsecond=0)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private_key.public_key())
            .serial_number(serial_number).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=days)).sign(private_key, hashes.SHA256()))


def _rsa_sign(private_key, message: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())


def _rsa_verify(public_key, signature: bytes, message: bytes) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())


def _aes_gcm_encrypt(key: bytes, nonce: bytes, aad: bytes, plaintext: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key).encrypt(nonce, plaintext, aad)  # ciphertext with the 16-byte tag at the end


def _aes_ecb_encrypt(key: bytes, plaintext: bytes) -> bytes:
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 - WeChat's format
    return encryptor.update(padded) + encryptor.finalize()


def _v2_sign(fields: dict, api_key: str, sign_type: str) -> str:
    text = "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "sign" and fields[k] not in ("", None))
    text += f"&key={api_key}"
    if sign_type == "HMAC-SHA256":
        return hmac.new(api_key.encode(), text.encode(), hashlib.sha256).hexdigest().upper()
    return hashlib.md5(text.encode()).hexdigest().upper()  # noqa: S324 - WeChat Pay v2's MD5 signature


def _v2_fail(code: str) -> str:
    return _to_xml({"return_code": "FAIL", "return_msg": code})


def _to_xml(fields: dict) -> str:
    parts = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items() if v is not None)
    return f"<xml>{parts}</xml>"


def _parse_xml(raw: bytes) -> dict:
    import xml.etree.ElementTree as ET

    text = raw.decode("utf-8")
    if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        raise ValueError("DTD not allowed")
    root = ET.fromstring(text)
    return {child.tag: (child.text or "") for child in root}


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, CST).isoformat(timespec="seconds")


def _cst_day(rfc3339: str) -> str:
    """The Beijing date (YYYY-MM-DD) of an RFC 3339 time: the bill's day."""
    return datetime.fromisoformat(rfc3339).astimezone(CST).date().isoformat()


def _v2_time(rfc3339: str | None, sep: bool = False) -> str:
    if not rfc3339:
        return ""
    moment = datetime.fromisoformat(rfc3339).astimezone(CST)
    return moment.strftime("%Y-%m-%d %H:%M:%S" if sep else "%Y%m%d%H%M%S")
