"""An order's state machine, pure: every (from, to) pair of states, the states the guarded
UPDATE accepts for each move, and when an order may be paid. The table is written out by
hand, not read from the rules."""
import datetime as dt

import pytest

from hospital.payments import order_rules
from hospital.payments.order_rules import payable_refusal

STATES = ["created", "paying", "paid", "confirmed", "his_failed", "refund_pending", "refunded", "closed"]
# to -> the states it may follow
ENTERED_FROM = {
    "created": ["paying"],  # a declined credit charge gives the order back
    "paying": ["created"],
    "paid": ["created", "paying", "closed"],  # a late payment of a closed order is still taken
    "confirmed": ["paid", "refund_pending"],
    "his_failed": ["paid"],
    "refund_pending": ["confirmed"],
    "refunded": ["paid", "confirmed", "his_failed", "refund_pending"],
    "closed": ["created", "paying"],
}
PAIRS = [(current, to) for current in STATES for to in STATES]


def test_the_table_covers_every_state():
    assert list(order_rules.STATES) == STATES
    assert set(order_rules.ALLOWED_FROM) == set(ENTERED_FROM)


@pytest.mark.parametrize(("current", "to"), PAIRS, ids=[f"{c}-to-{t}" for c, t in PAIRS])
def test_every_order_transition_pair(current, to):
    assert order_rules.may_follow(to, current) is (current in ENTERED_FROM[to])


@pytest.mark.parametrize("to", STATES)
def test_the_guarded_update_accepts_exactly_the_states_the_move_may_follow(to):
    assert sorted(order_rules.entered_from(to)) == sorted(ENTERED_FROM[to])


def test_no_order_stays_where_it_is_by_a_move():
    assert [state for state in STATES if order_rules.may_follow(state, state)] == []


def test_a_move_into_a_state_we_do_not_have_is_an_error():
    with pytest.raises(ValueError, match="no transition into"):
        order_rules.may_follow("teleported", "created")
    with pytest.raises(ValueError, match="no transition into"):
        order_rules.entered_from("teleported")


def test_only_a_closed_or_refunded_order_frees_its_bill():
    assert [state for state in STATES if order_rules.frees_the_bill(state)] == ["refunded", "closed"]


def test_open_and_money_taken_states():
    assert list(order_rules.OPEN) == ["created", "paying", "paid", "confirmed", "his_failed", "refund_pending"]
    assert list(order_rules.MONEY_TAKEN) == ["paid", "confirmed", "his_failed", "refund_pending", "refunded"]


NOW = dt.datetime(2026, 12, 1, 8, 0, 0)
ONE_US = dt.timedelta(microseconds=1)


@pytest.mark.parametrize("status", ["created", "paying"])
def test_an_unpaid_order_is_payable_until_it_expires(status):
    assert payable_refusal(status, NOW + ONE_US, NOW) is None
    assert payable_refusal(status, NOW, NOW).code == "order_expired"  # the expiry instant is already too late
    assert payable_refusal(status, NOW - ONE_US, NOW).code == "order_expired"


@pytest.mark.parametrize("status", ["paid", "confirmed", "his_failed", "refund_pending", "refunded"])
def test_an_order_whose_money_was_taken_is_not_paid_again(status):
    refused = payable_refusal(status, NOW + dt.timedelta(hours=1), NOW)
    assert (refused.code, refused.message) == ("already_paid", "this order is already paid")


def test_a_closed_order_is_not_payable_even_before_its_time():
    refused = payable_refusal("closed", NOW + dt.timedelta(hours=1), NOW)
    assert (refused.code, refused.message) == ("order_closed", "this order has expired or was closed; start a new one")
