"""The numbers operators watch, as CloudWatch metrics in the embedded metric format: one JSON
line on stdout, which CloudWatch Logs turns into a metric (no API call, nothing to wait for).

    emit("AlertsRecorded", 1, channel="ed_console", result="delivered")

Namespace "Hospital"; the dimensions are the keyword arguments (a few names with few values:
each combination is a metric of its own), plus the function emitting it in the line itself.
"""
from __future__ import annotations

import json
import sys
import time

NAMESPACE = "Hospital"


def line(name: str, value: float, unit: str = "Count", **dimensions: str) -> dict:
    """The EMF document of one value (pure, for tests and for `emit`)."""
    from hospital.observability import current_function

    return {"_aws": {"Timestamp": int(time.time() * 1000),
                     "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [sorted(dimensions)],
                                            "Metrics": [{"Name": name, "Unit": unit}]}]},
            name: value, **dimensions, "function": current_function()}


def emit(name: str, value: float, unit: str = "Count", **dimensions: str) -> None:
    """Inside a function's invocation only: an operator's command keeps its stdout its own."""
    from hospital.observability import current_function

    if current_function() is None:
        return
    sys.stdout.write(json.dumps(line(name, value, unit, **dimensions), separators=(",", ":")) + "\n")
    sys.stdout.flush()
