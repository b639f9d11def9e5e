"""The numbers operators watch, as CloudWatch metrics in the embedded metric format: one JSON
line on stdout, which CloudWatch Logs turns into a metric (no API call, nothing to wait for).

    emit("AlertsRecorded", 1, channel="ed_console", result="delivered")

Namespace "Hospital"; the dimensions are the keyword arguments (a few names with few values:
each combination is a metric of its own, so never an id), plus the function emitting it in the
line itself. `rollups` publishes the same value under fewer dimensions as well, so one alarm
can watch an outcome whatever the rest (`()` is the metric with no dimension at all).

The metrics and the alarms on them (template.yaml) are listed in the README's Metrics section.
"""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable

NAMESPACE = "Hospital"

# The names code emits; tests/template checks every alarm of namespace Hospital names one.
ALERTS_RECORDED = "AlertsRecorded"
ALERT_DELIVERY_LATENCY = "AlertDeliveryLatency"
NOTIFICATION_OUTCOMES = "NotificationOutcomes"
REFUND_STATES = "RefundStates"
DEAD_LETTER_QUEUE_DEPTH = "DeadLetterQueueDepth"
RECONCILIATION_FINDINGS = "ReconciliationFindings"


def line(name: str, value: float, unit: str = "Count", *, rollups: Iterable[Iterable[str]] = (),
         **dimensions: str) -> dict:
    """The EMF document of one value (pure, for tests and for `emit`)."""
    from hospital.observability import current_function

    sets = [sorted(dimensions)]
    for rollup in rollups:
        names = sorted(rollup)
        if not set(names) <= set(dimensions):
            raise ValueError(f"rollup {names} of {name} names a dimension it does not have")
        sets.append(names)
    return {"_aws": {"Timestamp": int(time.time() * 1000),
                     "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": sets,
                                            "Metrics": [{"Name": name, "Unit": unit}]}]},
            name: value, **dimensions, "function": current_function()}


def emit(name: str, value: float, unit: str = "Count", *, rollups: Iterable[Iterable[str]] = (),
         **dimensions: str) -> None:
    """Inside a function's invocation only: an operator's command keeps its stdout its own."""
    from hospital.observability import current_function

    if current_function() is None:
        return
    document = line(name, value, unit, rollups=rollups, **dimensions)
    sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
    sys.stdout.flush()


# ---- the rules of each metric's dimensions (pure) ------------------------------------------------

def channel_class(channel: str) -> str:
    """An alert channel without its recipient: `wechat:<user id>` is counted as `wechat`."""
    return channel.partition(":")[0]


def latency_ms(since, until) -> int:
    """Whole milliseconds from `since` to `until` (datetimes), never below zero (clocks of two
    hosts may disagree by a little)."""
    return max(0, int((until - since).total_seconds() * 1000))


def outcome_of_a_failed_try(receive_count: int | None, max_receives: int) -> str:
    """A queue's delivery that failed comes back (`retried`) until its queue's maxReceiveCount;
    the failure of the last one moves the message to the dead-letter queue. A call that is no
    queue's delivery (`receive_count` None) has nothing to bring it back: it `failed`."""
    if receive_count is None:
        return "failed"
    return "dead_lettered" if receive_count >= max_receives else "retried"


# ---- one function per metric, so its dimensions are the same wherever it is emitted ----------------

def alert_recorded(channel: str, result: str, latency: int | None) -> None:
    """One alert channel's result for a case (once per case and channel), and how long after the
    case's intake it came."""
    kind = channel_class(channel)
    emit(ALERTS_RECORDED, 1, channel=kind, result=result)
    if latency is not None:
        emit(ALERT_DELIVERY_LATENCY, latency, "Milliseconds", channel=kind, result=result)


def notification(kind: str, outcome: str, errcode_class: str = "none") -> None:
    """One try of a WeChat message: sent, refused (WeChat's errcode, by class), undeliverable (no
    WeChat identity), retried or dead_lettered. Also by kind and outcome, and by outcome alone."""
    emit(NOTIFICATION_OUTCOMES, 1, rollups=(("kind", "outcome"), ("outcome",)),
         kind=kind, outcome=outcome, errcode_class=errcode_class)


def refund_state(state: str, channel: str) -> None:
    """A refund moved to `state` (or, `resent`, was still open when the sweeper sent it again)."""
    emit(REFUND_STATES, 1, rollups=(("state",),), state=state, channel=channel)


def dead_letter_depth(queue: str, depth: int) -> None:
    """Messages waiting in a dead-letter queue; also with no dimension, so one alarm watches all."""
    emit(DEAD_LETTER_QUEUE_DEPTH, depth, rollups=((),), queue=queue)
