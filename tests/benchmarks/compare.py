"""Two `make bench` results side by side: `python -m tests.benchmarks.compare A.json B.json`
(files under .bench/, e.g. an older one against latest.json). One line per figure of either,
matched by key: A's value, B's, B/A, the target and each run's result."""
from __future__ import annotations

import json
import pathlib
import sys

from tests.benchmarks.figures import format_value


def _load(path: str) -> dict:
    return json.loads(pathlib.Path(path).read_text(encoding="utf-8"))


def _header(name: str, record: dict) -> str:
    m, g = record.get("machine", {}), record.get("git", {})
    mode = "QUICK" if record.get("quick") else "full"
    dirty = " (dirty)" if g.get("dirty") else ""
    return (f"{name}: {record.get('started_at')} {mode}, python {m.get('python')}, {m.get('cpu_count')} cpus, "
            f"commit {str(g.get('commit'))[:12]}{dirty}")


def compare(a: dict, b: dict) -> str:
    first = {f["key"]: f for f in a["figures"]}
    second = {f["key"]: f for f in b["figures"]}
    keys = list(first) + [k for k in second if k not in first]
    rows = []
    for key in keys:
        fa, fb = first.get(key), second.get(key)
        some = fb or fa
        va = format_value(fa["value"], fa["unit"]) if fa else "-"
        vb = format_value(fb["value"], fb["unit"]) if fb else "-"
        change = f"{fb['value'] / fa['value']:.2f}" if fa and fb and fa["value"] else "-"
        rows.append((some["name"], va, vb, change, some.get("target_text") or "-",
                     fa["status"] if fa else "-", fb["status"] if fb else "-"))
    width = max(len(r[0]) for r in rows)
    lines = [_header("A", a), _header("B", b),
             f"{'FIGURE':<{width}}  {'A':>12}  {'B':>12}  {'B/A':>6}  {'TARGET':<12}  A RESULT / B RESULT"]
    lines += [f"{n:<{width}}  {va:>12}  {vb:>12}  {c:>6}  {t:<12}  {sa} / {sb}" for n, va, vb, c, t, sa, sb in rows]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tests.benchmarks.compare A.json B.json", file=sys.stderr)
        return 2
    print(compare(_load(argv[0]), _load(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
