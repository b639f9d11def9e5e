"""The medical-insurance platform (医保移动支付, hospital side), in the style of the national
insurance platform's interfaces: one endpoint per transaction number, amounts as yuan strings
(converted to fen with Decimal, hospital.money), every call signed.

Wire format: ``POST {MED_INS_API_BASE}/fsi/api/{infno}`` with
``{"infno", "msgid": "<unique>", "input": {...}}`` and the headers ``X-Ins-Timestamp`` and
``X-Ins-Signature: hex(HMAC-SHA256(key, ts + "." + body))``. Answers
``{"infcode": 0, "output": {...}}``; any other infcode is a refusal with ``err_msg``.

- ``AUTH {"auth_code"}`` -> ``{"pay_auth_no", "psn_no"}``: the code from the insurance
  mini-program for a single-use payment authorisation (also how the patient authorises us to
  show their e-insurance card: the person number it names).
- ``1101 {"psn_no"}`` -> ``{"baseinfo": {"psn_no", "psn_name", "gend", "brdy", "certno",
  "psn_cert_type"}, "insuinfo": [{"insutype", "psn_type", "balc" (yuan), "insuplc_admdvs",
  "psn_insu_stas"}], "ecard": {"ecard_no", "status"}}``: the person and their insurance (人员信息
  获取), for the e-insurance card (电子医保凭证); infcode 2001 for a person it does not know.
- ``6201 {"pay_auth_no", "med_org_ord", "fee_details": [{"item", "amount"}], "total"}`` -> ``{"pay_ord_id"}``
- ``6202 {"pay_auth_no", "pay_ord_id"}`` -> ``{"pay_ord_id", "total", "fund_pay", "psn_acct_pay",
  "oth_pay", "own_pay"}`` (pre-settlement: the split; total = fund + account + other + own)
- ``6203 {"pay_ord_id", "ref_reason", "out_refund_no", "fund_pay", "psn_acct_pay", "oth_pay"}``
  -> ``{"refund_status": "SUCCESS"}``; idempotent on out_refund_no.
- ``6301 {"pay_ord_id"}`` -> ``{"ord_stas": "PAID" | "UNPAID" | "REFUNDED"}``

- ``3202* {"stmt_date": "YYYY-MM-DD"}`` -> ``{"file_qury_no", "filename", "rec_cnt"}``: the
  platform makes the day's detail statement (明细对账) of our settlements and refunds, as a file
- ``9102* {"file_qury_no"}`` -> the file itself (``text/plain; charset=utf-8``, not JSON), or the
  usual JSON refusal (an unknown or expired file_qury_no)

The statement file (a day's settlements and refunds by their time, Beijing; UTF-8, one entry a
line, fields separated by TAB, LF or CRLF):

    setl_type setl_id refd_id medins_ord out_refund_no medfee_sumamt fund_pay_sumamt acct_pay oth_pay
        psn_cash_pay stas setl_time                                          (the header, on one line)
    PAY   PO01  .     ORD1  .    10.00   6.00   3.00  0.00  1.00  SUCCESS  2026-12-01 10:00:00
    REFD  PO01  IR01  ORD1  RF1  -10.00  -6.00  -3.00 0.00  -1.00 SUCCESS  2026-12-01 11:00:00
    TOTAL 2     0.00  0.00  0.00  0.00  0.00                               (. is an empty field)

A header line naming the 12 columns; a line per entry: PAY a settlement (6202), REFD a refund
(6203), which reverses the settlement whole, so its amounts are the settlement's, negative
(the cash part itself goes back through WeChat Pay); medins_ord is our order id (med_org_ord
of 6201), setl_id the platform's pay_ord_id, refd_id and out_refund_no the refund's (empty on
PAY); amounts are yuan, total = fund + account + other + cash; stas is SUCCESS or PROCESSING
(a refund not finished); then the totals line: TOTAL, the entry count, and the sums of the five
amount columns. `statement()` checks every line, the count against 3202's rec_cnt and the
totals against the entries, and yields as it reads: a day is never held in memory.

Callbacks to us (``POST /callbacks/medical-insurance``), signed the same way with the same key:
``{"event": "refund.succeeded", "event_id", "pay_ord_id", "out_refund_no"}`` (a 6203 refund that
was still processing has finished) or ``{"event": "settlement.succeeded", "event_id", "pay_ord_id"}``;
answered ``{"infcode": 0}``, or 401 ``{"infcode": -1, "err_msg"}`` when the signature or its time
(5 minutes) fails.

Errors: ``InsuranceRefused`` (infcode != 0), ``UpstreamUnavailable`` (down, 5xx, garbled),
``StatementUnreadable`` (hospital.adapters.statements: a statement that is malformed or does
not add up).
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from hospital import config, money, settings
from hospital.adapters import signing
from hospital.adapters.statements import StatementUnreadable, text_lines
from hospital.errors import UpstreamUnavailable
from hospital.timeutil import SHANGHAI


class InsuranceRefused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


@dataclass(frozen=True)
class Settlement:
    pay_ord_id: str
    total_fen: int
    fund_fen: int          # pooled fund (统筹)
    account_fen: int       # personal account (个账)
    other_fen: int
    cash_fen: int          # self-paid, through WeChat Pay


@dataclass(frozen=True, slots=True)
class StatementEntry:
    """One entry of the platform's daily statement. Amounts are fen and positive: what was
    settled (payment) or reversed (refund)."""

    kind: str                  # "payment" (PAY) or "refund" (REFD)
    order_id: str              # medins_ord: our order id, sent as med_org_ord at 6201
    out_refund_no: str | None  # a refund's number (ours, sent at 6203); None on a payment
    settlement_id: str         # setl_id: the platform's pay_ord_id
    refund_id: str | None      # refd_id: the platform's refund id; None on a payment
    total_fen: int             # fund + account + other + cash
    fund_fen: int              # pooled fund (统筹)
    account_fen: int           # personal account (个账)
    other_fen: int
    cash_fen: int              # self-paid, through WeChat Pay
    status: str                # SUCCESS, or PROCESSING (a refund not finished)
    at: dt.datetime            # settled or refunded: aware, Beijing time
    line: int                  # in the file, 1-based


STATEMENT_COLUMNS = ("setl_type", "setl_id", "refd_id", "medins_ord", "out_refund_no", "medfee_sumamt",
                     "fund_pay_sumamt", "acct_pay", "oth_pay", "psn_cash_pay", "stas", "setl_time")
_AMOUNT_COLUMNS = ("medfee_sumamt", "fund_pay_sumamt", "acct_pay", "oth_pay", "psn_cash_pay")
_KINDS = {"PAY": "payment", "REFD": "refund"}


@dataclass(frozen=True)
class Insurance:
    type: str            # insutype: 310 employees' basic medical insurance, 390 residents' ...
    person_type: str
    balance_fen: int     # the personal account's balance
    region: str          # insuplc_admdvs: where the person is insured
    status: str          # psn_insu_stas: 1 insured, 2 suspended ...


@dataclass(frozen=True)
class InsuredPerson:
    psn_no: str
    name: str
    certno: str          # the ID number: shown masked, never stored
    gender: str
    birth_date: str
    ecard_no: str
    ecard_status: str
    insurances: tuple[Insurance, ...]


class InsuranceClient:
    def __init__(self, base_url: str, key: str, timeout: tuple[float, float] = (2, 8)):
        self.base_url = base_url.rstrip("/")
        self._key = key
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"InsuranceClient({self.base_url!r})"

    def pay_auth_no(self, auth_code: str) -> str:
        return str(self._call("AUTH", {"auth_code": auth_code})["pay_auth_no"])

    def person_of(self, auth_code: str) -> str:
        """The insurance person number an auth code names (the code is used up)."""
        output = self._call("AUTH", {"auth_code": auth_code})
        psn_no = output.get("psn_no") if isinstance(output, dict) else None
        if not psn_no:
            raise UpstreamUnavailable("the insurance platform answered AUTH without psn_no")
        return str(psn_no)

    def person(self, psn_no: str) -> InsuredPerson:
        """The person, their insurance and their e-insurance card (1101)."""
        output = self._call("1101", {"psn_no": psn_no}, query=True)
        try:
            if not isinstance(output, dict):
                raise TypeError("1101 output is not an object")
            base, ecard = output["baseinfo"], output.get("ecard") or {}
            return InsuredPerson(
                psn_no=str(base["psn_no"]), name=str(base["psn_name"]), certno=str(base["certno"]),
                gender=str(base.get("gend") or ""), birth_date=str(base.get("brdy") or ""),
                ecard_no=str(ecard.get("ecard_no") or ""), ecard_status=str(ecard.get("status") or ""),
                insurances=tuple(Insurance(type=str(i["insutype"]), person_type=str(i.get("psn_type") or ""),
                                           balance_fen=money.yuan_to_fen(str(i.get("balc") or "0")),
                                           region=str(i.get("insuplc_admdvs") or ""),
                                           status=str(i.get("psn_insu_stas") or ""))
                                 for i in output.get("insuinfo") or ()))
        except (KeyError, TypeError, ValueError) as exc:
            raise UpstreamUnavailable("the insurance platform answered 1101 in a form that is not its own") from exc

    def upload_fees(self, pay_auth_no: str, order_id: str, title: str, total_fen: int) -> str:
        amount = money.fen_to_yuan(total_fen)
        answer = self._call("6201", {"pay_auth_no": pay_auth_no, "med_org_ord": order_id,
                                     "fee_details": [{"item": title, "amount": amount}], "total": amount})
        return str(answer["pay_ord_id"])

    def pre_settle(self, pay_auth_no: str, pay_ord_id: str) -> Settlement:
        out = self._call("6202", {"pay_auth_no": pay_auth_no, "pay_ord_id": pay_ord_id})
        try:
            parts = [money.yuan_to_fen(str(out[k]))
                     for k in ("total", "fund_pay", "psn_acct_pay", "oth_pay", "own_pay")]
        except (KeyError, money.MoneyError):
            raise UpstreamUnavailable("the insurance platform answered a split we cannot read") from None
        total, fund, account, other, cash = parts
        if min(parts) < 0 or fund + account + other + cash != total:
            raise UpstreamUnavailable("the insurance platform's split does not add up")
        return Settlement(str(out.get("pay_ord_id") or pay_ord_id), total, fund, account, other, cash)

    def refund(self, pay_ord_id: str, out_refund_no: str, reason: str, fund_fen: int, account_fen: int,
               other_fen: int) -> dict:
        return self._call("6203", {"pay_ord_id": pay_ord_id, "out_refund_no": out_refund_no, "ref_reason": reason,
                                   "fund_pay": money.fen_to_yuan(fund_fen),
                                   "psn_acct_pay": money.fen_to_yuan(account_fen),
                                   "oth_pay": money.fen_to_yuan(other_fen)})

    def statement(self, day: dt.date) -> Iterator[StatementEntry]:
        """The platform's detail statement of `day` (Beijing), entry by entry as the file
        downloads; checked line by line and, at its end, against its totals and 3202's count.
        A day without settlements yields nothing. Errors come while iterating."""
        made = self._call("3202", {"stmt_date": day.isoformat()}, query=True)
        file_qury_no, count = made.get("file_qury_no"), made.get("rec_cnt")
        if not isinstance(file_qury_no, str) or not file_qury_no or isinstance(count, bool) \
                or not isinstance(count, int) or count < 0:
            raise StatementUnreadable("the insurance platform's 3202 answer names no statement file")
        body = _envelope("9102", {"file_qury_no": file_qury_no})
        with signing.stream(system="medical_insurance", name="the insurance platform", operation="9102",
                            method="POST", url=f"{self.base_url}/fsi/api/9102", body=body, key=self._key,
                            prefix="X-Ins", timeout=self.timeout, query=True) as answer:
            if "json" in answer.headers.get("Content-Type", ""):  # a refusal, not the file
                try:
                    reply = answer.json()
                except ValueError:
                    reply = None
                _interpret(answer.status_code, reply)
                raise StatementUnreadable("the insurance platform answered 9102 without its file")
            if answer.status_code != 200:
                raise UpstreamUnavailable(f"the insurance platform answered 9102 with {answer.status_code}")
            yield from read_statement(text_lines(answer.iter_content(1 << 16)), expected_count=count)

    def _call(self, infno: str, data: dict, query: bool = False) -> dict:
        return signing.call(system="medical_insurance", name="the insurance platform", operation=infno,
                            method="POST", url=f"{self.base_url}/fsi/api/{infno}", body=_envelope(infno, data),
                            key=self._key, prefix="X-Ins", timeout=self.timeout, interpret=_interpret, query=query)


def _envelope(infno: str, data: dict) -> bytes:
    return json.dumps({"infno": infno, "msgid": uuid.uuid4().hex, "input": data}, ensure_ascii=False,
                      separators=(",", ":")).encode()


def _interpret(status: int, reply) -> dict:
    if status != 200 or not isinstance(reply, dict) or "infcode" not in reply:
        raise UpstreamUnavailable(f"the insurance platform answered {status} in a form that is not its own")
    if reply["infcode"] != 0:
        raise InsuranceRefused(str(reply["infcode"]), str(reply.get("err_msg") or ""))
    return reply.get("output") or {}


# -- the statement file ----------------------------------------------------------------------------------
def read_statement(lines: Iterable[str], expected_count: int | None = None) -> Iterator[StatementEntry]:
    """The entries of a statement file (its lines without line ends), one at a time; once the
    lines end, checks the totals line against what was read, and the count against
    `expected_count` when given. StatementUnreadable names the line and the field at fault."""
    header_seen, totals, count = False, dict.fromkeys(_AMOUNT_COLUMNS, 0), 0
    stated: list[str] | None = None
    number = stated_at = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        values = line.lstrip("\ufeff").split("\t") if number == 1 else line.split("\t")
        if not header_seen:
            if tuple(value.strip() for value in values) != STATEMENT_COLUMNS:
                raise StatementUnreadable("not a 3202 statement: its header is not the 12 columns", line=number)
            header_seen = True
        elif stated is not None:
            raise StatementUnreadable("text after the totals line", line=number)
        elif values[0] == "TOTAL":
            stated, stated_at = values, number
        else:
            entry, signed = _entry(values, number)
            count += 1
            for column, fen in signed.items():
                totals[column] += fen
            yield entry
    if not header_seen:
        raise StatementUnreadable("an empty statement: no header line")
    if stated is None:
        raise StatementUnreadable("the statement ends without its totals line", line=number)
    _check_totals(stated, stated_at, count, totals, expected_count)


def _entry(values: list[str], number: int) -> tuple[StatementEntry, dict[str, int]]:
    if len(values) != len(STATEMENT_COLUMNS):
        raise StatementUnreadable(f"{len(values)} fields where there are {len(STATEMENT_COLUMNS)} columns",
                                  line=number)
    field = dict(zip(STATEMENT_COLUMNS, (value.strip() for value in values), strict=True))
    kind = _KINDS.get(field["setl_type"])
    if kind is None:
        raise StatementUnreadable("an entry that is neither PAY nor REFD", line=number, field="setl_type")
    signed = {column: _fen(field[column], number, column) for column in _AMOUNT_COLUMNS}
    sign = 1 if kind == "payment" else -1
    if any(fen * sign < 0 for fen in signed.values()):
        raise StatementUnreadable("a PAY amount is negative or a REFD amount positive", line=number,
                                  field=next(c for c, fen in signed.items() if fen * sign < 0))
    total, fund, account, other, cash = (signed[column] * sign for column in _AMOUNT_COLUMNS)
    if fund + account + other + cash != total:
        raise StatementUnreadable("the parts do not add up to the total", line=number, field="medfee_sumamt")
    for column in ("setl_id", "medins_ord", "stas"):
        if not field[column]:
            raise StatementUnreadable("a required field is empty", line=number, field=column)
    refund = kind == "refund"
    for column in ("refd_id", "out_refund_no"):
        if bool(field[column]) != refund:
            raise StatementUnreadable("a refund's numbers belong on REFD lines only", line=number, field=column)
    try:
        at = dt.datetime.strptime(field["setl_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
    except ValueError:
        raise StatementUnreadable("not a time", line=number, field="setl_time") from None
    entry = StatementEntry(kind, field["medins_ord"], field["out_refund_no"] or None, field["setl_id"],
                           field["refd_id"] or None, total, fund, account, other, cash, field["stas"], at, number)
    return entry, signed


def _fen(text: str, number: int, column: str) -> int:
    try:
        return money.yuan_to_fen(text)
    except money.MoneyError:
        raise StatementUnreadable("not an amount in yuan", line=number, field=column) from None


def _check_totals(stated: list[str], number: int, count: int, totals: dict[str, int],
                  expected_count: int | None) -> None:
    if len(stated) != 2 + len(_AMOUNT_COLUMNS):
        raise StatementUnreadable("the totals line has the wrong number of fields", line=number)
    if stated[1].strip() != str(count):
        raise StatementUnreadable(f"the totals line counts other than the {count} entries", line=number)
    if expected_count is not None and count != expected_count:
        raise StatementUnreadable(f"the file has {count} entries where 3202 announced {expected_count}",
                                  line=number)
    for column, text in zip(_AMOUNT_COLUMNS, stated[2:], strict=True):
        if _fen(text.strip(), number, column) != totals[column]:
            raise StatementUnreadable("a total disagrees with the entries", line=number, field=column)


def verify_callback(headers: dict, body: bytes, key: str, now: float | None = None) -> None:
    """Raises ValueError (reason) unless the callback is signed with our key, in time."""
    signing.verify_timestamped(headers, body, key, "X-Ins", now)


def client() -> InsuranceClient:
    return InsuranceClient(settings.MED_INS_API_BASE.get(), config.secret_value(settings.MED_INS_SECRET_ARN, "api_key"))
