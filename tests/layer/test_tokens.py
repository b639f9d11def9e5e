"""The backend's own session tokens (ER1, NF1)."""
import datetime as dt

import jwt
import pytest

from hospital import config, settings
from hospital.auth.tokens import Principal, issue_access_token, verify_access_token
from hospital.errors import Unauthenticated

ALICE = Principal(user_id=42, roles=frozenset({"patient"}), app_id="wx-rescue-mini-program")


def test_issued_token_verifies_to_the_same_principal_ER1(platform):
    assert verify_access_token(issue_access_token(ALICE)) == ALICE


def test_expired_token_is_refused_with_its_own_code_ER1(platform):
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with pytest.raises(Unauthenticated) as err:
        verify_access_token(issue_access_token(ALICE, now=old))
    assert err.value.code == "session_expired"


@pytest.mark.parametrize("forge", ["other_key", "alg_none", "tampered_roles"])
def test_forged_tokens_are_refused_NF1(platform, forge):
    good = issue_access_token(ALICE)
    claims = jwt.decode(good, options={"verify_signature": False})
    if forge == "other_key":
        token = jwt.encode(claims, "not-the-key-" * 4, algorithm="HS256")
    elif forge == "alg_none":
        token = jwt.encode(claims, None, algorithm="none")
    else:
        header, _payload, sig = good.split(".")
        claims["roles"] = ["super_admin"]
        forged_payload = jwt.encode(claims, "k" * 64, algorithm="HS256").split(".")[1]
        token = ".".join([header, forged_payload, sig])
    with pytest.raises(Unauthenticated):
        verify_access_token(token)


def test_signing_key_comes_from_secrets_manager_not_the_environment(platform):
    assert len(config.secret_value(settings.APP_SECRET_ARN, "session_signing_key")) >= 32
