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
Wall time from spawn to exit and peak RSS (the child's own ru_maxrss, from wait4).

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


BILL_HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
               "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,"
               "费率,订单金额,申请退款金额,费率备注")
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


ORDER_COLUMNS = ("id", "user_id", "kind", "his_ref", "his_patient_id", "description", "amount_fen", "open_his_ref",
                 "channel", "mchid", "appid", "api_version", "status", "expires_at", "transaction_id", "paid_at",
                 "paid_fen", "refunded_fen", "his_confirmed_at", "his_attempts", "created_at", "updated_at")
REFUND_COLUMNS = ("id", "order_id", "out_refund_no", "route", "amount_fen", "reason", "status", "provider_refund_id",
                  "attempts", "created_at", "updated_at", "finished_at")
BATCH = 5000


class Inserter:
    """Rows into a table in multi-row INSERTs of BATCH rows (PyMySQL's executemany)."""

    def __init__(self, conn, table: str, columns: tuple[str, ...]) -> None:
        self.conn, self.rows = conn, []
        self.sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
        self.count = 0

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            with self.conn.cursor() as cur:
                cur.executemany(self.sql, self.rows)
            self.conn.commit()
            self.count += len(self.rows)
            self.rows = []


def connect(url: str):
    """PyMySQL on the database of a SQLAlchemy URL (mysql+pymysql://user:password@host:port/name)."""
    from urllib.parse import unquote, urlsplit

    import pymysql

    parts = urlsplit(url)
    return pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=unquote(parts.username or ""),
                           password=unquote(parts.password or ""), database=parts.path.lstrip("/"),
                           charset="utf8mb4")


def make_day(url: str, day: dt.date, rows: int, folder: str, mchid: str, appid: str, seed: int = 20261201) -> Day:
    """The day's orders and refunds in the database, its bill and the HIS's ledger in `folder`;
    `rows` bill rows in all. Returns what was made and the findings the injections must give."""
    from tests.benchmarks import his_ledger

    rng = random.Random(seed)
    refunds_wanted = max(rows // 100, 2)
    special = sum(PAYMENT_ROLES.values())
    carried = len(CARRIED_BILL)
    # bill rows = ordinary payments on it + refunds on it + the unknown ones
    payments = rows - refunds_wanted + PAYMENT_ROLES["missing_provider"] + 1 - BILL_UNKNOWN_PAYMENTS \
        - BILL_UNKNOWN_REFUNDS
    if payments < special + refunds_wanted + 10:
        raise ValueError(f"BENCH_BILL_ROWS={rows} is too few for the injected discrepancies")
    picked = rng.sample(range(payments), special + refunds_wanted)
    role: dict[int, str] = {}
    for name, count in PAYMENT_ROLES.items():
        for _ in range(count):
            role[picked.pop()] = name
    refunded = set(picked)  # the rest of the picked ones are refunded, in full
    refund_special = {"missing_provider": picked[0], "amount": picked[1]}

    midnight = dt.datetime.combine(day, dt.time())   # Beijing
    start_utc = midnight - BEIJING
    injected: set[tuple[str, str, str]] = set()
    W, H = "wechatpay", "his"
    bill_path = os.path.join(folder, f"wechatpay-{mchid}-ALL-{day.isoformat()}.csv")
    ledger_path = his_ledger.path_of(folder, day)
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO users (status, created_at) VALUES ('active', %s)", (start_utc,))
        user_id = cur.lastrowid
    conn.commit()
    orders = Inserter(conn, "payment_orders", ORDER_COLUMNS)
    refunds = Inserter(conn, "payment_refunds", REFUND_COLUMNS)
    bill = BillWriter(bill_path)
    ledger = open(ledger_path, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    ledger_count = 0
    pending_refunds = []

    def order(n: int, seconds: int, what: str | None) -> None:
        nonlocal ledger_count
        order_id = f"{rng.getrandbits(128):032x}"
        amount = rng.randrange(100, 50000)
        paid = start_utc + dt.timedelta(seconds=seconds)
        confirmed = paid + dt.timedelta(seconds=2)
        at = (midnight + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")
        transaction_id, openid, his_ref = f"4200{n:024d}", f"oBench{n:022d}", f"B{n:012d}"
        status = "confirmed"
        if n in refunded:
            status = "refunded"
        elif what == "closed":
            status = "closed"
        his_confirmed = None if what == "closed" else confirmed
        orders.add((order_id, user_id, "registration", his_ref, "P1", "挂号费", amount,
                    his_ref if status == "confirmed" else None, "wechat", mchid, appid, "v3", status,
                    paid + dt.timedelta(minutes=15), transaction_id, paid, amount,
                    amount if status == "refunded" else 0, his_confirmed, 1, paid - dt.timedelta(seconds=30),
                    confirmed))
        # the bill
        if what in ("missing_provider", "carried_bill"):
            if what == "missing_provider":
                injected.add(("missing_provider", W, order_id))
        else:
            bill_amount, fee, state, bill_appid = amount, _fee(amount), "SUCCESS", appid
            if what == "amount_bill":
                bill_amount += 100
                fee = _fee(bill_amount)
                injected.add(("amount_mismatch", W, order_id))
            elif what == "revoked":
                state = "REVOKED"
                injected.add(("status_mismatch", W, order_id))
            elif what == "closed":
                injected.add(("status_mismatch", W, order_id))
            elif what == "fee":
                fee += 1
                injected.add(("fee_mismatch", W, order_id))
            elif what == "merchant":
                bill_appid = FOREIGN_APPID
                injected.add(("merchant_mismatch", W, order_id))
            bill.payment(at, bill_appid, mchid, transaction_id, order_id, openid, bill_amount, fee, state)
        # the HIS's ledger
        if his_confirmed is not None and what not in ("missing_his", "carried_his"):
            his_amount = amount
            if what == "amount_his":
                his_amount -= 50
                injected.add(("amount_mismatch", H, order_id))
            ledger.write(his_ledger.line("payment", his_ref, order_id, transaction_id, his_amount, f"RC{n:012d}",
                                         "wechatpay_v3", f"REG{n:09d}", None, confirmed))
            ledger_count += 1
        elif what == "missing_his":
            injected.add(("missing_his", H, order_id))
        if status == "refunded":
            pending_refunds.append((n, seconds, order_id, amount, transaction_id, openid, his_ref))

    for n in range(payments):
        order(n, 5 + n * (LAST - 10) // payments, role.get(n))
    for n, (hour, minute, second) in enumerate(CARRIED_BILL, start=payments):
        order(n, hour * 3600 + minute * 60 + second, "carried_bill")
    hour, minute, second = CARRIED_HIS
    order(payments + carried, hour * 3600 + minute * 60 + second, "carried_his")
    orders.flush()

    for n, seconds, order_id, amount, transaction_id, openid, his_ref in pending_refunds:
        refund_seconds = min(seconds + 3600, LAST)
        created = start_utc + dt.timedelta(seconds=refund_seconds)
        at = (midnight + dt.timedelta(seconds=refund_seconds)).strftime("%Y-%m-%d %H:%M:%S")
        refund_id, out_refund_no = f"5030{n:025d}", f"RF{order_id}"
        refunds.add((f"{rng.getrandbits(128):032x}", order_id, out_refund_no, "wechat", amount, "patient_cancelled",
                     "succeeded", refund_id, 1, created, created, created))
        if n == refund_special["missing_provider"]:
            injected.add(("missing_provider", W, out_refund_no))
        else:
            bill_amount = amount
            if n == refund_special["amount"]:
                bill_amount += 100
                injected.add(("amount_mismatch", W, out_refund_no))
            bill.refund(at, appid, mchid, transaction_id, order_id, openid, refund_id, out_refund_no, bill_amount)
        ledger.write(his_ledger.line("refund", his_ref, order_id, transaction_id, amount, None, "wechatpay_v3",
                                     f"REG{n:09d}", f"CX{order_id[:20]}", created))
        ledger_count += 1
    refunds.flush()

    for k in range(BILL_UNKNOWN_PAYMENTS):  # WeChat has them, we do not
        key = f"{rng.getrandbits(128):032x}"
        amount = rng.randrange(100, 50000)
        bill.payment(f"{day.isoformat()} 12:0{k}:00", appid, mchid, f"4201{k:024d}", key, f"oStranger{k:019d}",
                     amount, _fee(amount))
        injected.add(("missing_ours", W, key))
    for k in range(BILL_UNKNOWN_REFUNDS):
        key = f"RF{rng.getrandbits(128):032x}"
        bill.refund(f"{day.isoformat()} 13:0{k}:00", appid, mchid, f"4202{k:024d}", f"{rng.getrandbits(128):032x}",
                    f"oStranger{k:019d}", f"5031{k:025d}", key, 1000)
        injected.add(("missing_ours", W, key))
    for k in range(HIS_UNKNOWN):  # the HIS has them, we do not
        key = f"{rng.getrandbits(128):032x}"
        ledger.write(his_ledger.line("payment", f"BX{k:011d}", key, f"4203{k:024d}", 2500, f"RX{k:012d}",
                                     "wechatpay_v3", None, None, start_utc + dt.timedelta(hours=14, minutes=k)))
        ledger_count += 1
        injected.add(("missing_ours", H, key))
    bill.close()
    ledger.close()
    conn.close()
    return Day(day, bill_path, folder, injected, orders.count, refunds.count, bill.rows, ledger_count,
               len(CARRIED_BILL) + 1)


# ---- the baseline: a plain dict join, in a child process ----------------------------------------

def dict_join(url: str, day: dt.date, bill_path: str, ledger_path: str) -> set[tuple[str, str, str]]:
    """The same three sources joined as plain dicts, finding the same kinds (no streaming, no
    checks of the bill's own summary, no records): what any script would do."""
    start = dt.datetime.combine(day, dt.time()) - BEIJING
    end = start + dt.timedelta(days=1)
    late = end - dt.timedelta(minutes=10)
    payments, refunds = {}, {}
    with open(bill_path, encoding="utf-8") as lines:
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
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT id, amount_fen, status, paid_at, his_confirmed_at, mchid, appid FROM payment_orders "
                    "WHERE channel = 'wechat' AND ((paid_at >= %s AND paid_at < %s) "
                    "OR (his_confirmed_at >= %s AND his_confirmed_at < %s))", (start, end, start, end))
        orders = {row[0]: row for row in cur}
        cur.execute("SELECT r.out_refund_no, r.amount_fen, r.status, r.created_at, o.mchid, o.appid "
                    "FROM payment_refunds r JOIN payment_orders o ON o.id = r.order_id "
                    "WHERE r.route = 'wechat' AND r.created_at >= %s AND r.created_at < %s", (start, end))
        our_refunds = {row[0]: row for row in cur}
    conn.close()
    his = {}
    with open(ledger_path, encoding="utf-8") as lines:
        for text in lines:
            v = text.split("\t")
            if v[0] == "payment":
                his[v[2]] = int(v[4])
    found: set[tuple[str, str, str]] = set()

    def fen(text: str) -> int:
        whole, _, part = text.partition(".")
        value = int(whole.lstrip("-")) * 100 + int(part[:2])
        return -value if text.startswith("-") else value

    def check(key, ours_fen, ours_ok, mchid, appid, theirs, settled):
        t_appid, t_mchid, _, amount, fee, rate = theirs
        amount = fen(amount)
        if amount != ours_fen:
            found.add(("amount_mismatch", "wechatpay", key))
        if (t_mchid, t_appid) != (mchid, appid):
            found.add(("merchant_mismatch", "wechatpay", key))
        if not (settled and ours_ok):
            found.add(("status_mismatch", "wechatpay", key))
        expected_fee = (amount * int(rate.rstrip("%").replace(".", "")) + 5000) // 10000
        if abs(fen(fee)) != expected_fee:
            found.add(("fee_mismatch", "wechatpay", key))

    for key, theirs in payments.items():
        mine = orders.get(key)
        if mine is None or not (mine[3] and start <= mine[3] < end):
            found.add(("missing_ours", "wechatpay", key))
            continue
        check(key, mine[1], mine[2] in STATE_OK, mine[5], mine[6], theirs, theirs[2] == "SUCCESS")
    for key, theirs in refunds.items():
        mine = our_refunds.get(key)
        if mine is None:
            found.add(("missing_ours", "wechatpay", key))
            continue
        check(key, mine[1], mine[2] in REFUND_OK, mine[4], mine[5], theirs, True)
    for key, mine in orders.items():
        if mine[3] and start <= mine[3] < late and key not in payments:
            found.add(("missing_provider", "wechatpay", key))
        if mine[4] and start <= mine[4] < late and key not in his:
            found.add(("missing_his", "his", key))
    for key, mine in our_refunds.items():
        if mine[3] < late and key not in refunds:
            found.add(("missing_provider", "wechatpay", key))
    for key, amount in his.items():
        mine = orders.get(key)
        if mine is None or not (mine[4] and start <= mine[4] < end):
            found.add(("missing_ours", "his", key))
        elif mine[1] != amount:
            found.add(("amount_mismatch", "his", key))
    return found


# ---- measuring a child ------------------------------------------------------------------------

@dataclasses.dataclass
class Child:
    seconds: float
    peak_mb: float
    returncode: int
    stdout: str
    stderr: str


def measure(args: list[str], env: dict[str, str], cwd: pathlib.Path, folder: str, name: str) -> Child:
    """Run a child to its end: wall time from spawn to exit, and its own peak RSS (wait4's
    rusage is that child's alone, whatever ran before it)."""
    out_path, err_path = os.path.join(folder, f"{name}.out"), os.path.join(folder, f"{name}.err")
    with open(out_path, "w") as out, open(err_path, "w") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Child(seconds, usage.ru_maxrss / 1024, proc.returncode, pathlib.Path(out_path).read_text(),
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
               MEMORY_TARGET_MB, detail=f"peak RSS of the child (wait4 ru_maxrss); the dict join's "
                                        f"{base.peak_mb:.0f} MB"),
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
