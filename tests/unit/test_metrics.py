"""The embedded metric format lines operators' alarms read, without AWS or a database."""
import datetime as dt
import json

import pytest

from hospital import metrics, observability


@pytest.fixture
def in_a_function():
    token = observability.bind_function("rescue_events")
    yield
    observability.reset_function(token)


def lines(capsys) -> list[dict]:
    return [json.loads(text) for text in capsys.readouterr().out.splitlines()]


def directive(line: dict) -> dict:
    return line["_aws"]["CloudWatchMetrics"][0]


def test_a_metric_is_one_emf_line_with_its_dimensions(capsys, in_a_function):
    metrics.emit("AlertsRecorded", 1, channel="ed_console", result="delivered")
    [line] = lines(capsys)
    assert line["function"] == "rescue_events"
    assert directive(line)["Namespace"] == "Hospital"
    assert directive(line)["Dimensions"] == [["channel", "result"]]
    assert directive(line)["Metrics"] == [{"Name": "AlertsRecorded", "Unit": "Count"}]
    assert (line["AlertsRecorded"], line["channel"], line["result"]) == (1, "ed_console", "delivered")
    assert isinstance(line["_aws"]["Timestamp"], int)


def test_outside_an_invocation_nothing_is_written(capsys):
    metrics.emit("ReconciliationFindings", 3)  # an operator's command: its stdout is its own
    metrics.notification("staff_alert", "sent")
    assert capsys.readouterr().out == ""


def test_rollups_publish_the_value_under_fewer_dimensions_too():
    line = metrics.line("X", 1, rollups=(("outcome",), ()), kind="k", outcome="sent")
    assert directive(line)["Dimensions"] == [["kind", "outcome"], ["outcome"], []]


def test_a_rollup_naming_a_dimension_the_value_lacks_is_refused():
    with pytest.raises(ValueError, match="rollup"):
        metrics.line("X", 1, rollups=(("queue",),), kind="k")


@pytest.mark.parametrize("channel,kind", [("ed_console", "ed_console"), ("wechat:42", "wechat"), ("wechat", "wechat")])
def test_an_alert_channel_is_counted_without_its_recipient(channel, kind):
    assert metrics.channel_class(channel) == kind


def test_latency_is_whole_milliseconds_and_never_negative():
    at = dt.datetime(2026, 12, 2, 8, 0, 0)
    assert metrics.latency_ms(at, at + dt.timedelta(seconds=1, microseconds=2500)) == 1002
    assert metrics.latency_ms(at, at) == 0
    assert metrics.latency_ms(at, at - dt.timedelta(milliseconds=30)) == 0  # another host's clock a little ahead


@pytest.mark.parametrize("receives,outcome", [(None, "failed"), (1, "retried"), (4, "retried"), (5, "dead_lettered"),
                                              (6, "dead_lettered")])
def test_a_failed_try_is_retried_until_the_last_receive_dead_letters_it(receives, outcome):
    assert metrics.outcome_of_a_failed_try(receives, 5) == outcome


def test_an_alert_is_counted_and_its_latency_published_by_channel_kind_ER3(capsys, in_a_function):
    metrics.alert_recorded("wechat:42", "sent", 1500)
    metrics.alert_recorded("ed_console", "none", None)
    counted, latency, undelivered = lines(capsys)
    assert (counted["AlertsRecorded"], counted["channel"], counted["result"]) == (1, "wechat", "sent")
    assert directive(latency)["Metrics"] == [{"Name": "AlertDeliveryLatency", "Unit": "Milliseconds"}]
    assert (latency["AlertDeliveryLatency"], latency["channel"], latency["result"]) == (1500, "wechat", "sent")
    assert directive(undelivered)["Metrics"][0]["Name"] == "AlertsRecorded"
    # never a user id (the EMF timestamp, a number of milliseconds, may hold any digits)
    values = [value for line in (counted, latency) for key, value in line.items() if key != "_aws"]
    assert not [value for value in values if "42" in str(value)]


def test_a_notification_outcome_rolls_up_to_kind_and_outcome_and_to_outcome_alone(capsys, in_a_function):
    metrics.notification("suspension_notice", "refused", "user_refused")
    metrics.notification("staff_alert", "sent")
    refused, sent = lines(capsys)
    assert directive(refused)["Dimensions"] == [["errcode_class", "kind", "outcome"], ["kind", "outcome"], ["outcome"]]
    assert (refused["NotificationOutcomes"], refused["kind"], refused["outcome"], refused["errcode_class"]) == (
        1, "suspension_notice", "refused", "user_refused")
    assert (sent["outcome"], sent["errcode_class"]) == ("sent", "none")


def test_a_refund_state_is_counted_by_state_and_channel_and_by_state_alone(capsys, in_a_function):
    metrics.refund_state("abnormal", "wechat")
    [line] = lines(capsys)
    assert directive(line)["Dimensions"] == [["channel", "state"], ["state"]]
    assert (line["RefundStates"], line["state"], line["channel"]) == (1, "abnormal", "wechat")


def test_a_dead_letter_depth_is_by_queue_and_with_no_dimension_for_one_alarm(capsys, in_a_function):
    metrics.dead_letter_depth("notifications", 3)
    [line] = lines(capsys)
    assert directive(line)["Dimensions"] == [["queue"], []]
    assert (line["DeadLetterQueueDepth"], line["queue"]) == (3, "notifications")


@pytest.mark.parametrize("errcode,kind", [(43101, "user_refused"), (43004, "user_refused"), (40001, "token_invalid"),
                                          (42001, "token_invalid"), (-1, "system_busy"), (45009, "rate_limited"),
                                          (47003, "other"), (None, "other")])
def test_a_wechat_errcode_is_counted_by_its_class(errcode, kind):
    from hospital.adapters.wechat import WeChatError, WeChatUnavailable

    assert WeChatError(errcode, "x").errcode_class == kind
    assert WeChatUnavailable("timed out").errcode_class == "unavailable"


@pytest.mark.parametrize("details,result", [({"result": "refused", "errcode": 43101}, "refused"),
                                            ({"delivered": 2, "failed": 0}, "delivered"),
                                            ({"delivered": 0, "gone": 1}, "none"), ({}, "none")])
def test_an_alert_result_is_the_messages_own_or_whether_a_console_heard_it(details, result):
    from hospital.rescue import alerts

    assert alerts.result_of(details) == result
