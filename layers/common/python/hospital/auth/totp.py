"""The second factor: TOTP secrets and codes (RFC 6238, through pyotp) and recovery codes.

The window and replay rules are hospital.auth.totp_rules; this module computes the codes.
Recovery codes are 12 random characters (about 60 bits) shown once, kept as keyed hashes
(hospital.crypto.lookup_hash), so a copy of the table alone cannot be searched for them.
"""
from __future__ import annotations

import hmac
import secrets

from hospital.auth import totp_rules

ISSUER = "Hospital back office"
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud or typed from paper
_RECOVERY_GROUPS, _RECOVERY_GROUP = 3, 4


def new_secret() -> str:
    """A base32 secret of 160 bits (RFC 4226's recommended length)."""
    import pyotp

    return pyotp.random_base32(32)


def otpauth_uri(secret: str, username: str) -> str:
    """The URI an authenticator app reads from a QR code."""
    import pyotp

    return pyotp.TOTP(secret, digits=totp_rules.DIGITS, interval=totp_rules.PERIOD).provisioning_uri(
        name=username, issuer_name=ISSUER)


def code_at(secret: str, step: int, digits: int = totp_rules.DIGITS, digest: str = "sha1") -> str:
    """The code of one time step."""
    import hashlib

    import pyotp

    return pyotp.TOTP(secret, digits=digits, digest=getattr(hashlib, digest)).generate_otp(step)


def matching_step(secret: str, code: str, unix_now: float, last_used_step: int | None) -> int | None:
    """The step a code is accepted for now, or None (wrong, malformed, too old, or used)."""
    code = code.strip()
    if not totp_rules.is_code_shaped(code):
        return None
    steps = totp_rules.candidate_steps(totp_rules.step_at(unix_now))
    # Every candidate is computed and compared in constant time, whichever matches.
    matching = [step for step in steps if hmac.compare_digest(code_at(secret, step), code)]
    return totp_rules.accepted_step(matching, last_used_step)


def new_recovery_codes() -> list[str]:
    return ["-".join("".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_GROUP))
                     for _ in range(_RECOVERY_GROUPS)) for _ in range(RECOVERY_CODES)]


def normal_recovery_code(raw: str) -> str:
    """As typed, with or without the dashes and spaces, in either case."""
    return "".join(char for char in raw.lower() if char.isalnum())


def recovery_code_hash(raw: str) -> str:
    from hospital.crypto import lookup_hash

    return lookup_hash(normal_recovery_code(raw), "admin_recovery_code")
