"""A consumer's batch relays what its records published together, at its end, unless a slow
batch has held them for HOLD_SECONDS: then they go before the next record begins."""
from __future__ import annotations

import pytest

from hospital import messaging, outbox, unit_of_work


@pytest.fixture
def relayed(monkeypatch):
    calls: list[list] = []
    monkeypatch.setattr(outbox, "relay_committed", lambda messages: calls.append(list(messages)) or len(messages))
    return calls


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(unit_of_work.time, "monotonic", lambda: now[0])
    return now


def test_messages_held_in_a_block_go_together_at_its_end(relayed, clock):
    with unit_of_work.relayed_together() as held:
        held.hold(["m1"])
        held.hold([])
        held.hold(["m2", "m3"])
        held.relay_if_held_for(messaging.HOLD_SECONDS)  # not yet held that long
        assert relayed == []
    assert relayed == [["m1", "m2", "m3"]]


def test_messages_held_for_hold_seconds_go_before_the_next_record(relayed, clock):
    with unit_of_work.relayed_together() as held:
        held.hold(["m1"])
        clock[0] += messaging.HOLD_SECONDS - 0.001
        held.relay_if_held_for(messaging.HOLD_SECONDS)
        assert relayed == []
        clock[0] += 0.001
        held.relay_if_held_for(messaging.HOLD_SECONDS)
        assert relayed == [["m1"]]
        held.hold(["m2"])  # held afresh from now
        clock[0] += 1
        held.relay_if_held_for(messaging.HOLD_SECONDS)
    assert relayed == [["m1"], ["m2"]]


def test_a_block_that_fails_still_relays_what_was_committed(relayed, clock):
    with pytest.raises(RuntimeError), unit_of_work.relayed_together() as held:
        held.hold(["m1"])
        raise RuntimeError("a record's handler escaped")
    assert relayed == [["m1"]]


def test_an_empty_block_relays_nothing(relayed):
    with unit_of_work.relayed_together():
        pass
    assert relayed == []
