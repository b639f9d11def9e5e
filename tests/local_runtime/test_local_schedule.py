"""Schedule expressions, the runner, and on-demand triggers."""
from __future__ import annotations

import datetime as dt
import json
import threading
import time

import boto3
import pytest
from botocore.config import Config

from infra.local.runtime import InvocationFailed
from infra.local.schedule import (
    CronSchedule,
    RateSchedule,
    ScheduleError,
    ScheduleRunner,
    parse_schedule,
    scheduled_event,
)
from infra.local.template import ScheduleEvent

UTC = dt.UTC


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def test_rate_expressions():
    assert parse_schedule("rate(1 minute)") == RateSchedule(60)
    assert parse_schedule("rate(5 minutes)") == RateSchedule(300)
    assert parse_schedule("rate(2 hours)") == RateSchedule(7200)
    assert parse_schedule("rate(1 day)") == RateSchedule(86400)
    assert parse_schedule("rate(1 minute)").next_after(at(2024, 1, 1, 0, 0, 30)) == at(2024, 1, 1, 0, 1, 30)
    for bad in ("rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "rate(5 weeks)"):
        with pytest.raises(ScheduleError):
            parse_schedule(bad)


@pytest.mark.parametrize("expr, after, expected", [
    ("cron(0 10 * * ? *)", at(2024, 1, 1, 10, 0), at(2024, 1, 2, 10, 0)),          # strictly after
    ("cron(0 10 * * ? *)", at(2024, 1, 1, 9, 59, 59), at(2024, 1, 1, 10, 0)),
    ("cron(15 12 ? * MON-FRI *)", at(2024, 1, 5, 13, 0), at(2024, 1, 8, 12, 15)),   # Fri -> Mon
    ("cron(0/15 * * * ? *)", at(2024, 1, 1, 10, 7), at(2024, 1, 1, 10, 15)),
    ("cron(*/20 8-9 * * ? *)", at(2024, 1, 1, 9, 41), at(2024, 1, 2, 8, 0)),
    ("cron(0 8 1 JAN,JUL ? *)", at(2024, 1, 1, 9, 0), at(2024, 7, 1, 8, 0)),
    ("cron(0 0 ? * 1 *)", at(2024, 1, 1), at(2024, 1, 7)),                          # 1 = Sunday
    ("cron(30 23 ? * SAT,2 *)", at(2024, 1, 1, 23, 31), at(2024, 1, 6, 23, 30)),   # 2 = Monday
    ("cron(0 0 29 2 ? 2024-2030)", at(2024, 3, 1), at(2028, 2, 29)),
    ("cron(0 0 1 1 ? 2020)", at(2021, 1, 1), None),
])
def test_cron_next(expr, after, expected):
    assert parse_schedule(expr).next_after(after) == expected


def test_cron_matcher():
    cron = parse_schedule("cron(0/10 9-17 ? * MON-FRI *)")
    assert isinstance(cron, CronSchedule)
    assert cron.matches(at(2024, 1, 3, 9, 20))        # Wednesday
    assert not cron.matches(at(2024, 1, 6, 9, 20))    # Saturday
    assert not cron.matches(at(2024, 1, 3, 18, 0))
    assert not cron.matches(at(2024, 1, 3, 9, 25))


@pytest.mark.parametrize("bad", [
    "cron(0 10 L * ? *)", "cron(0 10 15W * ? *)", "cron(0 10 ? * MON#2 *)",
    "cron(0 10 * * * *)", "cron(0 10 ? * ? *)", "cron(0 10 * * ?)", "cron(60 10 * * ? *)",
    "cron(0 10 * FOO ? *)", "every day",
])
def test_cron_rejects(bad):
    with pytest.raises(ScheduleError):
        parse_schedule(bad)


def test_scheduled_event_shape():
    src = ScheduleEvent(name="E", expression="rate(1 minute)", rule_name="stack-FnE")
    ev = scheduled_event(src, "us-east-1", "123456789012", at(2024, 5, 6, 7, 8, 9, 123))
    assert ev["version"] == "0"
    assert ev["id"]
    assert ev["detail-type"] == "Scheduled Event"
    assert ev["source"] == "aws.events"
    assert ev["account"] == "123456789012"
    assert ev["time"] == "2024-05-06T07:08:09Z"
    assert ev["region"] == "us-east-1"
    assert ev["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/stack-FnE"]
    assert ev["detail"] == {}


class _FastSchedule:
    """Fires every 0.2 s: lets the runner thread be tested without waiting minutes."""

    def next_after(self, previous):
        return previous + dt.timedelta(seconds=0.2)


class _RecordingHost:
    def __init__(self):
        self.events = []

    def invoke(self, lid, event, trigger="invoke", **_):
        self.events.append((lid, trigger, event))


def test_runner_fires_on_schedule_and_stops():
    host, stop = _RecordingHost(), threading.Event()
    src = ScheduleEvent(name="E", expression="rate(1 minute)", rule_name="r")
    runner = ScheduleRunner(host, "Fn", src, "us-east-1", "123456789012", stop, schedule=_FastSchedule())
    runner.start()
    time.sleep(0.7)
    stop.set()
    runner.join(2)
    assert not runner.thread.is_alive()
    assert 2 <= len(host.events) <= 4
    assert all(t == "schedule" and e["detail-type"] == "Scheduled Event" for _, t, e in host.events)


def test_trigger_fires_schedule_now(runtime, fixture_repo):
    ticks = fixture_repo / "functions/tick/ticks.jsonl"
    before = len(ticks.read_text().splitlines()) if ticks.exists() else 0
    assert runtime.trigger("TickFunction") == {"ticked": "Scheduled Event", "function": "TickFunction"}
    event = json.loads(ticks.read_text().splitlines()[before])
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/hospital-local-TickFunctionEvery5"]
    assert event["time"].endswith("Z")
    # The second Schedule event has an Input: that JSON is the whole event.
    assert runtime.trigger("TickFunction", "WithInput") == {"ticked": "nightly", "function": "TickFunction"}
    assert json.loads(ticks.read_text().splitlines()[-1]) == {"job": "nightly"}
    with pytest.raises(LookupError):
        runtime.trigger("EchoFunction")


def test_invoke_failure_raises(runtime):
    with pytest.raises(InvocationFailed) as info:
        runtime.invoke("TickFunction", {"fail": True})
    assert info.value.invocation.error_payload["errorType"] == "ValueError"


def _lambda_client(runtime):
    return boto3.client("lambda", endpoint_url=runtime.control_url, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 1}))


def test_control_endpoint_with_boto3(runtime, fixture_repo):
    client = _lambda_client(runtime)
    src = ScheduleEvent(name="Manual", expression="rate(5 minutes)", rule_name="manual")
    resp = client.invoke(FunctionName="TickFunction",
                         Payload=json.dumps(scheduled_event(src, "us-east-1", "123456789012")))
    assert resp["StatusCode"] == 200
    assert "FunctionError" not in resp
    assert json.loads(resp["Payload"].read()) == {"ticked": "Scheduled Event", "function": "TickFunction"}
    ticks = fixture_repo / "functions/tick/ticks.jsonl"
    assert json.loads(ticks.read_text().splitlines()[-1])["resources"] == [
        "arn:aws:events:us-east-1:123456789012:rule/manual"]

    failed = client.invoke(FunctionName="TickFunction", Payload=b'{"fail": true}')
    assert failed["FunctionError"] == "Unhandled"
    payload = json.loads(failed["Payload"].read())
    assert payload["errorType"] == "ValueError"
    assert payload["errorMessage"] == "asked to fail"

    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="NoSuchFunction", Payload=b"{}")
