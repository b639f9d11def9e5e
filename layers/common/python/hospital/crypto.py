"""Envelope encryption of personal data, and keyed hashes for looking it up.

A container asks KMS for a data key once and encrypts with the plaintext copy held in
memory for DATA_KEY_MAX_AGE seconds, so a row costs no KMS call; every ciphertext carries
the KMS-wrapped copy of its data key, so reading it back needs KMS (and leaves KMS's audit
trail) and needs nothing from the database. Layout, versioned so it can change:

    version(1) | cipher(1) | wrapped_key_len(2) | wrapped_key | nonce(12) | ciphertext+tag(16)

The `context` string is bound in as associated data, so a ciphertext copied into another
column or row fails to decrypt. SM4-GCM (national algorithm) or AES-256-GCM is chosen by
PII_CIPHER; both decrypt regardless of the current choice.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import struct
import threading
import time
import unicodedata

from hospital import config, settings

VERSION = 2
AES_GCM, SM4_GCM = 1, 2
_CIPHER_IDS = {"AES-GCM": AES_GCM, "SM4-GCM": SM4_GCM}
_KEY_BYTES = {AES_GCM: 32, SM4_GCM: 16}
_HEADER = struct.Struct(">BBH")
_NONCE = 12
_TAG = 16


class DecryptionFailed(Exception):
    """Ciphertext altered, moved to another context, or its key cannot be unwrapped."""


class _KeyRing:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: dict[int, tuple[bytes, bytes, float]] = {}  # cipher -> (wrapped, key, born)
        self._unwrapped: dict[bytes, bytes] = {}  # wrapped key -> plaintext key

    def current(self, cipher: int) -> tuple[bytes, bytes]:
        max_age = settings.DATA_KEY_MAX_AGE.get()
        with self._lock:
            entry = self._current.get(cipher)
            if entry and time.monotonic() - entry[2] < max_age:
                return entry[0], entry[1]
        from hospital.aws import client

        answer = client("kms").generate_data_key(KeyId=settings.PII_KEY_ID.get(),
                                                 NumberOfBytes=_KEY_BYTES[cipher])
        wrapped, key = answer["CiphertextBlob"], answer["Plaintext"]
        with self._lock:
            self._current[cipher] = (wrapped, key, time.monotonic())
            self._unwrapped[wrapped] = key
        return wrapped, key

    def unwrap(self, wrapped: bytes) -> bytes:
        with self._lock:
            key = self._unwrapped.get(wrapped)
        if key is not None:
            return key
        from botocore.exceptions import ClientError

        from hospital.aws import client

        try:
            key = client("kms").decrypt(CiphertextBlob=wrapped)["Plaintext"]
        except ClientError as exc:
            raise DecryptionFailed(f"KMS refused the data key: {exc.response['Error']['Code']}") from exc
        with self._lock:
            if len(self._unwrapped) > 1024:  # keys of old containers: keep the cache bounded
                self._unwrapped.clear()
            self._unwrapped[wrapped] = key
        return key

    def forget(self) -> None:
        with self._lock:
            self._current.clear()
            self._unwrapped.clear()


_keys = _KeyRing()


def _seal(cipher: int, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    if cipher == AES_GCM:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        return AESGCM(key).encrypt(nonce, data, aad)
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(aad)
    return enc.update(data) + enc.finalize() + enc.tag


def _open(cipher: int, key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    from cryptography.exceptions import InvalidTag

    try:
        if cipher == AES_GCM:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            return AESGCM(key).decrypt(nonce, sealed, aad)
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, sealed[-16:])).decryptor()
        dec.authenticate_additional_data(aad)
        return dec.update(sealed[:-16]) + dec.finalize()
    except InvalidTag as exc:
        raise DecryptionFailed("ciphertext does not authenticate") from exc


def current_cipher() -> int:
    return _CIPHER_IDS[settings.PII_CIPHER.get()]


def encrypt(value: str | bytes, context: str) -> bytes:
    data = value.encode("utf-8") if isinstance(value, str) else value
    cipher = current_cipher()
    wrapped, key = _keys.current(cipher)
    nonce = os.urandom(_NONCE)
    header = _HEADER.pack(VERSION, cipher, len(wrapped)) + wrapped
    return header + nonce + _seal(cipher, key, nonce, data, header + context.encode())


def decrypt(blob: bytes, context: str) -> bytes:
    if len(blob) < _HEADER.size:
        raise DecryptionFailed("ciphertext is truncated")
    version, cipher, wrapped_len = _HEADER.unpack(blob[: _HEADER.size])
    if version != VERSION or cipher not in _KEY_BYTES:
        raise DecryptionFailed(f"unknown ciphertext version {version} / cipher {cipher}")
    body = _HEADER.size + wrapped_len
    if len(blob) < body + _NONCE + _TAG:
        raise DecryptionFailed("ciphertext is truncated")
    header, nonce = blob[:body], blob[body : body + _NONCE]
    key = _keys.unwrap(header[_HEADER.size :])
    return _open(cipher, key, nonce, blob[body + _NONCE :], header + context.encode())


def decrypt_text(blob: bytes | None, context: str) -> str | None:
    return None if blob is None else decrypt(blob, context).decode("utf-8")


# Kinds whose letters carry no case (the check letter X of a resident ID number).
_CASE_FREE_KINDS = {"id_number", "card_no"}


def lookup_hash(value: str, kind: str) -> str:
    """HMAC-SHA256 of a normalised value, for equality lookups on encrypted columns.

    `kind` separates namespaces (a phone number and an ID number never collide).
    """
    key = config.secret_value(settings.LOOKUP_HASH_SECRET_ARN, "lookup_hash_key").encode()
    normalised = unicodedata.normalize("NFKC", value).strip()
    if kind in _CASE_FREE_KINDS:
        normalised = normalised.upper()
    return hmac.new(key, f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()


def forget_keys() -> None:
    """Drop cached data keys (tests; a rotated KMS key)."""
    _keys.forget()
