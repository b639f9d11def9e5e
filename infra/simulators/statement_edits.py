"""Discrepancies a test puts into a day's statement, shared by every simulator that serves one
(the WeChat Pay trade bill, the insurance platform's 3202 file, the credit provider's statement,
the HIS's daily ledger). Each simulator builds a day's entries from what it recorded, as plain
dicts, and passes them through `apply` before writing them in its wire format, so whatever a
statement derives from its entries (totals, counts, pages) stays consistent: the statement is
well formed and merely disagrees with our books, as a real one does.

    drop(day, **match)               the entries matching every field given leave the statement
    change(day, match, **fields)     the matching entries say something else (an amount, a status)
    add(day, entry)                  an entry we never made; the simulator fills the fields not given
    clear()

Over HTTP (each simulator registers it with `add_routes`):

    POST   /_sim/statement-edits {"day": "YYYY-MM-DD", "drop": {match}}
    POST   /_sim/statement-edits {"day", "change": {match}, "to": {fields}}
    POST   /_sim/statement-edits {"day", "add": {entry}}
    GET    /_sim/statement-edits
    DELETE /_sim/statement-edits

Edits apply in the order given, to every later reading of that day's statement.
"""
from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

from infra.simulators._http import Reply, Request


class StatementEdits:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._edits: list[dict] = []

    def drop(self, day: dt.date | str, **match: Any) -> None:
        self._add({"day": _day(day), "drop": _match(match)})

    def change(self, day: dt.date | str, match: dict, **fields: Any) -> None:
        if not fields:
            raise ValueError("change: name the fields to change")
        self._add({"day": _day(day), "change": _match(match), "to": dict(fields)})

    def add(self, day: dt.date | str, entry: dict) -> None:
        if not isinstance(entry, dict) or not entry.get("kind"):
            raise ValueError("add: an entry is an object with its kind")
        self._add({"day": _day(day), "add": dict(entry)})

    def clear(self) -> None:
        with self._lock:
            self._edits.clear()

    def listed(self) -> list[dict]:
        with self._lock:
            return [dict(edit) for edit in self._edits]

    def apply(self, day: str, entries: list[dict], blank: Callable[[str, str], dict]) -> list[dict]:
        """The day's entries after its edits (copies: the simulator's records stay as they are).
        `blank(kind, day)` gives an entry of that kind with every field the simulator needs,
        for `add` to fill in."""
        edited = [dict(entry) for entry in entries]
        for edit in self.listed():
            if edit["day"] != day:
                continue
            if "drop" in edit:
                edited = [entry for entry in edited if not _matches(entry, edit["drop"])]
            elif "change" in edit:
                for entry in edited:
                    if _matches(entry, edit["change"]):
                        entry.update(edit["to"])
            else:
                edited.append({**blank(str(edit["add"]["kind"]), day), **edit["add"]})
        return edited

    def _add(self, edit: dict) -> None:
        with self._lock:
            self._edits.append(edit)


def add_routes(sim: Any, edits: StatementEdits) -> None:
    """The /_sim/statement-edits controls of simulator `sim`."""
    sim.route("POST", "/_sim/statement-edits", lambda req: _ctl_edit(edits, req))
    sim.route("GET", "/_sim/statement-edits", lambda req: (200, edits.listed()))
    sim.route("DELETE", "/_sim/statement-edits", lambda req: _ctl_clear(edits))


def _ctl_edit(edits: StatementEdits, req: Request) -> Reply:
    body = req.json()
    if not isinstance(body, dict) or not body.get("day"):
        raise ValueError("an edit is an object with its day")
    if isinstance(body.get("drop"), dict):
        edits.drop(body["day"], **body["drop"])
    elif isinstance(body.get("change"), dict) and isinstance(body.get("to"), dict):
        edits.change(body["day"], body["change"], **body["to"])
    elif isinstance(body.get("add"), dict):
        edits.add(body["day"], body["add"])
    else:
        raise ValueError("an edit has drop, change and to, or add")
    return 200, {"edits": len(edits.listed())}


def _ctl_clear(edits: StatementEdits) -> Reply:
    edits.clear()
    return 200, {"ok": True}


def _day(day: dt.date | str) -> str:
    return day.isoformat() if isinstance(day, dt.date) else dt.date.fromisoformat(str(day)).isoformat()


def _match(match: dict) -> dict:
    if not match:
        raise ValueError("name at least one field to match entries by")
    return dict(match)


def _matches(entry: dict, match: dict) -> bool:
    return all(entry.get(key) == value for key, value in match.items())
