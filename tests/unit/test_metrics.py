"""The embedded metric format lines operators' alarms read, without AWS."""
import json

from hospital import metrics, observability


def test_a_metric_is_one_emf_line_with_its_dimensions(capsys):
    token = observability.bind_function("rescue_events")
    try:
        metrics.emit("AlertsRecorded", 1, channel="ed_console", result="delivered")
    finally:
        observability.reset_function(token)
    line = json.loads(capsys.readouterr().out)
    assert line["function"] == "rescue_events"
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Hospital"
    assert directive["Dimensions"] == [["channel", "result"]]
    assert directive["Metrics"] == [{"Name": "AlertsRecorded", "Unit": "Count"}]
    assert (line["AlertsRecorded"], line["channel"], line["result"]) == (1, "ed_console", "delivered")
    assert isinstance(line["_aws"]["Timestamp"], int)


def test_outside_an_invocation_nothing_is_written(capsys):
    metrics.emit("ReconciliationFindings", 3)  # an operator's command: its stdout is its own
    assert capsys.readouterr().out == ""
