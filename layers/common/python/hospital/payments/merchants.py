"""WeChat Pay merchants, from the WeChatPaySecret (Secrets Manager):

    {"merchants": [
       {"mchid": "1900000109", "api": "v3", "appids": ["wx..."], "serial_no": "...",
        "private_key": "-----BEGIN PRIVATE KEY-----...", "apiv3_key": "<32 chars>",
        "platform_keys": {"<certificate serial>": "<PEM>", "PUB_KEY_ID_...": "<PEM>"}},
       {"mchid": "1900000110", "api": "v2", "appids": ["wx..."], "api_key": "<32 chars>",
        "sign_type": "HMAC-SHA256", "client_cert": "<PEM>", "client_key": "<PEM>"}]}

(v2 refunds need the merchant's API client certificate; without it they are refused.)

New orders go to the merchant named by WECHATPAY_MCHID; an order keeps its merchant, so a
merchant can move from v2 to v3 without touching orders already open. During a v3 key
switch-over the secret holds both platform keys, and each notification names its own.
"""
from __future__ import annotations

import json
import threading

from hospital import config
from hospital.adapters import wechatpay_v2, wechatpay_v3

_lock = threading.Lock()
_cache: tuple[str, dict] | None = None  # (secret text, merchants by mchid)


def _merchants() -> dict:
    global _cache
    raw = config.secret("WECHATPAY_SECRET_ARN")
    text = json.dumps(raw, sort_keys=True)
    with _lock:
        if _cache is not None and _cache[0] == text:
            return _cache[1]
    parsed = {}
    for entry in raw.get("merchants") or []:
        appids = tuple(entry.get("appids") or ())
        if entry.get("api") == "v2":
            parsed[entry["mchid"]] = wechatpay_v2.MerchantV2(entry["mchid"], appids, entry["api_key"],
                                                              entry.get("sign_type", "MD5"), entry.get("client_cert"),
                                                              entry.get("client_key"))
        else:
            parsed[entry["mchid"]] = wechatpay_v3.MerchantV3(
                entry["mchid"], appids, entry["serial_no"], wechatpay_v3.load_private_key(entry["private_key"]),
                entry["apiv3_key"].encode(),
                {serial: wechatpay_v3.load_public_key(pem) for serial, pem in (entry.get("platform_keys") or {}).items()})
    with _lock:
        _cache = (text, parsed)
    return parsed


def api_version(merchant) -> str:
    return "v2" if isinstance(merchant, wechatpay_v2.MerchantV2) else "v3"


def for_new_orders():
    return by_mchid(config.env("WECHATPAY_MCHID"))


def by_mchid(mchid: str):
    merchant = _merchants().get(mchid)
    if merchant is None:
        raise config.ConfigError(f"merchant {mchid} is not in the WeChat Pay secret")
    return merchant


def v3_merchants() -> list:
    return [m for m in _merchants().values() if isinstance(m, wechatpay_v3.MerchantV3)]


def v2_merchants() -> list:
    return [m for m in _merchants().values() if isinstance(m, wechatpay_v2.MerchantV2)]


def v3_keys() -> dict:
    """Every platform key we hold, by serial or public-key id, across v3 merchants."""
    return {serial: key for m in v3_merchants() for serial, key in m.platform_keys.items()}


def v3_merchant_of_serial(serial: str):
    for merchant in v3_merchants():
        if serial in merchant.platform_keys:
            return merchant
    return None


def client(merchant, appid: str | None = None):
    base = config.env("WECHATPAY_API_BASE")
    timeout = float(config.env_int("WECHATPAY_TIMEOUT_SECONDS", 5))
    if isinstance(merchant, wechatpay_v2.MerchantV2):
        return wechatpay_v2.Client(merchant, appid or merchant.appids[0], base, timeout)
    return wechatpay_v3.Client(merchant, base, timeout)
