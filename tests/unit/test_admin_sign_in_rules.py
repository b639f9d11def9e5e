"""Back-office sign-in rules (NF1: identity authentication, 等保 level 3), without a database:
the password policy, usernames, TOTP codes against RFC 6238's test vectors, our window of one
step either side, and no step's code accepted twice."""
from __future__ import annotations

import base64

import pytest

from hospital.auth import password_rules as P
from hospital.auth import totp, totp_rules

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()  # RFC 6238 appendix B, SHA-1


# ---- the password policy ------------------------------------------------------------------------

@pytest.mark.parametrize("password", ["Abcdefgh1234", "abcdefgh12!#", "ABCDEFGH12!#", "Abcdefghijk!",
                                      "长城-Gate-2026x"])
def test_a_password_of_twelve_with_three_kinds_is_accepted(password):
    assert P.password_refusal(password, "wang.li") is None


@pytest.mark.parametrize("password,why", [
    ("Abcdefgh123", "at least 12"),             # 11 characters
    ("abcdefghijkl1", "three"),                 # two kinds
    ("ABCDEFGHIJKL!", "three"),
    ("123456789012!", "three"),
    ("Wang.Li-2026-ok", "username"),            # contains the username, whatever its case
    ("x" * 1025, "at most"),
])
def test_a_weak_password_is_refused_with_the_reason(password, why):
    assert why in (P.password_refusal(password, "wang.li") or "")


def test_the_kinds_of_a_password():
    assert P.kinds("aB3!") == {"lower", "upper", "digit", "symbol"}
    assert P.kinds("ab cd") == {"lower", "symbol"}  # a space is a symbol


@pytest.mark.parametrize("raw,stored", [("Wang.Li", "wang.li"), ("  ops_1 ", "ops_1")])
def test_usernames_are_stored_lowercased(raw, stored):
    assert P.normal_username(raw) == stored
    assert P.username_refusal(stored) is None


@pytest.mark.parametrize("username", ["ab", "a" * 65, "wang li", "王力", "x@y", ""])
def test_a_username_outside_the_rules_is_refused(username):
    assert P.username_refusal(P.normal_username(username)) is not None


# ---- TOTP: RFC 6238 vectors, our window, no replay --------------------------------------------------

@pytest.mark.parametrize("unix_time,code", [
    (59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
    (1234567890, "89005924"), (2000000000, "69279037"), (20000000000, "65353130"),
])
def test_rfc_6238_test_vectors_sha1(unix_time, code):
    assert totp.code_at(RFC_SECRET, totp_rules.step_at(unix_time), digits=8) == code


def test_our_codes_are_the_last_six_digits_of_the_rfc_ones():
    # Dynamic truncation is taken modulo 10^digits: the 6-digit code is the 8-digit one's tail.
    assert totp.code_at(RFC_SECRET, totp_rules.step_at(59)) == "287082"


def test_steps_are_thirty_seconds():
    assert [totp_rules.step_at(t) for t in (0, 29.9, 30, 59, 60)] == [0, 0, 1, 1, 2]


def test_a_code_of_the_step_before_or_after_is_accepted_not_two_away():
    now = 1_800_000_015  # step 60_000_000
    step = totp_rules.step_at(now)
    for offset, accepted in ((-2, False), (-1, True), (0, True), (1, True), (2, False)):
        code = totp.code_at(RFC_SECRET, step + offset)
        assert (totp.matching_step(RFC_SECRET, code, now, None) == step + offset) is accepted, offset


def test_a_code_replayed_in_the_same_step_is_refused():
    now = 1_800_000_015
    code = totp.code_at(RFC_SECRET, totp_rules.step_at(now))
    used = totp.matching_step(RFC_SECRET, code, now, None)
    assert used == totp_rules.step_at(now)
    assert totp.matching_step(RFC_SECRET, code, now, used) is None
    assert totp.matching_step(RFC_SECRET, code, now + 10, used) is None
    # The next step's code is still good, and an older one is not.
    assert totp.matching_step(RFC_SECRET, totp.code_at(RFC_SECRET, used + 1), now + 30, used) == used + 1
    assert totp.matching_step(RFC_SECRET, totp.code_at(RFC_SECRET, used - 1), now, used) is None


@pytest.mark.parametrize("code", ["12345", "1234567", "12345a", "", "１２３４５６"])
def test_a_code_of_the_wrong_shape_matches_nothing(code):
    assert totp.matching_step(RFC_SECRET, code, 59, None) is None


def test_accepted_step_takes_the_latest_unused():
    assert totp_rules.accepted_step([11, 10], None) == 11
    assert totp_rules.accepted_step([11, 10], 10) == 11
    assert totp_rules.accepted_step([10], 10) is None
    assert totp_rules.candidate_steps(10) == [11, 10, 9]


def test_the_otpauth_uri_names_the_issuer_and_the_account():
    uri = totp.otpauth_uri(RFC_SECRET, "wang.li")
    assert uri.startswith("otpauth://totp/Hospital%20back%20office:wang.li?")
    assert f"secret={RFC_SECRET}" in uri and "issuer=Hospital%20back%20office" in uri


def test_new_secrets_are_160_bits_of_base32():
    secret = totp.new_secret()
    assert len(base64.b32decode(secret)) == 20


def test_recovery_codes_are_ten_distinct_codes_of_twelve_characters():
    codes = totp.new_recovery_codes()
    assert len(codes) == len(set(codes)) == 10
    assert all(len(totp.normal_recovery_code(code)) == 12 for code in codes)
    assert totp.normal_recovery_code(" ABCD-efgh jkmn ") == "abcdefghjkmn"
