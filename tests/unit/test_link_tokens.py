"""Link tokens (OI3, PE2, OH3): what leaves the backend instead of a patient's identity. Each
way a token must fail does, and the claims never appear in the token's text."""
import base64
import json
import os

import pytest

from hospital.links import link_tokens as L

KEY, OTHER_KEY = os.urandom(32), os.urandom(32)
NOW = 1_780_000_000
STUDY = "1.2.840.113619.2.55.3.604688119.969.1268071029.320"


def token(**changes) -> str:
    args = {"key": KEY, "kid": "k1", "platform": "imaging", "subject": "HIS0001234", "resource": STUDY,
            "lifetime": 300, "now": NOW, **changes}
    return L.seal(args.pop("key"), args.pop("kid"), args.pop("platform"), args.pop("subject"),
                  args.pop("resource"), **args)


def reason(call) -> str:
    with pytest.raises(L.InvalidLinkToken) as refused:
        call()
    return refused.value.reason


def test_a_token_opens_for_its_platform_and_resource_within_its_minutes_OI3():
    claims = L.unseal({"k1": KEY}, "imaging", token(), STUDY, now=NOW + 299)
    assert (claims["sub"], claims["res"], claims["exp"] - claims["iat"]) == ("HIS0001234", STUDY, 300)


def test_nothing_of_the_patient_or_the_study_is_readable_in_the_token_OI3():
    text = token()
    assert "HIS0001234" not in text and STUDY not in text
    body = base64.urlsafe_b64decode(text.split(".")[2] + "==")
    assert b"HIS0001234" not in body and STUDY.encode() not in body


def test_an_expired_token_fails_the_second_it_expires_and_after_OI3():
    assert reason(lambda: L.unseal({"k1": KEY}, "imaging", token(), STUDY, now=NOW + 300)) == "expired"
    assert reason(lambda: L.unseal({"k1": KEY}, "imaging", token(), STUDY, now=NOW + 86400)) == "expired"


@pytest.mark.parametrize("position", [0, 5, 20, -2])
def test_one_altered_character_fails_OI3(position):
    text = token()
    prefix, body = text.rsplit(".", 1)
    chars = list(body)
    chars[position] = "A" if chars[position] != "A" else "B"
    assert reason(lambda: L.unseal({"k1": KEY}, "imaging", f"{prefix}.{''.join(chars)}", STUDY, now=NOW)) in \
        ("tampered",)


def test_an_unknown_key_another_key_another_platform_or_another_study_fails_OI3():
    assert reason(lambda: L.unseal({"k2": KEY}, "imaging", token(), STUDY, now=NOW)) == "unknown_key"
    assert reason(lambda: L.unseal({"k1": OTHER_KEY}, "imaging", token(), STUDY, now=NOW)) == "tampered"
    assert reason(lambda: L.unseal({"k1": KEY}, "exam", token(), STUDY, now=NOW)) == "tampered"
    assert reason(lambda: L.unseal({"k1": KEY}, "imaging", token(), "1.2.3", now=NOW)) == "wrong_resource"
    assert reason(lambda: L.unseal({"k1": KEY}, "imaging", "v2.k1.abc", STUDY, now=NOW)) == "tampered"
    assert reason(lambda: L.unseal({"k1": KEY}, "imaging", "", STUDY, now=NOW)) == "tampered"


def test_a_token_from_the_future_fails_OI3():
    assert reason(lambda: L.unseal({"k1": KEY}, "imaging", token(now=NOW + 31), STUDY, now=NOW)) == "tampered"


def test_the_documented_plaintext_is_what_a_platform_reads_OI3():
    """A platform decrypting by the README's recipe with its own AES-GCM gets exactly this JSON."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    raw = base64.urlsafe_b64decode(token().split(".")[2] + "==")
    claims = json.loads(AESGCM(KEY).decrypt(raw[:12], raw[12:], b"hospital-link/v1/imaging"))
    assert set(claims) == {"v", "aud", "sub", "res", "iat", "exp", "jti"} and claims["v"] == 1


def test_bad_keys_and_lifetimes_are_refused_when_sealing():
    for changes in ({"key": b"short"}, {"kid": "no spaces"}, {"lifetime": 0}, {"lifetime": 601}):
        with pytest.raises(ValueError):
            token(**changes)
