"""How sensitive fields are shown to the patient themselves (OV3): enough to recognise, not
enough to copy. Pure."""
from __future__ import annotations


def name(value: str) -> str:
    """张三丰 -> 张**"""
    return value[:1] + "*" * (len(value) - 1) if value else value


def id_number(value: str) -> str:
    """110101199003074514 -> 110***********4514: the first three and the last four."""
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def tail(value: str, keep: int = 4) -> str:
    """A card number: its last `keep` characters."""
    if len(value) <= keep:
        return "*" * len(value)
    return "*" * (len(value) - keep) + value[-keep:]
