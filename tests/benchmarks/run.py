"""`make bench`: figures as ratios to baselines measured in the same run on this machine.

- cold start: fresh `python -c "import app"` per function (layer on the path) against a
  fresh `python -c "import boto3"`, median of RUNS; target at most 1.5.
- slice throughput: rescue cases created per second through the HTTP handler in-process
  against MariaDB (validation, auth, encryption, case + node + outbox in one transaction,
  relay to SQS on the embedded moto), against plain single-row INSERT+COMMIT per second on
  the same server; target at least 0.25.
- alert latency: 200 intakes fired at once at the local runtime; all accepted,
  none lost or doubled; p95 from intake request to the ED console's WebSocket; target < 1 s.
- payment notifications: signed and encrypted WeChat Pay v3 notifications handled
  per second in-process against MariaDB (verify, decrypt, guarded update, ledger, outbox and
  its relay), against plain single-row UPDATE+COMMIT per second on the same server; target
  at least 0.3.
- ambulance tracking: 100 ambulances each posting one GPS point a second for 60 s
  (BENCH_AMBULANCES, BENCH_TRACK_SECONDS) at the local runtime; no point lost (all stored and
  readable over HTTP); p95 from a post to the patient's WebSocket showing that point or a
  newer one (pushes carry the latest position, so a burst may be coalesced); target < 1 s.
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import statistics
import subprocess
import sys
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUNS = int(os.environ.get("BENCH_RUNS", "9"))
CASES = int(os.environ.get("BENCH_CASES", "300"))
INSERTS = int(os.environ.get("BENCH_INSERTS", "1000"))


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


def _placeholder_settings() -> dict[str, str]:
    """A well-formed value for every setting, so an app passes its start-up check (the import
    being timed touches no database, queue or secret)."""
    from hospital import settings

    shape = {"url": "http://127.0.0.1:9", "arn": "arn:aws:secretsmanager:us-east-1:000000000000:secret:bench"}
    return {setting.name: shape.get(setting.kind, "bench") for group in settings.GROUPS for setting in group.settings
            if isinstance(setting, settings.Text) and not setting.default and setting.name != "DATABASE_URL"}


def _fresh_python(code: str, cwd: pathlib.Path) -> float:
    env = {**os.environ, **_placeholder_settings(), "PYTHONPATH": str(ROOT / "layers/common/python"),
           "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, check=True)
    return time.perf_counter() - started


def cold_start() -> dict[str, float]:
    baseline_runs, per_function = [], {}
    folders = sorted(p.parent for p in (ROOT / "functions").glob("*/app.py"))
    for _ in range(RUNS):  # interleaved, so drift in machine load hits both sides alike
        baseline_runs.append(_fresh_python("import boto3", ROOT))
        for folder in folders:
            per_function.setdefault(folder.name, []).append(_fresh_python("import app", folder))
    baseline = statistics.median(baseline_runs)
    print(f"cold start baseline (import boto3): median {baseline * 1000:.1f} ms over {RUNS} runs")
    ratios = {}
    for name, runs in per_function.items():
        ratios[name] = statistics.median(runs) / baseline
        print(f"  {name:<20} median {statistics.median(runs) * 1000:6.1f} ms  ratio {ratios[name]:.2f}"
              "  (target <= 1.5)")
    return ratios


def slice_throughput() -> float:
    from infra.local.functions import FunctionHost
    from infra.local.template import Template
    from tests.conftest import _use_database, api_event, make_patient, platform_environment

    with scratch_database() as url:
        with platform_environment() as platform:
            _use_database(url)
            host = FunctionHost(Template.from_file(ROOT / "template.yaml").model(platform.physical).functions)
            _, token = make_patient(platform)
            body = {"location": {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "wgs84", "accuracy_m": 20},
                    "address_text": "上海市黄浦区人民大道200号", "complaint": "胸痛"}
            event = api_event("POST", "/rescue/cases", body=body, token=token)
            for _ in range(20):  # warm: container start, first data key, connections
                host.invoke("RescueApiFunction", event)
            from hospital.aws import client

            client("sqs").purge_queue(QueueUrl=platform.queue_url("RescueEventsQueue"))
            started = time.perf_counter()
            for _ in range(CASES):
                result = host.invoke("RescueApiFunction", event)
                assert result.ok and result.result["statusCode"] == 201, result.result
            cases_per_s = CASES / (time.perf_counter() - started)
            host.unload()
            send_ms = _sqs_send_ms(CASES)  # the relay's hop alone: where the handler's time goes
        inserts_per_s = _plain_commits_per_s(url, "INSERT INTO bench_plain (v) VALUES (%s)")
    ratio = cases_per_s / inserts_per_s
    case_ms = 1000 / cases_per_s
    print(f"slice throughput: {cases_per_s:.0f} cases/s vs {inserts_per_s:.0f} plain INSERT+COMMIT/s "
          f"-> ratio {ratio:.2f} (target >= 0.25)")
    print(f"  per case {case_ms:.2f} ms, of which the outbox relay's SQS SendMessage to the embedded "
          f"endpoint takes {send_ms:.2f} ms ({send_ms / case_ms:.0%}); without that hop the ratio "
          f"would be {1000 / (case_ms - send_ms) / inserts_per_s:.2f}")
    return ratio


def main(argv: list[str]) -> int:
    import json
    import logging

    logging.getLogger("hospital").setLevel(logging.WARNING)
    own_process = {"alerts": alert_latency, "tracking": tracking_latency}
    if len(argv) == 1 and argv[0] in own_process:  # a fresh process, like a freshly started `make run`
        print("RESULT " + json.dumps(own_process[argv[0]]()))
        return 0
    ratios = cold_start()
    throughput = slice_throughput()
    notifications = notification_throughput()

    def in_own_process(name: str, label: str) -> dict:
        out = subprocess.run([sys.executable, "-m", "tests.benchmarks.run", name], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        print("\n".join(line for line in out.splitlines() if line.startswith(label)))
        return json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])

    alerts = in_own_process("alerts", "alert latency")
    tracking = in_own_process("tracking", "ambulance tracking")
    ok = (all(r <= 1.5 for r in ratios.values()) and throughput >= 0.25 and notifications >= 0.3
          and alerts["accepted"] == alerts["distinct"] == alerts["received"] and alerts["p95_s"] < 1.0
          and tracking["stored"] == tracking["posted"] and tracking["p95_s"] < 1.0)
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


def notification_throughput(count: int = int(os.environ.get("BENCH_NOTIFICATIONS", "300"))) -> float:
    """V3 payment notifications per second through the callback handler in-process,
    as a ratio to plain single-row UPDATE+COMMIT per second on the same database."""
    import datetime as dt

    import sqlalchemy as sa

    from hospital.db import engine, tables
    from hospital.timeutil import utcnow
    from infra import devenv
    from infra.local.functions import FunctionHost
    from infra.local.template import Template
    from tests.conftest import _use_database, api_event, make_patient, platform_environment

    with scratch_database() as url:
        with platform_environment() as platform:
            _use_database(url)
            host = FunctionHost(Template.from_file(ROOT / "template.yaml").model(platform.physical).functions)
            principal, _ = make_patient(platform)
            sim, mchid, now = platform.wechatpay, devenv.DEV_V3_MCHID, utcnow()
            merchant = sim.merchants[mchid]
            events = []
            with engine().begin() as conn:
                for n in range(count + 20):
                    order_id = uuid.uuid4().hex
                    conn.execute(tables.payment_orders.insert().values(
                        id=order_id, user_id=principal.user_id, kind="registration", his_ref=f"B{order_id[:12]}",
                        his_patient_id="P1", description="挂号费", amount_fen=2500, open_his_ref=f"B{order_id[:12]}",
                        channel="wechat", mchid=mchid, appid=platform.mini_program_app_id, api_version="v3",
                        status="paying", prepay_id=f"wx{n}", expires_at=now + dt.timedelta(minutes=15),
                        created_at=now, updated_at=now))
                    sim._open_order(merchant, "v3", platform.mini_program_app_id, order_id, 2500,
                                    "http://127.0.0.1:9/", "o-bench", "挂号费", None)
                    sim.pay(mchid, order_id, notify=False)
                    body, headers = sim.notification("payment", mchid, order_id)
                    event = api_event("POST", "/callbacks/wechatpay/v3", headers=headers)
                    event["body"] = body.decode()
                    events.append(event)
            for event in events[:20]:  # warm: container start, secrets, keys, connections
                host.invoke("PaymentCallbacksFunction", event)
            started = time.perf_counter()
            for event in events[20:]:
                result = host.invoke("PaymentCallbacksFunction", event)
                assert result.ok and result.result["statusCode"] == 204, result.result
            per_s = count / (time.perf_counter() - started)
            host.unload()
            with engine().connect() as conn:
                booked = conn.execute(sa.select(sa.func.count()).select_from(tables.ledger_entries)).scalar_one()
            assert booked == count + 20, booked
            send_ms = _sqs_send_ms()
        updates_per_s = _plain_commits_per_s(url, "UPDATE bench_plain SET v = %s WHERE id = 1")
    ratio = per_s / updates_per_s
    each_ms = 1000 / per_s
    print(f"payment notifications: {per_s:.0f} v3 notifications/s vs {updates_per_s:.0f} plain UPDATE+COMMIT/s "
          f"-> ratio {ratio:.2f} (target >= 0.3)")
    print(f"  per notification {each_ms:.2f} ms, of which the outbox relay's SQS SendMessage takes {send_ms:.2f} ms "
          f"({send_ms / each_ms:.0%}); without that hop the ratio would be "
          f"{1000 / (each_ms - send_ms) / updates_per_s:.2f}")
    return ratio


def _plain_commits_per_s(url: str, statement: str) -> float:
    """The baseline: one single-row statement and its COMMIT, INSERTS times, on one connection."""
    import sqlalchemy as sa

    plain = sa.create_engine(url)
    with plain.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE bench_plain (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64))")
        conn.exec_driver_sql("INSERT INTO bench_plain (v) VALUES ('seed')")  # row 1, for the UPDATE form
        conn.commit()
        started = time.perf_counter()
        for i in range(INSERTS):
            conn.exec_driver_sql(statement, (f"row-{i}",))
            conn.commit()
        per_s = INSERTS / (time.perf_counter() - started)
    plain.dispose()
    return per_s


def _sqs_send_ms(sends: int = 100) -> float:
    """The relay's SQS hop alone, to the same endpoint, on a fresh queue."""
    from hospital.aws import client

    sqs = client("sqs")
    queue = sqs.create_queue(QueueName=f"bench-send-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    started = time.perf_counter()
    for _ in range(sends):
        sqs.send_message(QueueUrl=queue, MessageBody='{"message_id": "0", "type": "bench", "data": {}}',
                         MessageAttributes={"correlation_id": {"DataType": "String", "StringValue": "bench"}})
    return (time.perf_counter() - started) * 1000 / sends


@contextlib.contextmanager
def local_runtime(aws_port: int):
    """`make run` on free ports over a scratch MariaDB database: (runtime, database URL)."""
    from infra.local.runtime import LocalRuntime
    from tests.conftest import _forget_container_state

    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ["LOCAL_AWS_PORT"] = str(aws_port)
    free = {f"LOCAL_{name}_PORT": "0" for name in ("WECHAT", "TRIAGE", "WECHATPAY", "HIS", "CREDIT", "MED_INS")}
    with (scratch_database() as url,
          LocalRuntime(ROOT, api_port=0, control_port=0, websocket_port=0, start_schedules=False,
                       env={"DATABASE_URL": url, "LOCAL_FUNCTION_CONCURRENCY": "16", **free}) as rt):
        _forget_container_state()
        yield rt, url


def _run_load(kind: str, job: dict) -> dict:
    """The clients, in a process of their own (tests/benchmarks/load.py)."""
    import json

    out = subprocess.run([sys.executable, "-m", "tests.benchmarks.load", kind], cwd=ROOT, check=True,
                         input=json.dumps(job), capture_output=True, text=True).stdout
    return json.loads(out)


def _p95(values: list[float]) -> float:
    values = sorted(values)
    return values[max(0, int(0.95 * len(values)) - 1)] if values else float("inf")


def alert_latency(intakes: int = int(os.environ.get("BENCH_INTAKES", "200"))) -> dict:
    """`intakes` one-click intakes fired at once at the local runtime (MariaDB); all
    accepted, none lost or doubled; p95 from intake request to the ED console receiving the
    alert over the WebSocket API."""
    from hospital.auth import sessions
    from hospital.auth.tokens import Principal, issue_access_token
    from infra import devenv

    with local_runtime(aws_port=4599) as (rt, _):
        app_id = devenv.wechat_app_ids()["mini_program"]
        nurse = sessions.sign_in_identity(app_id, "o-bench-nurse")["user"]["id"]
        sessions.grant_role(nurse, "ed_nurse")  # a console's role is checked against the user's own
        job = {"api_url": rt.api_url, "ws_url": f"{rt.ws_url.rstrip('/')}/dev",
               "console_token": issue_access_token(Principal(nurse, frozenset({"ed_nurse"}))),
               "warm_token": sessions.sign_in_identity(app_id, "o-bench-warm")["access_token"],
               "tokens": [sessions.sign_in_identity(app_id, f"o-bench-{n}")["access_token"]
                          for n in range(intakes)]}
        cpu = time.process_time()
        result = _run_load("intakes", job)
        cpu = time.process_time() - cpu
    presses, received = result["presses"], result["received"]
    latencies = sorted(received[case_id] - started for _, case_id, started in presses if case_id in received)
    accepted = sum(1 for status, _, _ in presses if status == 201)
    distinct = len({case_id for _, case_id, _ in presses})
    p95 = _p95(latencies)
    print(f"alert latency: {accepted}/{intakes} intakes accepted, {distinct} distinct cases, "
          f"{len(latencies)} alerts received, {len(result['duplicates'])} shown twice"
          f"{' (other messages: ' + str(result['others']) + ')' if result.get('others') else ''}; "
          f"p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms (target < 1000 ms); "
          f"the runtime's CPU per intake, alert included, {cpu * 1000 / (intakes + 5):.1f} ms")
    return {"accepted": accepted, "distinct": distinct, "received": len(latencies), "p95_s": p95}


def tracking_latency(ambulances: int = int(os.environ.get("BENCH_AMBULANCES", "100")),
                     seconds: int = int(os.environ.get("BENCH_TRACK_SECONDS", "60"))) -> dict:
    """`ambulances` crews each post one GPS point a second for `seconds` while each
    case's patient follows it over the WebSocket API. Every point must be stored; the latency
    of a point is from its post to the patient seeing it or a newer point of that ambulance."""
    import sqlalchemy as sa

    from hospital.auth import sessions
    from hospital.auth.tokens import verify_access_token
    from hospital.db import engine, tables
    from hospital.rescue import dispatch, intake, models
    from infra import devenv

    start = {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "gcj02"}
    with local_runtime(aws_port=4598) as (rt, _):
        app_id = devenv.wechat_app_ids()["mini_program"]
        dispatcher_id = sessions.sign_in_identity(app_id, "o-bench-dispatcher")["user"]["id"]
        sessions.grant_role(dispatcher_id, "dispatcher")
        dispatcher = verify_access_token(sessions.sign_in_identity(app_id, "o-bench-dispatcher")["access_token"])
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
        cpu = time.process_time()
        result = _run_load("ambulances", {"api_url": rt.api_url, "ws_url": f"{rt.ws_url.rstrip('/')}/dev",
                                          "crews": crews, "seconds": seconds, "start": start})
        cpu = time.process_time() - cpu
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
    return {"posted": posted, "accepted": accepted, "stored": stored, "missing": missing, "p95_s": p95}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
