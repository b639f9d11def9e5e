"""`make load`: mixed traffic for LOAD_SECONDS (60) from LOAD_USERS (20) patients and LOAD_CREWS (5)
ambulance crews, driven by Locust (tests/benchmarks/load_mix.py) in a process of its own, at a
local runtime started here over a fresh MariaDB database (dropped afterwards), or at a running
`make run` when LOAD_URL is given (then DATABASE_URL must name its database, and the simulators
are found at LOAD_WECHAT_URL, LOAD_WECHATPAY_URL, LOAD_HIS_URL and LOAD_WS_URL, `make run`'s
ports by default).

Seeded first, through the API and the simulators: the patients signed in, on file at the HIS and
their cards bound (a fresh runtime also gives each a doctor with one-minute slots of their own),
an ED nurse whose console is open on the WebSocket for the whole run, a dispatcher, and per crew
an ambulance dispatched to a case. WeChat Pay sends every payment notification twice, as it may.

Afterwards, once the queues are empty, each kind of message is counted where it ended:
- alerts: every intake's case reached the ED console exactly once;
- ledger: every order paid at the simulator has exactly one payment entry in the ledger;
- callbacks: every order with a payment notification delivered and accepted was confirmed at
  the HIS exactly once (one state change however many copies came), and each paid registration
  is booked;
- positions: every GPS point the API accepted is stored once.
Reported per route (requests, errors, expected refusals, p50, p95) and the counts, as a table
and in .bench/load.json; exit 1 on any error, lost or duplicated message."""
from __future__ import annotations

import collections
import contextlib
import datetime as dt
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time

import requests

from tests.benchmarks import load_report

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECONDS = int(os.environ.get("LOAD_SECONDS", "60"))
USERS = int(os.environ.get("LOAD_USERS", "20"))
CREWS = int(os.environ.get("LOAD_CREWS", "5"))
LOAD_URL = os.environ.get("LOAD_URL", "").rstrip("/")
DOCTORS_PER_PATIENT = 40  # one slot each (one registration per doctor and day): more than a user books in a run


def _ok(answer: requests.Response, *statuses: int) -> dict:
    if answer.status_code not in (statuses or (200,)):
        raise RuntimeError(f"seeding: {answer.request.method} {answer.url}: {answer.status_code} {answer.text[:300]}")
    return answer.json()


class Target:
    """Where the load goes: URLs, and the runtime's own simulators when it runs in this process."""

    def __init__(self, api: str, ws: str, wechat: str, wechatpay: str, his: str, rt=None) -> None:
        self.api, self.ws, self.wechat, self.wechatpay, self.his, self.rt = api, ws, wechat, wechatpay, his, rt
        from infra import devenv

        self.app_id = devenv.wechat_app_ids()["mini_program"]
        self.http = requests.Session()

    def sign_in(self, openid: str) -> dict:
        code = _ok(self.http.post(f"{self.wechat}/_sim/login-code", json={"app_id": self.app_id, "openid": openid},
                                  timeout=60))["code"]
        return _ok(self.http.post(f"{self.api}/auth/wechat/mini-program", json={"code": code}, timeout=60))

    def staff(self, openid: str, role: str) -> dict:
        """A user with `role`, signed in again after the grant so the token carries it."""
        from hospital.auth import sessions

        sessions.grant_role(self.sign_in(openid)["user"]["id"], role)
        return self.sign_in(openid)


@contextlib.contextmanager
def target():
    if LOAD_URL:
        if not os.environ.get("DATABASE_URL"):
            raise SystemExit("LOAD_URL needs DATABASE_URL: the database of the runtime it names")
        env = os.environ.get
        yield Target(LOAD_URL, env("LOAD_WS_URL", "ws://127.0.0.1:3002/dev"), env("LOAD_WECHAT_URL",
                     "http://127.0.0.1:7001"), env("LOAD_WECHATPAY_URL", "http://127.0.0.1:7003"),
                     env("LOAD_HIS_URL", "http://127.0.0.1:7004"))
        return
    from tests.benchmarks.run import local_runtime

    with local_runtime() as (rt, _):
        s = rt.ctx.services
        yield Target(rt.api_url, f"{rt.ws_url.rstrip('/')}/dev", s["wechat"].url, s["wechatpay"].url, s["his"].url, rt)


class Console:
    """The ED console on the WebSocket, on a thread of this process: case_id -> alerts received
    (its other pushes, such as the seeded ambulances' positions, are not alerts)."""

    def __init__(self, url: str) -> None:
        from websockets.sync.client import connect

        self._open = contextlib.ExitStack()
        self.ws = self._open.enter_context(connect(url, open_timeout=10))
        self.alerts: collections.Counter[str] = collections.Counter()
        self.others: list = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()

    def _listen(self) -> None:
        while not self.stop.is_set():
            try:
                message = json.loads(self.ws.recv(timeout=1))
            except TimeoutError:
                continue
            except Exception as exc:  # noqa: BLE001 - reported with the results
                self.others.append(f"console stopped: {exc!r}")
                return
            if message.get("type") == "rescue.alert":
                self.alerts[message["case_id"]] += 1
            elif "case_id" not in message and len(self.others) < 5:  # a case's other pushes are expected
                self.others.append(message)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self._open.close()


def _wait_alerted(t: Target, token: str, case_id: str) -> None:
    deadline = time.monotonic() + 60
    while _ok(t.http.get(f"{t.api}/rescue/cases/{case_id}", headers={"Authorization": f"Bearer {token}"},
                         timeout=60))["status"] == "received":
        if time.monotonic() > deadline:
            raise RuntimeError(f"seeding: case {case_id} was never alerted")
        time.sleep(0.2)


def seed_crews(t: Target) -> list[dict]:
    """Per crew: an ambulance, a patient's case accepted and the ambulance dispatched to it."""
    from hospital.rescue import dispatch

    if not CREWS:
        return []
    dispatcher = t.staff("o-load-dispatcher", "dispatcher")["access_token"]
    as_dispatcher = {"Authorization": f"Bearer {dispatcher}"}
    crews = []
    for n in range(CREWS):
        crew = t.staff(f"o-load-crew-{n}", "staff")
        vehicle_id = f"LOAD-{n:03d}-{os.getpid() % 1000:03d}"
        dispatch.register_vehicle(vehicle_id, f"沪L{n:05d}")
        patient = t.sign_in(f"o-load-crew-patient-{n}")["access_token"]
        case_id = _ok(t.http.post(f"{t.api}/rescue/cases", headers={"Authorization": f"Bearer {patient}"}, json={
            "location": {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "wgs84"}}, timeout=60),
                      201)["case_id"]
        _wait_alerted(t, patient, case_id)
        for step, body in (("accept", {}), ("decision", {"dispatch": True, "reason": "life_threatening"}),
                           ("dispatch", {"vehicle_id": vehicle_id, "crew_user_ids": [crew["user"]["id"]]})):
            _ok(t.http.post(f"{t.api}/dispatch/cases/{case_id}/{step}", headers=as_dispatcher, json=body, timeout=60))
        crews.append({"vehicle_id": vehicle_id, "case_id": case_id, "token": crew["access_token"]})
    return crews


def seed_patients(t: Target, visit_date: dt.date) -> list[dict]:
    """Signed in, on file at the HIS, card bound; with a fresh runtime, a doctor each with slots."""
    from tests.benchmarks.run import _identity_number

    his = t.rt.ctx.services["his"] if t.rt is not None else None
    if his is not None:
        his.add_department("LOADD", "压测科")
    tag = os.getpid() % 1000
    patients = []
    for n in range(USERS):
        openid = f"o-load-patient-{tag:03d}-{n:04d}"
        signed = t.sign_in(openid)
        auth = {"Authorization": f"Bearer {signed['access_token']}"}
        archive = {"name": f"压测{n:04d}", "id_no": _identity_number(5000 + tag * USERS + n),
                   "phone": f"137{tag:03d}{n:05d}", "patient_id": f"PL{tag:03d}{n:05d}"}
        _ok(t.http.post(f"{t.his}/_sim/archives", json=archive, timeout=60))
        card = _ok(t.http.post(f"{t.api}/outpatient/cards", headers=auth, timeout=60, json={
            "name": archive["name"], "id_no": archive["id_no"], "phone": archive["phone"], "consent": True}), 201)
        patient = {"openid": openid, "token": signed["access_token"], "card_id": card["card_id"],
                   "patient_id": archive["patient_id"], "slots": []}
        if his is not None:
            for d in range(DOCTORS_PER_PATIENT):
                code = f"LD{n:04d}{d:02d}"
                his.add_doctor(code, f"压测医生{n:04d}{d:02d}", "LOADD")
                patient["slots"].append([code, his.add_slots(code, visit_date, ["09:00"], 30)[0]["slot_id"]])
        patients.append(patient)
    return patients


def run_locust(t: Target, job: dict) -> dict:
    """Locust headless in a child process; what load_mix.py wrote when it stopped."""
    with tempfile.TemporaryDirectory() as tmp:
        job_path, results_path = pathlib.Path(tmp, "job.json"), pathlib.Path(tmp, "results.json")
        job_path.write_text(json.dumps(job), encoding="utf-8")
        users = USERS + len(job["crews"])
        command = [sys.executable, "-m", "locust", "-f", str(ROOT / "tests/benchmarks/load_mix.py"), "--headless",
                   "--host", t.api, "-u", str(users), "-r", str(users), "-t", f"{SECONDS}s", "--stop-timeout", "30",
                   "--only-summary", "--loglevel", "WARNING"]
        env = {**os.environ, "LOAD_JOB": str(job_path), "LOAD_RESULTS": str(results_path)}
        # Locust exits 1 when any request failed; the figures below say which, so its status is not ours.
        log = ROOT / ".bench" / "load-locust.log"
        log.parent.mkdir(exist_ok=True)
        with log.open("w", encoding="utf-8") as out:
            subprocess.run(command, cwd=ROOT, env=env, check=False, stdout=out, stderr=subprocess.STDOUT)
        if not results_path.exists():
            raise RuntimeError("the Locust process wrote no results")
        return json.loads(results_path.read_text(encoding="utf-8"))


def settle(t: Target) -> None:
    """The queues empty (a fresh runtime: every queue, neither waiting nor in flight; a running
    one: a fixed pause), then a moment for late copies."""
    if t.rt is not None:
        from tests.benchmarks.run import _drain

        _drain(t.rt, tuple(t.rt.model.queues), timeout=300)
    else:
        time.sleep(float(os.environ.get("LOAD_SETTLE_SECONDS", "15")))
    time.sleep(3)


def count_messages(t: Target, results: dict, console: Console) -> dict:
    import sqlalchemy as sa

    from hospital.db import engine, tables
    from hospital.outpatient import registration_rules

    paid = results["paid"]
    order_ids = [p["order_id"] for p in paid]
    notices = _ok(t.http.get(f"{t.wechatpay}/_sim/notifications", timeout=60))
    accepted = [n["key"] for n in notices if n["kind"] == "payment" and n["accepted"] and not n.get("probe")]
    delivered = set(accepted)
    print(f"load: {len(accepted)} payment notifications delivered and accepted, for {len(delivered)} orders",
          flush=True)
    confirmations = collections.Counter(c.get("bill_no") for c in _ok(t.http.get(f"{t.his}/_sim/confirmations",
                                                                                 timeout=60)))
    o, le, r = tables.payment_orders, tables.ledger_entries, tables.registrations
    with engine().connect() as conn:
        ledger = collections.Counter(conn.execute(sa.select(le.c.order_id).where(
            le.c.entry_type == "payment", le.c.order_id.in_(order_ids))).scalars()) if order_ids else {}
        his_ref = {row.id: row.his_ref for row in conn.execute(sa.select(o.c.id, o.c.his_ref).where(
            o.c.id.in_(order_ids)))} if order_ids else {}
        registrations = [p["registration_id"] for p in paid if p["registration_id"]]
        shown = conn.execute(sa.select(r.c.id, r.c.status, o.c.status.label("order_status"))
                             .select_from(r.join(o, o.c.id == r.c.order_id))
                             .where(r.c.id.in_(registrations))) if registrations else []
        booked = collections.Counter(row.id for row in shown
                                     if registration_rules.visible_status(row.status, row.order_status) == "booked")
        vehicles = list(results["points"])
        stored = collections.Counter(conn.execute(sa.select(tables.vehicle_positions.c.vehicle_id).where(
            tables.vehicle_positions.c.vehicle_id.in_(vehicles))).scalars()) if vehicles else {}
    changed = collections.Counter({order_id: confirmations.get(his_ref.get(order_id), 0) for order_id in delivered
                                   if order_id in his_ref})
    points_expected = [f"{v}#{i}" for v, n in results["points"].items() for i in range(n)]
    points_seen = collections.Counter({f"{v}#{i}": 1 for v, n in stored.items() for i in range(n)})
    return {
        "alerts (intake -> ED console)": load_report.lost_and_duplicated(results["cases"], console.alerts),
        "ledger (paid order -> payment entry)": load_report.lost_and_duplicated(order_ids, ledger),
        "callbacks (delivered -> HIS confirmation)": load_report.lost_and_duplicated(
            [k for k in delivered if k in his_ref], changed),
        "callbacks delivered, of orders paid": load_report.lost_and_duplicated(
            order_ids, collections.Counter({k: 1 for k in delivered})),
        "registrations (paid -> booked)": load_report.lost_and_duplicated(registrations, booked),
        "positions (accepted -> stored)": {**load_report.lost_and_duplicated(points_expected, points_seen),
                                           "duplicated": max(0, sum(stored.values()) - len(points_expected))},
    }


def main() -> int:
    from hospital.outpatient import registration_rules

    visit_date = dt.datetime.now(registration_rules.HOSPITAL_TZ).date() + dt.timedelta(days=2)
    with target() as t:
        print(f"load: seeding {USERS} patients and {CREWS} crews at {t.api}", flush=True)
        _ok(t.http.post(f"{t.wechatpay}/_sim/notify-options", json={"duplicates": 2}, timeout=60))
        nurse = t.staff("o-load-ed-nurse", "ed_nurse")["access_token"]
        console = Console(f"{t.ws}?token={nurse}")
        try:
            crews = seed_crews(t)
            patients = seed_patients(t, visit_date if t.rt is not None else visit_date - dt.timedelta(days=1))
            job = {"patients": patients, "crews": crews, "app_id": t.app_id, "wechat_url": t.wechat,
                   "wechatpay_url": t.wechatpay, "his_url": t.his,
                   "visit_date": (visit_date if t.rt is not None else visit_date - dt.timedelta(days=1)).isoformat()}
            print(f"load: {SECONDS} s of mixed traffic, {USERS} patients and {len(crews)} crews (Locust)", flush=True)
            began = time.monotonic()
            results = run_locust(t, job)
            ran_s = time.monotonic() - began
            print("load: waiting for the queues to drain", flush=True)
            settle(t)
        finally:
            console.close()
        messages = count_messages(t, results, console)
        with contextlib.suppress(Exception):
            _ok(t.http.post(f"{t.wechatpay}/_sim/notify-options", json={}, timeout=10))
    routes = load_report.per_route(tuple(s) for s in results["samples"])
    failures = load_report.verdict(routes, messages)
    print(load_report.table(routes, messages))
    total = sum(f["requests"] for f in routes.values())
    print(f"\n{total} requests in {ran_s:.0f} s ({total / max(ran_s, 1):.1f}/s); {USERS} patients, {len(crews)} crews"
          f"{'; console also got: ' + str(console.others) if console.others else ''}")
    out = ROOT / ".bench" / "load.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "target": t.api,
                               "seconds": SECONDS, "users": USERS, "crews": len(crews), "cpu_count": os.cpu_count(),
                               "routes": routes, "messages": messages, "failures": failures}, indent=2) + "\n",
                   encoding="utf-8")
    print(f"written to {out.relative_to(ROOT)}")
    print("FAILED: " + "; ".join(failures) if failures else "passed: no errors, nothing lost or duplicated")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
