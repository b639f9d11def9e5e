"""`make bench`: the service's figures, each against a target, most as a ratio to a baseline
measured in the same run on this machine. It ends with one line per figure (value, target,
MET / NOT MET, what it was measured against), writes the same to .bench/<UTC start>.json and
.bench/latest.json (with the python version, cpu count and git commit; `python -m
tests.benchmarks.compare A.json B.json` puts two side by side), and exits 1 when a gating
figure is NOT MET.

- cold start, per function of template.yaml (tests/benchmarks/coldstart.py): a fresh
  interpreter imports the function as Lambda does and handles its most common event once (an
  authenticated GET with a database read; a signed v3 payment notification; an SQS batch of
  one real message; a scheduled event; a WebSocket $connect, subscribe or $disconnect); the
  child's own clock splits it into import and first event (whole = import + event). Against
  it, in the same interleaved rounds, the minimal handler: a fresh interpreter importing boto3
  and PyMySQL, connecting to the same database, running one SELECT. Medians of BENCH_RUNS
  rounds (5); figure: whole / minimal, target at most 1.5. The run with -X importtime of each
  function is summarised (top 15 cumulative imports, and which the first event paid for) and
  kept in .bench/importtime-<function>.txt. Reported beside it: the floor, the minimal handler
  that also imports SQLAlchemy, the lowest ratio a function whose first event calls AWS and
  reads the database can reach.
- intake throughput: rescue cases created per second through the HTTP handler in-process
  against MariaDB (validation, auth, encryption, case + node + outbox in one transaction, the
  outbox relay's SendMessage to the embedded SQS), against the minimal handler doing the same
  outside work: one INSERT + COMMIT (PyMySQL) and one SQS SendMessage (boto3) to the same
  endpoint, per second; handler and baseline alternate in blocks; target at least 0.6.
  BENCH_CASES (300), BENCH_BASELINE_OPS (300).
- notification throughput: signed and encrypted WeChat Pay v3 notifications handled per
  second the same way (verify, decrypt, guarded update, ledger, outbox and its relay), against
  one UPDATE + COMMIT and one SendMessage per second; target at least 0.6.
  BENCH_NOTIFICATIONS (300).
  For both, reported: the database round trips of one intake and of one notification, counted
  with SQLAlchemy's events on every engine: statements (before_cursor_execute), commits and
  rollbacks (commit, rollback) and the pool's rollback of each connection it takes back
  (reset), with the commands PyMySQL put on the wire as a check; and the commits alone.
- alert latency: BENCH_INTAKES (50) one-click intakes fired at once at a freshly started local
  runtime (`make run` over a scratch MariaDB database, embedded moto, the WebSocket API), all
  accepted, none lost or doubled, p95 from the intake request to an ED console receiving the
  alert over the WebSocket; target under 1 s. The same with BENCH_INTAKES_LARGE (200) is
  reported against 1 s without gating (its losses still gate). And the runtime process's CPU
  time per intake chain (intake, consumer, staff fan-out, triage push, alert), counted from the
  burst's start (clients connected, a warm-up burst of the same size done: its alerts in, the
  rescue queues drained) to the last alert's arrival; target at most 21 ms, half of the 42 ms
  the chain cost before (gating at BENCH_INTAKES, reported at BENCH_INTAKES_LARGE).
- ambulance tracking: BENCH_AMBULANCES (100) crews each posting one GPS point a second for
  BENCH_TRACK_SECONDS (60) at a freshly started local runtime while each case's patient
  follows it over the WebSocket; no point lost (all stored); p95 from a post to the patient
  seeing that point or a newer one (pushes carry the latest position); target under 1 s. Also
  reported: the runtime process's CPU time per point, counted from the first post (patients
  connected and following) to the last post's answer.
- suspension: BENCH_SUSPENDED (1000) patients of a freshly started local runtime, each signed
  in with a WeChat login code, put on file at the HIS, their card bound, one one-minute slot
  three days ahead booked and paid with WeChat Pay until the HIS confirmed it, all through the
  API and the simulators from the load process (not measured; its time is reported as the
  set-up); then the back office suspends those slots (one suspension per doctor of 40 slots,
  all posted at once) and the time until every suspension's progress route shows each of its
  registrations cancelled, refunded (the order refunded on WeChat Pay's refund notification)
  and its patient told; target under 60 s. Counted afterwards where each thing happened: the
  WeChat simulator's notices per patient, the HIS simulator's cancellations per registration,
  payment_refunds rows and the WeChat Pay simulator's refunds per order; anything beyond one
  each is a duplicate (target 0), a registration lacking any is missing (target 0; what has not
  settled after 300 s is missing). Reported beside: the runtime process's CPU per registration.
- reconciliation (tests/benchmarks/reconciliation.py): a generated past day of BENCH_BILL_ROWS
  (1,000,000) WeChat Pay bill rows in the ALL layout, our orders and refunds of that day loaded
  in bulk into a scratch MariaDB database and the HIS's ledger of the day in a file that a HIS
  plugged in through HIS_ADAPTER streams (tests/benchmarks/his_ledger.py), with a few
  discrepancies of every kind injected on the bill and in the ledger and payments of the last
  minutes before midnight carried over (the set-up: not measured, its time reported); then
  `python -m infra.manage reconcile --date D --bill-file F` in a child process against a plain
  dict join of the same three sources in another. Figures: wall time / the dict join's (target
  at most 3), the run's peak RSS (target under 512 MB), and the findings stored that are not
  exactly the injected ones by (kind, source, key) (target 0).

BENCH_QUICK=1 runs every figure shorter, for a quick look (3.5 minutes here, 5 under heavy
load, instead of about 16): one cold-start round (no warm-up round once .bench/pycache is
filled, no -X importtime round), 60 intakes and notifications against 60 baseline operations
each, bursts of 50 and 100 intakes one after the other in one runtime, 20 ambulances for 10 s,
100 suspended registrations, a day of 300,000 bill rows.
Its output and JSON say it is quick; its figures are rougher (one cold start per function)
and not comparable one to one with a full run's. The variables above override either mode.

The two latency benchmarks and the suspension run the clients in a process of their own
(load.py), so phones and service do not share one interpreter lock; each runtime is a process
of its own too.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import pathlib
import subprocess
import sys
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[2]
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")


def _setting(name: str, full: int, quick: int) -> int:
    return int(os.environ.get(name, quick if QUICK else full))


RUNS = _setting("BENCH_RUNS", 5, 1)
CASES = _setting("BENCH_CASES", 300, 60)
NOTIFICATIONS = _setting("BENCH_NOTIFICATIONS", 300, 60)
BASELINE_OPS = _setting("BENCH_BASELINE_OPS", 300, 60)
INTAKES = _setting("BENCH_INTAKES", 50, 50)
INTAKES_LARGE = _setting("BENCH_INTAKES_LARGE", 200, 100)
AMBULANCES = _setting("BENCH_AMBULANCES", 100, 20)
TRACK_SECONDS = _setting("BENCH_TRACK_SECONDS", 60, 10)
SUSPENDED = _setting("BENCH_SUSPENDED", 1000, 100)
BILL_ROWS = _setting("BENCH_BILL_ROWS", 1_000_000, 300_000)
WARM = 20      # operations of each kind before timing: container start, first data key, connections
BLOCKS = 5     # handler and baseline alternate in this many blocks, so drift in load hits both alike
COUNTED = 10   # operations of each kind counted for round trips, after the timing
INTAKE_BODY = {"location": {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "wgs84", "accuracy_m": 20},
               "address_text": "上海市黄浦区人民大道200号", "complaint": "胸痛"}
# About the size of a relayed outbox message.
RELAY_BODY = ('{"message_id": "00000000000000000000000000000000", "type": "rescue.case_created", '
              '"created_at": "2026-11-26T07:00:00.000Z", "data": {"case_id": "00000000000000000000000000000000"}}')


def settings() -> dict:
    return {"quick": QUICK, "runs": RUNS, "cases": CASES, "notifications": NOTIFICATIONS,
            "baseline_ops": BASELINE_OPS, "intakes": INTAKES, "intakes_large": INTAKES_LARGE,
            "ambulances": AMBULANCES, "track_seconds": TRACK_SECONDS, "suspended": SUSPENDED, "bill_rows": BILL_ROWS}


@contextlib.contextmanager
def scratch_database(prefix: str = "hospital_bench"):
    """A migrated MariaDB database of its own for one benchmark, dropped afterwards."""
    import sqlalchemy as sa

    from infra import devenv

    base = sa.engine.make_url(os.environ.get("TEST_DATABASE_URL", "mysql+pymysql://root@127.0.0.1:3306/"))
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        devenv.migrate(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()


# ---- throughput -----------------------------------------------------------------------------

class MinimalHandler:
    """The baselines' outside work as a minimal handler would do it, in this process: PyMySQL
    on a connection of its own to the same database, boto3's SQS client to the same endpoint
    (a queue of its own)."""

    def __init__(self, url: str) -> None:
        import boto3
        import pymysql
        import sqlalchemy as sa

        parsed = sa.engine.make_url(url)
        self.db = pymysql.connect(host=parsed.host, port=parsed.port or 3306, user=parsed.username,
                                  password=parsed.password or "", database=parsed.database, charset="utf8mb4")
        with self.db.cursor() as cur:
            cur.execute("CREATE TABLE bench_plain (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64))")
            cur.execute("INSERT INTO bench_plain (v) VALUES ('seed')")  # row 1, for the UPDATE
        self.db.commit()
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.sqs = boto3.session.Session().client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                                                  region_name=region)
        self.queue = self.sqs.create_queue(QueueName=f"bench-baseline-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        self.n = 0

    def _send(self) -> None:
        self.sqs.send_message(QueueUrl=self.queue, MessageBody=RELAY_BODY, MessageAttributes={
            "correlation_id": {"DataType": "String", "StringValue": "bench"}})

    def insert(self) -> None:
        self._write_and_send("INSERT INTO bench_plain (v) VALUES (%s)")

    def update(self) -> None:
        self._write_and_send("UPDATE bench_plain SET v = %s WHERE id = 1")

    def _write_and_send(self, sql: str) -> None:
        """One statement, its COMMIT and one SendMessage: the outside work of a publishing request."""
        self.n += 1
        with self.db.cursor() as cur:
            cur.execute(sql, (f"row-{self.n}",))
        self.db.commit()
        self._send()

    def close(self) -> None:
        self.sqs.purge_queue(QueueUrl=self.queue)
        self.db.close()


@contextlib.contextmanager
def round_trips():
    """Counts, while open, what SQLAlchemy sends on every engine: statements
    (before_cursor_execute), commits and rollbacks it is asked for (commit, rollback) and the
    pool's rollbacks of connections returned inside a transaction (reset); and, as a check, every
    command PyMySQL puts on the wire (each waits for its answer: a round trip), by first word."""
    import collections

    import pymysql.connections
    import sqlalchemy as sa

    counts: collections.Counter = collections.Counter()
    wire: collections.Counter = collections.Counter()

    def counter(name):
        def count(*_args, **_kwargs):
            counts[name] += 1
        return count

    def count_reset(dbapi_conn, _record, _state):
        # The layer's pool rolls back on return only a connection still inside a transaction.
        if getattr(dbapi_conn, "server_status", 1) & 1:
            counts["resets"] += 1

    installed = [(sa.engine.Engine, "before_cursor_execute", counter("statements")),
                 (sa.engine.Engine, "commit", counter("commits")),
                 (sa.engine.Engine, "rollback", counter("rollbacks")),
                 (sa.pool.Pool, "reset", count_reset)]
    for target, event, fn in installed:
        sa.event.listen(target, event, fn)
    original = pymysql.connections.Connection._execute_command

    def execute_command(self, command, sql):
        text = sql.decode(errors="replace") if isinstance(sql, bytes) else str(sql)
        wire[(text.split(None, 1) or [f"(command {command})"])[0].upper()] += 1
        return original(self, command, sql)

    pymysql.connections.Connection._execute_command = execute_command
    try:
        yield counts, wire
    finally:
        pymysql.connections.Connection._execute_command = original
        for target, event, fn in installed:
            sa.event.remove(target, event, fn)


def _signed_notifications(platform, principal, count: int) -> list[dict]:
    """`count` orders paying with WeChat Pay v3, each paid in the simulator, and the signed,
    encrypted notification WeChat would send for it now (as API Gateway events)."""
    import datetime

    from hospital.db import engine, tables
    from hospital.timeutil import utcnow
    from infra import devenv
    from tests.conftest import api_event

    sim, mchid, now = platform.wechatpay, devenv.DEV_V3_MCHID, utcnow()
    merchant = sim.merchants[mchid]
    events = []
    with engine().begin() as conn:
        for n in range(count):
            order_id = uuid.uuid4().hex
            conn.execute(tables.payment_orders.insert().values(
                id=order_id, user_id=principal.user_id, kind="registration", his_ref=f"B{order_id[:12]}",
                his_patient_id="P1", description="挂号费", amount_fen=2500, open_his_ref=f"B{order_id[:12]}",
                channel="wechat", mchid=mchid, appid=platform.mini_program_app_id, api_version="v3",
                status="paying", prepay_id=f"wx{n}", expires_at=now + datetime.timedelta(minutes=15),
                created_at=now, updated_at=now))
            sim._open_order(merchant, "v3", platform.mini_program_app_id, order_id, 2500,
                            "http://127.0.0.1:9/", "o-bench", "挂号费", None)
            sim.pay(mchid, order_id, notify=False)
            body, headers = sim.notification("payment", mchid, order_id)
            event = api_event("POST", "/callbacks/wechatpay/v3", headers=headers)
            event["body"] = body.decode()
            events.append(event)
    return events


def throughput() -> list:
    """Intakes and v3 notifications per second in-process, each as a ratio to the minimal
    handler doing the same outside work, in interleaved blocks; and their round trips."""
    import sqlalchemy as sa

    from hospital.aws import client
    from hospital.db import engine, tables
    from tests.benchmarks.figures import Figure
    from tests.conftest import _use_database, api_event, make_patient, platform_environment

    with scratch_database() as url, platform_environment() as platform:
        _use_database(url)
        host = platform.host
        principal, token = make_patient(platform)
        intake_event = api_event("POST", "/rescue/cases", body=INTAKE_BODY, token=token)
        pending = iter(_signed_notifications(platform, principal, WARM + NOTIFICATIONS + COUNTED))
        minimal = MinimalHandler(url)

        def intake() -> None:
            result = host.invoke("RescueApiFunction", intake_event)
            assert result.ok and result.result["statusCode"] == 201, result.result

        def notification() -> None:
            result = host.invoke("PaymentCallbacksFunction", next(pending))
            assert result.ok and result.result["statusCode"] == 204, result.result

        work = {"intake": (intake, CASES), "insert": (minimal.insert, BASELINE_OPS),
                "notification": (notification, NOTIFICATIONS), "update": (minimal.update, BASELINE_OPS)}
        try:
            for fn, _ in work.values():
                for _ in range(WARM):
                    fn()
            client("sqs").purge_queue(QueueUrl=platform.queue_url("RescueEventsQueue"))
            spent = dict.fromkeys(work, 0.0)
            for block in range(BLOCKS):
                for name, (fn, count) in work.items():
                    share = count // BLOCKS + (1 if block < count % BLOCKS else 0)
                    started = time.perf_counter()
                    for _ in range(share):
                        fn()
                    spent[name] += time.perf_counter() - started
            per_s = {name: count / spent[name] for name, (_, count) in work.items()}
            trips = {}
            for name, fn in (("intake", intake), ("notification", notification)):
                with round_trips() as (counts, wire):
                    for _ in range(COUNTED):
                        fn()
                trips[name] = {**{k: counts[k] / COUNTED for k in ("statements", "commits", "rollbacks", "resets")},
                               "wire": {k: v / COUNTED for k, v in wire.most_common()}}
        finally:
            minimal.close()
            host.unload()
        with engine().connect() as conn:
            booked = conn.execute(sa.select(sa.func.count()).select_from(tables.ledger_entries)).scalar_one()
        assert booked == WARM + NOTIFICATIONS + COUNTED, f"{booked} ledger entries"

    figures = []
    for name, baseline, label, what in (
            ("intake", "insert", "intake", "cases/s"),
            ("notification", "update", "v3 notification", "notifications/s")):
        ratio = per_s[name] / per_s[baseline]
        sql = baseline.upper()
        t = trips[name]
        on_wire = ", ".join(f"{v:g} {k}" for k, v in t["wire"].items())
        others = f"{t['rollbacks']:g} rollbacks + {t['resets']:g} pool resets"
        print(f"{label} throughput: {per_s[name]:.0f} {what} vs the minimal handler's {per_s[baseline]:.0f} "
              f"({sql} + COMMIT + SendMessage)/s -> {ratio:.2f}; per {label}: {1000 / per_s[name]:.1f} ms; "
              f"{t['statements']:g} statements + {t['commits']:g} commits + {others}; PyMySQL sent "
              f"{sum(t['wire'].values()):g} commands: {on_wire}", flush=True)
        figures.append(Figure(
            f"throughput.{name}", f"{label} throughput (/ minimal handler)", ratio, "x", ">=", 0.6,
            detail=f"{per_s[name]:.0f} {what} vs {per_s[baseline]:.0f} ({sql}+COMMIT+SendMessage)/s",
            data={"per_s": per_s[name], "baseline_per_s": per_s[baseline], "count": work[name][1],
                  "baseline_count": work[baseline][1]}))
        trips_each = t["statements"] + t["commits"] + t["rollbacks"] + t["resets"]
        figures.append(Figure(
            f"round_trips.{name}", f"database round trips per {label}", trips_each, "",
            detail=f"{t['statements']:g} statements + {t['commits']:g} commits + {others}; PyMySQL sent "
                   f"{sum(t['wire'].values()):g} commands; mean of {COUNTED}", data=t))
        figures.append(Figure(f"commits.{name}", f"commits per {label}", t["commits"], "", data=t))
    return figures


# ---- the latency benchmarks, each in a process of its own -----------------------------------

def in_own_process(kind: str, *args: int):
    """`python -m tests.benchmarks.run <kind> <args>`: a fresh process, like a freshly started `make run`."""
    import json

    proc = subprocess.run([sys.executable, "-m", "tests.benchmarks.run", kind, *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    lines = proc.stdout.splitlines()
    result = next((line[7:] for line in lines if line.startswith("RESULT ")), None)
    if proc.returncode != 0 or result is None:
        raise RuntimeError(f"{kind} {args} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n"
                           f"{proc.stderr[-5000:]}")
    print("\n".join(line for line in lines if line.startswith(("alert latency", "ambulance tracking", "suspension"))),
          flush=True)
    return json.loads(result)


CHAIN_CPU_MS = 21.0  # half of what intake, consumer, staff fan-out, triage and delivery cost together


def alert_figures(result: dict, intakes: int, gating: bool) -> list:
    from tests.benchmarks.figures import Figure

    wrong = (intakes - result["accepted"]) + (result["accepted"] - result["distinct"]) \
        + (result["distinct"] - result["received"]) + result["duplicates"]
    return [
        Figure(f"alerts.{intakes}.p95", f"alert latency p95, {intakes} intakes at once", result["p95_s"], "s", "<",
               1.0, gating=gating, detail=f"p50 {result['p50_s']:.2f} s", data=result),
        Figure(f"alerts.{intakes}.wrong", f"alerts lost or doubled, {intakes} intakes", wrong, "", "==", 0,
               detail=f"{result['accepted']}/{intakes} accepted, {result['distinct']} cases, {result['received']} "
                      f"alerts, {result['duplicates']} twice"),
        Figure(f"alerts.{intakes}.cpu", f"runtime CPU per intake chain, {intakes} intakes", result["cpu_ms"], "ms",
               "<=", CHAIN_CPU_MS, gating=gating,
               detail="the local runtime process's CPU time from the burst to its last alert / intakes; "
                      "target: half the 42 ms a chain cost before"),
    ]


def tracking_figures(result: dict) -> list:
    from tests.benchmarks.figures import Figure

    load = f"{result['ambulances']} ambulances x {result['seconds']} s"
    return [
        Figure("tracking.p95", f"tracking latency p95, {load}", result["p95_s"], "s", "<", 1.0,
               detail=f"p50 {result['p50_s']:.2f} s; {result['missing']} points never shown (a newer one was)",
               data=result),
        Figure("tracking.lost", "tracking points not stored", result["posted"] - result["stored"], "", "==", 0,
               detail=f"{result['posted']} posted, {result['accepted']} accepted, {result['stored']} stored"),
        Figure("tracking.cpu", "runtime CPU per tracking point", result["cpu_ms"], "ms",
               detail="the local runtime process's CPU time while the crews post / points posted"),
    ]


def alerts() -> list:
    """Each burst in a freshly started runtime; a quick run fires both at one, one after the other."""
    if QUICK:
        small, large = in_own_process("alerts", INTAKES, INTAKES_LARGE)
    else:
        [small], [large] = in_own_process("alerts", INTAKES), in_own_process("alerts", INTAKES_LARGE)
    return alert_figures(small, INTAKES, gating=True) + alert_figures(large, INTAKES_LARGE, gating=False)


def main(argv: list[str]) -> int:
    import json
    import logging

    from tests.benchmarks import coldstart, figures, reconciliation

    logging.getLogger("hospital").setLevel(logging.WARNING)
    own_process = {"alerts": alert_latency, "tracking": tracking_latency, "suspension": suspension_run}
    if argv and argv[0] in own_process:
        print("RESULT " + json.dumps(own_process[argv[0]](*map(int, argv[1:]))))
        return 0
    started = dt.datetime.now(dt.UTC)
    mode = "QUICK (BENCH_QUICK=1: shorter runs, rougher figures)" if QUICK else "full"
    print(f"make bench, {mode}: {settings()}", flush=True)
    sections = [
        ("cold start", f"every function of template.yaml in fresh interpreters, {RUNS} rounds",
         lambda: coldstart.cold_start(RUNS, importtime=not QUICK, warm_up=not QUICK)),
        ("throughput", f"{CASES} rescue intakes and {NOTIFICATIONS} payment notifications against their baselines",
         throughput),
        ("alerts", f"bursts of {INTAKES} and {INTAKES_LARGE} rescue intakes through a fresh local runtime", alerts),
        ("tracking", f"{AMBULANCES} ambulances reporting for {TRACK_SECONDS} s",
         lambda: tracking_figures(in_own_process("tracking", AMBULANCES, TRACK_SECONDS))),
        ("suspension", f"{SUSPENDED} paid registrations cancelled, refunded and told",
         lambda: suspension_figures(in_own_process("suspension", SUSPENDED))),
        ("reconciliation", f"{BILL_ROWS:,} bill rows matched", lambda: reconciliation.run(BILL_ROWS)),
    ]
    results = []
    for number, (name, what, section) in enumerate(sections, start=1):
        # Which phase a long run is in, on stderr so the report on stdout stays as it was.
        print(f"== [{number}/{len(sections)}] {name}: {what} ...", file=sys.stderr, flush=True)
        began = time.perf_counter()
        results += section()
        print(f"-- {name}: {time.perf_counter() - began:.0f} s", flush=True)
    path = figures.save(results, started, QUICK, settings())
    print(f"\n==== make bench{' (QUICK: a quick look, not a full run)' if QUICK else ''}: "
          f"{dt.datetime.now(dt.UTC) - started} on python {figures.machine()['python']}, "
          f"{figures.machine()['cpu_count']} cpus, commit {figures.git()['commit'][:12]} ====")
    print(figures.table(results))
    missed = figures.failed(results)
    print(f"written to {path.relative_to(ROOT)} and .bench/latest.json")
    print("all targets met" if not missed else f"TARGETS NOT MET: {len(missed)} ({', '.join(f.key for f in missed)})")
    return 1 if missed else 0


@contextlib.contextmanager
def local_runtime():
    """`make run` on free ports over a scratch MariaDB database: (runtime, database URL)."""
    from infra.local.runtime import LocalRuntime
    from tests.conftest import _forget_container_state, free_port

    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ["LOCAL_AWS_PORT"] = str(free_port())
    free = {f"LOCAL_{name}_PORT": "0" for name in ("WECHAT", "TRIAGE", "WECHATPAY", "HIS", "CREDIT", "MED_INS")}
    with (scratch_database() as url,
          LocalRuntime(ROOT, api_port=0, control_port=0, websocket_port=0, start_schedules=False,
                       # A database connection for each container that can run at once, as
                       # warm Lambda containers each keep theirs (a smaller pool closes and
                       # reopens connections under a burst).
                       env={"DATABASE_URL": url, "LOCAL_FUNCTION_CONCURRENCY": "16", "DB_POOL_SIZE": "40",
                            **free}) as rt):
        _forget_container_state()
        yield rt, url


def _run_load(kind: str, job: dict, settle=None) -> tuple[dict, float]:
    """The clients, in a process of their own (tests/benchmarks/load.py); with their timings,
    this process's CPU seconds from the load's WARM to its DONE (the measured part only).
    `settle()`, when given, runs between WARM and the go: what the warm-up set off ends first."""
    import json

    load = subprocess.Popen([sys.executable, "-m", "tests.benchmarks.load", kind], cwd=ROOT, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert load.stdin is not None and load.stdout is not None
    load.stdin.write(json.dumps(job) + "\n")
    load.stdin.flush()
    cpu = {}
    for mark in ("WARM", "DONE"):
        line = load.stdout.readline().strip()
        if line != mark:
            load.kill()
            raise RuntimeError(f"the {kind} load said {line!r} where {mark} was due")
        if mark == "WARM" and settle is not None:
            settle()
        cpu[mark] = time.process_time()
        if mark == "WARM":
            load.stdin.write("go\n")
            load.stdin.flush()
    # Read on from the same buffered stream: the answer may have come in one read with DONE, and
    # communicate() would read the pipe underneath, past what readline() has buffered already.
    load.stdin.close()
    out = load.stdout.read()
    if load.wait() != 0:
        raise RuntimeError(f"the {kind} load failed ({load.returncode})")
    return json.loads(out), cpu["DONE"] - cpu["WARM"]


def _p95(values: list[float]) -> float:
    values = sorted(values)
    return values[max(0, int(0.95 * len(values)) - 1)] if values else float("inf")


def _p50(values: list[float]) -> float:
    return sorted(values)[len(values) // 2] if values else float("inf")


def alert_latency(*bursts: int) -> list[dict]:
    """For each burst, that many one-click intakes fired at once at the local runtime (MariaDB),
    one burst after the other; all accepted, none lost or doubled; p95 from intake request to
    the ED console receiving the alert over the WebSocket API."""
    from hospital.auth import sessions
    from hospital.auth.tokens import Principal, issue_access_token
    from infra import devenv

    results = []
    with local_runtime() as (rt, _):
        app_id = devenv.wechat_app_ids()["mini_program"]
        nurse = sessions.sign_in_identity(app_id, "o-bench-nurse")["user"]["id"]
        sessions.grant_role(nurse, "ed_nurse")  # a console's role is checked against the user's own
        for burst, intakes in enumerate(bursts or (INTAKES,)):
            job = {"api_url": rt.api_url, "ws_url": f"{rt.ws_url.rstrip('/')}/dev",
                   "console_token": issue_access_token(Principal(nurse, frozenset({"ed_nurse"}))),
                   "warm_tokens": [sessions.sign_in_identity(app_id, f"o-bench-warm-{burst}-{n}")["access_token"]
                                   for n in range(intakes)],
                   "tokens": [sessions.sign_in_identity(app_id, f"o-bench-{burst}-{n}")["access_token"]
                              for n in range(intakes)]}
            result, cpu = _run_load("intakes", job, settle=lambda: _drain(rt, RESCUE_QUEUES))
            results.append(_alert_result(intakes, result, cpu))
    return results


RESCUE_QUEUES = ("RescueEventsQueue", "NotificationsQueue", "TriageQueue")


def _drain(rt, queues: tuple[str, ...], timeout: float = 60) -> None:
    """Wait until these queues hold nothing, neither waiting nor in flight: the warm-up's
    consumers, staff alerts and triage pushes are done, not running into the measured burst."""
    from hospital.aws import client

    sqs = client("sqs")
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        counts = [sqs.get_queue_attributes(QueueUrl=rt.model.queues[name].url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
                  for name in queues]
        if all(int(c["ApproximateNumberOfMessages"]) + int(c["ApproximateNumberOfMessagesNotVisible"]) == 0
               for c in counts):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the warm-up's messages did not drain from {queues} in {timeout:.0f} s")


def _alert_result(intakes: int, result: dict, cpu: float) -> dict:
    presses, received = result["presses"], result["received"]
    latencies = sorted(received[case_id] - started for _, case_id, started in presses if case_id in received)
    accepted = sum(1 for status, _, _ in presses if status == 201)
    distinct = len({case_id for _, case_id, _ in presses})
    p95, cpu_ms = _p95(latencies), cpu * 1000 / intakes
    print(f"alert latency: {accepted}/{intakes} intakes accepted, {distinct} distinct cases, "
          f"{len(latencies)} alerts received, {len(result['duplicates'])} shown twice"
          f"{' (other messages: ' + str(result['others']) + ')' if result.get('others') else ''}; "
          f"p50 {_p50(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms (target < 1000 ms); "
          f"the runtime's CPU per intake, alert included, {cpu_ms:.1f} ms", flush=True)
    return {"intakes": intakes, "accepted": accepted, "distinct": distinct, "received": len(latencies),
            "duplicates": len(result["duplicates"]), "others": result.get("others") or [], "p95_s": p95,
            "p50_s": _p50(latencies), "cpu_ms": cpu_ms}


def tracking_latency(ambulances: int = AMBULANCES, seconds: int = TRACK_SECONDS) -> dict:
    """`ambulances` crews each post one GPS point a second for `seconds` while each
    case's patient follows it over the WebSocket API. Every point must be stored; the latency
    of a point is from its post to the patient seeing it or a newer point of that ambulance."""
    import sqlalchemy as sa

    from hospital.auth import sessions, standing
    from hospital.auth.tokens import verify_access_token
    from hospital.db import engine, tables
    from hospital.rescue import dispatch, intake, models
    from infra import devenv

    start = {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "gcj02"}
    with local_runtime() as (rt, _):
        app_id = devenv.wechat_app_ids()["mini_program"]
        dispatcher_id = sessions.sign_in_identity(app_id, "o-bench-dispatcher")["user"]["id"]
        sessions.grant_role(dispatcher_id, "dispatcher")
        dispatcher = standing.current(verify_access_token(
            sessions.sign_in_identity(app_id, "o-bench-dispatcher")["access_token"]), fresh=True)
        crews = []
        for n in range(ambulances):
            patient = sessions.sign_in_identity(app_id, f"o-bench-patient-{n}")["access_token"]
            case, _ = intake.create_case(verify_access_token(patient),
                                         models.CaseIntake.model_validate({"location": start}))
            crew_id = sessions.sign_in_identity(app_id, f"o-bench-crew-{n}")["user"]["id"]
            sessions.grant_role(crew_id, "staff")
            vehicle_id = f"BENCH-{n:03d}"
            dispatch.register_vehicle(vehicle_id, f"沪A{n:05d}")
            dispatch.step(dispatcher, "dispatcher", case["case_id"], "accepted")
            dispatch.dispatch(dispatcher, case["case_id"], vehicle_id, [crew_id])
            crews.append({"vehicle_id": vehicle_id, "case_id": case["case_id"], "patient_token": patient,
                          "crew_token": sessions.sign_in_identity(app_id, f"o-bench-crew-{n}")["access_token"]})
        time.sleep(2)  # let the set-up's own events drain before measuring
        result, cpu = _run_load("ambulances", {"api_url": rt.api_url, "ws_url": f"{rt.ws_url.rstrip('/')}/dev",
                                               "crews": crews, "seconds": seconds, "start": start})
        with engine().connect() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(tables.vehicle_positions).where(
                tables.vehicle_positions.c.vehicle_id.like("BENCH-%"))).scalar_one()
    posts, seen = result["posts"], result["seen"]
    posted = sum(len(p) for p in posts.values())
    accepted = sum(a for p in posts.values() for _, _, a in p)
    latencies, missing = [], 0
    for vehicle_id, sent_points in posts.items():
        for sent, device_time, _ in sent_points:
            # ISO strings of one format compare in time order.
            first = next((at for at, shown in seen[vehicle_id] if shown >= device_time and at >= sent), None)
            if first is None:
                missing += 1
            else:
                latencies.append(first - sent)
    latencies.sort()
    p95 = _p95(latencies)
    print(f"ambulance tracking: {ambulances} ambulances x {seconds} s: {posted} points posted, {accepted} accepted, "
          f"{stored} stored, {missing} never shown to the patient; p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms (target < 1000 ms); the runtime's CPU per point {cpu * 1000 / posted:.1f} ms")
    return {"ambulances": ambulances, "seconds": seconds, "posted": posted, "accepted": accepted, "stored": stored,
            "missing": missing, "p95_s": p95, "p50_s": _p50(latencies), "cpu_ms": cpu * 1000 / posted}


# ---- suspension of paid registrations, in a process of its own --------------------------

SUSPENSION_TARGET_S = 60.0
SUSPENSION_TIMEOUT_S = 300.0      # then what is not settled counts as missing
SLOTS_PER_SUSPENSION = 40         # a suspension names at most 48 slots (NewSuspension)
SETUP_THREADS = 32
SUSPENSION_QUEUES = ("PaymentEventsQueue", "RefundsQueue", "OutpatientEventsQueue")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _identity_number(n: int) -> str:
    """The n-th of distinct valid resident identity card numbers (a birth date each)."""
    born = dt.date(1950, 1, 1) + dt.timedelta(days=n)
    body = f"110105{born:%Y%m%d}{n % 1000:03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]


def suspension_run(count: int = SUSPENDED) -> dict:
    """`count` patients booked and paid, one per one-minute slot of doctors of their own three
    days ahead (SLOTS_PER_SUSPENSION each), through the runtime's API and the simulators (the
    load process, not measured); then the back office suspends each doctor's booked slots at
    once, and the time until every suspension's progress shows its registrations cancelled,
    refunded and told. Afterwards each registration is checked where it happened: the WeChat
    simulator's notices per patient, the HIS's cancellations per registration, our refund rows
    and the WeChat Pay simulator's refunds per order, each exactly once."""
    import collections
    import math

    import sqlalchemy as sa

    from hospital import settings
    from hospital.auth import sessions
    from hospital.auth.tokens import Principal, issue_access_token
    from hospital.db import engine, tables
    from hospital.outpatient import registration_rules
    from infra import devenv

    day = dt.datetime.now(registration_rules.HOSPITAL_TZ).date() + dt.timedelta(days=3)
    doctors = [f"BS{d:03d}" for d in range(math.ceil(count / SLOTS_PER_SUSPENSION))]
    with local_runtime() as (rt, _):
        his, wechat, wechatpay = (rt.ctx.services[name] for name in ("his", "wechat", "wechatpay"))
        his.add_department("BENCHS", "停诊演练科")
        slots = {}
        for code in doctors:
            his.add_doctor(code, f"停诊医生{code[2:]}", "BENCHS")
            starts = [f"{8 + minute // 60:02d}:{minute % 60:02d}" for minute in range(SLOTS_PER_SUSPENSION)]
            slots[code] = [slot["slot_id"] for slot in his.add_slots(code, day, starts, 1, "25.00")]
        patients = [{"openid": f"o-bench-suspended-{n:05d}", "doctor_code": doctors[n % len(doctors)],
                     "slot_id": slots[doctors[n % len(doctors)]][n // len(doctors)],
                     "archive": {"name": f"病人{n:05d}", "id_no": _identity_number(n), "phone": f"139{n:08d}"}}
                    for n in range(count)]
        app_id = devenv.wechat_app_ids()["mini_program"]
        admin = sessions.sign_in_identity(app_id, "o-bench-back-office")["user"]["id"]
        sessions.grant_role(admin, "super_admin")
        booked_slots = collections.defaultdict(list)
        for patient in patients:
            booked_slots[patient["doctor_code"]].append(patient["slot_id"])
        job = {"api_url": rt.api_url, "wechat_url": wechat.url, "his_url": his.url, "wechatpay_url": wechatpay.url,
               "app_id": app_id, "visit_date": day.isoformat(), "patients": patients, "threads": SETUP_THREADS,
               "admin_token": issue_access_token(Principal(admin, frozenset({"super_admin"}))),
               "suspensions": [{"doctor_code": code, "visit_date": day.isoformat(), "slot_ids": booked_slots[code],
                                "reason": "医生外出会诊"} for code in doctors],
               "timeout": SUSPENSION_TIMEOUT_S, "poll_seconds": 0.25}
        result, cpu = _run_load("suspension", job, settle=lambda: _drain(rt, SUSPENSION_QUEUES, timeout=120))
        with contextlib.suppress(RuntimeError):  # what is still on its way (nothing, when all went well) ends
            _drain(rt, SUSPENSION_QUEUES, timeout=30)
        time.sleep(1)  # a late WeChat Pay notification, if any
        template = settings.WECHAT_SUSPENSION_TEMPLATE_ID.get()
        notices = collections.Counter(m["touser"] for m in wechat.messages(template_id=template))
        told = collections.Counter(m["touser"] for m in wechat.messages(template_id=template) if m["accepted"])
        his_cancelled = collections.Counter(c["reg_no"] for c in his.cancellations)
        sim_refunds = collections.Counter(r["out_trade_no"] for r in wechatpay.refunds.values())
        money_back = collections.Counter(r["out_trade_no"] for r in wechatpay.refunds.values()
                                         if r["status"] == "SUCCESS")
        r, o, i = tables.registrations, tables.payment_orders, tables.suspension_items
        with engine().connect() as conn:
            rows = {row.id: row for row in conn.execute(
                sa.select(r.c.id, r.c.status, o.c.status.label("order_status"), i.c.notice)
                .select_from(r.join(o, o.c.id == r.c.order_id).outerjoin(i, i.c.registration_id == r.c.id)))}
            refund_rows = collections.Counter(conn.execute(sa.select(tables.payment_refunds.c.order_id)).scalars())
    booked = result["booked"]
    twice = {
        "notices": sum(max(0, notices[b["openid"]] - 1) for b in booked),
        "his_cancellations": sum(max(0, his_cancelled[b["reg_no"]] - 1) for b in booked),
        "refund_rows": sum(max(0, refund_rows[b["order_id"]] - 1) for b in booked),
        "wechatpay_refunds": sum(max(0, sim_refunds[b["order_id"]] - 1) for b in booked),
    }

    def gaps(b: dict) -> dict:
        row = rows.get(b["registration_id"])
        return {"not_cancelled": row is None or row.status != registration_rules.CANCELLED
                or his_cancelled[b["reg_no"]] == 0,
                "not_refunded": row is None or row.order_status != "refunded" or refund_rows[b["order_id"]] == 0
                or money_back[b["order_id"]] == 0,
                "not_told": row is None or row.notice != "sent" or told[b["openid"]] == 0}

    lacking = [gaps(b) for b in booked]
    short = {k: sum(g[k] for g in lacking) for k in ("not_cancelled", "not_refunded", "not_told")}
    missing = sum(1 for g in lacking if any(g.values()))
    out = {"registrations": count, "booked": len(booked), "suspensions": len(doctors), "setup_s": result["setup_s"],
           "seconds": result["seconds"], "timed_out": result["timed_out"], "posted_s": result["posted_s"],
           "polls": result["polls"], "duplicates": sum(twice.values()), "twice": twice, "missing": missing,
           "short": short, "cpu_ms": cpu * 1000 / count}
    print(f"suspension: {count} paid registrations in {len(doctors)} suspensions (set-up {out['setup_s']:.0f} s, "
          f"not measured): {'TIMED OUT after' if out['timed_out'] else 'all settled in'} {out['seconds']:.1f} s "
          f"(target < {SUSPENSION_TARGET_S:.0f} s; suspensions posted in {out['posted_s']:.2f} s, {out['polls']} "
          f"progress reads); twice: {twice}; missing {missing} {short}; the runtime's CPU per registration "
          f"{out['cpu_ms']:.1f} ms", flush=True)
    return out


def suspension_figures(result: dict) -> list:
    from tests.benchmarks.figures import Figure

    n = result["registrations"]
    twice, short = result["twice"], result["short"]
    return [
        Figure("suspension.seconds", f"suspension of {n:,} paid registrations to every one cancelled, refunded and "
               "told", result["seconds"], "s", "<", SUSPENSION_TARGET_S,
               detail=f"{result['suspensions']} suspensions posted at once to the last progress read showing all "
                      f"settled{' (TIMED OUT)' if result['timed_out'] else ''}; set-up (not measured) "
                      f"{result['setup_s']:.0f} s; runtime CPU {result['cpu_ms']:.1f} ms per registration",
               data=result),
        Figure("suspension.duplicates", f"suspension: notices, HIS cancellations and refunds beyond one each, {n:,}",
               result["duplicates"], "", "==", 0,
               detail=f"{twice['notices']} extra WeChat notices (per patient), {twice['his_cancellations']} extra "
                      f"HIS cancellations (per registration), {twice['refund_rows']} extra payment_refunds rows and "
                      f"{twice['wechatpay_refunds']} extra WeChat Pay refunds (per order)"),
        Figure("suspension.missing", f"suspension: registrations not cancelled, refunded or told, {n:,}",
               result["missing"], "", "==", 0,
               detail=f"at the end: {short['not_cancelled']} not cancelled (ours and the HIS's), "
                      f"{short['not_refunded']} not refunded (order refunded, payment_refunds row, WeChat Pay refund "
                      f"SUCCESS), {short['not_told']} not told (notice sent, accepted by WeChat)"),
    ]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
