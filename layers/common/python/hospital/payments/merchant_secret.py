"""The WeChatPaySecret as a document to change (format in hospital.payments.merchants): read
and written straight through Secrets Manager (never the per-container cache), and the edits
made to it, as pure functions on the document.

Writers: operators (`python -m infra.manage wechatpay ...`) and the platform-certificate
refresh. Each reads the current value just before it writes, so it only adds to what is there.
"""
from __future__ import annotations

import copy
import json

from hospital import config, settings


def secret_id(given: str | None = None) -> str:
    """The secret's ARN or name: as given, else WECHATPAY_SECRET_ARN."""
    return given or settings.WECHATPAY_SECRET_ARN.get()


def load(secret: str) -> dict:
    from hospital.aws import client

    text = client("secretsmanager").get_secret_value(SecretId=secret)["SecretString"]
    try:
        document = json.loads(text or "{}")
    except ValueError:
        raise config.ConfigError("the WeChat Pay secret is not JSON") from None
    if not isinstance(document, dict):
        raise config.ConfigError("the WeChat Pay secret must be a JSON object")
    if not isinstance(document.setdefault("merchants", []), list):
        raise config.ConfigError('the WeChat Pay secret\'s "merchants" must be a list')
    return document


def save(secret: str, document: dict) -> None:
    from hospital.aws import client

    client("secretsmanager").put_secret_value(SecretId=secret,
                                              SecretString=json.dumps(document, ensure_ascii=False))


def entry_of(document: dict, mchid: str) -> dict | None:
    return next((e for e in document.get("merchants") or [] if isinstance(e, dict) and e.get("mchid") == mchid),
                None)


def with_merchant(document: dict, entry: dict) -> dict:
    """The document with `entry` in place of the merchant's entry (appended if new)."""
    changed = copy.deepcopy(document)
    merchants = changed.setdefault("merchants", [])
    for position, existing in enumerate(merchants):
        if isinstance(existing, dict) and existing.get("mchid") == entry["mchid"]:
            merchants[position] = entry
            return changed
    merchants.append(entry)
    return changed


def with_platform_keys(document: dict, mchid: str, keys: dict[str, str]) -> dict:
    """The document with these platform keys (serial: PEM) added to, or replacing those of the
    same serial (in any case) in, the merchant's platform_keys."""
    changed = copy.deepcopy(document)
    entry = entry_of(changed, mchid)
    if entry is None:
        raise KeyError(mchid)
    listed = entry.get("platform_keys")
    held = listed if isinstance(listed, dict) else {}
    from hospital.adapters.wechatpay_v3 import normal_serial

    for serial, pem in keys.items():
        for name in [n for n in held if normal_serial(n) == normal_serial(serial)]:
            del held[name]
        held[serial] = pem
    entry["platform_keys"] = held
    return changed


# ---- what an operator should fix ----------------------------------------------------------

V2_API_KEY_LENGTH = 32
V2_SIGN_TYPES = ("MD5", "HMAC-SHA256")


def problems(document: dict) -> list[str]:
    """One line per problem of the document, each naming its merchant; never key material."""
    found, seen = [], set()
    entries = document.get("merchants")
    if not isinstance(entries, list):
        return ['"merchants" must be a list']
    holders: dict[str, list[str]] = {}
    for position, entry in enumerate(entries):
        mchid = entry.get("mchid") if isinstance(entry, dict) else None
        name = str(mchid) if mchid else f"entry #{position + 1}"
        if isinstance(mchid, str) and mchid in seen:
            found.append(f"{name}: listed twice (the last entry wins)")
        seen.add(str(mchid))
        found += [f"{name}: {problem}" for problem in entry_problems(entry)]
        for serial in _platform_serials(entry):
            holders.setdefault(serial, []).append(name)
    # A notification names only its serial, and the merchant holding it is taken as the signer:
    # a serial two merchants hold would credit one merchant's news to the other.
    found += [f"platform key {serial[:64]} is held by {', '.join(names)}: each merchant needs its own"
              for serial, names in holders.items() if len(names) > 1]
    return found


def _platform_serials(entry) -> list[str]:
    from hospital.adapters import wechatpay_v3

    keys = entry.get("platform_keys") if isinstance(entry, dict) else None
    return [wechatpay_v3.normal_serial(str(serial)) for serial in keys] if isinstance(keys, dict) else []


def entry_problems(entry) -> list[str]:
    """What is wrong with one merchant entry (empty: it can be used as it is)."""
    from hospital.payments import merchants

    left_out: list[str] = []
    try:
        merchant = merchants.parse_entry(entry, lambda serial, reason: left_out.append(
            f"platform key {serial[:64]}: {reason}"))
    except merchants.BadEntry as exc:
        return [str(exc)]
    found = list(left_out)
    if not merchant.appids:
        found.append("no app ids")
    if merchants.api_version(merchant) == "v2":
        if len(merchant.api_key) != V2_API_KEY_LENGTH:
            found.append(f"api_key is {len(merchant.api_key)} characters, not {V2_API_KEY_LENGTH}")
        if merchant.sign_type not in V2_SIGN_TYPES:
            found.append(f"sign_type must be one of {', '.join(V2_SIGN_TYPES)}")
        if bool(merchant.client_cert_pem) != bool(merchant.client_key_pem):
            found.append("client_cert and client_key go together")
        return found
    if not merchant.platform_keys:
        found.append("no platform keys: notifications cannot be verified (certificate mode downloads them)")
    return found
