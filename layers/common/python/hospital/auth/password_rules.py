"""Back-office usernames and the password policy (等保 level 3): plain data in, a refusal out.

A username is stored lowercased, 3 to 64 characters of a-z, 0-9, ".", "_" and "-", so two
spellings differing only in case are one account. A password has at least 12 characters of at
least three kinds (lower case, upper case, digits, anything else) and does not contain the
username.
"""
from __future__ import annotations

import re

USERNAME_MIN, USERNAME_MAX = 3, 64
PASSWORD_MIN = 12
PASSWORD_MAX = 1024  # argon2 takes any length; this bounds the work a request can ask for
KINDS_NEEDED = 3
_USERNAME = re.compile(r"[a-z0-9._-]+")


def normal_username(raw: str) -> str:
    """The form a username is stored and looked up in."""
    return raw.strip().lower()


def username_refusal(username: str) -> str | None:
    """Why a (normalised) username cannot be an account's, or None."""
    if not USERNAME_MIN <= len(username) <= USERNAME_MAX:
        return f"a username has {USERNAME_MIN} to {USERNAME_MAX} characters"
    if not _USERNAME.fullmatch(username):
        return "a username holds only a-z, 0-9, '.', '_' and '-'"
    return None


def kinds(password: str) -> set[str]:
    """Which of lower case, upper case, digit and symbol (anything else) a password uses."""
    found = set()
    for char in password:
        if char.islower():
            found.add("lower")
        elif char.isupper():
            found.add("upper")
        elif char.isdigit():
            found.add("digit")
        else:
            found.add("symbol")
    return found


def password_refusal(password: str, username: str) -> str | None:
    """Why a new password is not good enough for this username, or None."""
    if len(password) < PASSWORD_MIN:
        return f"a password has at least {PASSWORD_MIN} characters"
    if len(password) > PASSWORD_MAX:
        return f"a password has at most {PASSWORD_MAX} characters"
    if len(kinds(password)) < KINDS_NEEDED:
        return "a password mixes at least three of: lower case, upper case, digits, symbols"
    if username and normal_username(username) in password.lower():
        return "a password must not contain the username"
    return None
