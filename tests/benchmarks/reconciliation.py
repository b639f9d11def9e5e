"""`make bench`'s reconciliation section (AD1): a generated day of BENCH_BILL_ROWS WeChat Pay
bill rows reconciled against our orders and the HIS's ledger, with a known small number of
discrepancies of every kind injected, against a plain in-memory dict join of the same three
sources in the same run.

Set-up (not measured): a scratch MariaDB database (run.py) holds one past Beijing day of WeChat
payments of the dev merchant, some of them refunded, confirmed by the HIS, inserted in bulk; the
day's bill in WeChat's ALL layout (27 columns, backtick values, a summary that adds up) and the
HIS's ledger of the day (a file the plugged-in HIS of tests/benchmarks/his_ledger.py streams)
are written to disk line by line. The insurance platform and the credit provider have nothing
that day.

Measured, each in a child process of its own: the reconciliation as finance runs it, `python -m
infra.manage reconcile --date D --bill-file F`; and the baseline, `python -m
tests.benchmarks.reconciliation baseline ...`: the bill split on ",`" into a dict by
out_trade_no (out_refund_no for refunds), our orders by one plain SELECT (and the day's refunds
by another) into dicts, the HIS's ledger into a dict, then the joins finding the same kinds.
Wall time from spawn to exit and peak RSS (ru_maxrss), both read by a small launcher whose
only child the command is.

Gate: the findings the run stored are exactly the injected ones, by (kind, source, key); the
baseline must find them too, or its join is not doing the same work.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import pathlib
import random
import subprocess
import sys
import time

TIME_TARGET = 3.0            # at most this many times the dict join's wall time
MEMORY_TARGET_MB = 512.0     # peak RSS of the reconciliation, under
BEIJING = dt.timedelta(hours=8)
LAST = 23 * 3600 + 49 * 60   # ordinary trades before 23:49, clear of the last ten minutes' carry-over
FOREIGN_APPID = "wx00000000bench0ff"
STATE_OK = frozenset({"paid", "confirmed", "his_failed", "refund_pending", "refunded"})
REFUND_OK = frozenset({"processing", "succeeded"})

# How many of each injected discrepancy (and of the payments late enough to be carried over).
PAYMENT_ROLES = {
    "missing_provider": 3,   # ours, not on the bill
    "amount_bill": 3,        # on the bill at another amount
    "revoked": 2,            # on the bill as REVOKED
    "closed": 1,             # ours closed, on the bill as paid
    "fee": 3,                # the bill's fee one fen off its rate
    "merchant": 2,           # on the bill under another app id
    "missing_his": 3,        # confirmed by the HIS, not in its ledger
    "amount_his": 3,         # in the HIS's ledger at another amount
}
BILL_UNKNOWN_PAYMENTS, BILL_UNKNOWN_REFUNDS, HIS_UNKNOWN = 3, 1, 2
# Paid in the last ten minutes of the day: not on the bill (WeChat booked them after midnight),
# carried over to the next day, not reported; and one not in the HIS's ledger yet.
CARRIED_BILL = ((23, 55, 10), (23, 57, 30))
CARRIED_HIS = (23, 56, 0)


@dataclasses.dataclass
class Day:
    day: dt.date
    bill: str
    ledger_folder: str
    injected: set[tuple[str, str, str]]
    orders: int
    refunds: int
    bill_rows: int
    ledger_entries: int
    carried: int


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _fee_text(fen: int) -> str:
    return _yuan(fen) + "000"


def _fee(amount_fen: int) -> int:
    """0.54%, rounded half up to the fen."""
    return (amount_fen * 54 + 5000) // 10000


BILL_HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
               "付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,"
               "退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注")
SUMMARY_HEADER = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"


class BillWriter:
    """A WeChat Pay ALL bill written line by line, its summary added up as it goes."""

    def __init__(self, path: str) -> None:
        self.out = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed by close()
        self.out.write(BILL_HEADER + "\r\n")
        self.rows = self.settled = self.refunded = self.fees = 0

    def _write(self, values: tuple) -> None:
        self.out.write("`" + ",`".join(values) + "\r\n")
        self.rows += 1

    def payment(self, at: str, appid: str, mchid: str, transaction_id: str, out_trade_no: str, openid: str,
                amount: int, fee: int, state: str = "SUCCESS") -> None:
        self.settled += amount
        self.fees += fee
        self._write((at, appid, mchid, "0", "", transaction_id, out_trade_no, openid, "JSAPI", state, "OTHERS",
                     "CNY", _yuan(amount), "0.00", "0", "0", "0.00", "0.00", "", "", "挂号费,门诊",
                     '{"attach":"registration","n":1}', _fee_text(fee), "0.54%", _yuan(amount), "0.00", ""))

    def refund(self, at: str, appid: str, mchid: str, transaction_id: str, out_trade_no: str, openid: str,
               refund_id: str, out_refund_no: str, amount: int) -> None:
        fee = -_fee(amount)
        self.refunded += amount
        self.fees += fee
        self._write((at, appid, mchid, "0", "", transaction_id, out_trade_no, openid, "JSAPI", "REFUND", "OTHERS",
                     "CNY", "0.00", "0.00", refund_id, out_refund_no, _yuan(amount), "0.00", "ORIGINAL", "SUCCESS",
                     "挂号费,门诊", '{"attach":"registration","n":1}', _fee_text(fee), "0.54%", "0.00",
                     _yuan(amount), ""))

    def close(self) -> None:
        self.out.write(SUMMARY_HEADER + "\r\n")
        self.out.write("`" + ",`".join((str(self.rows), _yuan(self.settled), _yuan(self.refunded), "0.00",
                                         _fee_text(self.fees), _yuan(self.settled), _yuan(self.refunded))) + "\r\n")
        self.out.close()


# Rows go to the database as a tab-separated file each, loaded at once (LOAD DATA LOCAL INFILE:
# minutes faster for a million rows than INSERTs, whose values PyMySQL escapes one by one).
LOAD_ORDERS = ("LOAD DATA LOCAL INFILE %s INTO TABLE payment_orders CHARACTER SET utf8mb4 "
               "FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' (id, user_id, kind, his_ref, his_patient_id, "
               "description, amount_fen, open_his_ref, channel, mchid, appid, api_version, status, expires_at, "
               "transaction_id, paid_at, paid_fen, refunded_fen, his_confirmed_at, his_attempts, created_at, "
               "updated_at)")
LOAD_REFUNDS = ("LOAD DATA LOCAL INFILE %s INTO TABLE payment_refunds CHARACTER SET utf8mb4 "
                "FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' (id, order_id, out_refund_no, route, amount_fen, "
                "reason, status, provider_refund_id, attempts, created_at, updated_at, finished_at)")


class Rows:
    """A table's rows written to a tab-separated file (None as \\N) for LOAD DATA."""

    def __init__(self, path: str) -> None:
        self.path, self.count = path, 0
        self.out = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 - closed by load()

    def add(self, *values) -> None:
        self.out.write("\t".join("\\N" if v is None else str(v) for v in values) + "\n")
        self.count += 1

    def load(self, conn, statement: str) -> None:
        self.out.close()
        with conn.cursor() as cur:
            cur.execute(statement, (self.path,))
            if cur.rowcount != self.count:
                raise RuntimeError(f"{cur.rowcount} of {self.count} rows of {self.path} were loaded")
        conn.commit()
        os.unlink(self.path)


def connect(url: str, **options):
    """PyMySQL on the database of a SQLAlchemy URL (mysql+pymysql://user:password@host:port/name)."""
    from urllib.parse import unquote, urlsplit

    import pymysql

    parts = urlsplit(url)
    return pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=unquote(parts.username or ""),
                           password=unquote(parts.password or ""), database=parts.path.lstrip("/"),
                           charset="utf8mb4", **options)


W, H = "wechatpay", "his"


class DayMaker:
    """One Beijing day of WeChat payments of one merchant and app, some refunded in full, as our
    database, WeChat Pay's bill and the HIS's ledger hold them, with the discrepancies of
    PAYMENT_ROLES and the strangers injected; `injected` the findings they must give."""

    def __init__(self, day: dt.date, folder: str, mchid: str, appid: str, seed: int) -> None:
        from tests.benchmarks import his_ledger

        self.day, self.mchid, self.appid = day, mchid, appid
        self.rng = random.Random(seed)
        self.midnight = dt.datetime.combine(day, dt.time())   # Beijing
        self.start_utc = self.midnight - BEIJING
        self.injected: set[tuple[str, str, str]] = set()
        self.bill_path = os.path.join(folder, f"wechatpay-{mchid}-ALL-{day.isoformat()}.csv")
        self.bill = BillWriter(self.bill_path)
        self.ledger = open(his_ledger.path_of(folder, day), "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self.ledger_entries = 0
        self.orders = Rows(os.path.join(folder, "orders.tsv"))
        self.refunds = Rows(os.path.join(folder, "refunds.tsv"))
        self.refunded: list[tuple] = []
        self.user_id = 0

    def _id(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def _booked(self, kind: str, bill_no: str, order_id: str, transaction_id: str, amount: int, n: int,
                refund_ref: str | None, at: dt.datetime) -> None:
        from tests.benchmarks import his_ledger

        receipt = f"RC{n:012d}" if kind == "payment" else None
        self.ledger.write(his_ledger.line(kind, bill_no, order_id, transaction_id, amount, receipt, "wechatpay_v3",
                                          f"REG{n:09d}", refund_ref, at))
        self.ledger_entries += 1

    def order(self, n: int, seconds: int, role: str | None, refunded: bool) -> None:
        """The n-th payment of the day, `seconds` after midnight, playing `role` (None: agreeing)."""
        order_id, amount = self._id(), self.rng.randrange(100, 50000)
        paid = self.start_utc + dt.timedelta(seconds=seconds)
        confirmed = paid + dt.timedelta(seconds=2)
        transaction_id, openid, his_ref = f"4200{n:024d}", f"oBench{n:022d}", f"B{n:012d}"
        status = "refunded" if refunded else "closed" if role == "closed" else "confirmed"
        his_confirmed = None if role == "closed" else confirmed
        self.orders.add(order_id, self.user_id, "registration", his_ref, "P1", "挂号费", amount,
                        his_ref if status == "confirmed" else None, "wechat", self.mchid, self.appid, "v3", status,
                        paid + dt.timedelta(minutes=15), transaction_id, paid, amount, amount if refunded else 0,
                        his_confirmed, 1, paid - dt.timedelta(seconds=30), confirmed)
        if role == "missing_provider":
            self.injected.add(("missing_provider", W, order_id))
        elif role != "carried_bill":
            self._on_bill(role, seconds, order_id, amount, transaction_id, openid)
        if role == "missing_his":
            self.injected.add(("missing_his", H, order_id))
        elif his_confirmed is not None and role != "carried_his":
            if role == "amount_his":
                self.injected.add(("amount_mismatch", H, order_id))
            self._booked("payment", his_ref, order_id, transaction_id, amount - 50 if role == "amount_his" else amount,
                         n, None, confirmed)
        if refunded:
            self.refunded.append((n, seconds, order_id, amount, transaction_id, openid, his_ref))

    def _on_bill(self, role: str | None, seconds: int, order_id: str, amount: int, transaction_id: str,
                 openid: str) -> None:
        at = (self.midnight + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")
        fee, state, appid = _fee(amount), "SUCCESS", self.appid
        finding = {"amount_bill": "amount_mismatch", "revoked": "status_mismatch", "closed": "status_mismatch",
                   "fee": "fee_mismatch", "merchant": "merchant_mismatch"}.get(role or "")
        if finding:
            self.injected.add((finding, W, order_id))
        if role == "amount_bill":
            amount += 100
            fee = _fee(amount)
        elif role == "revoked":
            state = "REVOKED"
        elif role == "fee":
            fee += 1
        elif role == "merchant":
            appid = FOREIGN_APPID
        self.bill.payment(at, appid, self.mchid, transaction_id, order_id, openid, amount, fee, state)

    def refunds_of_the_day(self, missing: int, wrong_amount: int) -> None:
        """Each refunded order refunded in full an hour after it was paid; the `missing`-th refund
        not on the bill, the `wrong_amount`-th on it at another amount."""
        for n, seconds, order_id, amount, transaction_id, openid, his_ref in self.refunded:
            refund_seconds = min(seconds + 3600, LAST)
            created = self.start_utc + dt.timedelta(seconds=refund_seconds)
            at = (self.midnight + dt.timedelta(seconds=refund_seconds)).strftime("%Y-%m-%d %H:%M:%S")
            refund_id, out_refund_no = f"5030{n:025d}", f"RF{order_id}"
            self.refunds.add(self._id(), order_id, out_refund_no, "wechat", amount, "patient_cancelled", "succeeded",
                             refund_id, 1, created, created, created)
            if n == missing:
                self.injected.add(("missing_provider", W, out_refund_no))
            else:
                if n == wrong_amount:
                    self.injected.add(("amount_mismatch", W, out_refund_no))
                self.bill.refund(at, self.appid, self.mchid, transaction_id, order_id, openid, refund_id,
                                 out_refund_no, amount + 100 if n == wrong_amount else amount)
            self._booked("refund", his_ref, order_id, transaction_id, amount, n, f"CX{order_id[:20]}", created)

    def strangers(self) -> None:
        """Trades WeChat Pay or the HIS booked that we do not have."""
        for k in range(BILL_UNKNOWN_PAYMENTS):
            key, amount = self._id(), self.rng.randrange(100, 50000)
            self.bill.payment(f"{self.day.isoformat()} 12:0{k}:00", self.appid, self.mchid, f"4201{k:024d}", key,
                              f"oStranger{k:019d}", amount, _fee(amount))
            self.injected.add(("missing_ours", W, key))
        for k in range(BILL_UNKNOWN_REFUNDS):
            key = f"RF{self._id()}"
            self.bill.refund(f"{self.day.isoformat()} 13:0{k}:00", self.appid, self.mchid, f"4202{k:024d}",
                             self._id(), f"oStranger{k:019d}", f"5031{k:025d}", key, 1000)
            self.injected.add(("missing_ours", W, key))
        for k in range(HIS_UNKNOWN):
            key = self._id()
            self._booked("payment", f"BX{k:011d}", key, f"4203{k:024d}", 2500, 900_000_000 + k, None,
                         self.start_utc + dt.timedelta(hours=14, minutes=k))
            self.injected.add(("missing_ours", H, key))

    def close(self) -> None:
        self.bill.close()
        self.ledger.close()


def make_day(url: str, day: dt.date, rows: int, folder: str, mchid: str, appid: str, seed: int = 20261201) -> Day:
    """The day's orders and refunds in the database, its bill and the HIS's ledger in `folder`;
    `rows` bill rows in all. Returns what was made and the findings the injections must give."""
    maker = DayMaker(day, folder, mchid, appid, seed)
    refunds = max(rows // 100, 2)
    # bill rows = our payments on it (all but the missing and the carried, the one only the HIS
    # has yet to book included) + our refunds on it (all but one) + the strangers
    payments = rows - refunds + PAYMENT_ROLES["missing_provider"] - BILL_UNKNOWN_PAYMENTS - BILL_UNKNOWN_REFUNDS
    special = sum(PAYMENT_ROLES.values())
    if payments < special + refunds + 10:
        raise ValueError(f"BENCH_BILL_ROWS={rows} is too few for the injected discrepancies")
    picked = maker.rng.sample(range(payments), special + refunds)
    role = {picked.pop(): name for name, count in PAYMENT_ROLES.items() for _ in range(count)}
    refunded = set(picked)  # the rest of those picked
    conn = connect(url, local_infile=True)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO users (status, created_at) VALUES ('active', %s)", (maker.start_utc,))
        maker.user_id = cur.lastrowid
    conn.commit()
    for n in range(payments):
        maker.order(n, 5 + n * (LAST - 10) // payments, role.get(n), n in refunded)
    for n, (hour, minute, second) in enumerate((*CARRIED_BILL, CARRIED_HIS), start=payments):
        maker.order(n, hour * 3600 + minute * 60 + second, "carried_his" if n - payments == len(CARRIED_BILL)
                    else "carried_bill", False)
    maker.refunds_of_the_day(missing=picked[0], wrong_amount=picked[1])
    maker.strangers()
    maker.close()
    maker.orders.load(conn, LOAD_ORDERS)
    maker.refunds.load(conn, LOAD_REFUNDS)
    conn.close()
    return Day(day, maker.bill_path, folder, maker.injected, maker.orders.count, maker.refunds.count,
               maker.bill.rows, maker.ledger_entries, len(CARRIED_BILL) + 1)


# ---- the baseline: a plain dict join, in a child process ----------------------------------------

Found = set[tuple[str, str, str]]


def _bill_dicts(path: str) -> tuple[dict, dict]:
    """The bill's payments by out_trade_no and refunds by out_refund_no: (appid, mchid, state,
    amount, fee, rate) as the bill prints them."""
    payments, refunds = {}, {}
    with open(path, encoding="utf-8") as lines:
        for text in lines:
            if text[0] != "`":
                continue
            v = text[1:].rstrip("\r\n").split(",`")
            if len(v) == 7:
                continue  # the summary line
            if v[14] == "0":
                payments[v[6]] = (v[1], v[2], v[9], v[24], v[22], v[23])
            else:
                refunds[v[15]] = (v[1], v[2], v[19], v[16], v[22], v[23])
    return payments, refunds


def _our_dicts(url: str, start: dt.datetime, end: dt.datetime) -> tuple[dict, dict]:
    """Our WeChat orders paid or confirmed by the HIS in [start, end) by id, one plain SELECT;
    the refunds asked for in it by out_refund_no."""
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT id, amount_fen, status, paid_at, his_confirmed_at, mchid, appid FROM payment_orders "
                    "WHERE channel = 'wechat' AND ((paid_at >= %s AND paid_at < %s) "
                    "OR (his_confirmed_at >= %s AND his_confirmed_at < %s))", (start, end, start, end))
        orders = {row[0]: row for row in cur}
        cur.execute("SELECT r.out_refund_no, r.amount_fen, r.status, r.created_at, o.mchid, o.appid "
                    "FROM payment_refunds r JOIN payment_orders o ON o.id = r.order_id "
                    "WHERE r.route = 'wechat' AND r.created_at >= %s AND r.created_at < %s", (start, end))
        refunds = {row[0]: row for row in cur}
    conn.close()
    return orders, refunds


def _ledger_dict(path: str) -> dict[str, int]:
    """The HIS's payments by our order id: the amount."""
    his = {}
    with open(path, encoding="utf-8") as lines:
        for text in lines:
            v = text.split("\t")
            if v[0] == "payment":
                his[v[2]] = int(v[4])
    return his


def _fen(text: str) -> int:
    whole, _, part = text.partition(".")
    value = int(whole.lstrip("-")) * 100 + int(part[:2])
    return -value if text.startswith("-") else value


def _compare(found: Found, key: str, ours_fen: int, ours_ok: bool, mchid: str, appid: str, theirs: tuple,
             settled: bool) -> None:
    t_appid, t_mchid, _, amount, fee, rate = theirs
    amount = _fen(amount)
    if amount != ours_fen:
        found.add(("amount_mismatch", W, key))
    if (t_mchid, t_appid) != (mchid, appid):
        found.add(("merchant_mismatch", W, key))
    if not (settled and ours_ok):
        found.add(("status_mismatch", W, key))
    if abs(_fen(fee)) != (amount * int(rate.rstrip("%").replace(".", "")) + 5000) // 10000:
        found.add(("fee_mismatch", W, key))


def dict_join(url: str, day: dt.date, bill_path: str, ledger_path: str) -> Found:
    """The same three sources joined as plain dicts, finding the same kinds (no streaming, no
    checks of the bill's own summary, no records): what any script would do."""
    start = dt.datetime.combine(day, dt.time()) - BEIJING
    end = start + dt.timedelta(days=1)
    late = end - dt.timedelta(minutes=10)
    payments, refunds = _bill_dicts(bill_path)
    orders, our_refunds = _our_dicts(url, start, end)
    his = _ledger_dict(ledger_path)
    found: Found = set()
    for key, theirs in payments.items():
        mine = orders.get(key)
        if mine is None or not (mine[3] and start <= mine[3] < end):
            found.add(("missing_ours", W, key))
        else:
            _compare(found, key, mine[1], mine[2] in STATE_OK, mine[5], mine[6], theirs, theirs[2] == "SUCCESS")
    for key, theirs in refunds.items():
        mine = our_refunds.get(key)
        if mine is None:
            found.add(("missing_ours", W, key))
        else:
            _compare(found, key, mine[1], mine[2] in REFUND_OK, mine[4], mine[5], theirs, True)
    for key, mine in orders.items():
        if mine[3] and start <= mine[3] < late and key not in payments:
            found.add(("missing_provider", W, key))
        if mine[4] and start <= mine[4] < late and key not in his:
            found.add(("missing_his", H, key))
    found |= {("missing_provider", W, key) for key, mine in our_refunds.items()
              if mine[3] < late and key not in refunds}
    for key, amount in his.items():
        mine = orders.get(key)
        if mine is None or not (mine[4] and start <= mine[4] < end):
            found.add(("missing_ours", H, key))
        elif mine[1] != amount:
            found.add(("amount_mismatch", H, key))
    return found


# ---- measuring a child ------------------------------------------------------------------------

@dataclasses.dataclass
class Child:
    seconds: float
    peak_mb: float
    returncode: int
    stdout: str
    stderr: str


# Started between this process and the measured one: a child's peak RSS counts the memory of
# the process it was forked from (Linux carries it over exec), and this one holds the simulators.
LAUNCHER = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.call(sys.argv[2:])
seconds = time.perf_counter() - started
with open(sys.argv[1], "w") as out:
    json.dump({"seconds": seconds, "code": code,
               "peak_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}, out)
"""


def measure(args: list[str], env: dict[str, str], cwd: pathlib.Path, folder: str, name: str) -> Child:
    """Run a command to its end from a small launcher: its wall time from spawn to exit and its
    peak RSS (getrusage RUSAGE_CHILDREN of the launcher, whose only child it is)."""
    out_path, err_path = os.path.join(folder, f"{name}.out"), os.path.join(folder, f"{name}.err")
    figures_path = os.path.join(folder, f"{name}.json")
    with open(out_path, "w") as out, open(err_path, "w") as err:
        subprocess.run([sys.executable, "-c", LAUNCHER, figures_path, *args], cwd=cwd, env=env, stdout=out,
                       stderr=err, check=True)
    got = json.loads(pathlib.Path(figures_path).read_text())
    return Child(got["seconds"], got["peak_kb"] / 1024, got["code"], pathlib.Path(out_path).read_text(),
                 pathlib.Path(err_path).read_text())


# ---- the section ------------------------------------------------------------------------------

def run(rows: int) -> list:
    """Set up a day of `rows` bill rows, run the baseline and the reconciliation, and the figures."""
    import tempfile

    from infra import devenv
    from tests.benchmarks import his_ledger
    from tests.benchmarks.figures import Figure
    from tests.benchmarks.run import ROOT, scratch_database
    from tests.conftest import _use_database, platform_environment

    day = (dt.datetime.now(dt.UTC).replace(tzinfo=None) + BEIJING).date() - dt.timedelta(days=2)
    with (scratch_database("hospital_bench_recon") as url, platform_environment() as platform,
          tempfile.TemporaryDirectory(prefix="bench-reconcile-") as folder):
        _use_database(url)
        began = time.perf_counter()
        made = make_day(url, day, rows, folder, devenv.DEV_V3_MCHID, platform.mini_program_app_id)
        setup_s = time.perf_counter() - began
        print(f"reconciliation: set-up (not measured) {setup_s:.0f} s: {made.orders:,} orders, {made.refunds:,} "
              f"refunds, {made.bill_rows:,} bill rows ({os.path.getsize(made.bill) / 2**20:.0f} MB), "
              f"{made.ledger_entries:,} HIS ledger entries, {len(made.injected)} discrepancies injected",
              flush=True)
        env = {**os.environ, "DATABASE_URL": url, "HIS_ADAPTER": "tests.benchmarks.his_ledger:make",
               his_ledger.FOLDER: folder, "LOG_LEVEL": "WARNING"}
        base = measure([sys.executable, "-m", "tests.benchmarks.reconciliation", "baseline", url, day.isoformat(),
                        made.bill, str(his_ledger.path_of(folder, day))], env, ROOT, folder, "baseline")
        ours = measure([sys.executable, "-m", "infra.manage", "reconcile", "--date", day.isoformat(),
                        "--bill-file", made.bill], env, ROOT, folder, "reconcile")
        for name, child in (("the dict join", base), ("the reconciliation", ours)):
            if child.returncode != 0:
                raise RuntimeError(f"{name} failed (exit {child.returncode}):\n{child.stdout[-3000:]}\n"
                                   f"{child.stderr[-5000:]}")
        conn = connect(url)
        with conn.cursor() as cur:
            cur.execute("SELECT kind, source, trade_key FROM reconciliation_findings WHERE bill_date = %s", (day,))
            stored = {tuple(row) for row in cur}
        conn.close()
    joined = {tuple(item) for item in json.loads(next(
        line[7:] for line in base.stdout.splitlines() if line.startswith("RESULT ")))}
    if joined != made.injected:
        raise RuntimeError(f"the dict join does not find what was injected: missing {made.injected - joined}, "
                           f"extra {joined - made.injected}")
    # The command prints the run's record as JSON (after whatever it logged).
    record = json.JSONDecoder().raw_decode(ours.stdout[ours.stdout.rindex('{\n  "run_id"'):])[0]
    missing, extra = made.injected - stored, stored - made.injected
    ratio = ours.seconds / base.seconds
    result = {"rows": made.bill_rows, "orders": made.orders, "refunds": made.refunds,
              "ledger_entries": made.ledger_entries, "injected": len(made.injected), "setup_s": setup_s,
              "seconds": ours.seconds, "peak_mb": ours.peak_mb, "baseline_seconds": base.seconds,
              "baseline_peak_mb": base.peak_mb, "missing": sorted(missing), "extra": sorted(extra),
              "run_counts": record.get("counts"), "carried": made.carried}
    print(f"reconciliation: {made.bill_rows:,} bill rows: {ours.seconds:.1f} s, peak RSS {ours.peak_mb:.0f} MB "
          f"(target < {MEMORY_TARGET_MB:.0f} MB); the dict join {base.seconds:.1f} s, {base.peak_mb:.0f} MB -> "
          f"{ratio:.2f} x (target <= {TIME_TARGET:g}); findings: {len(made.injected) - len(missing)}/"
          f"{len(made.injected)} injected found, {len(extra)} others; counts {record.get('counts')}", flush=True)
    n = f"{made.bill_rows:,} bill rows"
    return [
        Figure("reconciliation.time", f"reconciliation of {n} (/ dict join)", ratio, "x", "<=", TIME_TARGET,
               detail=f"{ours.seconds:.1f} s (python -m infra.manage reconcile) vs {base.seconds:.1f} s (a plain dict "
                      f"join of bill, orders and HIS ledger), each a child process from spawn to exit; set-up "
                      f"(not measured) {setup_s:.0f} s", data=result),
        Figure("reconciliation.memory", f"reconciliation peak memory, {n}", round(ours.peak_mb, 1), "MB", "<",
               MEMORY_TARGET_MB, detail=f"peak RSS (ru_maxrss) of the command; the dict join's "
                                        f"{base.peak_mb:.0f} MB"),
        Figure("reconciliation.seconds", f"reconciliation time, {n}", ours.seconds, "s",
               detail=f"the dict join's {base.seconds:.1f} s; both as wall time of a child process"),
        Figure("reconciliation.findings", f"reconciliation findings not as injected, {n}", len(missing) + len(extra),
               "", "==", 0, detail=f"{len(made.injected)} injected (every kind, bill and HIS), {len(missing)} not "
                                   f"found, {len(extra)} found beyond them; {made.carried} late payments carried over"),
    ]


def main(argv: list[str]) -> int:
    if argv[:1] != ["baseline"] or len(argv) != 5:
        print("usage: python -m tests.benchmarks.reconciliation baseline DATABASE_URL DATE BILL LEDGER",
              file=sys.stderr)
        return 2
    url, day, bill, ledger = argv[1:]
    found = dict_join(url, dt.date.fromisoformat(day), bill, ledger)
    print("RESULT " + json.dumps(sorted(found)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
