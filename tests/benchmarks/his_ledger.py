"""A HIS plugged in through HIS_ADAPTER for the reconciliation benchmark: its daily ledger is
read from a generated file, entry by entry, so that no simulator holds a million entries.
Every other operation of the HIS is not offered (NotImplementedError).

The file of a day is `<BENCH_HIS_LEDGER_DIR>/his-ledger-YYYY-MM-DD.tsv`: one entry a line, the
fields of hospital.adapters.his.model.LedgerEntry in their order, tab-separated, "" for None,
the amount in fen and booked_at as ISO 8601 UTC. A day without a file has no entries.
Read by the plugin (`make`) and, without the layer, by the dict join baseline.
"""
from __future__ import annotations

import datetime as dt
import os
import pathlib
from collections.abc import Iterator

FOLDER = "BENCH_HIS_LEDGER_DIR"
FIELDS = ("kind", "bill_no", "pay_order_no", "transaction_id", "amount_fen", "receipt_no", "channel", "reg_no",
          "refund_ref", "booked_at")
AMOUNT, BOOKED_AT = FIELDS.index("amount_fen"), FIELDS.index("booked_at")


def path_of(folder: str | os.PathLike, day: dt.date) -> pathlib.Path:
    return pathlib.Path(folder) / f"his-ledger-{day.isoformat()}.tsv"


def line(kind: str, bill_no: str, pay_order_no: str | None, transaction_id: str | None, amount_fen: int,
         receipt_no: str | None, channel: str | None, reg_no: str | None, refund_ref: str | None,
         booked_at: dt.datetime) -> str:
    """One entry as a line of the file; booked_at naive UTC."""
    values = (kind, bill_no, pay_order_no, transaction_id, str(amount_fen), receipt_no, channel, reg_no, refund_ref,
              booked_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return "\t".join(value or "" for value in values) + "\n"


class FileLedgerHis:
    """The HIS as far as reconciliation asks it: the money it booked on a day."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def daily_ledger(self, day: dt.date) -> Iterator:
        from hospital.adapters.his.model import LedgerEntry

        path = path_of(self.folder, day)
        if not path.exists():
            return
        with open(path, encoding="utf-8") as lines:
            for text in lines:
                values: list = [value or None for value in text.rstrip("\n").split("\t")]
                values[AMOUNT] = int(values[AMOUNT])
                values[BOOKED_AT] = dt.datetime.fromisoformat(values[BOOKED_AT])
                yield LedgerEntry(*values)


def _not_offered(name: str):
    def refuse(self, *args, **kwargs):
        raise NotImplementedError(f"the benchmark's HIS offers its daily ledger only, not {name}")
    return refuse


def make() -> FileLedgerHis:
    """HIS_ADAPTER=tests.benchmarks.his_ledger:make"""
    from hospital.adapters.his.interface import OPERATIONS

    for name in OPERATIONS:
        if not hasattr(FileLedgerHis, name):
            setattr(FileLedgerHis, name, _not_offered(name))
    return FileLedgerHis(os.environ[FOLDER])
