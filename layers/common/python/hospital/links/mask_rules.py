"""How sensitive fields are shown to the patient themselves (OV3): enough to recognise, not
enough to copy. Pure."""
from __future__ import annotations


def name(value: str) -> str:
    """张三丰 -> 张**; a one-character name -> *"""
    if len(value) <= 1:
        return "*" * len(value)
    return value[:1] + "*" * (len(value) - 1)


def id_number(value: str) -> str:
    """A resident ID (18 characters): 110101199003074514 -> 110***********4514, the region's
    first three and the last four; anything shorter (a passport, a permit): the last three."""
    if len(value) == 18:
        return value[:3] + "*" * 11 + value[-4:]
    return tail(value, 3)


def tail(value: str, keep: int = 4) -> str:
    """A card number: its last `keep` characters."""
    if len(value) <= keep:
        return "*" * len(value)
    return "*" * (len(value) - keep) + value[-keep:]
