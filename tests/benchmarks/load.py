"""Load generators for the latency benchmarks, run in a process of their own
(`python -m tests.benchmarks.load intakes|ambulances`, the job as JSON on stdin, the raw
timings as JSON on stdout), so that the clients' threads do not compete with the local
runtime for its interpreter lock: in production the phones are not inside the service.
All times are perf_counter readings of this process; run.py turns them into figures.

The runtime's CPU is counted over the measured part only: once the clients are set up and
warm the load prints WARM and waits for a line on stdin, and it prints DONE as soon as the
last alert or post is in, before waiting for late copies."""
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


if __name__ == "__main__":
    job = json.loads(sys.stdin.readline())
    print(json.dumps({"intakes": intakes, "ambulances": ambulances}[sys.argv[1]](job)))
