"""The counterparts' statements of a day, fetched through their adapters and read as streams
of matching_rules.Theirs, each with a record of what was read (an input: its source, name,
SHA-256, size and entries) for the run's record.

WeChat Pay bills are downloaded, one per merchant, to files in the run's work directory (a
busy day is hundreds of megabytes: never held in memory) and read from there; a bill file
given by hand is read the same way instead. The other statements are read from their
adapters' streams and hashed as they are read.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterable, Iterator

from hospital.adapters import wechatpay_bill
from hospital.reconciliation import matching_rules as m
from hospital.reconciliation import schedule_rules


@dataclasses.dataclass
class Input:
    """What one statement was: filled in as it is read."""

    source: str
    name: str
    origin: str                  # download, file, api
    mchid: str = ""              # a WeChat Pay bill's merchant, when downloaded
    sha256: str = ""
    bytes: int = 0
    entries: int = 0
    empty: bool = False          # the counterpart said: nothing that day

    def view(self) -> dict:
        return dataclasses.asdict(self)


def file_sha256(path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def bill_entries(path: str, record: Input) -> Iterator[m.Theirs]:
    """A WeChat Pay bill file's rows as entries; its summary is checked when it ends
    (wechatpay_bill.BillError if it does not add up)."""
    record.sha256, record.bytes = file_sha256(path)
    with open(path, encoding="utf-8", newline="") as lines:
        for row in wechatpay_bill.read(lines):
            record.entries += 1
            yield m.from_bill_row(row)


def bill_merchants_and_strays(path: str, day) -> tuple[set[str], set[str]]:
    """The merchants a bill file's rows name, and the days of its rows that cannot be of `day`'s
    bill (schedule_rules.of_the_day), the file read through and its summary checked."""
    merchants: set[str] = set()
    strays: set[str] = set()
    with open(path, encoding="utf-8", newline="") as lines:
        for row in wechatpay_bill.read(lines):
            merchants.add(row.mchid)
            if not schedule_rules.of_the_day(row.trade_time, day):
                strays.add(row.trade_time.date().isoformat())
    return merchants, strays


def download_wechat_bills(day, workdir: str) -> list[tuple[Input, str | None]]:
    """Every merchant's ALL bill of `day` into `workdir`: (input, path or None for an empty
    day). BillNotReady from any merchant stops the lot (the day is tried again later)."""
    from hospital.payments import merchants

    fetched: list[tuple[Input, str | None]] = []
    for merchant in merchants.v3_merchants() + merchants.v2_merchants():
        version = merchants.api_version(merchant)
        record = Input(m.WECHATPAY, f"wechatpay {version} {merchant.mchid} ALL {day.isoformat()}", "download",
                       merchant.mchid)
        path = os.path.join(workdir, f"wechatpay-{merchant.mchid}.csv")
        client = merchants.client(merchant)
        with open(path, "wb") as into:
            got = client.download_trade_bill(day, into, "ALL", compressed=True)
        if not got:
            record.empty = True
            os.unlink(path)
            fetched.append((record, None))
        else:
            fetched.append((record, path))
    return fetched


def chain(parts: Iterable[tuple[Input, str | None]]) -> Iterator[m.Theirs]:
    for record, path in parts:
        if path is not None:
            yield from bill_entries(path, record)


def hashed(record: Input, entries: Iterable, convert) -> Iterator[m.Theirs]:
    """An adapter's stream of entries, converted, counted and hashed (over each entry's fields)
    as it is read."""
    digest = hashlib.sha256()
    for entry in entries:
        text = repr(entry).encode()
        digest.update(text)
        record.bytes += len(text)
        record.entries += 1
        yield convert(entry)
    record.sha256 = digest.hexdigest()
    record.empty = record.entries == 0
