"""Envelope encryption of personal data, and keyed hashes for looking it up.

A container asks KMS for a data key once, records the KMS-wrapped copy in `data_keys`,
and encrypts with the plaintext copy held in memory for DATA_KEY_MAX_AGE seconds; so
encryption costs no KMS call per row, and KMS (with its audit trail) is needed to read
anything back. Ciphertext layout, versioned so the format can change:

    version(1) | cipher(1) | data_key_id(8, big-endian) | nonce(12) | ciphertext+tag(16)

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

from hospital import config

VERSION = 1
AES_GCM, SM4_GCM = 1, 2
_CIPHER_IDS = {"AES-GCM": AES_GCM, "SM4-GCM": SM4_GCM}
_KEY_BYTES = {AES_GCM: 32, SM4_GCM: 16}
_HEADER = struct.Struct(">BBQ")
_NONCE = 12


class DecryptionFailed(Exception):
    """Ciphertext altered, moved to another context, or its key is unknown."""


class _KeyRing:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: dict[int, tuple[int, bytes, float]] = {}  # cipher -> (id, key, born)
        self._known: dict[int, bytes] = {}  # data_key_id -> plaintext key (for decryption)

    def current(self, cipher: int) -> tuple[int, bytes]:
        max_age = config.env_int("DATA_KEY_MAX_AGE", 3600)
        with self._lock:
            entry = self._current.get(cipher)
            if entry and time.monotonic() - entry[2] < max_age:
                return entry[0], entry[1]
            key_id, key = self._new_data_key(cipher)
            self._current[cipher] = (key_id, key, time.monotonic())
            self._known[key_id] = key
            return key_id, key

    def lookup(self, key_id: int) -> bytes:
        with self._lock:
            key = self._known.get(key_id)
        if key is not None:
            return key
        key = self._unwrap(key_id)
        with self._lock:
            self._known[key_id] = key
        return key

    @staticmethod
    def _new_data_key(cipher: int) -> tuple[int, bytes]:
        from hospital.aws import client
        from hospital.db import tables, transaction
        from hospital.timeutil import utcnow

        kms_key = config.env("PII_KEY_ID")
        answer = client("kms").generate_data_key(KeyId=kms_key, NumberOfBytes=_KEY_BYTES[cipher])
        # Committed on its own, before any row can carry a ciphertext that names it.
        with transaction() as conn:
            result = conn.execute(
                tables.data_keys.insert().values(
                    kms_key_id=kms_key,
                    encrypted_key=answer["CiphertextBlob"],
                    created_at=utcnow(),
                )
            )
            key_id = result.inserted_primary_key[0]
        return int(key_id), answer["Plaintext"]

    @staticmethod
    def _unwrap(key_id: int) -> bytes:
        import sqlalchemy as sa

        from hospital.aws import client
        from hospital.db import engine, tables

        with engine().connect() as conn:
            row = conn.execute(
                sa.select(tables.data_keys.c.kms_key_id, tables.data_keys.c.encrypted_key)
                .where(tables.data_keys.c.id == key_id)
            ).first()
        if row is None:
            raise DecryptionFailed(f"data key {key_id} is unknown")
        answer = client("kms").decrypt(KeyId=row.kms_key_id, CiphertextBlob=row.encrypted_key)
        return answer["Plaintext"]

    def forget(self) -> None:
        with self._lock:
            self._current.clear()
            self._known.clear()


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
    name = os.environ.get("PII_CIPHER", "AES-GCM")
    if name not in _CIPHER_IDS:
        raise config.ConfigError(f"PII_CIPHER must be one of {sorted(_CIPHER_IDS)}")
    return _CIPHER_IDS[name]


def encrypt(value: str | bytes, context: str) -> bytes:
    data = value.encode("utf-8") if isinstance(value, str) else value
    cipher = current_cipher()
    key_id, key = _keys.current(cipher)
    nonce = os.urandom(_NONCE)
    header = _HEADER.pack(VERSION, cipher, key_id)
    return header + nonce + _seal(cipher, key, nonce, data, header + context.encode())


def decrypt(blob: bytes, context: str) -> bytes:
    if len(blob) < _HEADER.size + _NONCE + 16:
        raise DecryptionFailed("ciphertext is truncated")
    header = blob[: _HEADER.size]
    version, cipher, key_id = _HEADER.unpack(header)
    if version != VERSION or cipher not in _KEY_BYTES:
        raise DecryptionFailed(f"unknown ciphertext version {version} / cipher {cipher}")
    nonce = blob[_HEADER.size : _HEADER.size + _NONCE]
    return _open(cipher, _keys.lookup(key_id), nonce, blob[_HEADER.size + _NONCE :], header + context.encode())


def decrypt_text(blob: bytes | None, context: str) -> str | None:
    return None if blob is None else decrypt(blob, context).decode("utf-8")


def lookup_hash(value: str, kind: str) -> str:
    """HMAC-SHA256 of a normalised value, for equality lookups on encrypted columns.

    `kind` separates namespaces (a phone number and an ID number never collide).
    """
    key = config.secret_value("LOOKUP_HASH_SECRET_ARN", "lookup_hash_key").encode()
    normalised = unicodedata.normalize("NFKC", value).strip().upper()
    return hmac.new(key, f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()


def forget_keys() -> None:
    """Drop cached data keys (tests; a rotated KMS key)."""
    _keys.forget()
