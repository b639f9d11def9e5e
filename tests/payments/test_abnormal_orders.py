"""Abnormal orders (AS1): the watchdog lists what stayed stuck past its threshold, once, and
resolves it by itself once the state cleared; finance's safe actions on an entry go through the
system's own paths over the simulators (a query finds the order paid, a retry gets the HIS to
confirm, a refund refunds once even sent twice at once, a resolution keeps its note), are
refused when they do not fit, and are all audited."""
import concurrent.futures
import datetime as dt
import uuid

import sqlalchemy as sa

from hospital.db import engine, tables
from hospital.payments import refunds as refund_service
from hospital.payments import watchdog
from hospital.timeutil import utcnow
from infra import devenv
from tests.payments.support import (
    anomalies_of,
    api,
    create_order,
    deliver_queued,
    ledger_rows,
    order_row,
    patient_with_bill,
    pay,
    wait_status,
)
from tests.payments.test_his_confirmation import paid_order
from tests.payments.test_refunds import confirmed_order, finance_token, refund_by_hand, refund_row, sim_refunds
from tests.payments.test_strict_input import anomaly, audit_count, open_anomaly

ACTIONS = "/admin/payments/anomalies/{anomaly_id}/actions"
V3_QUERY = "/v3/pay/transactions/out-trade-no/{out_trade_no}"
V3_REFUNDS = "/v3/refund/domestic/refunds"


def act(functions, token, anomaly_id, body):
    return api(functions, "PaymentsAdminFunction", "POST", ACTIONS.format(anomaly_id=anomaly_id), token, body,
               {"anomaly_id": str(anomaly_id)}, ACTIONS)


def watch(now: dt.datetime) -> None:
    """Run the watchdog as of `now` until it finds nothing new (the shared database holds other
    tests' orders too; each run records at most a batch)."""
    for _ in range(50):
        if not any(watchdog.run(now=now)["recorded"].values()):
            return
    raise AssertionError("the watchdog kept finding new entries")


def only_entry(order_id, reason=None):
    found = [a for a in anomalies_of(order_id) if reason is None or a.reason == reason]
    assert len(found) == 1, [(a.reason, a.source) for a in anomalies_of(order_id)]
    return found[0]


def audits(anomaly_id) -> list[tuple]:
    with engine().connect() as conn:
        return [(r.action, r.result, r.actor_user_id, r.details) for r in conn.execute(
            sa.select(tables.audit_log).where(tables.audit_log.c.target_type == "payment_anomaly",
                                              tables.audit_log.c.target_id == str(anomaly_id))
            .order_by(tables.audit_log.c.id))]


def finance(platform):
    from hospital.auth.tokens import verify_access_token

    token = finance_token(platform, uuid.uuid4().hex[:8])
    return token, verify_access_token(token).user_id


def paid_while_the_his_is_down(platform, functions):
    order_id, bill = paid_order(platform, functions)
    platform.his.inject_fault("/his/gateway", "http500", count=1000)
    try:
        deliver_queued(platform, functions, "PaymentEventsQueue", until=lambda: order_row(order_id).his_attempts >= 1)
    finally:
        platform.his.clear_faults()
    return order_id, bill


def his_confirmations(platform, order_id):
    return [c for c in platform.his.confirmations if c.get("pay_order_no") == order_id]


# ---- detection, clearing, and each action over the simulators ------------------------------------------------

def test_an_order_paid_at_the_provider_that_we_never_heard_of_is_listed_once_and_a_query_finds_it_paid_AS1(
        db, platform, functions):
    _, token, bill = patient_with_bill(platform)
    order_id = create_order(functions, token, bill)[1]["order_id"]
    assert pay(functions, token, order_id)[0] == 200
    platform.wechatpay.pay(devenv.DEV_V3_MCHID, order_id, notify=False)  # paid; the notification is lost
    expires = order_row(order_id).expires_at
    watch(expires + dt.timedelta(minutes=29, seconds=59))
    assert anomalies_of(order_id) == []  # the sweeper's time to settle it is not over
    watch(expires + dt.timedelta(minutes=30))
    entry = only_entry(order_id)
    assert (entry.source, entry.reason, entry.amount_fen, entry.details["status"]) == (
        "watchdog", "payment_unsettled", 2500, "paying")
    assert watchdog.run(now=expires + dt.timedelta(hours=2))["recorded"]["payment_unsettled"] == 0
    assert len(anomalies_of(order_id)) == 1  # running again adds nothing

    token, user_id = finance(platform)
    listed = api(functions, "PaymentsAdminFunction", "GET", "/admin/payments/anomalies", token)[1]["items"]
    assert [item["actions"] for item in listed if item["id"] == entry.id] == [["query_provider", "resolve"]]
    platform.wechatpay.inject_fault(V3_QUERY, "http500", count=10)  # WeChat Pay cannot be asked
    try:
        status, body = act(functions, token, entry.id, {"action": "query_provider", "note": "患者称已付款"})
    finally:
        platform.wechatpay.clear_faults()
    assert status == 503, body
    assert order_row(order_id).status == "paying"
    status, answer = act(functions, token, entry.id, {"action": "query_provider"})
    assert status == 200, answer
    assert answer["outcome"]["order_status"] == "paid" and answer["outcome"]["paid_fen"] == 2500
    assert act(functions, token, entry.id, {"action": "query_provider"})[0] == 200  # twice is once
    assert [(e.entry_type, e.amount_fen) for e in ledger_rows(order_id)] == [("payment", 2500)]

    watch(utcnow())
    cleared = anomaly(entry.id)
    assert cleared.resolved_at is not None and cleared.resolved_by is None
    assert cleared.resolution == "cleared by itself: the order is paid now"
    assert [(a[0], a[1], a[2]) for a in audits(entry.id)] == [
        ("payments.anomaly_action", "error", user_id), ("payments.anomaly_action", "ok", user_id),
        ("payments.anomaly_action", "ok", user_id), ("payments.anomaly_cleared", "ok", None)]
    assert audits(entry.id)[0][3]["note"] == "患者称已付款"
    status, body = act(functions, token, entry.id, {"action": "query_provider"})
    assert (status, body["error"]["code"]) == (409, "already_resolved")


def test_a_paid_order_the_his_has_not_confirmed_is_listed_and_a_retry_confirms_it_once_AS1(db, platform, functions):
    order_id, _ = paid_while_the_his_is_down(platform, functions)
    paid_at = order_row(order_id).paid_at
    watch(paid_at + dt.timedelta(minutes=29))
    assert anomalies_of(order_id) == []
    watch(paid_at + dt.timedelta(minutes=30))
    entry = only_entry(order_id)
    assert entry.reason == "paid_unconfirmed"
    assert entry.details["his_attempts"] >= 1 and entry.details["his_error"]
    token, _ = finance(platform)

    platform.his.inject_fault("/his/gateway", "http500", count=1000)
    try:
        status, body = act(functions, token, entry.id, {"action": "retry_his"})
    finally:
        platform.his.clear_faults()
    assert (status, body["error"]["code"]) == (503, "upstream_unavailable")
    assert order_row(order_id).status == "paid"
    status, body = act(functions, token, entry.id, {"action": "query_provider"})
    assert (status, body["error"]["code"], body["error"]["field"]) == (409, "action_not_allowed", "action")
    for _ in range(2):
        status, answer = act(functions, token, entry.id, {"action": "retry_his"})
        assert status == 200, answer
        assert answer["outcome"]["order_status"] == "confirmed"
    assert len(his_confirmations(platform, order_id)) == 1

    watch(utcnow())
    assert anomaly(entry.id).resolution == "cleared by itself: the order is confirmed now"
    assert [(a[0], a[1], a[3].get("action"), a[3].get("error")) for a in audits(entry.id)] == [
        ("payments.anomaly_action", "error", "retry_his", "upstream_unavailable"),
        ("payments.anomaly_action", "refused", "query_provider", "action_not_allowed"),
        ("payments.anomaly_action", "ok", "retry_his", None), ("payments.anomaly_action", "ok", "retry_his", None),
        ("payments.anomaly_cleared", "ok", None, None)]


def test_a_refund_of_an_order_the_his_never_confirmed_refunds_it_once_even_asked_twice_at_once_AS1(
        db, platform, functions):
    order_id, _ = paid_while_the_his_is_down(platform, functions)
    watch(order_row(order_id).paid_at + dt.timedelta(hours=1))
    entry = only_entry(order_id, "paid_unconfirmed")
    token, _ = finance(platform)
    body = {"action": "refund", "note": "患者要求退款"}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: act(functions, token, entry.id, body), range(2)))
    assert [status for status, _ in answers] == [202, 202], answers
    assert len({answer["outcome"]["refund"]["out_refund_no"] for _, answer in answers}) == 1
    assert sorted(answer["outcome"]["repeated"] for _, answer in answers) == [False, True]
    status, again = act(functions, token, entry.id, {"action": "refund"})
    assert (status, again["outcome"]["repeated"], again["outcome"]["refund"]["amount_fen"]) == (202, True, 2500)
    status, other = act(functions, token, entry.id, {"action": "refund", "amount_fen": 100})
    assert (status, other["error"]["code"]) == (409, "refund_reason_used")
    assert order_row(order_id).status == "his_failed"  # the HIS is no longer told of it

    deliver_queued(platform, functions, "RefundsQueue", until=lambda: order_row(order_id).status == "refunded")
    assert len(sim_refunds(platform, order_id)) == 1
    assert [(e.entry_type, e.amount_fen) for e in ledger_rows(order_id)] == [("payment", 2500), ("refund", -2500)]
    assert [a.reason for a in anomalies_of(order_id)] == ["paid_unconfirmed"]  # finance's own refund: no new entry
    watch(utcnow())
    assert anomaly(entry.id).resolution == "cleared by itself: the order is refunded now"
    refunds_audited = [a[3] for a in audits(entry.id) if a[0] == "payments.anomaly_action" and a[1] == "ok"]
    assert [(a["amount_fen"], a["repeated"]) for a in refunds_audited] == [(2500, False), (2500, True), (2500, True)]
    assert refunds_audited[0]["note"] == "患者要求退款"


def test_a_refund_that_never_reached_its_provider_is_listed_and_a_query_sends_it_once_AS1(db, platform, functions):
    order_id, _ = confirmed_order(platform, functions)
    token, _ = finance(platform)
    platform.wechatpay.inject_fault(V3_REFUNDS, "http500", count=1000)
    try:
        refund = refund_by_hand(functions, token, order_id, 2500)[1]
        deliver_queued(platform, functions, "RefundsQueue",
                       until=lambda: platform.wechatpay.stats().get(V3_REFUNDS, 0) > 0)
    finally:
        platform.wechatpay.clear_faults()
    assert refund_row(refund["out_refund_no"]).status == "requested"
    requested_at = refund_row(refund["out_refund_no"]).created_at
    watch(requested_at + dt.timedelta(minutes=59))
    assert anomalies_of(order_id) == []
    watch(requested_at + dt.timedelta(hours=1))
    entry = only_entry(order_id)
    assert (entry.reason, entry.out_refund_no, entry.amount_fen) == ("refund_unsent", refund["out_refund_no"], 2500)

    for _ in range(2):
        status, answer = act(functions, token, entry.id, {"action": "query_provider"})
        assert status == 200, answer
        assert answer["outcome"]["refunds"][0]["status"] in ("processing", "succeeded")
    wait_status(order_id, "refunded")
    assert len(sim_refunds(platform, order_id)) == 1
    watch(utcnow())
    assert anomaly(entry.id).resolution.startswith("cleared by itself: the refund is ")


def test_a_refund_the_provider_processes_too_long_is_listed_and_a_query_finishes_it_AS1(db, platform, functions):
    order_id, _ = confirmed_order(platform, functions)
    token, _ = finance(platform)
    platform.wechatpay.refund_mode = "manual"
    try:
        refund = refund_by_hand(functions, token, order_id, 2500)[1]
        number = refund["out_refund_no"]
        deliver_queued(platform, functions, "RefundsQueue", until=lambda: refund_row(number).status == "processing")
        platform.wechatpay.notify_options["delay_seconds"] = 3600  # WeChat finishes it; we are not told
        platform.wechatpay.finish_refund(devenv.DEV_V3_MCHID, number, "SUCCESS")
    finally:
        platform.wechatpay.refund_mode = "auto"
        platform.wechatpay.notify_options["delay_seconds"] = 0.0
    requested_at = refund_row(number).created_at
    watch(requested_at + dt.timedelta(days=3) - dt.timedelta(seconds=1))
    assert anomalies_of(order_id) == []
    watch(requested_at + dt.timedelta(days=3))
    entry = only_entry(order_id)
    assert (entry.reason, entry.details["status"]) == ("refund_stuck", "processing")

    status, answer = act(functions, token, entry.id, {"action": "query_provider"})
    assert status == 200, answer
    assert answer["outcome"]["order_status"] == "refunded"
    assert [r["status"] for r in answer["outcome"]["refunds"]] == ["succeeded"]
    watch(utcnow())
    assert anomaly(entry.id).resolution == "cleared by itself: the refund is succeeded now"


def test_an_abnormal_refund_is_listed_once_and_a_query_finds_it_done_when_the_provider_finished_it_AS1(
        db, platform, functions):
    order_id, _ = confirmed_order(platform, functions)
    token, _ = finance(platform)
    platform.wechatpay.refund_mode = "manual"
    try:
        number = refund_by_hand(functions, token, order_id, 2500)[1]["out_refund_no"]
        deliver_queued(platform, functions, "RefundsQueue", until=lambda: refund_row(number).status == "processing")
        platform.wechatpay.finish_refund(devenv.DEV_V3_MCHID, number, "ABNORMAL")  # the card was frozen
        wait_refund(number, "abnormal")
        watch(utcnow() + dt.timedelta(days=1))
        entry = only_entry(order_id)  # recorded when WeChat said so; the watchdog adds no second one
        assert (entry.reason, entry.source) == ("refund_abnormal", "wechatpay_v3")
        platform.wechatpay.notify_options["delay_seconds"] = 3600
        platform.wechatpay.finish_refund(devenv.DEV_V3_MCHID, number, "SUCCESS")  # the bank took it after all
    finally:
        platform.wechatpay.refund_mode = "auto"
        platform.wechatpay.notify_options["delay_seconds"] = 0.0
    status, answer = act(functions, token, entry.id, {"action": "query_provider"})
    assert status == 200, answer
    assert answer["outcome"]["order_status"] == "refunded"
    assert [(e.entry_type, e.amount_fen) for e in ledger_rows(order_id)] == [("payment", 2500), ("refund", -2500)]
    watch(utcnow())
    assert anomaly(entry.id).resolution == "cleared by itself: the refund is succeeded now"


def test_an_abnormal_refund_nothing_recorded_is_listed_by_the_watchdog_AS1(db, platform, functions):
    order_id, _ = confirmed_order(platform, functions)
    token, _ = finance(platform)
    platform.wechatpay.refund_mode = "manual"
    try:
        number = refund_by_hand(functions, token, order_id, 2500)[1]["out_refund_no"]
        deliver_queued(platform, functions, "RefundsQueue", until=lambda: refund_row(number).status == "processing")
    finally:
        platform.wechatpay.refund_mode = "auto"
    with engine().begin() as conn:  # a fault left it abnormal without telling finance
        conn.execute(tables.payment_refunds.update().where(tables.payment_refunds.c.out_refund_no == number)
                     .values(status="abnormal"))
    watch(utcnow())
    entry = only_entry(order_id)
    assert (entry.reason, entry.source, entry.dedupe_key) == (
        "refund_abnormal", "watchdog", f"refund:abnormal:{number}")
    platform.wechatpay.finish_refund(devenv.DEV_V3_MCHID, number, "SUCCESS")  # its notification settles it
    wait_status(order_id, "refunded")
    watch(utcnow())
    assert anomaly(entry.id).resolved_at is not None


def test_an_order_the_his_failed_whose_money_did_not_go_back_is_listed_and_refunded_AS1(db, platform, functions):
    order_id, bill = paid_order(platform, functions)
    platform.his.bills[bill["bill_no"]]["status"] = "cancelled"  # the HIS will refuse the payment
    sim_order = platform.wechatpay.orders[(devenv.DEV_V3_MCHID, order_id)]
    sim_order["refunded"] = sim_order["total"]  # and WeChat will refuse the refund (NOT_ENOUGH)
    deliver_queued(platform, functions, "PaymentEventsQueue", until=lambda: order_row(order_id).status == "his_failed")
    policy_refund = refund_service.out_refund_no(order_id, "his_refused")
    deliver_queued(platform, functions, "RefundsQueue", until=lambda: refund_row(policy_refund).status == "closed")
    refused = only_entry(order_id, "refund_refused")
    watch(utcnow() + dt.timedelta(hours=2))
    assert [a.reason for a in anomalies_of(order_id)] == ["refund_refused"]  # listed already: not twice

    token, _ = finance(platform)
    status, _ = api(functions, "PaymentsAdminFunction", "POST", f"/admin/payments/anomalies/{refused.id}/resolve",
                    token, {"resolution": "银行退票，已联系患者"}, {"anomaly_id": str(refused.id)},
                    "/admin/payments/anomalies/{anomaly_id}/resolve")
    assert status == 200
    failed_at = order_row(order_id).updated_at
    watch(failed_at + dt.timedelta(minutes=59))
    assert [a.reason for a in anomalies_of(order_id)] == ["refund_refused"]
    watch(failed_at + dt.timedelta(hours=1))
    entry = only_entry(order_id, "his_failed_unrefunded")  # resolved, yet the money is still not back
    assert entry.details["his_error"].startswith("E_BILL_CANCELLED")

    sim_order["refunded"] = 0
    status, answer = act(functions, token, entry.id, {"action": "refund", "note": "再次退款"})
    assert status == 202, answer
    assert answer["outcome"]["refund"]["amount_fen"] == 2500
    deliver_queued(platform, functions, "RefundsQueue", until=lambda: order_row(order_id).status == "refunded")
    assert [(e.entry_type, e.amount_fen) for e in ledger_rows(order_id)] == [("payment", 2500), ("refund", -2500)]
    watch(utcnow())
    assert anomaly(entry.id).resolution == "cleared by itself: the order is refunded now"


# ---- refusals ----------------------------------------------------------------------------------------------------

def test_a_body_that_does_not_fit_is_400_naming_the_field_and_changes_nothing_AS1(db, platform, functions):
    number = open_anomaly()
    token, _ = finance(platform)
    before = audit_count()
    for body, field in [({}, "action"), ({"action": "cancel"}, "action"), ({"action": "resolve"}, "note"),
                        ({"action": "resolve", "note": "已线下退款\u202e"}, "note"),
                        ({"action": "query_provider", "amount_fen": 100}, "amount_fen"),
                        ({"action": "refund", "amount_fen": 1.5}, "amount_fen"),
                        ({"action": "refund", "amount_fen": "100"}, "amount_fen"),
                        ({"action": "refund", "amount_fen": 0}, "amount_fen"),
                        ({"action": "resolve", "note": "已线下退款", "by": "me"}, "by")]:
        status, answer = act(functions, token, number, body)
        assert (status, answer["error"]["field"]) == (400, field), (body, answer)
    status, answer = act(functions, token, "１２", {"action": "resolve", "note": "已线下退款"})
    assert (status, answer["error"]["field"]) == (400, "anomaly_id")
    status, answer = act(functions, token, 999999999, {"action": "resolve", "note": "已线下退款"})
    assert (status, answer["error"]["field"]) == (404, "anomaly_id")
    assert anomaly(number).resolved_at is None
    assert audit_count() == before


def test_an_action_the_entry_does_not_allow_or_on_a_resolved_entry_is_409_and_audited_AS1(db, platform, functions):
    number = open_anomaly()  # news for an order that is not ours: no money of ours to move
    token, user_id = finance(platform)
    for action in ("query_provider", "retry_his", "refund"):
        status, answer = act(functions, token, number, {"action": action})
        assert (status, answer["error"]["code"], answer["error"]["field"]) == (409, "action_not_allowed", "action")
    status, answer = act(functions, token, number, {"action": "resolve", "note": "商户平台核实：非本院订单"})
    assert status == 200, answer
    assert answer["anomaly"]["resolution"] == "商户平台核实：非本院订单"
    assert answer["anomaly"]["resolved_by"] == user_id and answer["anomaly"]["actions"] == []
    for action, extra in (("resolve", {"note": "再次处理"}), ("refund", {})):
        status, answer = act(functions, token, number, {"action": action, **extra})
        assert (status, answer["error"]["code"]) == (409, "already_resolved")
    status, answer = api(functions, "PaymentsAdminFunction", "POST", f"/admin/payments/anomalies/{number}/resolve",
                         token, {"resolution": "再次处理"}, {"anomaly_id": str(number)},
                         "/admin/payments/anomalies/{anomaly_id}/resolve")
    assert (status, answer["error"]["code"]) == (409, "already_resolved")  # the older route, the same path
    assert anomaly(number).resolution == "商户平台核实：非本院订单"
    assert [(a[0], a[1], a[2]) for a in audits(number)] == [
        ("payments.anomaly_action", "refused", user_id)] * 3 + [
        ("payments.anomaly_resolved", "ok", user_id), ("payments.anomaly_resolved", "refused", user_id),
        ("payments.anomaly_action", "refused", user_id), ("payments.anomaly_resolved", "refused", user_id)]


def wait_refund(out_refund_no, status, timeout=10.0):
    from tests.conftest import wait_for

    return wait_for(lambda: refund_row(out_refund_no).status == status, timeout=timeout)
