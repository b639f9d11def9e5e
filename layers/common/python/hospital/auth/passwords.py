"""Password hashes: argon2id with argon2-cffi's default parameters (memory-hard).

A hash made with older parameters verifies and is then upgraded (`needs_rehash`) at sign-in.
An unknown username is checked against a dummy hash, so it takes as long as a wrong password.
"""
from __future__ import annotations

import functools


@functools.cache
def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()  # argon2id, the library's current defaults


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify(password_hash: str, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


@functools.cache
def _dummy_hash() -> str:
    return _hasher().hash("not anyone's password: spends the time of a real check")


def verify_dummy(password: str) -> None:
    """The work of a real check, for a username that has no account."""
    verify(_dummy_hash(), password)
