"""The service account's home grid (OV1, OH1): each entry and its state for the signed-in
patient, from what they hold (cards, consents, a credit enrolment) and the systems this
deployment reaches. Pure: the H5 page draws the grid from one answer.

    ready          the entry opens
    needs_consent  it opens after the patient's consent (the page asks for it first)
    unavailable    it cannot open now; `reason` says why (no_card, not_connected)
"""
from __future__ import annotations

from typing import NamedTuple

READY, NEEDS_CONSENT, UNAVAILABLE = "ready", "needs_consent", "unavailable"
NO_CARD, NOT_CONNECTED = "no_card", "not_connected"
# In the order the grid shows them.
ENTRIES = ("rescue", "registration", "cloud_imaging", "physical_exam", "insurance_voucher", "online_consultation",
           "credit_care")
# Entries that reach a system of their own, which a deployment may not have yet.
LINKED = frozenset({"cloud_imaging", "physical_exam", "insurance_voucher", "online_consultation"})
# Entries opened per hospital card (the records of that card's person).
PER_CARD = frozenset({"cloud_imaging", "physical_exam"})


class Situation(NamedTuple):
    cards: tuple[str, ...]                    # the patient's bound cards
    consented: frozenset[tuple[str, str | None]]  # (service, card or None) consents that hold
    credit_enrolled: bool
    connected: frozenset[str]                 # the LINKED entries this deployment reaches


def entry(name: str, situation: Situation) -> dict:
    if name in LINKED and name not in situation.connected:
        return {"entry": name, "state": UNAVAILABLE, "reason": NOT_CONNECTED}
    if name in PER_CARD:
        if not situation.cards:
            return {"entry": name, "state": UNAVAILABLE, "reason": NO_CARD}
        consented = [card for card in situation.cards if (name, card) in situation.consented]
        return {"entry": name, "state": READY if consented else NEEDS_CONSENT, "cards_consented": consented}
    if name == "insurance_voucher":
        return {"entry": name, "state": READY if (name, None) in situation.consented else NEEDS_CONSENT}
    if name == "credit_care":
        return {"entry": name, "state": READY if situation.credit_enrolled else NEEDS_CONSENT}
    return {"entry": name, "state": READY}


def grid(situation: Situation) -> list[dict]:
    return [entry(name, situation) for name in ENTRIES]
