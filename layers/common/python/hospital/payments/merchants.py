"""WeChat Pay merchants, from the WeChatPaySecret (Secrets Manager):

    {"merchants": [
       {"mchid": "1900000109", "api": "v3", "appids": ["wx..."], "serial_no": "...",
        "certificate": "-----BEGIN CERTIFICATE-----..." (optional: the merchant's API certificate),
        "private_key": "-----BEGIN PRIVATE KEY-----...", "apiv3_key": "<32 chars>",
        "platform_keys": {"<certificate serial>": "<PEM certificate or public key>",
                          "PUB_KEY_ID_...": "<PEM public key>"}},
       {"mchid": "1900000110", "api": "v2", "appids": ["wx..."], "api_key": "<32 chars>",
        "sign_type": "HMAC-SHA256", "client_cert": "<PEM>", "client_key": "<PEM>"}]}

(v2 refunds need the merchant's API client certificate; without it they are refused.)

New orders go to the merchant named by WECHATPAY_MCHID; an order keeps its merchant, so a
merchant can move from v2 to v3 without touching orders already open. During a v3 key
switch-over the secret holds both platform keys, and each notification names its own.

Each entry is read on its own: one that cannot be used (a key missing or not parsing, an
APIv3 key that is not 32 bytes, an unknown `api`) is logged as an error naming its mchid and
left out, and the other merchants work. A platform key that does not parse is left out by
itself. Serials are matched case-insensitively (hex ones also with or without leading
zeros); a certificate (the merchant's own, or a platform certificate) names its serial
itself. A notification, or an answer, naming a serial we do not hold makes the secret be
read again (at most once per REREAD_SECONDS per container), so a key added to the secret
works at once rather than after the 5-minute cache.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from hospital import config, settings
from hospital.adapters import wechatpay_v2, wechatpay_v3

log = logging.getLogger("hospital.payments")

PUBLIC_KEY_ID_PREFIX = "PUB_KEY_ID_"
APIV3_KEY_BYTES = 32
REREAD_SECONDS = 30.0

_lock = threading.Lock()
_cache: tuple[str, dict] | None = None  # (secret text, merchants by mchid)
_reread_lock = threading.Lock()
_last_reread: float | None = None


class BadEntry(ValueError):
    """A merchant entry that cannot be used; the reason is safe to log (never key material)."""


# ---- reading one entry ---------------------------------------------------------------------

def parse_entry(entry: Any, on_bad_platform_key=None):
    """A MerchantV3 or MerchantV2 from one entry of the secret, or BadEntry.
    `on_bad_platform_key(serial, reason)` hears of each platform key left out."""
    if not isinstance(entry, dict):
        raise BadEntry("entry is not an object")
    mchid = entry.get("mchid")
    if not isinstance(mchid, str) or not mchid:
        raise BadEntry("mchid missing")
    appids = entry.get("appids") or ()
    if not isinstance(appids, (list, tuple)) or not all(isinstance(a, str) for a in appids):
        raise BadEntry("appids must be a list of app ids")
    api = entry.get("api", "v3")
    if api == "v2":
        api_key = entry.get("api_key")
        if not isinstance(api_key, str) or not api_key:
            raise BadEntry("api_key missing")
        return wechatpay_v2.MerchantV2(mchid, tuple(appids), api_key, entry.get("sign_type", "MD5"),
                                       entry.get("client_cert"), entry.get("client_key"))
    if api != "v3":
        raise BadEntry(f"unknown api {str(api)[:10]!r} (v3 or v2)")
    private_key = _private_key(entry)
    serial_no = _merchant_serial(entry, private_key)
    apiv3_key = entry.get("apiv3_key")
    if not isinstance(apiv3_key, str) or not apiv3_key:
        raise BadEntry("apiv3_key missing")
    if len(apiv3_key.encode()) != APIV3_KEY_BYTES:
        raise BadEntry(f"apiv3_key is {len(apiv3_key.encode())} bytes, not {APIV3_KEY_BYTES}")
    raw_keys = entry.get("platform_keys") or {}
    if not isinstance(raw_keys, dict):
        raise BadEntry("platform_keys must be an object of serial: PEM")
    platform_keys = {}
    for name, pem in raw_keys.items():
        try:
            serial, key = platform_key(name, pem)
        except BadEntry as exc:
            if on_bad_platform_key is not None:
                on_bad_platform_key(wechatpay_v3.normal_serial(name), str(exc))
            continue
        platform_keys[serial] = key
    return wechatpay_v3.MerchantV3(mchid, tuple(appids), serial_no, private_key, apiv3_key.encode(), platform_keys)


def platform_key(name: str, pem: Any) -> tuple[str, Any]:
    """(serial, public key) of one platform key: a certificate names its own serial, whatever
    it was filed under; a bare public key goes by its name."""
    if not isinstance(pem, str) or not pem.strip():
        raise BadEntry("platform key is not a PEM text")
    try:
        if wechatpay_v3.is_certificate(pem):
            certificate = wechatpay_v3.load_certificate(pem)
            return wechatpay_v3.normal_serial(wechatpay_v3.certificate_serial(certificate)), certificate.public_key()
        return wechatpay_v3.normal_serial(name), wechatpay_v3.load_public_key(pem)
    except ValueError:
        raise BadEntry("platform key does not parse") from None


def _private_key(entry: dict):
    pem = entry.get("private_key")
    if not isinstance(pem, str) or not pem.strip():
        raise BadEntry("private_key missing")
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = wechatpay_v3.load_private_key(pem)
    except (ValueError, TypeError):
        raise BadEntry("private_key does not parse") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise BadEntry("private_key is not an RSA key")
    return key


def _merchant_serial(entry: dict, private_key) -> str:
    """Our API certificate's serial: read from the certificate when the entry carries it."""
    given = entry.get("serial_no")
    pem = entry.get("certificate")
    if pem:
        try:
            certificate = wechatpay_v3.load_certificate(str(pem))
        except ValueError:
            raise BadEntry("certificate does not parse") from None
        if not wechatpay_v3.same_key(certificate.public_key(), private_key):
            raise BadEntry("private_key does not belong to the certificate")
        serial = wechatpay_v3.certificate_serial(certificate)
        if given and wechatpay_v3.normal_serial(str(given)) != wechatpay_v3.normal_serial(serial):
            raise BadEntry("serial_no differs from the certificate's serial")
        # We send it in every request: as the operator wrote it when given, in upper case.
        return str(given).strip().upper() if given else serial
    if not isinstance(given, str) or not given.strip():
        raise BadEntry("serial_no (or certificate) missing")
    return given.strip().upper()


# ---- the merchants of this container -------------------------------------------------------

def _merchants(fresh: bool = False) -> dict:
    global _cache
    raw = config.secret(settings.WECHATPAY_SECRET_ARN, fresh=fresh)
    text = json.dumps(raw, sort_keys=True)
    with _lock:
        if _cache is not None and _cache[0] == text:
            return _cache[1]
    parsed = {}
    listed = raw.get("merchants")
    entries = listed if isinstance(listed, list) else []
    for position, entry in enumerate(entries):
        mchid = entry.get("mchid") if isinstance(entry, dict) else None
        name = str(mchid)[:32] if mchid else f"entry #{position + 1}"

        def bad_platform_key(serial: str, reason: str, name=name) -> None:
            log.error("wechatpay platform key left out", extra={"mchid": name, "serial": serial[:64],
                                                                "reason": reason})

        try:
            parsed[mchid] = parse_entry(entry, bad_platform_key)
        except BadEntry as exc:
            log.error("wechatpay merchant left out", extra={"mchid": name, "reason": str(exc)})
    with _lock:
        _cache = (text, parsed)
    return parsed


def _reread() -> bool:
    """Read the secret again unless that was done less than REREAD_SECONDS ago (a flood of
    made-up serials must not become a flood of Secrets Manager calls). True if it was read."""
    global _last_reread
    with _reread_lock:
        now = time.monotonic()
        if _last_reread is not None and now - _last_reread < REREAD_SECONDS:
            return False
        _last_reread = now
        _merchants(fresh=True)
        return True


def clear_cache() -> None:
    """Forget the parsed merchants and when the secret was last read again (tests)."""
    global _cache, _last_reread
    with _lock:
        _cache = None
    with _reread_lock:
        _last_reread = None


def api_version(merchant) -> str:
    return "v2" if isinstance(merchant, wechatpay_v2.MerchantV2) else "v3"


def for_new_orders():
    return by_mchid(settings.WECHATPAY_MCHID.get())


def for_order(order):
    """The merchant an order is paid at: the one it was opened with, else the one new orders go to."""
    return by_mchid(order.mchid) if order.mchid else for_new_orders()


def by_mchid(mchid: str):
    merchant = _merchants().get(mchid)
    if merchant is None and _reread():  # added since we read the secret?
        merchant = _merchants().get(mchid)
    if merchant is None:
        raise config.ConfigError(f"merchant {mchid} is not in the WeChat Pay secret")
    return merchant


def v3_merchants() -> list:
    return [m for m in _merchants().values() if isinstance(m, wechatpay_v3.MerchantV3)]


def v2_merchants() -> list:
    return [m for m in _merchants().values() if isinstance(m, wechatpay_v2.MerchantV2)]


class PlatformKeys(Mapping):
    """The platform keys we hold, by serial or public-key id: of every v3 merchant, or of one
    (`mchid`). Lookups ignore case, and a serial we do not hold has the secret read again
    (rate-limited) before it is refused."""

    def __init__(self, mchid: str | None = None, keys: Mapping | None = None) -> None:
        self._mchid = mchid
        self._keys = dict(keys) if keys is not None else self._held()

    def _held(self) -> dict:
        return {serial: key for m in v3_merchants() if self._mchid in (None, m.mchid)
                for serial, key in m.platform_keys.items()}

    def __getitem__(self, serial: str):
        normal = wechatpay_v3.normal_serial(serial)
        if normal not in self._keys:
            self._keys = self._held()  # another lookup may have read the secret again meanwhile
            if normal not in self._keys and _reread():
                self._keys = self._held()
        return self._keys[normal]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def v3_keys() -> Mapping:
    """Every platform key we hold, by serial or public-key id, across v3 merchants."""
    return PlatformKeys()


def v3_merchant_of_serial(serial: str):
    normal = wechatpay_v3.normal_serial(serial)
    merchant = _holder_of(normal)
    if merchant is None and _reread():
        merchant = _holder_of(normal)
    return merchant


def _holder_of(serial: str):
    return next((m for m in v3_merchants() if serial in m.platform_keys), None)


def in_certificate_mode(merchant) -> bool:
    """A v3 merchant that verifies with platform certificates (not only with WeChat Pay public
    keys), or holds no platform key yet: its certificates are downloaded and kept current."""
    keys = list(merchant.platform_keys)
    return not keys or any(not serial.startswith(PUBLIC_KEY_ID_PREFIX) for serial in keys)


def client(merchant, appid: str | None = None):
    base = settings.WECHATPAY_API_BASE.get()
    timeout = float(settings.WECHATPAY_TIMEOUT_SECONDS.get())
    if isinstance(merchant, wechatpay_v2.MerchantV2):
        return wechatpay_v2.Client(merchant, appid or merchant.appids[0], base, timeout)
    # Answers signed with a key added to the secret since we read it verify too.
    return wechatpay_v3.Client(merchant, base, timeout, PlatformKeys(merchant.mchid, merchant.platform_keys))
