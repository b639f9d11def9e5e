"""Certificate mode: WeChat Pay's platform certificates are downloaded (`GET /v3/certificates`)
and the new ones added to the merchant's platform_keys in the WeChatPaySecret. WeChat publishes
a certificate ahead of signing with it, so asking twice a day adds it well before the old one
expires; notifications signed with it then verify at once (an unknown serial has the secret
read again: hospital.payments.merchants).

Asked: v3 merchants in certificate mode (holding a certificate serial, or no platform key yet;
not merchants holding only WeChat Pay public keys). A certificate already held (by serial, in
any case) or already expired is not added, and nothing is written when nothing is new. Expired
certificates are left where they are: removing keys is an operator's decision.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from hospital.adapters import wechatpay_v3
from hospital.errors import UpstreamUnavailable
from hospital.payments import merchant_secret, merchants

log = logging.getLogger("hospital.payments")


def to_add(held: Iterable[str], downloaded: Iterable[wechatpay_v3.PlatformCertificate],
           now: dt.datetime) -> list[wechatpay_v3.PlatformCertificate]:
    """The downloaded certificates worth adding: not held, not expired, each serial once."""
    seen = {wechatpay_v3.normal_serial(serial) for serial in held}
    added = []
    for certificate in downloaded:
        serial = wechatpay_v3.normal_serial(certificate.serial_no)
        if serial in seen or certificate.not_after <= now:
            continue
        seen.add(serial)
        added.append(certificate)
    return added


def refresh(now: dt.datetime | None = None) -> dict:
    """Ask each merchant in certificate mode for its certificates; add the new ones to the
    secret in one write. Returns what was asked, added and failed (for the invocation's log)."""
    now = now or dt.datetime.now(dt.UTC)
    secret = merchant_secret.secret_id()
    found: dict[str, list[wechatpay_v3.PlatformCertificate]] = {}
    asked, failed = [], []
    for merchant in _certificate_mode_merchants(merchant_secret.load(secret)):
        asked.append(merchant.mchid)
        try:
            downloaded = merchants.client(merchant).platform_certificates()
        except (UpstreamUnavailable, wechatpay_v3.WeChatPayError) as exc:
            failed.append(merchant.mchid)
            log.error("wechatpay platform certificates not downloaded",
                      extra={"mchid": merchant.mchid, "error": type(exc).__name__})
            continue
        new = to_add(merchant.platform_keys, downloaded, now)
        if new:
            found[merchant.mchid] = new
    added = _add(secret, found, now) if found else {}
    return {"asked": asked, "added": added, "failed": failed}


def _certificate_mode_merchants(document: dict) -> list:
    chosen = []
    for entry in document.get("merchants") or []:
        try:
            merchant = merchants.parse_entry(entry)
        except merchants.BadEntry as exc:
            mchid = entry.get("mchid") if isinstance(entry, dict) else None
            log.error("wechatpay merchant left out", extra={"mchid": str(mchid)[:32], "reason": str(exc)})
            continue
        if isinstance(merchant, wechatpay_v3.MerchantV3) and merchants.in_certificate_mode(merchant):
            chosen.append(merchant)
    return chosen


def _add(secret: str, found: dict, now: dt.datetime) -> dict[str, list[str]]:
    """Write the new certificates into the secret as it is now (an operator may have changed
    it while we downloaded), once."""
    document = merchant_secret.load(secret)
    added: dict[str, list[str]] = {}
    for mchid, certificates in found.items():
        entry = merchant_secret.entry_of(document, mchid)
        if entry is None:
            continue
        try:
            held = merchants.parse_entry(entry).platform_keys
        except merchants.BadEntry:
            continue
        new = to_add(held, certificates, now)
        if new:
            document = merchant_secret.with_platform_keys(document, mchid, {c.serial_no: c.pem for c in new})
            added[mchid] = [c.serial_no for c in new]
    if added:
        merchant_secret.save(secret, document)
        for mchid, serials in added.items():
            log.info("wechatpay platform certificates added", extra={"mchid": mchid, "serials": serials})
    return added
