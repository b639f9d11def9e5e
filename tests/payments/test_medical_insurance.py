"""Medical-insurance personal-account payment (OP1-OP3): auth code to a single-use
pay_auth_no, pre-settlement split, the mixed order at WeChat, the result by notification and
by polling, every part booked on its own channel, and the refund of each part to where it
came from (cash through WeChat, insurance through the platform, then the notice to WeChat)."""
import datetime as dt

import requests

from hospital.timeutil import utcnow
from infra import devenv
from tests.payments.support import (
    api,
    create_order,
    deliver_queued,
    ledger_rows,
    order_row,
    patient_with_bill,
    wait_status,
)
from tests.payments.test_refunds import finance_token, refund_by_hand


def pay_with_insurance(functions, token, order_id, auth_code):
    return api(functions, "PaymentsApiFunction", "POST", f"/payments/orders/{order_id}/pay", token,
               {"channel": "med_ins", "auth_code": auth_code}, {"order_id": order_id},
               "/payments/orders/{order_id}/pay")


def insured_order(platform, functions, amount="100.00"):
    _, token, bill = patient_with_bill(platform, amount=amount)
    order_id = create_order(functions, token, bill)[1]["order_id"]
    status, answer = pay_with_insurance(functions, token, order_id, platform.insurance.mint_auth_code("PSN001"))
    assert status == 200, answer
    return token, order_id, answer


def test_a_registration_is_paid_from_the_personal_account_and_cash_and_each_part_is_booked_OP1_OP2(
        db, platform, functions):
    _token, order_id, answer = insured_order(platform, functions, "100.00")
    assert answer["split"] == {"fund_fen": 6000, "account_fen": 3000, "other_fen": 0, "cash_fen": 1000}
    assert answer["order"]["status"] == "paying"
    assert answer["mix_trade_no"].startswith("MIX")
    requests.post(f"{platform.wechatpay.url}/_sim/med-ins/pay", json={"mix_trade_no": answer["mix_trade_no"]},
                  timeout=5)
    wait_status(order_id, "paid")
    assert order_row(order_id).paid_fen == 10000
    assert sorted((e.channel, e.amount_fen) for e in ledger_rows(order_id)) == \
        [("med_ins_account", 3000), ("med_ins_fund", 6000), ("wechat", 1000)]
    deliver_queued(platform, functions, "PaymentEventsQueue", until=lambda: order_row(order_id).status == "confirmed")


def test_the_auth_code_is_single_use_and_bad_input_changes_nothing_OP1(db, platform, functions):
    _, token, bill = patient_with_bill(platform)
    order_id = create_order(functions, token, bill)[1]["order_id"]
    status, answer = pay_with_insurance(functions, token, order_id, "AC-never-issued")
    assert status == 400
    assert answer["error"]["field"] == "auth_code"
    status, answer = api(functions, "PaymentsApiFunction", "POST", f"/payments/orders/{order_id}/pay", token,
                         {"channel": "med_ins"}, {"order_id": order_id}, "/payments/orders/{order_id}/pay")
    assert status == 400
    assert answer["error"]["field"] == "auth_code"
    assert order_row(order_id).status == "created"
    code = platform.insurance.mint_auth_code("PSN002")
    assert pay_with_insurance(functions, token, order_id, code)[0] == 200
    assert pay_with_insurance(functions, token, order_id, code)[0] == 409  # already being paid


def test_a_mixed_payment_whose_notification_never_came_is_found_by_polling_OP1(db, platform, functions):
    from hospital.payments import sweeper

    _, order_id, answer = insured_order(platform, functions, "40.00")
    platform.wechatpay.pay_med_ins(devenv.DEV_V3_MCHID, answer["mix_trade_no"], notify=False)
    assert sweeper.run(now=utcnow() + dt.timedelta(minutes=2))["queried"] >= 1
    assert order_row(order_id).status == "paid"
    assert sum(e.amount_fen for e in ledger_rows(order_id)) == 4000


def test_a_refund_returns_each_part_where_it_came_from_once_OP3(db, platform, functions):
    _, order_id, answer = insured_order(platform, functions, "100.00")
    platform.wechatpay.pay_med_ins(devenv.DEV_V3_MCHID, answer["mix_trade_no"])
    wait_status(order_id, "paid")
    deliver_queued(platform, functions, "PaymentEventsQueue", until=lambda: order_row(order_id).status == "confirmed")
    fin = finance_token(platform, order_id[:8])
    status, body = refund_by_hand(functions, fin, order_id, 5000)
    assert status == 409
    assert body["error"]["code"] == "refund_must_be_full"
    refund = refund_by_hand(functions, fin, order_id, 10000, "his_cancelled")[1]
    deliver_queued(platform, functions, "RefundsQueue", until=lambda: order_row(order_id).status == "refunded",
                   timeout=15)
    cash = [r for r in platform.wechatpay.refunds.values() if r["out_trade_no"] == order_id]
    assert [(r["out_refund_no"], r["refund"]) for r in cash] == [(refund["out_refund_no"], 1000)]
    assert [(r["out_refund_no"], r["fund_pay"], r["psn_acct_pay"]) for r in platform.insurance.refunds.values()
            if r["pay_ord_id"] == order_row(order_id).ins_pay_ord_id] == [(refund["out_refund_no"], "60.00", "30.00")]
    notices = [n for n in platform.wechatpay.med_refund_notices if n["mix_trade_no"] == answer["mix_trade_no"]]
    assert [(n["out_refund_no"], n["med_refund_total_fee"]) for n in notices] == [(refund["out_refund_no"], 9000)]
    assert sorted((e.entry_type, e.channel, e.amount_fen)
                  for e in ledger_rows(order_id) if e.entry_type == "refund") == \
        [("refund", "med_ins_account", -3000), ("refund", "med_ins_fund", -6000), ("refund", "wechat", -1000)]
    # Delivered again (a duplicate message): nothing more anywhere.
    from hospital.payments import refunds

    refunds.process(refund["refund_id"])
    assert len(platform.insurance.refunds) == len({r["out_refund_no"] for r in platform.insurance.refunds.values()})
    assert len([e for e in ledger_rows(order_id) if e.entry_type == "refund"]) == 3


def test_an_insurance_refund_still_processing_is_finished_by_the_platforms_signed_callback_OP3(
        db, platform, functions):
    _, order_id, answer = insured_order(platform, functions, "50.00")
    platform.wechatpay.pay_med_ins(devenv.DEV_V3_MCHID, answer["mix_trade_no"])
    wait_status(order_id, "paid")
    deliver_queued(platform, functions, "PaymentEventsQueue", until=lambda: order_row(order_id).status == "confirmed")
    platform.insurance.refund_mode = "processing"
    try:
        refund = refund_by_hand(functions, finance_token(platform, order_id[:8]), order_id, 5000, "his_cancelled")[1]
        deliver_queued(platform, functions, "RefundsQueue",
                       until=lambda: platform.insurance.refunds.get(refund["out_refund_no"]) is not None)
    finally:
        platform.insurance.refund_mode = "immediate"
    assert order_row(order_id).status == "refund_pending"  # the insurance part is not back yet: nothing guessed
    assert order_row(order_id).refunded_fen == 500  # only the cash part so far, booked as it came back
    pay_ord_id = order_row(order_id).ins_pay_ord_id
    assert platform.insurance.send_callback({"event": "refund.succeeded", "pay_ord_id": pay_ord_id,
                                             "out_refund_no": refund["out_refund_no"]}, tamper=True) == 401
    platform.insurance.refunds[refund["out_refund_no"]]["status"] = "SUCCESS"
    assert platform.insurance.send_callback({"event": "refund.succeeded", "pay_ord_id": pay_ord_id,
                                             "out_refund_no": refund["out_refund_no"]}) == 200
    deliver_queued(platform, functions, "RefundsQueue", until=lambda: order_row(order_id).status == "refunded")
    assert order_row(order_id).refunded_fen == 5000
    assert len([r for r in platform.insurance.refunds.values() if r["pay_ord_id"] == pay_ord_id]) == 1
