"""A refund's rules, pure: how much can still be refunded (0, 1 fen, exact, one over), the
full-refund rule of mixed payments, and what each provider status means for the refund and
its order."""
import pytest

from hospital.payments import refund_rules
from hospital.payments.refund_rules import Settlement, amount_refusal, refundable_fen, settle

# ---- how much can still be refunded -----------------------------------------------------------


def test_refundable_is_paid_less_refunded_less_open_refunds():
    assert refundable_fen(10000, 0, 0) == 10000
    assert refundable_fen(10000, 2500, 0) == 7500
    assert refundable_fen(10000, 2500, 1000) == 6500
    assert refundable_fen(10000, 10000, 0) == 0


@pytest.mark.parametrize(("amount", "refundable"), [(1, 1), (1, 6500), (6500, 6500)])
def test_one_fen_up_to_exactly_what_is_left_is_allowed(amount, refundable):
    assert amount_refusal(amount, refundable) is None


@pytest.mark.parametrize(("amount", "refundable"), [
    (0, 6500),      # nothing is not a refund
    (6501, 6500),   # one fen over
    (1, 0),         # nothing left
    (-1, 6500),
    (True, 6500),   # JSON true is not 1 fen
    (1.0, 6500),
    ("1", 6500),
])
def test_zero_one_over_and_non_amounts_are_refused(amount, refundable):
    refused = amount_refusal(amount, refundable)
    assert (refused.code, refused.field) == ("refund_too_large", "amount_fen")
    assert refused.message == f"at most {refundable} fen of this order can still be refunded"


def test_what_open_refunds_ask_for_is_not_refundable_again():
    left = refundable_fen(10000, 0, 9999)
    assert amount_refusal(1, left) is None
    assert amount_refusal(2, left) is not None


@pytest.mark.parametrize(("status", "refundable"), [
    ("created", False), ("paying", False), ("closed", False), ("refunded", False),
    ("paid", True), ("confirmed", True), ("his_failed", True), ("refund_pending", True)])
def test_only_an_order_whose_money_was_taken_and_not_all_given_back_is_refundable(status, refundable):
    refused = refund_rules.state_refusal(status)
    assert (refused is None) is refundable
    if refused is not None:
        assert (refused.code, refused.message) == ("not_refundable", f"an order that is {status} cannot be refunded")


def test_the_same_reason_again_is_the_same_refund_only_for_the_same_amount():
    assert refund_rules.repeat_refusal(2500, 2500) is None
    refused = refund_rules.repeat_refusal(2500, 2499)
    assert (refused.code, refused.field) == ("refund_reason_used", "reason")


def test_a_refund_puts_a_confirmed_order_in_refund_pending_and_leaves_a_paid_one_paid():
    assert refund_rules.order_status_on_request("confirmed") == "refund_pending"
    assert refund_rules.order_status_on_request("paid") is None
    assert refund_rules.order_status_on_request("refund_pending") is None


# ---- mixed payments: full refunds only ----------------------------------------------------------


def test_a_mixed_payment_is_refunded_in_full_only_OP3():
    assert refund_rules.full_only_refusal(10000, 10000) is None
    for amount in (1, 9999, 10001):
        refused = refund_rules.full_only_refusal(10000, amount)
        assert (refused.code, refused.field) == ("refund_must_be_full", "amount_fen")


def test_a_mixed_refund_splits_into_its_cash_and_insurance_parts_OP3():
    assert refund_rules.mixed_parts(10000, 3000) == {"cash_fen": 3000, "insurance_fen": 7000}
    assert refund_rules.mixed_parts(10000, None) == {"cash_fen": 0, "insurance_fen": 10000}  # insurance only


@pytest.mark.parametrize(("cash_fen", "cash_back", "insurance_back", "told", "done"), [
    (3000, True, True, True, True),
    (3000, False, True, True, False),   # the cash is not back yet
    (3000, True, False, True, False),   # nor the insurance parts
    (3000, True, True, False, False),   # WeChat not told yet
    (0, False, True, True, True),       # insurance only: no cash to wait for
    (None, False, True, True, True),
])
def test_a_mixed_refund_is_done_when_every_step_is(cash_fen, cash_back, insurance_back, told, done):
    assert bool(refund_rules.mixed_refund_done(cash_fen, cash_back, insurance_back, told)) is done


# ---- what a provider's word means ---------------------------------------------------------------

REFUND_STATES = ["requested", "processing", "succeeded", "closed", "abnormal"]


@pytest.mark.parametrize("refund_status", REFUND_STATES)
def test_processing_only_records_that_the_provider_has_it(refund_status):
    assert settle(refund_status, "PROCESSING") == Settlement("processing", status="processing", only_from="requested")


@pytest.mark.parametrize("refund_status", ["requested", "processing", "abnormal"])
def test_success_has_the_refunds_channel_book_it(refund_status):
    assert settle(refund_status, "SUCCESS") == Settlement("succeeded", book=True)


@pytest.mark.parametrize("provider_status", ["SUCCESS", "CLOSED", "ABNORMAL", "SOMETHING_NEW"])
@pytest.mark.parametrize("refund_status", ["succeeded", "closed"])
def test_news_of_a_final_refund_is_a_duplicate(refund_status, provider_status):
    assert settle(refund_status, provider_status) == Settlement("duplicate")


@pytest.mark.parametrize("refund_status", ["requested", "processing", "abnormal"])
def test_closed_goes_to_finance_and_frees_the_order(refund_status):
    assert settle(refund_status, "CLOSED") == Settlement(
        "closed", status="closed", to_finance="refund_closed", leaves_refund_pending=True)


@pytest.mark.parametrize("refund_status", ["requested", "processing"])
def test_abnormal_goes_to_a_person_and_keeps_the_order_waiting(refund_status):
    assert settle(refund_status, "ABNORMAL") == Settlement(
        "abnormal", status="abnormal", to_finance="refund_abnormal", leaves_refund_pending=False)


def test_abnormal_again_is_a_duplicate():
    assert settle("abnormal", "ABNORMAL") == Settlement("duplicate")


@pytest.mark.parametrize("refund_status", ["requested", "processing", "abnormal"])
def test_a_status_we_do_not_know_changes_nothing(refund_status):
    assert settle(refund_status, "REFUNDCLOSE") == Settlement("ignored")


def test_every_provider_status_against_every_refund_status_has_one_outcome():
    outcomes = {(r, p): settle(r, p).outcome for r in REFUND_STATES for p in ("SUCCESS", "CLOSED", "ABNORMAL",
                                                                               "PROCESSING", "?")}
    assert outcomes == {
        ("requested", "SUCCESS"): "succeeded", ("requested", "CLOSED"): "closed",
        ("requested", "ABNORMAL"): "abnormal", ("requested", "PROCESSING"): "processing", ("requested", "?"): "ignored",
        ("processing", "SUCCESS"): "succeeded", ("processing", "CLOSED"): "closed",
        ("processing", "ABNORMAL"): "abnormal", ("processing", "PROCESSING"): "processing",
        ("processing", "?"): "ignored",
        ("succeeded", "SUCCESS"): "duplicate", ("succeeded", "CLOSED"): "duplicate",
        ("succeeded", "ABNORMAL"): "duplicate", ("succeeded", "PROCESSING"): "processing",
        ("succeeded", "?"): "duplicate",
        ("closed", "SUCCESS"): "duplicate", ("closed", "CLOSED"): "duplicate", ("closed", "ABNORMAL"): "duplicate",
        ("closed", "PROCESSING"): "processing", ("closed", "?"): "duplicate",
        ("abnormal", "SUCCESS"): "succeeded", ("abnormal", "CLOSED"): "closed",
        ("abnormal", "ABNORMAL"): "duplicate", ("abnormal", "PROCESSING"): "processing",
        ("abnormal", "?"): "ignored",
    }


# ---- what a succeeded refund does to its order ---------------------------------------------------


@pytest.mark.parametrize(("paid", "refunded", "amount", "total", "order_refunded"), [
    (10000, 0, 10000, 10000, True),      # all of it at once
    (10000, 0, 9999, 9999, False),       # one fen short: the order goes back to where it was
    (10000, 2500, 7500, 10000, True),    # the last part
    (10000, 2500, 1, 2501, False),
])
def test_a_succeeded_refund_is_counted_and_the_last_fen_refunds_the_order(paid, refunded, amount, total,
                                                                          order_refunded):
    assert refund_rules.count_refund(paid, refunded, amount) == refund_rules.Counted(total, order_refunded)


def test_an_order_waiting_in_refund_pending_goes_back_to_confirmed_when_no_refund_is_open():
    assert refund_rules.order_status_when_refund_ends("refund_pending", 0) == "confirmed"
    assert refund_rules.order_status_when_refund_ends("refund_pending", 1) is None  # another is still open
    assert refund_rules.order_status_when_refund_ends("paid", 0) is None  # the HIS confirmation goes on
    assert refund_rules.order_status_when_refund_ends("his_failed", 0) is None


@pytest.mark.parametrize(("status", "done"), [("requested", False), ("processing", False), ("succeeded", True),
                                              ("closed", True), ("abnormal", True)])
def test_the_worker_leaves_final_refunds_and_those_with_a_person(status, done):
    assert refund_rules.worker_done(status) is done
