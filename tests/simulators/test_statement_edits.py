"""The discrepancies a test puts into a simulator's day's statement (AD1), without a server:
edits apply in order and to their day only, on copies (the simulator's records stay as they
are), an added entry is the simulator's blank of its kind with the fields given, and bad edits
are refused when made."""
import pytest

from infra.simulators.statement_edits import StatementEdits

DAY = "2026-12-01"


def blank(kind: str, day: str) -> dict:
    return {"kind": kind, "order": "BLANK", "amount": 1, "day": day}


def entries() -> list[dict]:
    return [{"kind": "payment", "order": "A", "amount": 100}, {"kind": "payment", "order": "B", "amount": 200},
            {"kind": "refund", "order": "B", "amount": 50}]


def test_edits_apply_in_order_to_their_day_only_and_on_copies_AD1():
    edits, records = StatementEdits(), entries()
    edits.drop(DAY, order="A")
    edits.change(DAY, {"kind": "payment", "order": "B"}, amount=250)
    edits.add(DAY, {"kind": "payment", "order": "C"})
    edits.change(DAY, {"order": "C"}, amount=7)   # an edit sees what the edits before it made
    edits.drop("2026-12-02", order="B")

    edited = edits.apply(DAY, records, blank)

    assert edited == [{"kind": "payment", "order": "B", "amount": 250}, {"kind": "refund", "order": "B", "amount": 50},
                      {"kind": "payment", "order": "C", "amount": 7, "day": DAY}]
    assert records == entries()
    assert edits.apply("2026-12-02", records, blank) == entries()[:1]  # every entry matching goes
    assert edits.apply("2026-11-30", records, blank) == entries()


def test_clear_forgets_every_edit():
    edits = StatementEdits()
    edits.drop(DAY, order="A")
    edits.clear()

    assert edits.apply(DAY, entries(), blank) == entries() and edits.listed() == []


@pytest.mark.parametrize("make", [
    lambda edits: edits.drop(DAY),
    lambda edits: edits.change(DAY, {"order": "A"}),
    lambda edits: edits.change(DAY, {}, amount=1),
    lambda edits: edits.add(DAY, {"order": "C"}),
    lambda edits: edits.drop("1 December", order="A"),
])
def test_an_edit_that_names_nothing_to_do_is_refused(make):
    with pytest.raises(ValueError):
        make(StatementEdits())
