"""Certificate mode: the scheduled WeChatPayCertificatesFunction downloads the platform
certificates (GET /v3/certificates on the simulator, answer verified, each certificate
decrypted with the APIv3 key and checked) and adds new ones to the secret, so a notification
signed with a rotated certificate verifies; nothing is written when nothing is new; merchants
holding only WeChat Pay public keys are not asked; the first download is checked with the
certificate it carries."""
import base64
import datetime as dt
import json
import pathlib

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from hospital.adapters import wechatpay_v3
from hospital.payments import merchants, platform_certificates
from infra import devenv
from tests.conftest import wait_for
from tests.payments.support import (
    merchant_entry,
    order_row,
    patient_pays,
    put_wechatpay_secret,
    wait_status,
    wechatpay_secret,
    wechatpay_secret_restored,
)
from tests.payments.test_notification_verification import paying_order

ROOT = pathlib.Path(__file__).resolve().parents[2]
V3 = devenv.DEV_V3_MCHID
CERTIFICATE_SERIAL = next(iter(devenv.wechatpay_dev_keys()["platform_certificates"]))
PUBLIC_KEY_ID = next(s for s in devenv.wechatpay_dev_keys()["platform"] if s.startswith("PUB_KEY_ID_"))
CERTIFICATES_PATH = "/v3/certificates"


@pytest.fixture
def fresh_container(platform):
    from hospital import config

    config.clear_caches()
    merchants.clear_cache()
    sim = platform.wechatpay.merchants[V3]
    listed, signing, keys = dict(sim.certificates), sim.signing, dict(sim.platform_keys)
    with wechatpay_secret_restored():
        try:
            yield
        finally:  # the simulator as it was, for the other tests of the session
            sim.certificates, sim.signing, sim.platform_keys = listed, signing, keys
            sim.standby_keys.clear()


def run_function(functions) -> dict:
    event = json.loads((ROOT / "events/wechatpay_certificates/twice_a_day.json").read_text())
    invocation = functions.invoke("WeChatPayCertificatesFunction", event)
    assert invocation.ok, invocation.error_payload
    return invocation.result


def secret_version() -> str:
    from hospital import settings
    from hospital.aws import client

    return client("secretsmanager").get_secret_value(SecretId=settings.WECHATPAY_SECRET_ARN.get())["VersionId"]


def test_a_rotated_certificate_is_added_by_the_function_and_then_verifies_notifications(
        db, platform, functions, fresh_container):
    held = merchant_entry(wechatpay_secret(), V3)["platform_keys"]
    merchants.v3_keys()  # the callbacks' container has read the secret before the rotation
    new_serial = platform.wechatpay.rotate_platform_certificate(V3)

    assert run_function(functions) == {"asked": [V3], "added": {V3: [new_serial]}, "failed": []}
    keys = merchant_entry(wechatpay_secret(), V3)["platform_keys"]
    assert set(keys) == set(held) | {new_serial}
    assert all(keys[s] == held[s] for s in held)
    assert wechatpay_v3.certificate_serial(wechatpay_v3.load_certificate(keys[new_serial])) == new_serial

    # Already held: asked again, nothing written.
    version = secret_version()
    assert run_function(functions) == {"asked": [V3], "added": {}, "failed": []}
    assert secret_version() == version

    # WeChat starts signing with it: the notification verifies (the secret is read again).
    platform.wechatpay.activate_platform_certificate(V3, new_serial)
    platform.wechatpay.merchants[V3].signing = new_serial
    order_id = paying_order(platform, functions)
    patient_pays(platform, order_id)
    wait_status(order_id, "paid")
    delivered = wait_for(lambda: [n for n in platform.wechatpay.notifications if n["key"] == order_id])
    assert delivered[0]["status"] == 204
    assert order_row(order_id).paid_fen == 2500


def test_the_first_download_is_checked_with_the_certificate_it_carries(platform, fresh_container):
    document = wechatpay_secret()
    merchant_entry(document, V3)["platform_keys"] = {}
    put_wechatpay_secret(document)
    platform.wechatpay.merchants[V3].signing = CERTIFICATE_SERIAL
    assert platform_certificates.refresh()["added"] == {V3: [CERTIFICATE_SERIAL]}
    pem = merchant_entry(wechatpay_secret(), V3)["platform_keys"][CERTIFICATE_SERIAL]
    assert wechatpay_v3.certificate_serial(wechatpay_v3.load_certificate(pem)) == CERTIFICATE_SERIAL


def test_a_first_download_signed_by_a_key_it_does_not_carry_writes_nothing(platform, fresh_container):
    document = wechatpay_secret()
    merchant_entry(document, V3)["platform_keys"] = {}
    put_wechatpay_secret(document)
    platform.wechatpay.merchants[V3].signing = PUBLIC_KEY_ID  # not among the certificates listed
    version = secret_version()
    assert platform_certificates.refresh() == {"asked": [V3], "added": {}, "failed": [V3]}
    assert secret_version() == version


def test_certificates_that_do_not_decrypt_with_our_apiv3_key_are_refused(platform, fresh_container):
    sim = platform.wechatpay.merchants[V3]
    platform.wechatpay.rotate_platform_certificate(V3)
    original, sim.apiv3_key = sim.apiv3_key, "0" * 32  # encrypted with a key that is not ours
    try:
        version = secret_version()
        assert platform_certificates.refresh() == {"asked": [V3], "added": {}, "failed": [V3]}
        assert secret_version() == version
    finally:
        sim.apiv3_key = original


def test_merchants_holding_only_public_keys_are_not_asked(platform, fresh_container):
    document = wechatpay_secret()
    keys = merchant_entry(document, V3)["platform_keys"]
    merchant_entry(document, V3)["platform_keys"] = {PUBLIC_KEY_ID: keys[PUBLIC_KEY_ID]}
    put_wechatpay_secret(document)
    platform.wechatpay.rotate_platform_certificate(V3)
    asked_before, version = platform.wechatpay.stats().get(CERTIFICATES_PATH, 0), secret_version()
    assert platform_certificates.refresh() == {"asked": [], "added": {}, "failed": []}
    assert platform.wechatpay.stats().get(CERTIFICATES_PATH, 0) == asked_before
    assert secret_version() == version


def test_a_listed_certificate_must_carry_the_serial_it_is_listed_under(platform):
    from infra.simulators import wechatpay as simulator

    key = devenv.wechatpay_dev_keys()["platform"][CERTIFICATE_SERIAL]
    # A genuine certificate of another serial, listed under the dev certificate's serial.
    pem = simulator.platform_certificate(key, simulator.new_certificate_serial_number()).public_bytes(Encoding.PEM)
    apiv3_key, nonce = b"k" * 32, "0123456789ab"
    ciphertext = simulator._aes_gcm_encrypt(apiv3_key, nonce.encode(), b"certificate", pem)
    item = {"serial_no": CERTIFICATE_SERIAL, "encrypt_certificate": {
        "algorithm": "AEAD_AES_256_GCM", "nonce": nonce, "associated_data": "certificate",
        "ciphertext": base64.b64encode(ciphertext).decode()}}
    with pytest.raises(wechatpay_v3.VerificationFailed, match="is not the listed serial_no"):
        wechatpay_v3.decrypt_certificate(item, apiv3_key)
    with pytest.raises(wechatpay_v3.VerificationFailed, match="does not decrypt"):
        wechatpay_v3.decrypt_certificate(item, b"x" * 32)


def _certificate(serial: str, days: float) -> wechatpay_v3.PlatformCertificate:
    now = dt.datetime.now(dt.UTC)
    return wechatpay_v3.PlatformCertificate(serial, "", None, now - dt.timedelta(days=1), now + dt.timedelta(days=days))


def test_which_certificates_are_added():
    now = dt.datetime.now(dt.UTC)
    held = ["0aa01", "PUB_KEY_ID_01"]
    downloaded = [_certificate("AA01", 300), _certificate("BB02", 1800), _certificate("CC03", -1),
                  _certificate("BB02", 1800)]
    assert [c.serial_no for c in platform_certificates.to_add(held, downloaded, now)] == ["BB02"]
