"""Provider answers turned into results by the adapters (WeChat Pay v3 and v2, the credit
provider), without a database: the fields we read, the times in UTC, amounts as integer fen
and nothing else, and what is not a payment is None."""
import datetime as dt

import pytest

from hospital.adapters import credit, payment_results, wechatpay_v2, wechatpay_v3
from hospital.adapters.payment_results import PaymentResult, RefundResult

AT = dt.datetime(2026, 11, 26, 2, 30)  # 10:30 in Beijing, as naive UTC


# ---- times and amounts ---------------------------------------------------------------------

def test_rfc3339_times_are_read_as_naive_utc_and_need_an_offset():
    assert wechatpay_v3.utc_time("2026-11-26T10:30:00+08:00") == AT
    assert wechatpay_v3.utc_time("2026-11-26T02:30:00Z") == AT
    assert wechatpay_v3.utc_time(None) is None and wechatpay_v3.utc_time("") is None
    with pytest.raises(ValueError):
        wechatpay_v3.utc_time("2026-11-26T10:30:00")


def test_v2_times_are_beijing_time_in_either_form():
    assert wechatpay_v2.utc_time("20261126103000") == AT
    assert wechatpay_v2.utc_time("2026-11-26 10:30:00") == AT
    assert wechatpay_v2.utc_time(None) is None
    with pytest.raises(ValueError):
        wechatpay_v2.utc_time("26/11/2026")


@pytest.mark.parametrize("value,fen", [(2500, 2500), ("2500", 2500), ("0", 0)])
def test_an_amount_is_a_whole_number_or_ascii_digits(value, fen):
    assert payment_results.fen(value) == fen


@pytest.mark.parametrize("value", [True, 25.0, "25.00", "٢٥٠٠", "２５", "-1", "", None, {"total": 1}])
def test_anything_else_is_not_an_amount(value):
    with pytest.raises(ValueError):
        payment_results.fen(value)


# ---- WeChat Pay v3 ---------------------------------------------------------------------------

def test_a_v3_payment_notification_names_the_merchant_that_signed_it_when_it_names_none():
    resource = {"appid": "wx1", "out_trade_no": "o1", "transaction_id": "4200", "trade_state": "SUCCESS",
                "amount": {"total": "2500"}, "success_time": "2026-11-26T10:30:00+08:00"}
    assert wechatpay_v3.notified_payment(resource, "1900000109") == PaymentResult(
        "wechatpay_v3", "1900000109", "wx1", "o1", "4200", "SUCCESS", 2500, AT, signed_by="1900000109")
    named = wechatpay_v3.notified_payment({**resource, "mchid": "1900000999"}, "1900000109")
    assert (named.mchid, named.signed_by) == ("1900000999", "1900000109")


def test_a_malformed_v3_payment_notification_raises():
    with pytest.raises(KeyError):
        wechatpay_v3.notified_payment({"amount": {"total": 1}}, "m")
    with pytest.raises(ValueError):
        wechatpay_v3.notified_payment({"out_trade_no": "o1", "amount": {"total": 1.5}}, "m")


def test_a_queried_v3_order_is_a_payment_only_if_it_was_paid():
    assert wechatpay_v3.queried_payment({}, "o1", "m") is None
    assert wechatpay_v3.queried_payment({"trade_state": "NOTPAY"}, "o1", "m") is None
    paid = {"trade_state": "REFUND", "transaction_id": "4200", "amount": {"total": 2500},
            "success_time": "2026-11-26T10:30:00+08:00", "appid": "wx1"}
    assert wechatpay_v3.queried_payment(paid, "o1", "m") == PaymentResult(
        "query_v3", "m", "wx1", "o1", "4200", "SUCCESS", 2500, AT)


def test_a_v3_refund_notification_takes_its_state_from_the_event_when_the_resource_has_none():
    resource = {"out_refund_no": "RF1", "refund_id": "5030", "amount": {"refund": 1000},
                "success_time": "2026-11-26T10:30:00+08:00"}
    assert wechatpay_v3.notified_refund(resource, "REFUND.ABNORMAL", "m") == RefundResult(
        "wechatpay_v3", "RF1", "ABNORMAL", 1000, "5030", AT, mchid="m", signed_by="m")
    assert wechatpay_v3.notified_refund({**resource, "refund_status": "SUCCESS"}, "REFUND.ABNORMAL",
                                        "m").refund_status == "SUCCESS"


def test_a_v3_refund_answer_is_processing_unless_it_says_otherwise():
    assert wechatpay_v3.refund_result({"refund_id": "5030", "amount": {"refund": 1000}}, "RF1", "refund_worker") == \
        RefundResult("refund_worker", "RF1", "PROCESSING", 1000, "5030")
    assert wechatpay_v3.refund_result({"status": "SUCCESS"}, "RF1", "query_v3").refund_status == "SUCCESS"


def test_a_mixed_order_keeps_its_numbers_as_sent_and_becomes_a_payment_when_asked():
    answer = {"out_trade_no": "o1", "mix_trade_no": "MIX1", "mix_pay_status": "MIX_PAY_SUCCESS", "appid": "wx1",
              "total_fee": 10000, "med_ins_gov_fee": 6000, "med_ins_self_fee": 3000, "med_ins_other_fee": 0,
              "med_ins_cash_fee": "1000", "paid_time": "2026-11-26T10:30:00+08:00"}
    news = wechatpay_v3.mixed_order(answer)
    assert news.paid and news.mix_trade_no == "MIX1" and news.fees["med_ins_cash_fee"] == "1000"
    assert news.payment_result(source="query_med_ins", mchid="m", channel="med_ins") == PaymentResult(
        "query_med_ins", "m", "wx1", "o1", "MIX1", "SUCCESS", 10000, AT, channel="med_ins")
    assert not wechatpay_v3.mixed_order({**answer, "mix_pay_status": "MIX_PAY_CREATED"}).paid
    assert wechatpay_v3.mixed_order({}).out_trade_no == ""


# ---- WeChat Pay v2 ---------------------------------------------------------------------------

def test_a_v2_payment_notification_becomes_a_payment():
    data = {"mch_id": "1900000110", "appid": "wx1", "out_trade_no": "o1", "transaction_id": "4200",
            "total_fee": "1230", "time_end": "20261126103000"}
    assert wechatpay_v2.notified_payment(data, "1900000110") == PaymentResult(
        "wechatpay_v2", "1900000110", "wx1", "o1", "4200", "SUCCESS", 1230, AT, signed_by="1900000110")
    with pytest.raises(KeyError):
        wechatpay_v2.notified_payment({k: v for k, v in data.items() if k != "transaction_id"}, "1900000110")


@pytest.mark.parametrize("state,ours", [("SUCCESS", "SUCCESS"), ("REFUNDCLOSE", "CLOSED"), ("CHANGE", "ABNORMAL")])
def test_a_v2_refund_notification_maps_its_states(state, ours):
    data = {"out_refund_no": "RF1", "refund_status": state, "refund_fee": "1230", "refund_id": "5030",
            "success_time": "2026-11-26 10:30:00"}
    assert wechatpay_v2.notified_refund(data, "m") == RefundResult(
        "wechatpay_v2", "RF1", ours, 1230, "5030", AT, mchid="m", signed_by="m")


def test_a_v2_refund_notification_with_no_number_or_an_unknown_state_is_none():
    assert wechatpay_v2.notified_refund({"refund_status": "SUCCESS"}, "m") is None
    assert wechatpay_v2.notified_refund({"out_refund_no": "RF1", "refund_status": "PENDING"}, "m") is None


def test_v2_queries_and_refund_answers_become_results():
    assert wechatpay_v2.queried_payment({"trade_state": "NOTPAY"}, "o1", "m") is None
    paid = {"trade_state": "SUCCESS", "transaction_id": "4200", "total_fee": "1230", "time_end": "20261126103000"}
    assert wechatpay_v2.queried_payment(paid, "o1", "m") == PaymentResult(
        "query_v2", "m", "", "o1", "4200", "SUCCESS", 1230, AT)
    assert wechatpay_v2.refund_result({"refund_fee": "1230", "refund_id": "5030"}, "RF1") == \
        RefundResult("refund_worker", "RF1", "PROCESSING", 1230, "5030")
    assert wechatpay_v2.queried_refund({"refund_status_0": "REFUNDCLOSE", "refund_fee_0": "1230"}, "RF1") == \
        RefundResult("query_v2", "RF1", "CLOSED", 1230, None)
    assert wechatpay_v2.queried_refund({"refund_status_0": "PROCESSING"}, "RF1").refund_status == "PROCESSING"


# ---- the credit provider ---------------------------------------------------------------------

def test_an_approved_charge_is_the_payment_of_its_order_and_a_declined_one_is_none():
    assert credit.charge_result({"status": "declined"}, "o1", 2500, AT, "credit") is None
    assert credit.charge_result({"status": "approved", "charge_id": "CH1"}, "o1", 2500, AT, "credit") == \
        PaymentResult("credit", "", "", "o1", "CH1", "SUCCESS", 2500, AT, channel="credit")


def test_a_reversal_is_success_only_when_the_provider_says_succeeded():
    assert credit.reversal_result({"status": "succeeded", "reversal_id": "RV1"}, "RF1", 2500) == \
        RefundResult("credit", "RF1", "SUCCESS", 2500, "RV1")
    assert credit.reversal_result({"status": "pending", "amount_fen": 1000}, "RF1", 2500) == \
        RefundResult("credit", "RF1", "PROCESSING", 1000, None)
