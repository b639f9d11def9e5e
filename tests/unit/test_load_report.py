"""The pure helpers of `make load` (tests/benchmarks/load_report.py): per-route figures, the
lost and duplicated count, the verdict."""
from collections import Counter

from tests.benchmarks import load_report


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert load_report.percentile(values, 0.50) == 50.0
    assert load_report.percentile(values, 0.95) == 95.0
    assert load_report.percentile(list(reversed(values)), 0.95) == 95.0  # order of arrival does not matter
    assert load_report.percentile([7.0], 0.95) == 7.0
    assert load_report.percentile([], 0.95) == 0.0
    assert load_report.percentile([1.0, 2.0], 0.50) == 1.0   # half of two is the first
    assert load_report.percentile([1.0, 2.0], 0.95) == 2.0


def test_per_route_counts_errors_and_keeps_expected_refusals_apart():
    samples = [("GET /a", 200, 10.0), ("GET /a", 500, 30.0), ("GET /a", 0, 20.0),
               ("POST /outpatient/registrations", 409, 5.0), ("POST /outpatient/registrations", 400, 6.0),
               ("POST /rescue/cases", 409, 7.0), ("POST /rescue/cases", 201, 9.0)]
    routes = load_report.per_route(samples)
    assert list(routes) == sorted(routes)
    assert routes["GET /a"] == {"requests": 3, "errors": 2, "refused": 0, "p50_ms": 20.0, "p95_ms": 30.0}
    # A 409 is an expected refusal only where it is declared so.
    assert routes["POST /outpatient/registrations"]["errors"] == 1
    assert routes["POST /outpatient/registrations"]["refused"] == 1
    assert routes["POST /rescue/cases"]["errors"] == 1
    assert routes["POST /rescue/cases"]["refused"] == 0


def test_lost_and_duplicated():
    seen = Counter({"a": 1, "b": 3, "z": 2})
    counts = load_report.lost_and_duplicated(["a", "b", "c", "c"], seen)
    assert counts == {"expected": 3, "lost": 1, "duplicated": 2, "unexpected": 2}
    assert load_report.lost_and_duplicated([], {}) == {"expected": 0, "lost": 0, "duplicated": 0, "unexpected": 0}
    assert load_report.lost_and_duplicated(["a"], {"a": 0})["lost"] == 1


def test_verdict_fails_on_errors_losses_and_duplicates_only():
    fine = {"GET /a": {"requests": 2, "errors": 0, "refused": 1, "p50_ms": 1.0, "p95_ms": 2.0}}
    clean = {"alerts": {"expected": 2, "lost": 0, "duplicated": 0, "unexpected": 4}}
    assert load_report.verdict(fine, clean) == []
    assert load_report.verdict({"GET /a": {**fine["GET /a"], "errors": 1}}, clean) == ["GET /a: 1 errors"]
    assert load_report.verdict(fine, {"alerts": {**clean["alerts"], "duplicated": 1}}) == [
        "alerts: 0 lost, 1 duplicated"]
    assert load_report.verdict(fine, {"alerts": {**clean["alerts"], "lost": 2}}) == ["alerts: 2 lost, 0 duplicated"]


def test_table_lists_every_route_and_message_kind():
    routes = load_report.per_route([("GET /a", 200, 1.0), ("POST /b", 500, 2.0)])
    text = load_report.table(routes, {"alerts": load_report.lost_and_duplicated(["x"], {"x": 1})})
    lines = text.splitlines()
    assert lines[0].split() == ["route", "requests", "errors", "refused", "p50", "ms", "p95", "ms"]
    assert lines[1].split() == ["GET", "/a", "1", "0", "0", "1.0", "1.0"]
    assert lines[2].split() == ["POST", "/b", "1", "1", "0", "2.0", "2.0"]
    assert lines[-1].split() == ["alerts", "1", "0", "0", "0"]
