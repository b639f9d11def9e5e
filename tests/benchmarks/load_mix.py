"""The users of `make load`, for Locust (run headless by tests/benchmarks/load_run.py in a process
of its own, so gevent's monkeypatching never reaches the runtime). The job (LOAD_JOB, a JSON
file) names the API, the simulators and the seeded identities; every request is recorded as
(route template, status, ms) and what the checks afterwards need (cases created, orders paid,
points accepted) is written to LOAD_RESULTS when the run stops.

Patients: sign in through the WeChat simulator, one-click intakes, registrations (read the
doctor's slots, book, pay, the WeChat Pay simulator pays), orders for HIS bills (the bill at the
HIS simulator, create, pay, simulator pays), reads (own registrations, orders, a case's
timeline). Crews: one GPS point a second for their dispatched ambulance."""
from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import random
import uuid

from locust import HttpUser, between, constant_pacing, events, task

JOB = json.loads(open(os.environ["LOAD_JOB"], encoding="utf-8").read())  # noqa: SIM115 - read once at import
SAMPLES: list[tuple[str, int, float]] = []
CASES: list[str] = []
PAID: list[dict] = []     # {"order_id", "his_ref", "registration_id"}: paid at the simulator
POINTS: dict[str, int] = {}   # vehicle -> points accepted
_patients = itertools.cycle(JOB["patients"])
_crews = iter(JOB["crews"])
SHARED_DOCTORS = [f"DOC00{n}" for n in range(1, 7)]  # the HIS simulator's seeded catalogue
INTAKE = {"location": {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "wgs84", "accuracy_m": 20},
          "complaint": "胸痛"}


@events.request.add_listener
def _record(name, response_time, response=None, exception=None, **_kw):
    status = getattr(response, "status_code", 0) or 0
    SAMPLES.append((name, 0 if exception is not None and not status else status, response_time))


@events.quitting.add_listener
def _write(**_kw):
    with open(os.environ["LOAD_RESULTS"], "w", encoding="utf-8") as out:
        json.dump({"samples": SAMPLES, "cases": CASES, "paid": PAID, "points": POINTS}, out)


class Patient(HttpUser):
    weight = 4
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.me = next(_patients)
        self.token = self.me["token"]
        self.slots = iter(self.me.get("slots") or [])
        self.cases: list[str] = []

    def _auth(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def _json(self, method: str, url: str, route: str, expect: tuple[int, ...], **kw):
        """One request, recorded under `route`; its JSON when the status is expected, else None."""
        with self.client.request(method, url, name=route, catch_response=True, **kw) as answer:
            if answer.status_code in expect:
                answer.success()
                return answer.json()
            answer.failure(f"{answer.status_code} {answer.text[:200]}")
            return None

    def _pay(self, order_id: str, his_ref: str, registration_id: str | None) -> None:
        paying = self._json("POST", f"/payments/orders/{order_id}/pay", "POST /payments/orders/{order_id}/pay",
                            (200,), headers=self._auth(), json={"channel": "wechat"})
        if paying is None:
            return
        prepay_id = paying["request_payment"]["package"].removeprefix("prepay_id=")
        if self._json("POST", f"{JOB['wechatpay_url']}/_sim/pay", "SIM POST /_sim/pay (WeChat Pay)", (200,),
                      json={"prepay_id": prepay_id}) is not None:
            PAID.append({"order_id": order_id, "his_ref": his_ref, "registration_id": registration_id})

    @task(1)
    def sign_in(self) -> None:
        code = self._json("POST", f"{JOB['wechat_url']}/_sim/login-code", "SIM POST /_sim/login-code (WeChat)",
                          (200,), json={"app_id": JOB["app_id"], "openid": self.me["openid"]})
        if code is not None:
            signed = self._json("POST", "/auth/wechat/mini-program", "POST /auth/wechat/mini-program", (200,),
                                json={"code": code["code"]})
            if signed is not None:
                self.token = signed["access_token"]

    @task(2)
    def intake(self) -> None:
        case = self._json("POST", "/rescue/cases", "POST /rescue/cases", (201,), headers={
            **self._auth(), "Idempotency-Key": uuid.uuid4().hex}, json=INTAKE)
        if case is not None:
            CASES.append(case["case_id"])
            self.cases.append(case["case_id"])

    @task(2)
    def registration(self) -> None:
        day = JOB["visit_date"]
        mine = next(self.slots, None)  # [doctor, slot] of the user's own, from a fresh runtime
        if mine is None and self.me["slots"]:
            return  # all booked
        doctor = mine[0] if mine else random.choice(SHARED_DOCTORS)
        listed = self._json("GET", f"/outpatient/doctors/{doctor}/slots?date_from={day}&date_to={day}",
                            "GET /outpatient/doctors/{doctor_code}/slots", (200,), headers=self._auth())
        if listed is None:
            return
        if mine is not None:
            slot = mine[1]
        else:  # against a running `make run`: any free slot of its catalogue, perhaps taken a moment later
            free = [s["slot_id"] for s in listed if s.get("available")]
            if not free:
                return
            slot = random.choice(free)
        held = self._json("POST", "/outpatient/registrations", "POST /outpatient/registrations", (201,),
                          headers=self._auth(), json={"card_id": self.me["card_id"], "doctor_code": doctor,
                                                      "visit_date": day, "slot_id": slot})
        if held is not None:
            self._pay(held["order_id"], "", held["registration_id"])

    @task(2)
    def order(self) -> None:
        bill = self._json("POST", f"{JOB['his_url']}/_sim/bills", "SIM POST /_sim/bills (HIS)", (200,),
                          json={"patient_id": self.me["patient_id"], "bill_type": "outpatient", "amount": "12.30"})
        if bill is None:
            return
        created = self._json("POST", "/payments/orders", "POST /payments/orders", (201,), headers=self._auth(),
                             json={"kind": "outpatient", "his_ref": bill["bill_no"]})
        if created is not None:
            self._pay(created["order_id"], bill["bill_no"], None)

    @task(4)
    def reads(self) -> None:
        self._json("GET", "/outpatient/registrations", "GET /outpatient/registrations", (200,), headers=self._auth())
        self._json("GET", "/payments/orders", "GET /payments/orders", (200,), headers=self._auth())
        if self.cases:
            self._json("GET", f"/rescue/cases/{self.cases[-1]}", "GET /rescue/cases/{case_id}", (200,),
                       headers=self._auth())


class Crew(HttpUser):
    """One per seeded ambulance (fixed_count), a point a second, as the crew's phone sends them."""
    fixed_count = len(JOB["crews"])
    wait_time = constant_pacing(1)

    def on_start(self) -> None:
        self.crew = next(_crews)
        self.n = 0
        POINTS.setdefault(self.crew["vehicle_id"], 0)

    @task
    def post_position(self) -> None:
        self.n += 1
        now = dt.datetime.now(dt.UTC)
        point = {"latitude": 31.2304 + self.n * 0.00005, "longitude": 121.4737, "coord_system": "wgs84",
                 "accuracy_m": 5.0, "speed_mps": 8.0, "device_time": now.isoformat(timespec="milliseconds")}
        vehicle = self.crew["vehicle_id"]
        with self.client.post(f"/staff/vehicles/{vehicle}/positions", json={"points": [point]},
                              name="POST /staff/vehicles/{vehicle_id}/positions", catch_response=True,
                              headers={"Authorization": f"Bearer {self.crew['token']}"}) as answer:
            if answer.status_code == 200:
                answer.success()
                POINTS[vehicle] += int(answer.json().get("accepted", 0))
            else:
                answer.failure(f"{answer.status_code} {answer.text[:200]}")


if not JOB["crews"]:
    Crew.fixed_count = 0
    Crew.weight = 0
