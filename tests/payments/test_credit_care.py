"""Credit care (OC1, OC2): enrol by explicit, recorded consent; see limit and status;
withdraw (not while a debt is open); pay registration and outpatient fees on credit; the
provider's settlement and overdue callbacks (verified, applied once); reversal on refund;
debts visible to the patient and to finance."""
import sqlalchemy as sa

from hospital.db import engine, tables
from tests.payments.support import api, create_order, deliver_queued, ledger_rows, order_row, patient_with_bill
from tests.payments.test_refunds import finance_token, refund_by_hand

ENROLMENT = "/credit/enrolment"


def enrol(functions, token, body=None):
    return api(functions, "PaymentsApiFunction", "POST", ENROLMENT, token,
               body if body is not None else {"consent": True, "consent_version": "credit-care-2026.11"})


def credit_status(functions, token):
    return api(functions, "PaymentsApiFunction", "GET", ENROLMENT, token)


def pay_on_credit(functions, token, order_id):
    return api(functions, "PaymentsApiFunction", "POST", f"/payments/orders/{order_id}/pay", token,
               {"channel": "credit"}, {"order_id": order_id}, "/payments/orders/{order_id}/pay")


def test_enrolment_needs_explicit_consent_which_is_recorded_OC2(db, platform, functions):
    principal, token, _ = patient_with_bill(platform)
    for body, field in (({}, "consent"), ({"consent": False, "consent_version": "v1"}, "consent"),
                        ({"consent": True}, "consent_version")):
        status, answer = enrol(functions, token, body)
        assert status == 400
        assert answer["error"]["field"] == field
    assert credit_status(functions, token)[1]["enrolled"] is False
    status, enrolled = enrol(functions, token)
    assert status == 201
    assert enrolled["enrolled"] is True
    assert enrolled["limit_fen"] == 500_000
    assert enrolled["available_fen"] == 500_000
    assert enrolled["overdue_fen"] == 0
    assert enrol(functions, token)[0] == 200  # enrolling again: the same enrolment
    with engine().connect() as conn:
        consents = conn.execute(sa.select(tables.consents).where(tables.consents.c.user_id == principal.user_id,
                                                                 tables.consents.c.kind == "credit_care")).all()
        audited = conn.execute(sa.select(tables.audit_log.c.action).where(
            tables.audit_log.c.actor_user_id == principal.user_id)).scalars().all()
    assert len(consents) == 1
    assert consents[0].details == {"consent_version": "credit-care-2026.11"}
    assert "credit.enrolled" in audited


def test_a_fee_paid_on_credit_lets_the_visit_go_ahead_and_the_debt_is_settled_later_OC1(db, platform, functions):
    _, token, bill = patient_with_bill(platform, amount="36.50", bill_type="outpatient")
    enrol(functions, token)
    order_id = create_order(functions, token, bill)[1]["order_id"]
    status, paid = pay_on_credit(functions, token, order_id)
    assert status == 200
    assert paid["status"] == "paid"
    assert paid["channel"] == "credit"
    deliver_queued(platform, functions, "PaymentEventsQueue", until=lambda: order_row(order_id).status == "confirmed")
    assert platform.his.bills[bill["bill_no"]]["status"] == "paid"  # the visit goes ahead
    assert [(e.channel, e.amount_fen) for e in ledger_rows(order_id)] == [("credit", 3650)]
    debts = credit_status(functions, token)[1]["debts"]
    assert [(d["order_id"], d["status"], d["amount_fen"]) for d in debts] == [(order_id, "open", 3650)]
    assert credit_status(functions, token)[1]["available_fen"] == 500_000 - 3650
    # Paying again: refused; the provider's charge is idempotent on the order anyway.
    assert pay_on_credit(functions, token, order_id)[0] == 409
    # The debt falls overdue (visible to patient and finance), then the patient settles it.
    platform.credit.send_callback("charge.overdue", order_id)
    assert credit_status(functions, token)[1]["debts"][0]["status"] == "overdue"
    fin = finance_token(platform, order_id[:8])
    overdue = api(functions, "PaymentsAdminFunction", "GET", "/admin/payments/credit-debts", fin)[1]["items"]
    assert order_id in [d["order_id"] for d in overdue if d["status"] == "overdue"]
    assert platform.credit.send_callback("charge.settled", order_id, "patient") == 200
    assert platform.credit.send_callback("charge.settled", order_id, "patient") == 200  # again: no change
    debt = credit_status(functions, token)[1]["debts"][0]
    assert debt["status"] == "settled"
    assert debt["settled_by"] == "patient"


def test_a_callback_with_a_bad_signature_or_stale_time_is_refused_and_changes_nothing(db, platform, functions):
    _, token, bill = patient_with_bill(platform)
    enrol(functions, token)
    order_id = create_order(functions, token, bill)[1]["order_id"]
    pay_on_credit(functions, token, order_id)
    assert platform.credit.send_callback("charge.settled", order_id, "patient", tamper=True) == 401
    assert platform.credit.send_callback("charge.settled", order_id, "patient", age_seconds=301) == 401
    assert credit_status(functions, token)[1]["debts"][0]["status"] == "open"


def test_a_refund_of_a_credit_order_reverses_the_debt_OC1_OP3(db, platform, functions):
    _, token, bill = patient_with_bill(platform)
    enrol(functions, token)
    order_id = create_order(functions, token, bill)[1]["order_id"]
    pay_on_credit(functions, token, order_id)
    deliver_queued(platform, functions, "PaymentEventsQueue", until=lambda: order_row(order_id).status == "confirmed")
    fin = finance_token(platform, order_id[:8])
    refund = refund_by_hand(functions, fin, order_id, 2500)[1]
    assert refund["route"] == "credit"
    deliver_queued(platform, functions, "RefundsQueue", until=lambda: order_row(order_id).status == "refunded")
    assert [r["reversal_no"] for r in platform.credit.reversals.values() if r["charge_no"] == order_id] == \
        [refund["out_refund_no"]]
    assert [(e.entry_type, e.channel, e.amount_fen) for e in ledger_rows(order_id)] == \
        [("payment", "credit", 2500), ("refund", "credit", -2500)]
    assert credit_status(functions, token)[1]["debts"][0]["status"] == "reversed"


def test_withdrawal_is_refused_while_a_debt_is_open_and_recorded_when_done_OC2(db, platform, functions):
    principal, token, bill = patient_with_bill(platform)
    enrol(functions, token)
    order_id = create_order(functions, token, bill)[1]["order_id"]
    pay_on_credit(functions, token, order_id)
    status, answer = api(functions, "PaymentsApiFunction", "DELETE", ENROLMENT, token)
    assert status == 409
    assert answer["error"]["code"] == "outstanding_debt"
    assert credit_status(functions, token)[1]["enrolled"] is True
    platform.credit.charges[order_id]["status"] = "settled"
    platform.credit.send_callback("charge.settled", order_id, "provider")
    status, answer = api(functions, "PaymentsApiFunction", "DELETE", ENROLMENT, token)
    assert status == 200
    assert answer["enrolled"] is False
    assert credit_status(functions, token)[1]["enrolled"] is False
    with engine().connect() as conn:
        consent = conn.execute(sa.select(tables.consents).where(tables.consents.c.user_id == principal.user_id,
                                                                tables.consents.c.kind == "credit_care")).one()
    assert consent.withdrawn_at is not None
    # Without an enrolment, credit is not a way to pay.
    _, _, other_bill = patient_with_bill(platform)
    platform.his.bills[other_bill["bill_no"]]["patient_id"] = platform.his.bills[bill["bill_no"]]["patient_id"]
    order2 = create_order(functions, token, other_bill)[1]["order_id"]
    status, answer = pay_on_credit(functions, token, order2)
    assert status == 409
    assert answer["error"]["code"] == "not_enrolled"


def test_a_charge_over_the_available_limit_is_declined_and_nothing_is_paid(db, platform, functions):
    _, token, bill = patient_with_bill(platform, amount="6000.00")
    enrol(functions, token)
    order_id = create_order(functions, token, bill)[1]["order_id"]
    status, answer = pay_on_credit(functions, token, order_id)
    assert status == 409
    assert answer["error"]["code"] == "credit_declined"
    assert order_row(order_id).status == "created"
    assert ledger_rows(order_id) == []


def test_one_order_cannot_be_paid_by_wechat_and_on_credit_at_once_OC1(db, platform, functions):
    from tests.payments.support import pay

    _, token, bill = patient_with_bill(platform)
    enrol(functions, token)
    order_id = create_order(functions, token, bill)[1]["order_id"]
    assert pay(functions, token, order_id)[0] == 200  # a WeChat payment is open
    status, answer = pay_on_credit(functions, token, order_id)
    assert status == 409
    assert answer["error"]["code"] == "payment_in_progress"
    assert order_id not in platform.credit.charges
    _, token2, bill2 = patient_with_bill(platform)
    enrol(functions, token2)
    order2 = create_order(functions, token2, bill2)[1]["order_id"]
    assert pay_on_credit(functions, token2, order2)[0] == 200
    status, answer = pay(functions, token2, order2)
    assert status == 409  # paid on credit: WeChat Pay is not opened
    assert (devenv_mchid(), order2) not in platform.wechatpay.orders


def devenv_mchid():
    from infra import devenv

    return devenv.DEV_V3_MCHID
