"""Abnormal orders' rules, pure (AS1): which stuck state is listed under which reason and from
when (each threshold at its edge), when an entry has cleared by itself, which action each
reason allows and what is refused (resolved, not allowed, a body that does not fit), and how
much finance's refund gives back."""
import datetime as dt
import typing

import pytest

from hospital.payments import anomaly_rules as rules
from hospital.payments import models

NOW = dt.datetime(2026, 12, 3, 8, 0, 0)
LIMITS = rules.Thresholds(unsettled=dt.timedelta(minutes=30), unconfirmed=dt.timedelta(minutes=30),
                          his_failed=dt.timedelta(hours=1), refund_unsent=dt.timedelta(hours=1),
                          refund_processing=dt.timedelta(days=3))
AT = rules.cutoffs(NOW, LIMITS)
SECOND = dt.timedelta(seconds=1)


def order(status, *, expires_at=NOW, paid_at=None, updated_at=NOW, paid_fen=2500, refunded_fen=0,
          refund_under_way=False):
    return rules.order_reason(status, expires_at=expires_at, paid_at=paid_at, updated_at=updated_at,
                              paid_fen=paid_fen, refunded_fen=refunded_fen, refund_under_way=refund_under_way, at=AT)


# ---- what the watchdog lists, and from when ---------------------------------------------------------

def test_an_order_still_paying_is_listed_once_it_is_past_its_expiry_by_the_threshold_AS1():
    assert order("paying", expires_at=NOW - LIMITS.unsettled) == rules.PAYMENT_UNSETTLED
    assert order("paying", expires_at=NOW - LIMITS.unsettled + SECOND) is None
    assert order("created", expires_at=NOW - dt.timedelta(days=1)) is None  # never sent: nothing to settle


def test_a_paid_order_is_listed_once_the_his_has_not_confirmed_it_for_the_threshold_AS1():
    assert order("paid", paid_at=NOW - LIMITS.unconfirmed) == rules.PAID_UNCONFIRMED
    assert order("paid", paid_at=NOW - LIMITS.unconfirmed + SECOND) is None
    assert order("confirmed", paid_at=NOW - dt.timedelta(days=1)) is None


def test_an_order_the_his_failed_is_listed_only_while_its_money_is_not_back_and_no_refund_is_under_way_AS1():
    long_ago = NOW - LIMITS.his_failed
    assert order("his_failed", updated_at=long_ago) == rules.HIS_FAILED_UNREFUNDED
    assert order("his_failed", updated_at=long_ago + SECOND) is None
    assert order("his_failed", updated_at=long_ago, refund_under_way=True) is None
    assert order("his_failed", updated_at=long_ago, refunded_fen=2500) is None


@pytest.mark.parametrize(("status", "age", "reason"), [
    ("requested", LIMITS.refund_unsent, rules.REFUND_UNSENT),
    ("requested", LIMITS.refund_unsent - SECOND, None),
    ("processing", LIMITS.refund_processing, rules.REFUND_STUCK),
    ("processing", LIMITS.refund_processing - SECOND, None),
    ("abnormal", dt.timedelta(0), rules.REFUND_ABNORMAL),  # at once: a person must act
    ("succeeded", dt.timedelta(days=30), None),
    ("closed", dt.timedelta(days=30), None),  # refused or closed: listed where it happened
])
def test_a_refund_is_listed_by_its_state_and_age_AS1(status, age, reason):
    assert rules.refund_reason(status, created_at=NOW - age, at=AT) == reason


def test_each_reason_has_its_own_dedupe_key_and_an_abnormal_refund_shares_the_providers_AS1():
    prefixes = {rules.dedupe_prefix(reason) for reason in rules.WATCHED}
    assert len(prefixes) == len(rules.WATCHED)
    assert rules.dedupe_prefix(rules.REFUND_ABNORMAL) == "refund:abnormal:"  # refund_records' key
    assert rules.dedupe_prefix(rules.PAID_UNCONFIRMED) == "watchdog:paid_unconfirmed:"


# ---- clearing by itself ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("reason", "status", "note"), [
    (rules.PAYMENT_UNSETTLED, "paying", None),
    (rules.PAYMENT_UNSETTLED, "paid", "cleared by itself: the order is paid now"),
    (rules.PAYMENT_UNSETTLED, "closed", "cleared by itself: the order is closed now"),
    (rules.PAID_UNCONFIRMED, "paid", None),
    (rules.PAID_UNCONFIRMED, "confirmed", "cleared by itself: the order is confirmed now"),
    (rules.HIS_FAILED_UNREFUNDED, "his_failed", None),
    (rules.HIS_FAILED_UNREFUNDED, "refunded", "cleared by itself: the order is refunded now"),
    (rules.REFUND_UNSENT, "requested", None),
    (rules.REFUND_UNSENT, "processing", "cleared by itself: the refund is processing now"),
    (rules.REFUND_STUCK, "processing", None),
    (rules.REFUND_STUCK, "succeeded", "cleared by itself: the refund is succeeded now"),
    (rules.REFUND_ABNORMAL, "abnormal", None),
    (rules.REFUND_ABNORMAL, "succeeded", "cleared by itself: the refund is succeeded now"),
    (rules.PAID_UNCONFIRMED, None, "cleared by itself: the order no longer exists"),
])
def test_a_listed_state_clears_when_its_order_or_refund_has_left_it_AS1(reason, status, note):
    assert rules.cleared(reason, status) == note


@pytest.mark.parametrize("reason", ["unknown_order", "amount_mismatch", "refund_refused", "paid_after_close",
                                    "refunded_unconfirmed", "second_transaction"])
def test_what_a_person_must_settle_never_clears_by_itself_AS1(reason):
    assert rules.cleared(reason, "refunded") is None
    assert rules.cleared(reason, None) is None


# ---- the actions ---------------------------------------------------------------------------------------------

def test_the_body_s_action_names_are_the_rules_AS1():
    [names] = [typing.get_args(field.annotation) for name, field in models.AnomalyAction.model_fields.items()
               if name == "action"]
    assert names == rules.ACTIONS


@pytest.mark.parametrize(("reason", "actions"), [
    (rules.PAYMENT_UNSETTLED, ("query_provider", "resolve")),
    (rules.PAID_UNCONFIRMED, ("retry_his", "refund", "resolve")),
    (rules.HIS_FAILED_UNREFUNDED, ("query_provider", "refund", "resolve")),
    (rules.REFUND_UNSENT, ("query_provider", "resolve")),
    (rules.REFUND_STUCK, ("query_provider", "resolve")),
    (rules.REFUND_ABNORMAL, ("query_provider", "resolve")),
    ("refund_refused", ("refund", "resolve")),
    ("paid_after_close", ("retry_his", "refund", "resolve")),
    ("unknown_order", ("resolve",)),  # no money of ours to move: settled outside, then resolved
    ("amount_mismatch", ("resolve",)),
    ("a_reason_nobody_wrote_yet", ("resolve",)),
])
def test_each_reason_allows_its_actions_and_every_open_entry_can_be_resolved_AS1(reason, actions):
    assert rules.allowed(reason) == actions
    for action in rules.ACTIONS:
        refused = rules.action_refusal(reason, action, resolved=False)
        assert (refused is None) == (action in actions)
        if refused is not None:
            assert (refused.code, refused.field) == ("action_not_allowed", "action")
            assert ", ".join(actions) in refused.message


@pytest.mark.parametrize("action", rules.ACTIONS)
def test_a_resolved_entry_takes_no_action_at_all_AS1(action):
    refused = rules.action_refusal(rules.PAID_UNCONFIRMED, action, resolved=True)
    assert refused.code == "already_resolved"


@pytest.mark.parametrize(("action", "note", "amount", "problem"), [
    ("resolve", None, None, "note"),
    ("resolve", "已线下退款", None, None),
    ("resolve", "已线下退款", 100, "amount_fen"),
    ("query_provider", None, 100, "amount_fen"),
    ("retry_his", None, 100, "amount_fen"),
    ("query_provider", None, None, None),
    ("refund", None, None, None),
    ("refund", "patient asked", 100, None),
])
def test_a_body_that_does_not_fit_its_action_is_refused_naming_the_field_AS1(action, note, amount, problem):
    found = rules.body_problem(action, note, amount)
    assert (found[0] if found else None) == problem


def test_finance_s_refund_reason_is_the_entry_s_so_a_retry_is_the_same_refund_AS1():
    assert rules.refund_reason_of(42) == rules.refund_reason_of(42) == "anomaly:42"
    assert rules.refund_reason_of(42) != rules.refund_reason_of(43)


@pytest.mark.parametrize(("status", "refundable", "asked", "expected"), [
    ("confirmed", 2500, None, 2500),       # by default all that can still be refunded
    ("confirmed", 1500, None, 1500),       # less what came back or is on its way
    ("confirmed", 2500, 100, 100),         # what was asked (refunds.request checks it fits)
    ("confirmed", 0, None, "nothing_to_refund"),
    ("his_failed", 2500, None, 2500),
    ("paid", 2500, None, 2500),            # not confirmed by the HIS: all of it
    ("paid", 2500, 2500, 2500),
    ("paid", 2500, 100, "refund_must_be_full"),
])
def test_how_much_finance_s_refund_gives_back_AS1(status, refundable, asked, expected):
    amount = rules.refund_amount(status, 2500, refundable, asked)
    assert (amount.code if isinstance(amount, rules.Refusal) else amount) == expected


def test_querying_asks_about_the_payment_of_an_order_being_paid_or_closed_and_about_refunds_otherwise_AS1():
    assert [s for s in ("created", "paying", "paid", "confirmed", "closed", "his_failed", "refunded")
            if rules.asks_the_payment(s)] == ["paying", "closed"]
    assert rules.nothing_to_ask("created") and not rules.nothing_to_ask("paying")
