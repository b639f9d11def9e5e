"""WeChat Pay's trade bill (交易账单), read as a stream: the v3 `tradebill` download and the v2
`downloadbill` answer share one text layout.

    a header line                 交易时间,公众账号ID,商户号,...        (names, no backticks)
    data lines                    `2024-07-09 16:47:58,`wxe1...,`...    (every value after a backtick)
    a summary header              总交易单数,应结订单总金额,...
    a summary line                `29,`1300.00,...

Values are not quoted, and the product name and the merchant data (商户数据包, often JSON)
may hold commas and double quotes, so neither a split on commas nor a CSV reader works: a
line is split on the comma-backtick sequence and the leading backtick dropped. Lines end in
LF or CRLF. Columns are found by their names in the header, so every layout reads the same
way: `ALL` (27 columns), `SUCCESS` (20, no refund columns), `REFUND` (29, with 退款申请时间 and
退款成功时间 after 代金券金额), and the 24-column `ALL` of merchants from before 2018 with its
5-field summary. Amounts are yuan with 2 decimals, fees yuan with 5 decimals rounded to the fen
(negative on refund rows); both become integer fen, refusing anything that is not a whole fen.
Refund-number columns hold `0` on payment rows.

`read` yields one BillRow per data line and, once the stream ends, checks the bill's own
summary against the rows it read (count and every total), raising BillError on a mismatch or
a malformed line: a bill that does not add up is not reconciled. Memory stays flat whatever
the bill's size: nothing is held but the running totals, and the amounts and times already
met (a day's bill repeats the same few prices and seconds; at most REMEMBERED of each).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import NamedTuple

SUMMARY_FIRST = "总交易单数"

# Our field -> the column names that carry it, newest layout first (the old ALL's names last).
COLUMNS = {
    "trade_time": ("交易时间",),
    "appid": ("公众账号ID",),
    "mchid": ("商户号",),
    "sub_mchid": ("特约商户号", "子商户号"),
    "device": ("设备号",),
    "transaction_id": ("微信订单号",),
    "out_trade_no": ("商户订单号",),
    "openid": ("用户标识",),
    "trade_type": ("交易类型",),
    "trade_state": ("交易状态",),
    "bank": ("付款银行",),
    "currency": ("货币种类",),
    "settlement": ("应结订单金额", "总金额"),
    "coupon": ("代金券金额", "企业红包金额"),
    "refund_id": ("微信退款单号",),
    "out_refund_no": ("商户退款单号",),
    "refund": ("退款金额",),
    "coupon_refund": ("充值券退款金额", "企业红包退款金额"),
    "refund_type": ("退款类型",),
    "refund_status": ("退款状态",),
    "refund_requested_at": ("退款申请时间",),
    "refund_succeeded_at": ("退款成功时间",),
    "product": ("商品名称",),
    "attach": ("商户数据包",),
    "fee": ("手续费",),
    "rate": ("费率",),
    "order_amount": ("订单金额",),
    "requested_refund": ("申请退款金额",),
    "rate_note": ("费率备注",),
}
REQUIRED = ("trade_time", "appid", "mchid", "transaction_id", "out_trade_no", "trade_state", "settlement", "fee")
_AMOUNTS = {"settlement": 2, "coupon": 2, "refund": 2, "coupon_refund": 2, "order_amount": 2,
            "requested_refund": 2, "fee": 5}
# Summary field -> what it totals (None: the row count).
SUMMARY = {
    "总交易单数": None, "应结订单总金额": "settlement", "退款总金额": "refund", "充值券退款总金额": "coupon_refund",
    "手续费总金额": "fee", "订单总金额": "order_amount", "申请退款总金额": "requested_refund",
    # the 24-column layout's summary
    "总交易额": "settlement", "总退款金额": "refund", "总企业红包退款金额": "coupon_refund",
}
_AMOUNT = re.compile(r"(-?)(\d{1,12})(?:\.(\d{1,5}))?")
_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})")
REMEMBERED = 100_000


class BillError(ValueError):
    """A bill that cannot be read or does not add up; `line` is its 1-based line number."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


class BillRow(NamedTuple):
    """One data line; amounts in fen, absent columns of a layout as None (amounts) or "".
    A named tuple: a busy day's bill has a million rows, and a tuple is made in one step where a
    frozen dataclass sets its 26 fields one by one."""

    line: int
    trade_time: dt.datetime      # Beijing time, as the bill prints it (naive)
    appid: str
    mchid: str
    sub_mchid: str
    transaction_id: str
    out_trade_no: str
    openid: str
    trade_type: str
    trade_state: str             # SUCCESS, REFUND, REVOKED, ...
    settlement_fen: int          # 应结订单金额: what the merchant is to be paid for the trade
    coupon_fen: int | None
    refund_id: str               # "" on payment rows (the bill prints 0)
    out_refund_no: str
    refund_fen: int | None
    coupon_refund_fen: int | None
    refund_type: str
    refund_status: str
    refund_requested_at: str
    refund_succeeded_at: str
    product: str
    attach: str
    fee_fen: int                 # negative on refund rows
    rate: str
    order_fen: int | None        # 订单金额 (the old layout: None)
    requested_refund_fen: int | None

    @property
    def is_refund(self) -> bool:
        return bool(self.refund_id)


@dataclasses.dataclass(frozen=True)
class BillSummary:
    rows: int
    totals_fen: dict[str, int]   # our field -> the bill's total of it


def split_line(line: str) -> list[str]:
    """The values of a data or summary line: split on comma-backtick, leading backtick dropped."""
    line = line.rstrip("\r\n")
    if not line.startswith("`"):
        raise ValueError("a value line starts with a backtick")
    return line[1:].split(",`")


def to_fen(text: str, decimals: int) -> int:
    """'50.00' (decimals 2) or '-0.27000' (decimals 5) -> fen; refuses what is not a whole fen."""
    found = _AMOUNT.fullmatch(text.strip())
    if found is None or len(found[3] or "") > decimals:
        raise ValueError(f"not an amount with at most {decimals} decimals: {text!r}")
    sign, whole, fraction = found[1], found[2], found[3] or ""
    if fraction[2:].strip("0"):
        raise ValueError(f"not a whole fen: {text!r}")
    fen = int(whole) * 100 + int(fraction[:2].ljust(2, "0"))
    return -fen if sign else fen


def trade_time(text: str) -> dt.datetime:
    """'2024-07-09 16:47:58' (Beijing, naive); ValueError otherwise."""
    found = _TIME.fullmatch(text)
    if found is None:  # what strptime also takes (one-digit fields)
        return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    year, month, day, hour, minute, second = map(int, found.groups())
    return dt.datetime(year, month, day, hour, minute, second)


def read(lines: Iterable[str]) -> Iterator[BillRow]:
    """The data rows of a bill, one at a time; checks the summary when the stream ends."""
    parse: Callable[[str, int], BillRow] | None = None
    totals = dict.fromkeys(_AMOUNTS, 0)
    count = 0
    summary_names: list[str] | None = None
    summary_seen = False
    number = 0
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n").lstrip("\ufeff") if number == 1 else raw.rstrip("\r\n")
        if not line or line.isspace():
            continue
        if parse is None:
            parse = _parser(_header(line, number), totals)
        elif summary_names is None and line.startswith(SUMMARY_FIRST):
            summary_names = line.split(",")
        elif summary_names is not None:
            if summary_seen:
                raise BillError("text after the summary line", number)
            _check_summary(summary_names, line, number, count, totals)
            summary_seen = True
        else:
            row = parse(line, number)
            count += 1
            yield row
    if parse is None:
        raise BillError("an empty bill: no header line")
    if not summary_seen:
        raise BillError("the bill ends without its summary line", number)


def _header(line: str, number: int) -> dict[str, int]:
    names = [name.strip() for name in line.split(",")]
    found: dict[str, int] = {}
    for field, candidates in COLUMNS.items():
        for name in candidates:
            if name in names:
                found[field] = names.index(name)
                break
    missing = [COLUMNS[field][0] for field in REQUIRED if field not in found]
    if missing:
        raise BillError(f"not a trade bill header: no {', '.join(missing)}", number)
    found["_width"] = len(names)
    return found


# The amounts in the order a line's are read (the first wrong one is the one reported).
_READ_ORDER = ("settlement", "fee", "coupon", "refund", "coupon_refund", "order_amount", "requested_refund")
_TEXTS = ("appid", "mchid", "sub_mchid", "transaction_id", "out_trade_no", "openid", "trade_type", "trade_state",
          "refund_id", "out_refund_no", "refund_type", "refund_status", "refund_requested_at", "refund_succeeded_at",
          "product", "attach", "rate")


def _parser(index: dict[str, int], totals: dict[str, int]) -> Callable[[str, int], BillRow]:
    """The reading of the data lines of a header's layout, adding each row's amounts to
    `totals`. An amount or a time met before on this bill is not parsed again."""
    width = index["_width"]
    # A column the layout lacks reads as the "" appended to every line's values, at `width`.
    at = {field: index.get(field, width) for field in COLUMNS}
    amounts = [(field, index[field], _AMOUNTS[field]) for field in _READ_ORDER if field in index]
    texts = [at[field] for field in _TEXTS]
    known: dict[int, dict[str, int]] = {decimals: {} for decimals in set(_AMOUNTS.values())}
    times: dict[str, dt.datetime] = {}

    def parse(line: str, number: int) -> BillRow:
        if not line.startswith("`"):
            raise BillError("a value line starts with a backtick", number)
        values = line[1:].split(",`")
        if len(values) != width:
            raise BillError(f"{len(values)} values where the header has {width} columns", number)
        values.append("")
        stamp = values[at["trade_time"]].strip()
        when = times.get(stamp)
        if when is None:
            try:
                when = trade_time(stamp)
            except ValueError:
                raise BillError(f"交易时间 is not a time: {stamp!r}", number) from None
            if len(times) < REMEMBERED:
                times[stamp] = when
        fen: dict[str, int] = {}
        for field, position, decimals in amounts:
            text = values[position] or "0"
            seen = known[decimals]
            value = seen.get(text)
            if value is None:
                try:
                    value = to_fen(text, decimals)
                except ValueError as exc:
                    raise BillError(f"{COLUMNS[field][0]}: {exc}", number) from None
                if len(seen) < REMEMBERED:
                    seen[text] = value
            fen[field] = value
        for field, value in fen.items():  # only once the whole line has been read
            totals[field] += value
        (appid, mchid, sub_mchid, transaction_id, out_trade_no, openid, trade_type, trade_state, refund_id,
         out_refund_no, refund_type, refund_status, requested_at, succeeded_at, product, attach, rate) = [
            values[position].strip() for position in texts]
        get = fen.get  # a column the layout lacks: None
        return BillRow(
            number, when, appid, mchid, _zero_is_none(sub_mchid), transaction_id, out_trade_no, openid, trade_type,
            trade_state, fen["settlement"], get("coupon"), _zero_is_none(refund_id), _zero_is_none(out_refund_no),
            get("refund"), get("coupon_refund"), refund_type, refund_status, requested_at, succeeded_at, product,
            attach, fen["fee"], rate, get("order_amount"), get("requested_refund"))

    return parse


def _zero_is_none(value: str) -> str:
    return "" if value == "0" else value


def _check_summary(names: list[str], line: str, number: int, count: int, totals: dict[str, int]) -> BillSummary:
    try:
        values = split_line(line)
    except ValueError as exc:
        raise BillError(f"summary: {exc}", number) from None
    if len(values) != len(names):
        raise BillError(f"the summary has {len(values)} values for {len(names)} names", number)
    checked: dict[str, int] = {}
    for name, value in zip(names, values, strict=True):
        if name not in SUMMARY:
            raise BillError(f"an unknown summary field {name!r}", number)
        field = SUMMARY[name]
        if field is None:
            if not value.strip().isdigit() or int(value) != count:
                raise BillError(f"{name} says {value} rows, the bill has {count}", number)
            continue
        try:
            stated = to_fen(value, _AMOUNTS[field])
        except ValueError as exc:
            raise BillError(f"{name}: {exc}", number) from None
        if stated != totals[field]:
            raise BillError(f"{name} says {value}, the rows add up to {Decimal(totals[field]) / 100:.2f}", number)
        checked[field] = stated
    return BillSummary(rows=count, totals_fen=checked)
