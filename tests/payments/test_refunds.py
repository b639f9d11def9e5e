"""Refunds go back the original route, exactly once, whatever crashes or repeats (OR2, OR3,
OP3): a deterministic out_refund_no, the worker resumed by redelivery, the final state from
the notification or by query, every movement in the ledger, abnormal refunds to a person."""
import pytest
import sqlalchemy as sa

from hospital.db import engine, tables
from infra import devenv
from tests.conftest import wait_for
from tests.payments.support import (
    api,
    create_order,
    deliver_queued,
    ledger_rows,
    order_row,
    patient_pays,
    patient_with_bill,
    pay,
    wait_status,
)


def confirmed_order(platform, functions, amount="25.00"):
    _, token, bill = patient_with_bill(platform, amount=amount)
    order_id = create_order(functions, token, bill)[1]["order_id"]
    assert pay(functions, token, order_id)[0] == 200
    patient_pays(platform, order_id)
    wait_status(order_id, "paid")
    deliver_queued(platform, functions, "PaymentEventsQueue", until=lambda: order_row(order_id).status == "confirmed")
    return order_id, bill


def finance_token(platform, tag):
    from hospital.auth import sessions

    user = sessions.sign_in_identity(platform.mini_program_app_id, f"o-fin-{tag}")
    sessions.grant_role(user["user"]["id"], "finance")
    return sessions.sign_in_identity(platform.mini_program_app_id, f"o-fin-{tag}")["access_token"]


def refund_by_hand(functions, token, order_id, amount_fen, reason="patient_request"):
    return api(functions, "PaymentsAdminFunction", "POST", f"/admin/payments/orders/{order_id}/refunds", token,
               {"amount_fen": amount_fen, "reason": reason}, {"order_id": order_id},
               "/admin/payments/orders/{order_id}/refunds")


def sim_refunds(platform, order_id):
    return [r for r in platform.wechatpay.refunds.values() if r["out_trade_no"] == order_id]


def refund_row(out_refund_no):
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.payment_refunds)
                            .where(tables.payment_refunds.c.out_refund_no == out_refund_no)).one()


def test_a_refund_goes_back_through_wechat_once_and_is_booked_OR2_OR3(db, platform, functions):
    order_id, _ = confirmed_order(platform, functions)
    token = finance_token(platform, order_id[:8])
    status, refund = refund_by_hand(functions, token, order_id, 2500)
    assert status == 202
    assert refund["status"] == "requested"
    assert refund["out_refund_no"].startswith("RF")
    # The same request again (a double click) is the same refund, not a second one.
    assert refund_by_hand(functions, token, order_id, 2500)[1]["out_refund_no"] == refund["out_refund_no"]
    assert order_row(order_id).status == "refund_pending"
    # The worker, then the simulator's REFUND.SUCCESS notification.
    deliver_queued(platform, functions, "RefundsQueue", until=lambda: order_row(order_id).status == "refunded")
    assert len(sim_refunds(platform, order_id)) == 1
    assert refund_row(refund["out_refund_no"]).status == "succeeded"
    assert [(e.entry_type, e.amount_fen) for e in ledger_rows(order_id)] == [("payment", 2500), ("refund", -2500)]
    status, check = api(functions, "PaymentsAdminFunction", "GET", "/admin/payments/ledger-check", token)
    assert status == 200
    assert check["balanced"] is True
    assert check["mismatches"] == []


def test_worker_killed_after_the_provider_accepted_is_resumed_by_redelivery_with_one_refund(
        db, platform, functions, monkeypatch):
    from hospital.payments import results

    order_id, _ = confirmed_order(platform, functions)
    token = finance_token(platform, order_id[:8])
    platform.wechatpay.refund_mode = "manual"  # the refund stays PROCESSING until we finish it
    try:
        refund = refund_by_hand(functions, token, order_id, 2500)[1]
        real_apply = results.apply_refund

        class Killed(BaseException):
            """The container dies: not an Exception, nothing in our code catches it."""

        def die(result):
            raise Killed()

        monkeypatch.setattr(results, "apply_refund", die)  # dies between "provider accepted" and "state saved"
        sqs, url = platform.sqs(), platform.queue_url("RefundsQueue")
        mine = wait_for(lambda: [
            m for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if refund["refund_id"] in m["Body"]])
        record = {"messageId": mine[0]["MessageId"], "receiptHandle": mine[0]["ReceiptHandle"], "body": mine[0]["Body"],
                  "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                  "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:hospital-dev-refunds"}
        with pytest.raises(Killed):
            functions.invoke("RefundWorkerFunction", {"Records": [record]})
        assert len(sim_refunds(platform, order_id)) == 1  # the provider has it...
        assert refund_row(refund["out_refund_no"]).status == "requested"  # ...we never saved it
        monkeypatch.setattr(results, "apply_refund", real_apply)
        # Not deleted, the message comes back when its visibility timeout ends (now, here).
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=mine[0]["ReceiptHandle"], VisibilityTimeout=0)
        deliver_queued(platform, functions, "RefundsQueue",
                       until=lambda: refund_row(refund["out_refund_no"]).status == "processing")
        assert len(sim_refunds(platform, order_id)) == 1  # asked again with the same number: still one
        platform.wechatpay.finish_refund(devenv.DEV_V3_MCHID, refund["out_refund_no"], "SUCCESS")
        wait_status(order_id, "refunded")
    finally:
        platform.wechatpay.refund_mode = "auto"
    assert [(e.entry_type, e.amount_fen) for e in ledger_rows(order_id)] == [("payment", 2500), ("refund", -2500)]


def test_a_refund_without_notification_is_finished_by_query(db, platform, functions):
    import datetime as dt

    from hospital.payments import sweeper
    from hospital.timeutil import utcnow

    order_id, _ = confirmed_order(platform, functions)
    token = finance_token(platform, order_id[:8])
    platform.wechatpay.refund_mode = "manual"
    try:
        refund = refund_by_hand(functions, token, order_id, 1000, "partial_item")[1]
        deliver_queued(platform, functions, "RefundsQueue",
                       until=lambda: refund_row(refund["out_refund_no"]).status == "processing")
        assert refund_row(refund["out_refund_no"]).status == "processing"
        # WeChat finishes it but its notification never arrives.
        platform.wechatpay.notify_options["delay_seconds"] = 3600
        platform.wechatpay.finish_refund(devenv.DEV_V3_MCHID, refund["out_refund_no"], "SUCCESS")
    finally:
        platform.wechatpay.refund_mode = "auto"
        platform.wechatpay.notify_options["delay_seconds"] = 0.0
    done = sweeper.run(now=utcnow() + dt.timedelta(minutes=2))
    assert done["refunds_followed"] >= 1
    assert refund_row(refund["out_refund_no"]).status == "succeeded"
    row = order_row(order_id)
    assert row.status == "confirmed"
    assert row.refunded_fen == 1000  # a partial refund: the rest stays paid


def test_an_abnormal_refund_goes_to_a_person_and_books_nothing(db, platform, functions):
    order_id, _ = confirmed_order(platform, functions)
    token = finance_token(platform, order_id[:8])
    platform.wechatpay.refund_mode = "manual"
    try:
        refund = refund_by_hand(functions, token, order_id, 2500)[1]
        deliver_queued(platform, functions, "RefundsQueue",
                       until=lambda: refund_row(refund["out_refund_no"]).status == "processing")
        platform.wechatpay.finish_refund(devenv.DEV_V3_MCHID, refund["out_refund_no"], "ABNORMAL")
    finally:
        platform.wechatpay.refund_mode = "auto"
    wait_for(lambda: refund_row(refund["out_refund_no"]).status == "abnormal")
    assert [e.entry_type for e in ledger_rows(order_id)] == ["payment"]
    listed = api(functions, "PaymentsAdminFunction", "GET", "/admin/payments/anomalies", token)[1]["items"]
    assert ("refund_abnormal", refund["out_refund_no"]) in [(a["reason"], a["out_refund_no"]) for a in listed]


@pytest.mark.parametrize("amount", [0, -1, 2501, 25.0, "25.00", True])
def test_a_refund_beyond_what_was_paid_or_not_in_whole_fen_is_refused_and_changes_nothing(db, platform, functions,
                                                                                           amount):
    order_id, _ = confirmed_order(platform, functions)
    token = finance_token(platform, order_id[:8])
    status, body = refund_by_hand(functions, token, order_id, amount)
    assert status in (400, 409)
    assert body["error"]["field"] == "amount_fen"
    with engine().connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.payment_refunds)
                            .where(tables.payment_refunds.c.order_id == order_id)).scalar_one() == 0
    assert order_row(order_id).status == "confirmed"


def test_a_partial_refund_before_the_his_confirmed_leaves_the_order_paid_until_it_does(db, platform, functions):
    _, token, bill = patient_with_bill(platform)
    order_id = create_order(functions, token, bill)[1]["order_id"]
    assert pay(functions, token, order_id)[0] == 200
    patient_pays(platform, order_id)
    wait_status(order_id, "paid")  # the HIS confirmation has not run yet
    fin = finance_token(platform, order_id[:8])
    refund = refund_by_hand(functions, fin, order_id, 500, "overcharge")[1]
    assert order_row(order_id).status == "paid"
    deliver_queued(platform, functions, "RefundsQueue",
                   until=lambda: refund_row(refund["out_refund_no"]).status == "succeeded")
    row = order_row(order_id)
    assert row.status == "paid"  # not "confirmed": the HIS has not said so
    assert row.refunded_fen == 500
    deliver_queued(platform, functions, "PaymentEventsQueue", until=lambda: order_row(order_id).status == "confirmed")


def test_a_refund_the_provider_refuses_is_closed_for_finance_and_another_can_be_asked(db, platform, functions):
    order_id, _ = confirmed_order(platform, functions)
    fin = finance_token(platform, order_id[:8])
    sim_order = platform.wechatpay.orders[(devenv.DEV_V3_MCHID, order_id)]
    sim_order["refunded"] = sim_order["total"]  # WeChat will answer NOT_ENOUGH
    refund = refund_by_hand(functions, fin, order_id, 2500)[1]
    deliver_queued(platform, functions, "RefundsQueue",
                   until=lambda: refund_row(refund["out_refund_no"]).status == "closed")
    assert order_row(order_id).status == "confirmed"  # out of refund_pending: nothing is open
    listed = api(functions, "PaymentsAdminFunction", "GET", "/admin/payments/anomalies", fin)[1]["items"]
    assert ("refund_refused", refund["out_refund_no"]) in [(a["reason"], a["out_refund_no"]) for a in listed]
    # The same reason with another amount is refused; the cause fixed, another reason goes through.
    status, body = refund_by_hand(functions, fin, order_id, 2400)
    assert status == 409
    assert body["error"]["code"] == "refund_reason_used"
    sim_order["refunded"] = 0
    again = refund_by_hand(functions, fin, order_id, 2500, "patient_request_2")[1]
    deliver_queued(platform, functions, "RefundsQueue", until=lambda: order_row(order_id).status == "refunded")
    assert refund_row(again["out_refund_no"]).status == "succeeded"
    assert [(e.entry_type, e.amount_fen) for e in ledger_rows(order_id)] == [("payment", 2500), ("refund", -2500)]
