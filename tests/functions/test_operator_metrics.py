"""The numbers operators watch appear as embedded-metric-format lines on the functions' stdout
for real flows: alert results and their latency from the intake (ER3), WeChat notification
outcomes (sent, refused, retried, dead-lettered), and the dead-letter queues' depths the outbox
sweeper publishes every minute, even when one queue cannot be read."""
import json
import pathlib
import time

from hospital.db import engine, tables
from tests.functions.test_rescue_dispatch import staff_member
from tests.functions.test_staff_alerts import deliver, drain_notifications, duty, known_to_wechat, new_case_alerted

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCHEDULED = json.loads((ROOT / "events/outbox_sweeper/every_minute.json").read_text())
SWEEP_PAYMENTS = json.loads((ROOT / "events/payment_sweeper/every_minute.json").read_text())


def emitted(capsys, name: str) -> list[dict]:
    """The EMF documents of metric `name` written since the last call."""
    found = []
    for text in capsys.readouterr().out.splitlines():
        if text.startswith('{"_aws"'):
            document = json.loads(text)
            if document["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] == name:
                found.append(document)
    return found


def emitted_all(capsys) -> dict[str, list[dict]]:
    by_name: dict[str, list[dict]] = {}
    for text in capsys.readouterr().out.splitlines():
        if text.startswith('{"_aws"'):
            document = json.loads(text)
            by_name.setdefault(document["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"], []).append(document)
    return by_name


def clear_duty_roster():
    with engine().begin() as conn:
        conn.execute(tables.on_duty.delete())


def test_alert_results_their_latency_and_notification_outcomes_are_published_ER3_ES1(
        mysql_db, platform, functions, capsys):
    clear_duty_roster()
    member, token = staff_member(platform, "staff")
    refusing, refusing_token = staff_member(platform, "staff")
    for its_token in (token, refusing_token):
        assert duty(functions, its_token, True)[0] == 200
    known_to_wechat(platform, member.user_id)
    platform.wechat.refuse(known_to_wechat(platform, refusing.user_id))
    capsys.readouterr()
    started = time.monotonic()
    case_id = new_case_alerted(platform, functions)
    took_ms = (time.monotonic() - started) * 1000
    console = emitted_all(capsys)
    # No console connected: the consumer's push reached nobody, which its alarm counts.
    assert [(m["channel"], m["result"], m["function"]) for m in console["AlertsRecorded"]] == [
        ("ed_console", "none", "rescue_events")]
    [latency] = console["AlertDeliveryLatency"]
    assert latency["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "AlertDeliveryLatency", "Unit": "Milliseconds"}]
    assert (latency["channel"], latency["result"]) == ("ed_console", "none")
    assert 0 <= latency["AlertDeliveryLatency"] <= took_ms + 5  # from the intake to the push, within the flow

    assert deliver(functions, drain_notifications(platform, case_id)) == {"batchItemFailures": []}
    staff = emitted_all(capsys)
    assert sorted((m["channel"], m["result"]) for m in staff["AlertsRecorded"]) == [
        ("wechat", "refused"), ("wechat", "sent")]
    assert sorted((m["channel"], m["result"]) for m in staff["AlertDeliveryLatency"]) == [
        ("wechat", "refused"), ("wechat", "sent")]
    assert sorted((m["kind"], m["outcome"], m["errcode_class"]) for m in staff["NotificationOutcomes"]) == [
        ("staff_alert", "refused", "user_refused"), ("staff_alert", "sent", "none")]
    # Low cardinality: a dimension never names the staff member.
    for document in staff["AlertsRecorded"] + staff["NotificationOutcomes"]:
        dimensions = {n for names in document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] for n in names}
        assert not {str(member.user_id), str(refusing.user_id)} & {str(document[n]) for n in dimensions}
    # Redelivered: recorded once, counted once.
    assert deliver(functions, drain_notifications(platform, case_id)) == {"batchItemFailures": []}
    assert emitted(capsys, "AlertsRecorded") == []
    clear_duty_roster()


def test_wechat_down_counts_a_retry_then_on_the_last_receive_a_dead_letter(mysql_db, platform, functions, capsys):
    clear_duty_roster()
    member, token = staff_member(platform, "staff")
    known_to_wechat(platform, member.user_id)
    duty(functions, token, True)
    case_id = new_case_alerted(platform, functions)
    messages = drain_notifications(platform, case_id)
    capsys.readouterr()
    platform.wechat.inject_fault("/cgi-bin/message/subscribe/send", "http500", count=1)
    assert len(deliver(functions, messages)["batchItemFailures"]) == 1
    [retried] = emitted(capsys, "NotificationOutcomes")
    assert (retried["kind"], retried["outcome"], retried["errcode_class"]) == ("staff_alert", "retried", "unavailable")
    last = [{**m, "Attributes": {**m["Attributes"], "ApproximateReceiveCount": "5"}} for m in messages]
    platform.wechat.inject_fault("/cgi-bin/message/subscribe/send", "http500", count=1)
    assert len(deliver(functions, last)["batchItemFailures"]) == 1
    [dead] = emitted(capsys, "NotificationOutcomes")
    assert dead["outcome"] == "dead_lettered"
    assert ["outcome"] in dead["_aws"]["CloudWatchMetrics"][0]["Dimensions"]  # what the alarm reads
    clear_duty_roster()


def test_the_sweeper_publishes_every_dead_letter_queues_depth(mysql_db, platform, functions, capsys):
    from hospital import queue_depths

    sqs, url = platform.sqs(), platform.queue_url("NotificationsDLQ")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"type": "staff.alert", "dead": True}))
    try:
        capsys.readouterr()
        invocation = functions.invoke("OutboxSweeperFunction", SCHEDULED)
        assert invocation.ok, invocation.detail
        assert "relayed" in invocation.result
        depths = {m["queue"]: m["DeadLetterQueueDepth"] for m in emitted(capsys, "DeadLetterQueueDepth")}
        assert set(depths) == set(queue_depths.DEAD_LETTER_QUEUES)
        assert depths["notifications"] >= 1
    finally:
        sqs.purge_queue(QueueUrl=url)


def test_a_dead_letter_queue_that_cannot_be_read_does_not_fail_the_sweep(mysql_db, platform, functions, capsys,
                                                                         monkeypatch):
    from hospital import queue_depths

    gone = platform.queue_url("TriageDLQ").rsplit("/", 1)[0] + "/no-such-queue"
    monkeypatch.setenv("TRIAGE_DLQ_URL", gone)
    capsys.readouterr()
    invocation = functions.invoke("OutboxSweeperFunction", SCHEDULED)
    assert invocation.ok, invocation.detail
    assert "relayed" in invocation.result
    depths = {m["queue"] for m in emitted(capsys, "DeadLetterQueueDepth")}
    assert depths == set(queue_depths.DEAD_LETTER_QUEUES) - {"triage"}


def test_refund_states_are_counted_by_state_and_channel_OR2(mysql_db, platform, functions, capsys):
    from tests.payments.support import deliver_queued, order_row
    from tests.payments.test_refunds import confirmed_order, finance_token, refund_by_hand

    order_id, _ = confirmed_order(platform, functions)
    token = finance_token(platform, order_id[:8])
    capsys.readouterr()
    assert refund_by_hand(functions, token, order_id, 2500)[0] == 202
    assert [(m["state"], m["channel"], m["function"]) for m in emitted(capsys, "RefundStates")] == [
        ("requested", "wechat", "payments_admin")]
    deliver_queued(platform, functions, "RefundsQueue", until=lambda: order_row(order_id).status == "refunded")
    states = [m["state"] for m in emitted(capsys, "RefundStates")]
    assert states[-1] == "succeeded" and states.count("succeeded") == 1
    assert set(states) <= {"processing", "succeeded"}


def test_a_refund_left_requested_is_counted_resent_by_the_payments_sweeper_OR2(mysql_db, platform, functions, capsys):
    import datetime as dt

    from hospital.timeutil import utcnow
    from tests.payments.support import deliver_queued, order_row
    from tests.payments.test_refunds import confirmed_order, finance_token, refund_by_hand

    order_id, _ = confirmed_order(platform, functions)
    refund = refund_by_hand(functions, finance_token(platform, order_id[:8]), order_id, 2500)[1]
    with engine().begin() as conn:  # its message lost: the refund waited in `requested`
        conn.execute(tables.payment_refunds.update().where(
            tables.payment_refunds.c.out_refund_no == refund["out_refund_no"]).values(
            updated_at=utcnow() - dt.timedelta(minutes=10)))
    capsys.readouterr()
    swept = functions.invoke("PaymentSweeperFunction", SWEEP_PAYMENTS)
    assert swept.ok and swept.result["refunds_resent"] >= 1, swept.result
    assert ("resent", "wechat") in {(m["state"], m["channel"]) for m in emitted(capsys, "RefundStates")}
    deliver_queued(platform, functions, "RefundsQueue", until=lambda: order_row(order_id).status == "refunded")
