"""Load generators for the latency benchmarks, run in a process of their own
(`python -m tests.benchmarks.load intakes|ambulances|suspension`, the job as JSON on stdin, the raw
timings as JSON on stdout), so that the clients' threads do not compete with the local
runtime for its interpreter lock: in production the phones are not inside the service.
All times are perf_counter readings of this process; run.py turns them into figures.

The runtime's CPU is counted over the measured part only: once the clients are set up and
warm the load prints WARM and waits for a line on stdin, and it prints DONE as soon as the
last alert or post is in, before waiting for late copies (for the suspension: once the set-up
is done, and when every suspension's progress shows all its registrations settled)."""
from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import sys
import threading
import time

import requests
from websockets.sync.client import connect


def _measure_from_here() -> None:
    print("WARM", flush=True)
    sys.stdin.readline()


def _measured_until_here() -> None:
    print("DONE", flush=True)


def intakes(job: dict) -> dict:
    """Fire one-click intakes at once while an ED console listens; when each case's alert arrived."""
    body = {"location": {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "wgs84"}}
    received: dict[str, float] = {}
    duplicates: list[str] = []
    others: list = []  # anything on the console that is not an alert
    tokens = job["tokens"]
    stop = threading.Event()
    session = requests.Session()

    def press(token):
        started = time.perf_counter()
        answer = session.post(f"{job['api_url']}/rescue/cases", json=body, timeout=60,
                              headers={"Authorization": f"Bearer {token}"})
        return answer.status_code, answer.json().get("case_id"), started

    with (connect(f"{job['ws_url']}?token={job['console_token']}", open_timeout=10) as console,
          concurrent.futures.ThreadPoolExecutor(50) as pool):
        # Warm containers, as a running service that has seen such a burst has them: a burst
        # of the same size first (imports, clients, data key, and a database and a TLS
        # connection per container that runs at once), its alerts all in before measuring.
        warm = {case_id for _, case_id, _ in pool.map(press, job["warm_tokens"])}
        alerted: set = set()
        while not warm <= alerted:
            alerted.add(json.loads(console.recv(timeout=30)).get("case_id"))

        def listen():
            while not stop.is_set():
                try:
                    alert = json.loads(console.recv(timeout=1))
                except TimeoutError:
                    continue
                except Exception as exc:  # noqa: BLE001 - reported, not swallowed
                    others.append(f"listener stopped: {exc!r}")
                    return
                if "case_id" not in alert:
                    others.append(alert)
                    continue
                if alert["case_id"] in warm:
                    continue  # a late copy from the warm-up
                if alert["case_id"] in received:
                    duplicates.append(alert["case_id"])
                received.setdefault(alert["case_id"], time.perf_counter())

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        _measure_from_here()
        presses = list(pool.map(press, tokens))
        expected = {case_id for _, case_id, _ in presses}
        deadline = time.perf_counter() + 60
        while not expected <= set(received) and time.perf_counter() < deadline:
            time.sleep(0.05)
        _measured_until_here()
        time.sleep(1)  # late duplicates, if any, are counted too
        stop.set()
        listener.join(5)
    return {"presses": presses, "received": received, "duplicates": duplicates, "others": others[:5]}


def ambulances(job: dict) -> dict:
    """Each crew posts one point a second for `seconds` while its patient follows the case."""
    crews, seconds = job["crews"], job["seconds"]
    start = job["start"]
    seen: dict[str, list] = {c["vehicle_id"]: [] for c in crews}  # (arrival, device_time shown)
    posts: dict[str, list] = {c["vehicle_id"]: [] for c in crews}  # (sent, device_time, accepted)
    stop = threading.Event()
    sockets = []
    for crew in crews:
        ws = connect(f"{job['ws_url']}?token={crew['patient_token']}", open_timeout=10)
        ws.send(json.dumps({"action": "subscribe", "case_id": crew["case_id"]}))
        if json.loads(ws.recv(timeout=30)).get("ok") is not True:
            raise RuntimeError(f"patient could not follow case {crew['case_id']}")
        sockets.append((crew["vehicle_id"], ws))

    def listen(vehicle_id, ws):
        while not stop.is_set():
            try:
                push = json.loads(ws.recv(timeout=1))
            except TimeoutError:
                continue
            except Exception:  # noqa: BLE001 - closed at the end
                return
            if push.get("type") == "rescue.vehicle_position":
                seen[vehicle_id].append((time.perf_counter(), push["position"]["device_time"]))

    listeners = [threading.Thread(target=listen, args=pair, daemon=True) for pair in sockets]
    for listener in listeners:
        listener.start()

    def drive(n: int):
        crew = crews[n]
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {crew['crew_token']}"
        begin = time.perf_counter() + n / len(crews)  # spread the crews over the second
        for second in range(seconds):
            time.sleep(max(0.0, begin + second - time.perf_counter()))
            now = dt.datetime.now(dt.UTC)
            device_time = now.replace(microsecond=now.microsecond // 1000 * 1000)
            point = {"latitude": start["latitude"] + second * 0.0001, "longitude": start["longitude"],
                     "coord_system": "gcj02", "accuracy_m": 5.0, "speed_mps": 11.0,
                     "device_time": device_time.isoformat()}
            sent = time.perf_counter()
            answer = http.post(f"{job['api_url']}/staff/vehicles/{crew['vehicle_id']}/positions",
                               json={"points": [point]}, timeout=60)
            accepted = answer.json().get("accepted", 0) if answer.status_code == 200 else 0
            shown_as = device_time.isoformat(timespec="milliseconds").replace("+00:00", "Z")  # as pushed
            posts[crew["vehicle_id"]].append((sent, shown_as, accepted))

    _measure_from_here()
    with concurrent.futures.ThreadPoolExecutor(len(crews)) as pool:
        list(pool.map(drive, range(len(crews))))
    _measured_until_here()
    time.sleep(5)  # the last pushes
    stop.set()
    for _, ws in sockets:
        ws.close()
    return {"posts": posts, "seen": seen}


def _answer(response: requests.Response, status: int) -> dict:
    if response.status_code != status:
        raise RuntimeError(f"{response.request.method} {response.url}: {response.status_code} {response.text[:300]}")
    return response.json()


def suspension(job: dict) -> dict:
    """Set-up, not measured: each patient, on a thread pool, signs in with a WeChat login code,
    is put on file at the HIS, binds the card, books their slot, pays it with WeChat Pay (the
    simulator's /_sim/pay, as the phone does) and waits until the HIS has confirmed it (the
    registration shows booked). Measured: the back office posts every suspension at once, then
    follows their progress routes until each shows all its registrations settled: cancelled or
    failed, told or not told, and every cancelled one refunded; or the timeout."""
    api, local = job["api_url"], threading.local()

    def http() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return local.session

    def book(patient: dict) -> dict:
        s = http()
        code = _answer(s.post(f"{job['wechat_url']}/_sim/login-code", timeout=60,
                              json={"app_id": job["app_id"], "openid": patient["openid"]}), 200)["code"]
        token = _answer(s.post(f"{api}/auth/wechat/mini-program", json={"code": code}, timeout=60),
                        200)["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        archive = patient["archive"]
        _answer(s.post(f"{job['his_url']}/_sim/archives", json=archive, timeout=60), 200)
        card = _answer(s.post(f"{api}/outpatient/cards", headers=auth, timeout=60, json={
            "name": archive["name"], "id_no": archive["id_no"], "phone": archive["phone"], "consent": True}), 201)
        held = _answer(s.post(f"{api}/outpatient/registrations", headers=auth, timeout=60, json={
            "card_id": card["card_id"], "doctor_code": patient["doctor_code"], "visit_date": job["visit_date"],
            "slot_id": patient["slot_id"]}), 201)
        paying = _answer(s.post(f"{api}/payments/orders/{held['order_id']}/pay", headers=auth, timeout=60,
                                json={"channel": "wechat"}), 200)
        prepay_id = paying["request_payment"]["package"].removeprefix("prepay_id=")
        _answer(s.post(f"{job['wechatpay_url']}/_sim/pay", json={"prepay_id": prepay_id}, timeout=60), 200)
        deadline = time.perf_counter() + 120
        while True:
            seen = _answer(s.get(f"{api}/outpatient/registrations/{held['registration_id']}", headers=auth,
                                 timeout=60), 200)
            if seen["status"] == "booked":
                break
            # Paid in WeChat; the notification, then the HIS's confirmation, are on their way.
            if seen["status"] not in ("awaiting_payment", "confirming") or time.perf_counter() > deadline:
                raise RuntimeError(f"registration {held['registration_id']} is {seen['status']}, not booked")
            time.sleep(0.2)
        return {"openid": patient["openid"], "registration_id": held["registration_id"],
                "order_id": held["order_id"], "reg_no": seen["reg_no"], "doctor_code": patient["doctor_code"]}

    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(job["threads"]) as pool:
        booked = list(pool.map(book, job["patients"]))
    setup_s = time.perf_counter() - began
    admin = requests.Session()
    admin.headers["Authorization"] = f"Bearer {job['admin_token']}"
    expected: dict[str, int] = {}
    for registration in booked:
        expected[registration["doctor_code"]] = expected.get(registration["doctor_code"], 0) + 1

    def suspend(body: dict) -> str:
        return _answer(admin.post(f"{api}/admin/outpatient/suspensions", json=body, timeout=60),
                       201)["suspension_id"]

    _measure_from_here()
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(len(job["suspensions"])) as pool:
        ids = list(pool.map(suspend, job["suspensions"]))
    posted_s = time.perf_counter() - started
    # One suspension's progress at a time, in order; each is settled for good once it shows
    # settled (a registration cancelled, refunded and told stays so), so the last one seen
    # settled marks the end, and the runtime answers one progress read at a time, not all.
    last: dict[str, dict] = {}
    deadline, polls, pending = started + job["timeout"], 0, list(zip(ids, job["suspensions"], strict=True))
    while pending and time.perf_counter() < deadline:
        suspension_id, body = pending[0]
        polls += 1
        seen = _answer(admin.get(f"{api}/admin/outpatient/suspensions/{suspension_id}", timeout=60), 200)
        last[suspension_id] = {k: seen[k] for k in ("found", "notified", "notice_failed", "cancelled", "refunded",
                                                    "failed")}
        found = seen["found"]
        if (found == expected[body["doctor_code"]] and seen["cancelled"] + seen["failed"] == found
                and seen["notified"] + seen["notice_failed"] == found and seen["refunded"] >= seen["cancelled"]):
            pending.pop(0)
        else:
            time.sleep(job["poll_seconds"])
    seconds = time.perf_counter() - started
    _measured_until_here()
    return {"setup_s": setup_s, "seconds": seconds, "timed_out": bool(pending), "posted_s": posted_s,
            "polls": polls, "booked": booked, "progress": last, "suspension_ids": ids}


if __name__ == "__main__":
    job = json.loads(sys.stdin.readline())
    print(json.dumps({"intakes": intakes, "ambulances": ambulances, "suspension": suspension}[sys.argv[1]](job)))
