"""Pure helpers of `make load` (tests/benchmarks/load_run.py): the per-route figures of the
requests the load recorded, the lost and duplicated count of one kind of message, the table.
No I/O, so tests/unit/test_load_report.py checks them without a runtime."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

# Refusals the mix cannot avoid, (route, status): not errors. Against a running `make run`
# users book the HIS's shared catalogue: a slot taken by another user a moment before, or a
# second slot of the same doctor and day, is refused with 409 (a fresh runtime gives each user
# doctors and slots of their own, so none happen there).
EXPECTED_REFUSALS = frozenset({("POST /outpatient/registrations", 409)})


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (the smallest value with at least `fraction` of all at or
    below it); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))  # ceil without floats drifting
    return ordered[int(rank) - 1]


def per_route(samples: Iterable[tuple[str, int, float]]) -> dict[str, dict]:
    """(route, status, milliseconds) samples -> per route: requests, errors, expected refusals,
    p50 and p95 ms. An error is a status 0 (no answer) or >= 400 that is not an expected refusal."""
    times: dict[str, list[float]] = {}
    errors: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    for route, status, ms in samples:
        times.setdefault(route, []).append(ms)
        if (route, status) in EXPECTED_REFUSALS:
            refused[route] += 1
        elif status == 0 or status >= 400:
            errors[route] += 1
    return {route: {"requests": len(values), "errors": errors[route], "refused": refused[route],
                    "p50_ms": round(percentile(values, 0.50), 1), "p95_ms": round(percentile(values, 0.95), 1)}
            for route, values in sorted(times.items())}


def lost_and_duplicated(expected: Iterable[str], seen: Counter[str] | dict[str, int]) -> dict:
    """Each expected key should have been seen exactly once: lost = expected keys seen never,
    duplicated = sightings beyond the first of expected keys. Keys seen but not expected are
    reported apart (`unexpected`), not as duplicates."""
    wanted = set(expected)
    return {"expected": len(wanted), "lost": sum(1 for key in wanted if seen.get(key, 0) == 0),
            "duplicated": sum(max(0, seen.get(key, 0) - 1) for key in wanted),
            "unexpected": sum(n for key, n in seen.items() if key not in wanted)}


def table(routes: dict[str, dict], messages: dict[str, dict]) -> str:
    """The routes' figures, then the messages' counts, as fixed-width text."""
    width = max([len(r) for r in routes] + [len("route")])
    lines = [f"{'route':<{width}}  {'requests':>8}  {'errors':>6}  {'refused':>7}  {'p50 ms':>8}  {'p95 ms':>8}"]
    for route, f in routes.items():
        lines.append(f"{route:<{width}}  {f['requests']:>8}  {f['errors']:>6}  {f['refused']:>7}  "
                     f"{f['p50_ms']:>8.1f}  {f['p95_ms']:>8.1f}")
    lines.append("")
    width = max([len(k) for k in messages] + [len("messages")])
    lines.append(f"{'messages':<{width}}  {'expected':>8}  {'lost':>6}  {'duplicated':>10}  {'unexpected':>10}")
    for kind, m in messages.items():
        lines.append(f"{kind:<{width}}  {m['expected']:>8}  {m['lost']:>6}  {m['duplicated']:>10}  "
                     f"{m['unexpected']:>10}")
    return "\n".join(lines)


def verdict(routes: dict[str, dict], messages: dict[str, dict]) -> list[str]:
    """What fails the run: any error, any lost or duplicated message (empty: passed)."""
    failures = [f"{route}: {f['errors']} errors" for route, f in routes.items() if f["errors"]]
    failures += [f"{kind}: {m['lost']} lost, {m['duplicated']} duplicated" for kind, m in messages.items()
                 if m["lost"] or m["duplicated"]]
    return failures
