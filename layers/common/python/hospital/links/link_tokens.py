"""Link tokens: what a link to another platform carries instead of the patient's identity
(OI3, PE2, OH3). The format is documented for the platforms, which implement the other side:

    token = "v1." + kid + "." + base64url_nopad(nonce(12) || ciphertext || tag(16))

AES-256-GCM with a 32-byte key shared with that platform (`kid` names it; a platform may hold
several while keys rotate), associated data b"hospital-link/v1/" + platform name, plaintext the
UTF-8 JSON {"v": 1, "aud": platform, "sub": the patient's id at that platform, "res": the
resource (a StudyInstanceUID, a report id, a doctor code), "iat", "exp" (unix seconds), "jti"}.
A platform accepts a token iff the kid is known, it authenticates (one altered byte fails), aud
is its own name, iat <= now + 30, now < exp and res is the resource asked for. Encrypted, not
only signed: the subject is an identifier at the platform and stays out of URLs, logs and
browser histories.

Keys live in the LinksSecret: {"<platform>": {"current": "<kid>", "keys": {"<kid>": "<base64
of 32 bytes>"}}}; `seal` and `unseal` take keys directly (and are what tests and the
simulators' documentation follow); `issue` reads the secret.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import re
import time

VERSION = "v1"
NONCE, TAG, KEY_BYTES = 12, 16, 32
CLOCK_SKEW = 30
MAX_LIFETIME = 600
_KID = re.compile(r"[A-Za-z0-9_-]{1,16}")


class InvalidLinkToken(Exception):
    """Why a token is refused: expired, tampered, unknown_key, wrong_audience, wrong_resource."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def associated_data(platform: str) -> bytes:
    return f"hospital-link/{VERSION}/{platform}".encode("ascii")


def seal(key: bytes, kid: str, platform: str, subject: str, resource: str, *, lifetime: int,
         now: float | None = None) -> str:
    """A token for `platform` naming `subject` and `resource`, valid `lifetime` seconds."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if len(key) != KEY_BYTES or not _KID.fullmatch(kid) or not 0 < lifetime <= MAX_LIFETIME:
        raise ValueError("a link key is 32 bytes, its kid 1-16 of [A-Za-z0-9_-], a lifetime 1-600 s")
    issued = int(now if now is not None else time.time())
    claims = {"v": 1, "aud": platform, "sub": subject, "res": resource, "iat": issued, "exp": issued + lifetime,
              "jti": os.urandom(16).hex()}
    nonce = os.urandom(NONCE)
    sealed = AESGCM(key).encrypt(nonce, json.dumps(claims, separators=(",", ":")).encode(), associated_data(platform))
    return f"{VERSION}.{kid}.{base64.urlsafe_b64encode(nonce + sealed).rstrip(b'=').decode('ascii')}"


def unseal(keys: dict[str, bytes], platform: str, token: str, resource: str, *, now: float | None = None) -> dict:
    """The claims of a token presented for `resource`, or InvalidLinkToken saying why: the
    platform's side, also used by our own checks and tests."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    version, _, rest = (token or "").partition(".")
    kid, _, body = rest.partition(".")
    if version != VERSION or not body:
        raise InvalidLinkToken("tampered")
    key = keys.get(kid)
    if key is None:
        raise InvalidLinkToken("unknown_key")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        plain = AESGCM(key).decrypt(raw[:NONCE], raw[NONCE:], associated_data(platform))
        claims = json.loads(plain)
    except (binascii.Error, ValueError, InvalidTag):
        # Another platform's token fails here too: its associated data differs.
        raise InvalidLinkToken("tampered") from None
    at = now if now is not None else time.time()
    if claims.get("aud") != platform:
        raise InvalidLinkToken("wrong_audience")
    if not isinstance(claims.get("iat"), int) or not isinstance(claims.get("exp"), int) \
            or claims["iat"] > at + CLOCK_SKEW:
        raise InvalidLinkToken("tampered")
    if at >= claims["exp"]:
        raise InvalidLinkToken("expired")
    if claims.get("res") != resource:
        raise InvalidLinkToken("wrong_resource")
    return claims


def platform_keys(platform: str) -> tuple[str, dict[str, bytes]]:
    """(the current kid, every key by kid) of a platform, from the LinksSecret."""
    from hospital import config, settings
    from hospital.settings import ConfigError

    entry = config.secret(settings.LINKS_SECRET_ARN).get(platform) or {}
    try:
        keys = {kid: base64.b64decode(value, validate=True) for kid, value in (entry.get("keys") or {}).items()}
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"the link keys of {platform} are not base64") from exc
    current = str(entry.get("current") or "")
    if current not in keys or any(len(key) != KEY_BYTES for key in keys.values()):
        raise ConfigError(f"the LinksSecret has no usable current key for {platform} (32 bytes, base64)")
    return current, keys


def issue(platform: str, subject: str, resource: str, *, now: float | None = None) -> tuple[str, int]:
    """(a token for the platform, when it expires in unix seconds), with its current key."""
    from hospital import settings

    kid, keys = platform_keys(platform)
    lifetime = settings.LINK_TOKEN_MINUTES.get() * 60
    token = seal(keys[kid], kid, platform, subject, resource, lifetime=lifetime, now=now)
    return token, int(now if now is not None else time.time()) + lifetime
