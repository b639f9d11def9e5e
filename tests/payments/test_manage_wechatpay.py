"""`python -m infra.manage wechatpay ...` against the platform's Secrets Manager (the embedded
moto, as a real account would be): merchants added or replaced from PEM files, platform
certificates and public keys imported, everything listed with keys masked, and bad entries
refused by validate and by add-merchant before anything is written."""
import uuid

import pytest

from hospital.adapters import wechatpay_v3
from hospital.payments import merchants
from infra import devenv, manage
from tests.payments.support import (
    certificate_pem,
    merchant_entry,
    pem_of,
    put_wechatpay_secret,
    rsa_key,
    wechatpay_secret,
    wechatpay_secret_restored,
)

MCHID = "1900000301"


@pytest.fixture
def secret(platform):
    with wechatpay_secret_restored() as arn:
        yield arn


@pytest.fixture
def files(tmp_path):
    """A merchant's PEM files and APIv3 key, as an operator downloads them."""
    key = rsa_key()
    paths = {"key": tmp_path / "apiclient_key.pem", "cert": tmp_path / "apiclient_cert.pem",
             "apiv3": tmp_path / "apiv3.key", "platform_cert": tmp_path / "wechatpay_cert.pem",
             "platform_key": tmp_path / "pub_key.pem", "other_key": tmp_path / "other_key.pem"}
    paths["key"].write_text(pem_of(key, private=True))
    paths["cert"].write_text(certificate_pem(key))
    paths["apiv3"].write_text(uuid.uuid4().hex + "\n")  # 32 characters, and the editor's newline
    paths["platform_cert"].write_text(certificate_pem(rsa_key()))
    paths["platform_key"].write_text(pem_of(rsa_key()))
    paths["other_key"].write_text(pem_of(rsa_key(), private=True))
    return paths


def wechatpay(*args) -> int:
    return manage.main(["wechatpay", *map(str, args)])


def serial_of(path) -> str:
    return wechatpay_v3.certificate_serial(wechatpay_v3.load_certificate(path.read_text()))


def add_v3(files, *extra, appids=("wx-one", "wx-two")):
    return wechatpay("add-merchant", "--mchid", MCHID, *[a for appid in appids for a in ("--appid", appid)],
                     "--private-key", files["key"], "--certificate", files["cert"],
                     "--apiv3-key-file", files["apiv3"], *extra)


def test_a_merchant_is_added_from_pem_files_and_its_keys_imported(secret, files, capsys):
    assert add_v3(files) == 0
    entry = merchant_entry(wechatpay_secret(), MCHID)
    assert entry["serial_no"] == serial_of(files["cert"])  # read from the certificate
    assert (entry["api"], entry["appids"]) == ("v3", ["wx-one", "wx-two"])
    assert entry["private_key"] == files["key"].read_text()
    assert entry["certificate"] == files["cert"].read_text()
    assert entry["apiv3_key"] == files["apiv3"].read_text().strip()

    assert wechatpay("import-platform-cert", MCHID, files["platform_cert"]) == 0
    assert wechatpay("import-platform-key", MCHID, files["platform_key"], "--key-id",
                     "PUB_KEY_ID_0119000030120261126000000000001") == 0
    keys = merchant_entry(wechatpay_secret(), MCHID)["platform_keys"]
    assert keys == {serial_of(files["platform_cert"]): files["platform_cert"].read_text(),
                    "PUB_KEY_ID_0119000030120261126000000000001": files["platform_key"].read_text()}

    # The backend reads it as written: the merchant, its serial, its platform keys by any case.
    merchants.clear_cache()
    from hospital import config

    config.clear_caches()
    merchant = merchants.by_mchid(MCHID)
    assert merchant.serial_no == serial_of(files["cert"])
    assert merchant.appids == ("wx-one", "wx-two")
    assert merchants.v3_merchant_of_serial(serial_of(files["platform_cert"]).lower()) == merchant
    assert merchants.v3_keys().get(serial_of(files["platform_cert"]).lower()) is not None

    # Replacing the merchant (another app id) keeps the platform keys imported for it.
    assert add_v3(files, appids=("wx-three",)) == 0
    entries = [e for e in wechatpay_secret()["merchants"] if e["mchid"] == MCHID]
    assert len(entries) == 1
    assert entries[0]["appids"] == ["wx-three"]
    assert entries[0]["platform_keys"] == keys
    assert "replaced" in capsys.readouterr().out


def test_list_shows_merchants_and_serials_and_never_a_key(secret, files, capsys):
    assert add_v3(files, "--secret-id", secret) == 0
    assert wechatpay("import-platform-cert", MCHID, files["platform_cert"], "--secret-id", secret) == 0
    capsys.readouterr()
    assert wechatpay("list") == 0
    out = capsys.readouterr().out
    document = wechatpay_secret()
    for mchid in (devenv.DEV_V3_MCHID, devenv.DEV_V2_MCHID, MCHID):
        assert mchid in out
    assert serial_of(files["cert"]) in out
    assert serial_of(files["platform_cert"]) in out
    assert "PUB_KEY_ID_0119000010920261126000000000001" in out
    for entry in document["merchants"]:
        for secret_field in ("apiv3_key", "api_key"):
            if entry.get(secret_field):
                assert entry[secret_field] not in out
        if entry.get("private_key"):
            body = entry["private_key"].splitlines()[1:-1]
            assert not any(line in out for line in body)


def test_validate_passes_the_dev_secret_and_names_each_problem_of_a_bad_one(secret, files, capsys):
    assert wechatpay("validate") == 0
    document = wechatpay_secret()
    v3 = merchant_entry(document, devenv.DEV_V3_MCHID)
    mismatched = dict(v3, mchid="1900000302", certificate=files["cert"].read_text())  # not the key's certificate
    mismatched.pop("serial_no")
    document["merchants"] += [
        dict(v3, mchid="1900000303", apiv3_key=v3["apiv3_key"][:-1]),
        mismatched,
        {"mchid": "1900000304", "api": "v2", "appids": [], "api_key": "short"},
        dict(v3, mchid="1900000305", private_key="-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
    ]
    put_wechatpay_secret(document)
    capsys.readouterr()
    assert wechatpay("validate") == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[:5] == ["1900000303: apiv3_key is 31 bytes, not 32",
                         "1900000302: private_key does not belong to the certificate",
                         "1900000304: no app ids",
                         "1900000304: api_key is 5 characters, not 32",
                         "1900000305: private_key does not parse"]
    # The copies also hold the original's platform keys: a serial must name one merchant.
    sharing = f"{devenv.DEV_V3_MCHID}, 1900000303, 1900000302, 1900000305"
    assert lines[5:] == [f"platform key {serial.upper()} is held by {sharing}: each merchant needs its own"
                         for serial in v3["platform_keys"]]


def test_add_merchant_refuses_a_key_that_is_not_the_certificates_and_writes_nothing(secret, files, capsys):
    before = wechatpay_secret()
    assert wechatpay("add-merchant", "--mchid", MCHID, "--appid", "wx-one", "--private-key", files["other_key"],
                     "--certificate", files["cert"], "--apiv3-key-file", files["apiv3"]) == 2
    assert "private_key does not belong to the certificate" in capsys.readouterr().err
    short = files["apiv3"].with_name("short.key")
    short.write_text("x" * 31)
    assert wechatpay("add-merchant", "--mchid", MCHID, "--appid", "wx-one", "--private-key", files["key"],
                     "--certificate", files["cert"], "--apiv3-key-file", short) == 2
    assert wechatpay("import-platform-cert", "1900000999", files["platform_cert"]) == 2  # no such merchant
    assert wechatpay("import-platform-key", devenv.DEV_V3_MCHID, files["platform_key"], "--key-id", "ABC") == 2
    assert wechatpay_secret() == before


def test_a_v2_merchant_is_added_with_its_api_key(secret, tmp_path):
    api_key = tmp_path / "api.key"
    api_key.write_text("k" * 32)
    assert wechatpay("add-merchant", "--mchid", "1900000310", "--api", "v2", "--appid", "wx-one",
                     "--api-key-file", api_key, "--sign-type", "HMAC-SHA256") == 0
    assert merchant_entry(wechatpay_secret(), "1900000310") == {
        "mchid": "1900000310", "api": "v2", "appids": ["wx-one"], "api_key": "k" * 32, "sign_type": "HMAC-SHA256"}
    assert wechatpay("validate") == 0
