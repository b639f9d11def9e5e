"""A benchmark figure, the closing table of `make bench`, and its JSON record under .bench/."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import pathlib
import platform
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
RESULTS = ROOT / ".bench"
_COMPARE = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__, "==": float.__eq__}


@dataclasses.dataclass
class Figure:
    """One measured figure. With a target (`op` and `target`) it is MET or NOT MET; `gating`
    ones make `make bench` fail when NOT MET, the others are reported against their target.
    Without a target it is reported only. `detail` is what it was measured against, `data`
    the numbers behind it (kept in the JSON)."""

    key: str                      # stable across runs: what compare.py matches on
    name: str
    value: float
    unit: str                     # "x" (a ratio), "ms", "s", "/s", "" (a count)
    op: str | None = None
    target: float | None = None
    gating: bool = True
    detail: str = ""
    data: dict = dataclasses.field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        if self.op is None or self.target is None:
            return None
        return _COMPARE[self.op](float(self.value), float(self.target))

    @property
    def status(self) -> str:
        if self.met is None:
            return "reported"
        word = "MET" if self.met else "NOT MET"
        return word if self.gating else f"{word} (informational)"

    def target_text(self) -> str:
        return "-" if self.op is None else f"{self.op} {format_value(self.target, self.unit)}"


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "x":
        return f"{value:.2f} x"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "ms":
        return f"{value:.0f} ms" if abs(value) >= 100 else f"{value:.1f} ms"
    if unit == "/s":
        return f"{value:.0f} /s"
    return f"{value:g}{(' ' + unit) if unit else ''}"


def table(figures: list[Figure]) -> str:
    width = max([len(f.name) for f in figures] + [6])
    lines = [f"{'FIGURE':<{width}}  {'VALUE':>12}  {'TARGET':<12}  RESULT"]
    for f in figures:
        line = f"{f.name:<{width}}  {format_value(f.value, f.unit):>12}  {f.target_text():<12}  {f.status}"
        lines.append(line + (f"  [{f.detail}]" if f.detail else ""))
    return "\n".join(lines)


def failed(figures: list[Figure]) -> list[Figure]:
    return [f for f in figures if f.gating and f.met is False]


def machine() -> dict:
    return {"python": sys.version.split()[0], "implementation": platform.python_implementation(),
            "cpu_count": os.cpu_count(), "platform": platform.platform(), "machine": platform.machine()}


def git() -> dict:
    def out(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    return {"commit": out("rev-parse", "HEAD"), "branch": out("rev-parse", "--abbrev-ref", "HEAD"),
            "dirty": bool(out("status", "--porcelain", "--untracked-files=no"))}


def save(figures: list[Figure], started: dt.datetime, quick: bool, settings: dict) -> pathlib.Path:
    """.bench/<UTC start>.json and .bench/latest.json (the same record)."""
    RESULTS.mkdir(exist_ok=True)
    record = {
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": quick, "settings": settings, "machine": machine(), "git": git(),
        "all_met": not failed(figures),
        "figures": [{**dataclasses.asdict(f), "target_text": f.target_text(), "met": f.met, "status": f.status}
                    for f in figures],
    }
    text = json.dumps(record, indent=2, ensure_ascii=False)
    path = RESULTS / f"{started:%Y%m%dT%H%M%SZ}{'-quick' if quick else ''}.json"
    path.write_text(text + "\n", encoding="utf-8")
    (RESULTS / "latest.json").write_text(text + "\n", encoding="utf-8")
    return path
