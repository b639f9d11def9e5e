"""The alarms on the functions' own metrics (namespace Hospital): each watches a metric some code
of the layer emits, goes to the operators' topic, and the dead-letter queues whose depth is
published are the template's own, read by the function that publishes them."""
import ast
import pathlib
import re

import pytest

from infra.local.template import load_template

ROOT = pathlib.Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers/common/python/hospital"


@pytest.fixture(scope="module")
def raw():
    return load_template(ROOT / "template.yaml")


def of_type(template: dict, kind: str) -> dict:
    return {lid: r["Properties"] for lid, r in template["Resources"].items() if r["Type"] == kind}


def hospital_metrics_of(alarm: dict) -> list[tuple[str, dict]]:
    """(metric name, {dimension: value}) of each Hospital metric an alarm reads, plain or in math."""
    plain = [alarm] if "MetricName" in alarm else []
    stats = [q["MetricStat"]["Metric"] for q in alarm.get("Metrics", []) if "MetricStat" in q]
    return [(m["MetricName"], {d["Name"]: d["Value"] for d in m.get("Dimensions", [])})
            for m in plain + stats if m.get("Namespace") == "Hospital"]


def emitted_metrics() -> set[str]:
    """Metric names the layer emits: a literal `metrics.emit("Name", ...)` anywhere, or a helper of
    hospital.metrics (`emit(CONSTANT, ...)` in its body) that some other module calls."""
    tree = ast.parse((LAYER / "metrics.py").read_text())
    constants = {node.targets[0].id: node.value.value for node in tree.body
                 if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                 and isinstance(node.targets[0], ast.Name)}
    others = "\n".join(path.read_text() for path in LAYER.rglob("*.py") if path.name != "metrics.py")
    names = set(re.findall(r'metrics\.emit\("(\w+)"', others))
    for helper in (node for node in tree.body if isinstance(node, ast.FunctionDef)):
        if f"metrics.{helper.name}(" not in others:
            continue
        for call in ast.walk(helper):
            if (isinstance(call, ast.Call) and getattr(call.func, "id", None) == "emit"
                    and isinstance(call.args[0], ast.Name)):
                names.add(constants[call.args[0].id])
    return names


def test_every_hospital_alarm_watches_a_metric_the_code_emits(raw):
    emitted = emitted_metrics()
    assert {"AlertsRecorded", "AlertDeliveryLatency", "NotificationOutcomes", "RefundStates",
            "DeadLetterQueueDepth", "ReconciliationFindings"} <= emitted
    watched = {lid: hospital_metrics_of(alarm) for lid, alarm in of_type(raw, "AWS::CloudWatch::Alarm").items()}
    watched = {lid: found for lid, found in watched.items() if found}
    assert len(watched) >= 9
    for lid, found in watched.items():
        assert {name for name, _ in found} <= emitted, lid


def test_every_metric_the_code_emits_has_an_alarm(raw):
    alarmed = {name for alarm in of_type(raw, "AWS::CloudWatch::Alarm").values()
               for name, _ in hospital_metrics_of(alarm)}
    assert emitted_metrics() <= alarmed


def test_the_alarms_on_what_affects_patients_go_to_the_operators_topic(raw):
    alarms = {lid: a for lid, a in of_type(raw, "AWS::CloudWatch::Alarm").items() if hospital_metrics_of(a)}
    for lid, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": "OpsAlertsTopic"}], lid
        assert alarm["TreatMissingData"] == "notBreaching", lid  # no traffic is no alarm
    [subscription] = of_type(raw, "AWS::SNS::Subscription").values()
    assert subscription["TopicArn"] == {"Ref": "OpsAlertsTopic"}
    assert raw["Resources"]["OperatorAlarmEmailSubscription"]["Condition"] == "HasOperatorAlarmEmail"
    assert raw["Parameters"]["OperatorAlarmEmail"]["Default"] == ""


def test_latency_alarms_read_a_percentile_of_delivered_alerts_ER3(raw):
    alarms = of_type(raw, "AWS::CloudWatch::Alarm")
    slow = {lid: a for lid, a in alarms.items() if a.get("MetricName") == "AlertDeliveryLatency"}
    assert {tuple(sorted(hospital_metrics_of(a)[0][1].items())) for a in slow.values()} == {
        (("channel", "ed_console"), ("result", "delivered")), (("channel", "wechat"), ("result", "sent"))}
    for alarm in slow.values():
        assert alarm["ExtendedStatistic"] == "p95"
        assert alarm["Threshold"] == {"Ref": "AlertLatencyAlarmMs"}


def test_the_sweeper_reads_the_depth_of_every_dead_letter_queue(raw):
    from hospital import queue_depths

    queues = of_type(raw, "AWS::SQS::Queue")
    targets = {q["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
               for q in queues.values() if "RedrivePolicy" in q}
    sweeper = raw["Resources"]["OutboxSweeperFunction"]["Properties"]
    environment = sweeper["Environment"]["Variables"]
    published = {environment[setting.name]["Ref"] for setting in queue_depths.DEAD_LETTER_QUEUES.values()}
    assert published == targets
    [readable] = [s["Statement"][0] for s in sweeper["Policies"] if isinstance(s, dict) and "Statement" in s]
    assert readable["Action"] == "sqs:GetQueueAttributes"
    assert {r["Fn::GetAtt"][0] for r in readable["Resource"]} == targets


@pytest.mark.parametrize("queue,module", [("NotificationsQueue", "hospital.rescue.notify"),
                                          ("OutpatientEventsQueue", "hospital.outpatient.notices")])
def test_a_notification_is_dead_lettered_on_its_queues_last_receive(raw, queue, module):
    import importlib

    redrive = raw["Resources"][queue]["Properties"]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == importlib.import_module(module).MAX_RECEIVES
