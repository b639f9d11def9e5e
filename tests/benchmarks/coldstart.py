"""Cold start as a patient pays it, for every function of template.yaml.

Each run is a fresh interpreter (tests/benchmarks/child.py) started as Lambda starts a
container: the function's folder as working directory, the layer on the path, the function's
own environment from the template (the local platform's endpoint, queues, secrets, keys and
simulators; the scratch database), no DB_POOL_SIZE or LOG_LEVEL but the template's. It imports
the handler's module and hands it the function's most common event once (EVENTS below, made
fresh for every run: a message is handled once, a notification is signed for the moment), and
the event must succeed (the status, no batchItemFailures, and where cheap the effect: the order
paid, the refund sent, the alert recorded, the push received), or the benchmark stops.

Against it, in the same rounds, the minimal handler: a fresh interpreter importing boto3 and
PyMySQL, connecting to the same database and running one SELECT. Beside it, the floor: the
minimal handler that also imports SQLAlchemy (FLOOR_IMPORTS), the library every function's
database work goes through. A function whose first event both calls AWS (so imports the SDK, as
the minimal handler does) and reads the database cannot do less, so floor / minimal is the lowest
ratio it can reach before any work of its own; it is reported so the functions' figures can be
read against it.

Times come from the child's own perf_counter (interpreter start to its first line: startup;
importing the module: import; the first event: event; whole = import + event) and, as a
check, the parent's wall clock from spawn to exit. Medians over the rounds; the order of the
functions rotates from round to round, a minimal run comes every MINIMAL_EVERY functions.

Every module of every run, the venv's and the standard library's included, is read compiled
from one cache (PYTHONPYCACHEPREFIX=.bench/pycache, filled by an untimed warm-up round): the
figure does not depend on whether someone happened to write __pycache__ folders.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import itertools
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import ClassVar

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHILD_SOURCE = (pathlib.Path(__file__).with_name("child.py")).read_text(encoding="utf-8")
MINIMAL_EVERY = 5
TOP_IMPORTS = 15
FLOOR_IMPORTS = ("sqlalchemy",)
LOCATION = {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "gcj02", "accuracy_m": 20.0}


@dataclasses.dataclass
class Job:
    """One function's event for one run: `event`, what success looks like (`expect`, for the
    child) and `verify()`, run by the parent afterwards, raising when the effect is missing."""

    event: dict
    expect: str
    verify: Callable[[], None] | None = None


@dataclasses.dataclass
class Run:
    startup_ms: float
    import_ms: float
    event_ms: float
    wall_ms: float
    stderr: str = ""

    @property
    def whole_ms(self) -> float:
        return self.import_ms + self.event_ms


class EventMaker:
    """The people, cases, orders and connections the events need, made once; then, per run,
    each function's most common event (`describe` says which)."""

    describe: ClassVar[dict[str, str]] = {
        "AuthFunction": "GET /auth/me (a signed-in patient; the caller's standing read)",
        "RescueApiFunction": "GET /rescue/cases (the patient's own cases)",
        "RescueDispatchFunction": "GET /dispatch/cases/{id} (a dispatcher's case view; there is no list route)",
        "RescueStaffFunction": "GET /staff/cases/{id} (the crew's case)",
        "RescueAdminFunction": "GET /admin/rescue/cases/{id} (an ED nurse's full case)",
        "PaymentsApiFunction": "GET /payments/orders/{id} (the patient's order view)",
        "PaymentsAdminFunction": "GET /admin/payments/anomalies (finance's open anomalies)",
        "ConsistencyAdminFunction": "GET /admin/consistency/reports (the latest stored consistency reports)",
        "OutpatientApiFunction": "GET /outpatient/registrations (the patient's own registrations)",
        "OutpatientAdminFunction": "GET /admin/outpatient/suspensions (the back office's recent suspensions)",
        "OutpatientEventsFunction": "SQS batch of one suspension found, as the back office's suspension relayed it",
        "OutpatientSweeperFunction": "its scheduled event",
        "ReconciliationAdminFunction": "GET /admin/reconciliation/findings (finance's open findings of a day)",
        "ReconciliationRunnerFunction": "its scheduled event (the days due reconciled over the simulators)",
        "PaymentCallbacksFunction": "POST /callbacks/wechatpay/v3 (one signed, encrypted payment notification)",
        "RescueEventsFunction": "SQS batch of one rescue.case_created, as the intake relayed it",
        "NotificationsFunction": "SQS batch of one staff alert, as the rescue events fan-out relayed it",
        "TriageLinkFunction": "SQS batch of one triage.case_changed, as the rescue events relayed it",
        "PaymentEventsFunction": "SQS batch of one payment.paid, as the notification relayed it",
        "RefundWorkerFunction": "SQS batch of one refund request, as finance's refund relayed it",
        "OutboxSweeperFunction": "its scheduled event",
        "RescueWatchdogFunction": "its scheduled event",
        "PaymentSweeperFunction": "its scheduled event",
        "PaymentsWatchdogFunction": "its scheduled event",
        "ConsistencyChecksFunction": "its scheduled event",
        "WeChatPayCertificatesFunction": "its scheduled event",
        "LogLookupFunction": "GET /admin/logs/external-calls?order_id= (an IT admin looks up an order's calls)",
        "AuditAdminFunction": "GET /admin/audit/entries?action= (an IT admin searches the audit log)",
        "HelpdeskFunction": "GET /admin/faq/entries?q= (the front desk searches the FAQ in Chinese)",
        "AccessAdminFunction": "GET /admin/access/roles/{role} (the super admin reads a role and its holders)",
        "LinksFunction": "GET /links/grid (a patient's home grid)",
        "HealthFunction": "GET /health (a monitor's probe: database, queues, key, secret)",
        "ContentAdminFunction": "GET /admin/content/items?state=in_review (the site content awaiting review)",
        "ContentPublicFunction": "GET /content/notices (the WeChat site's current notices, no session)",
        "ExternalCallsExpiryFunction": "its scheduled event",
        "LiveConnectFunction": "WebSocket $connect of a patient with a token",
        "LiveMessageFunction": "WebSocket subscribe to the patient's case, on an open connection",
        "LiveDisconnectFunction": "WebSocket $disconnect of an open connection",
    }

    def __init__(self, platform) -> None:
        from hospital.auth import sessions, standing
        from hospital.auth.tokens import verify_access_token
        from hospital.rescue import dispatch, intake, models
        from tests.conftest import make_patient

        self.platform, self.host = platform, platform.host
        self.model = platform.runtime.model
        self.region, self.account = self.model.region, self.model.account_id
        app_id = platform.mini_program_app_id
        self.patient, self.patient_token = make_patient(platform)
        case, _ = intake.create_case(self.patient, models.CaseIntake.model_validate({"location": LOCATION}))
        self.case_id = case["case_id"]
        people = {}
        for role in ("dispatcher", "staff", "ed_nurse", "front_desk", "finance", "it_admin", "super_admin"):
            openid = f"o-bench-{role}-{uuid.uuid4().hex[:8]}"
            user_id = sessions.sign_in_identity(app_id, openid)["user"]["id"]
            sessions.grant_role(user_id, role)
            issued = sessions.sign_in_identity(app_id, openid)  # a token carrying the role
            people[role] = (user_id, issued["access_token"], openid)
            if role == "staff":  # on duty and known to WeChat: a new case alerts them by subscribe message
                platform.wechat.mint_login_code(app_id, openid=openid)
        self.people = people
        self._suspensions = itertools.product((f"DOC00{n}" for n in range(1, 7)), (3, 4, 5))
        dispatcher = standing.current(verify_access_token(people["dispatcher"][1]), fresh=True)
        vehicle_id = f"BENCH-{uuid.uuid4().hex[:6]}"
        dispatch.register_vehicle(vehicle_id, f"沪A{vehicle_id[-5:]}")
        dispatch.step(dispatcher, "dispatcher", self.case_id, "accepted")
        dispatch.dispatch(dispatcher, self.case_id, vehicle_id, [people["staff"][0]])
        status, answer = self._call("RescueStaffFunction", "PUT", "/staff/duty", people["staff"][1],
                                    body={"on_duty": True})
        assert status == 200, answer
        self.order_id, self.order_token = self._order(paid=False)  # one its patient looks at
        self._socket = self._socket_connection = None

    # ---- helpers ------------------------------------------------------------------------

    def _call(self, lid, method, path, token, body=None, resource=None, params=None) -> tuple[int, dict]:
        from tests.conftest import api_event, call

        return call(self.host, lid, api_event(method, path, body=body, token=token, resource=resource,
                                              path_parameters=params))

    def _http(self, method, path, token, resource=None, params=None, query=None) -> dict:
        from tests.conftest import api_event

        event = api_event(method, path, token=token, resource=resource, path_parameters=params)
        if query:
            event["queryStringParameters"] = query
            event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
        return event

    def _order(self, paid: bool) -> tuple[str, str]:
        """(order id, its patient's token): an order for a new HIS bill, prepaid with WeChat Pay
        v3; `paid`: the patient has paid in WeChat (the notification is the caller's to deliver)."""
        from tests.payments.support import create_order, patient_with_bill, pay

        _, token, bill = patient_with_bill(self.platform)
        status, order = create_order(self.host, token, bill)
        assert status == 201, order
        status, prepaid = pay(self.host, token, order["order_id"])
        assert status == 200, prepaid
        if paid:
            self.platform.wechatpay.pay(self._mchid(), order["order_id"], notify=False)
        return order["order_id"], token

    @staticmethod
    def _mchid() -> str:
        from infra import devenv

        return devenv.DEV_V3_MCHID

    def _notification(self, order_id: str) -> dict:
        from tests.conftest import api_event

        body, headers = self.platform.wechatpay.notification("payment", self._mchid(), order_id)
        event = api_event("POST", "/callbacks/wechatpay/v3", headers=headers)
        event["body"] = body.decode()
        return event

    def _received(self, queue: str, wanted: str, timeout: float = 10.0) -> dict:
        """The message on `queue` whose body mentions `wanted`, as a record of Lambda's SQS
        event; every other message on the queue is taken off it (leftovers of earlier runs)."""
        from infra.local.sqs import lambda_record

        sqs, url = self.platform.sqs(), self.platform.queue_url(queue)
        arn = self.model.queues[queue].arn
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                      MessageAttributeNames=["All"], WaitTimeSeconds=0).get("Messages", [])
            found = None
            for message in got:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                if wanted in message["Body"] and found is None:
                    found = lambda_record(message, arn, self.region)
            if found:
                return found
            if not got:
                time.sleep(0.05)
        raise AssertionError(f"no message about {wanted} on {queue}")

    def _new_case(self) -> str:
        from tests.conftest import api_event

        body = {"location": LOCATION, "address_text": "人民大道200号"}
        invocation = self.host.invoke("RescueApiFunction", api_event("POST", "/rescue/cases", token=self.patient_token,
                                                                     body=body))
        assert invocation.ok and invocation.result["statusCode"] == 201, invocation.result
        return json.loads(invocation.result["body"])["case_id"]

    def _live_event(self, route: str, connection_id: str, **extra) -> dict:
        event_type = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE")
        now = int(time.time() * 1000)
        return {"requestContext": {
            "routeKey": route, "eventType": event_type, "messageDirection": "IN", "stage": "dev",
            "connectedAt": now, "requestTimeEpoch": now, "identity": {"sourceIp": "127.0.0.1"},
            "requestId": uuid.uuid4().hex, "domainName": "locallivea.execute-api.us-east-1.amazonaws.com",
            "connectionId": connection_id, "apiId": "locallivea", **extra.pop("context", {})},
            "isBase64Encoded": False, **extra}

    def open_socket(self):
        """A patient's real WebSocket connection to the local WebSocket API, for the message route."""
        import sqlalchemy as sa
        from websockets.sync.client import connect

        from hospital.db import engine, tables

        runtime = self.platform.runtime
        before = self._connections()
        self._socket = connect(f"{runtime.ws_url}/dev?token={self.patient_token}", open_timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            fresh = self._connections() - before
            if fresh:
                self._socket_connection = fresh.pop()
                return
            time.sleep(0.05)
        with engine().connect() as conn:
            rows = conn.execute(sa.select(tables.live_connections)).all()
        raise AssertionError(f"the WebSocket connection was not recorded: {rows}")

    def close_socket(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(Exception):
                self._socket.close()

    def _connections(self) -> set[str]:
        import sqlalchemy as sa

        from hospital.db import engine, tables

        with engine().connect() as conn:
            return set(conn.execute(sa.select(tables.live_connections.c.connection_id).where(
                tables.live_connections.c.user_id == self.patient.user_id)).scalars())

    # ---- one round's events -------------------------------------------------------------

    def jobs(self) -> dict[str, Job]:
        """Fresh events for one run of every function."""
        import sqlalchemy as sa

        from hospital import live
        from hospital.db import engine, tables
        from infra.local.schedule import scheduled_event
        from infra.local.template import ScheduleEvent
        from tests.payments.support import order_row

        jobs: dict[str, Job] = {}
        case_path = {"case_id": self.case_id}
        jobs["AuthFunction"] = Job(self._http("GET", "/auth/me", self.patient_token), "http:200")
        jobs["RescueApiFunction"] = Job(self._http("GET", "/rescue/cases", self.patient_token, query={"limit": "10"}),
                                        "http:200")
        jobs["RescueDispatchFunction"] = Job(self._http(
            "GET", f"/dispatch/cases/{self.case_id}", self.people["dispatcher"][1], "/dispatch/cases/{case_id}",
            case_path), "http:200")
        jobs["RescueStaffFunction"] = Job(self._http(
            "GET", f"/staff/cases/{self.case_id}", self.people["staff"][1], "/staff/cases/{case_id}", case_path),
            "http:200")
        jobs["RescueAdminFunction"] = Job(self._http(
            "GET", f"/admin/rescue/cases/{self.case_id}", self.people["ed_nurse"][1], "/admin/rescue/cases/{case_id}",
            case_path), "http:200")
        jobs["PaymentsApiFunction"] = Job(self._http(
            "GET", f"/payments/orders/{self.order_id}", self.order_token, "/payments/orders/{order_id}",
            {"order_id": self.order_id}), "http:200")
        jobs["PaymentsAdminFunction"] = Job(self._http("GET", "/admin/payments/anomalies", self.people["finance"][1],
                                                       query={"state": "open"}), "http:200")
        jobs["ConsistencyAdminFunction"] = Job(self._http("GET", "/admin/consistency/reports",
                                                          self.people["finance"][1], query={"limit": "20"}), "http:200")
        jobs["LogLookupFunction"] = Job(self._http("GET", "/admin/logs/external-calls", self.people["it_admin"][1],
                                                   query={"order_id": self.order_id}), "http:200")
        jobs["AuditAdminFunction"] = Job(self._http("GET", "/admin/audit/entries", self.people["it_admin"][1],
                                                    query={"action": "auth.grant_role", "limit": "20"}), "http:200")
        jobs["HelpdeskFunction"] = Job(self._http("GET", "/admin/faq/entries", self.people["front_desk"][1],
                                                  query={"q": "挂号退费", "limit": "10"}), "http:200")
        jobs["AccessAdminFunction"] = Job(self._http("GET", "/admin/access/roles/dispatcher",
                                                     self.people["super_admin"][1], "/admin/access/roles/{role}",
                                                     {"role": "dispatcher"}), "http:200")
        jobs["ContentAdminFunction"] = Job(self._http("GET", "/admin/content/items", self.people["it_admin"][1],
                                                      query={"state": "in_review"}), "http:200")
        jobs["ContentPublicFunction"] = Job(self._http("GET", "/content/notices", None), "http:200")
        jobs["HealthFunction"] = Job(self._http("GET", "/health", None), "http:200")
        jobs["LinksFunction"] = Job(self._http("GET", "/links/grid", self.patient_token), "http:200")
        jobs["OutpatientApiFunction"] = Job(self._http("GET", "/outpatient/registrations", self.patient_token,
                                                       query={"limit": "10"}), "http:200")
        jobs["OutpatientAdminFunction"] = Job(self._http("GET", "/admin/outpatient/suspensions",
                                                         self.people["super_admin"][1]), "http:200")
        jobs["ReconciliationAdminFunction"] = Job(self._http(
            "GET", "/admin/reconciliation/findings", self.people["finance"][1],
            query={"date": (dt.date.today() - dt.timedelta(days=2)).isoformat(), "status": "open"}), "http:200")
        # A new suspension (a seeded doctor's day ahead, another each round); its message for the child.
        doctor, ahead = next(self._suspensions)
        status, suspended = self._call("OutpatientAdminFunction", "POST", "/admin/outpatient/suspensions",
                                       self.people["super_admin"][1],
                                       body={"doctor_code": doctor, "reason": "停诊",
                                             "visit_date": (dt.date.today() + dt.timedelta(days=ahead)).isoformat()})
        _expect(status == 201, f"suspension not accepted: {status} {suspended}")
        jobs["OutpatientEventsFunction"] = Job(
            {"Records": [self._received("OutpatientEventsQueue", suspended["suspension_id"])]}, "sqs")

        # A fresh notification of a fresh order (a notification is applied once, and signed for now).
        notified = self._order(paid=True)[0]
        jobs["PaymentCallbacksFunction"] = Job(
            self._notification(notified), "http:204",
            lambda: _expect(order_row(notified).status in ("paid", "confirmed"), f"order {notified} not paid"))
        # Paid here, its payment.paid message for the child.
        confirmed = self._order(paid=True)[0]
        self._deliver_here("PaymentCallbacksFunction", self._notification(confirmed), 204)
        jobs["PaymentEventsFunction"] = Job(
            {"Records": [self._received("PaymentEventsQueue", confirmed)]}, "sqs",
            lambda: _expect(order_row(confirmed).status == "confirmed", f"order {confirmed} not confirmed"))
        # Paid and confirmed here, refunded by finance here, its refund message for the child.
        refunded = self._order(paid=True)[0]
        self._deliver_here("PaymentCallbacksFunction", self._notification(refunded), 204)
        self._deliver_here("PaymentEventsFunction", {"Records": [self._received("PaymentEventsQueue", refunded)]})
        status, refund = self._call("PaymentsAdminFunction", "POST", f"/admin/payments/orders/{refunded}/refunds",
                                    self.people["finance"][1], body={"amount_fen": 2500, "reason": "patient_request"},
                                    resource="/admin/payments/orders/{order_id}/refunds", params={"order_id": refunded})
        assert status == 202, refund

        def refund_sent():
            with engine().connect() as conn:
                states = conn.execute(sa.select(tables.payment_refunds.c.status).where(
                    tables.payment_refunds.c.order_id == refunded)).scalars().all()
            _expect(states and "requested" not in states, f"refund of {refunded} still {states}")

        jobs["RefundWorkerFunction"] = Job({"Records": [self._received("RefundsQueue", refund["refund_id"])]}, "sqs",
                                           refund_sent)

        # A new case for the rescue events consumer; another whose events ran here, for the
        # staff alert and the triage message they relayed.
        first = self._new_case()
        jobs["RescueEventsFunction"] = Job({"Records": [self._received("RescueEventsQueue", first)]}, "sqs")
        second = self._new_case()
        self._deliver_here("RescueEventsFunction", {"Records": [self._received("RescueEventsQueue", second)]})
        staff_id = self.people["staff"][0]
        jobs["NotificationsFunction"] = Job(
            {"Records": [self._received("NotificationsQueue", second)]}, "sqs",
            lambda: _expect(self._alerted(second, f"wechat:{staff_id}"), f"no staff alert recorded for {second}"))
        jobs["TriageLinkFunction"] = Job(
            {"Records": [self._received("TriageQueue", second)]}, "sqs",
            lambda: _expect(self.platform.triage.cases(second), f"case {second} did not reach the triage system"))

        for lid, fn in self.model.functions.items():
            for source in fn.events_of(ScheduleEvent):
                jobs[lid] = Job(scheduled_event(source, self.region, self.account), "any")

        fresh = _connection_id()
        jobs["LiveConnectFunction"] = Job(
            self._live_event("$connect", fresh, queryStringParameters={"token": self.patient_token},
                             multiValueQueryStringParameters={"token": [self.patient_token]}),
            "http:200", lambda: _expect(fresh in self._connections(), "the connection was not recorded"))
        jobs["LiveMessageFunction"] = Job(
            self._live_event("subscribe", self._socket_connection,
                             body=json.dumps({"action": "subscribe", "case_id": self.case_id})),
            "http:200", self._subscribed)
        leaving = _connection_id()
        live.connect(leaving, self.patient)
        jobs["LiveDisconnectFunction"] = Job(
            self._live_event("$disconnect", leaving, context={"disconnectStatusCode": 1001}), "any",
            lambda: _expect(leaving not in self._connections(), "the connection is still recorded"))
        return jobs

    def _deliver_here(self, lid: str, event: dict, status: int | None = None) -> None:
        invocation = self.host.invoke(lid, event)
        assert invocation.ok, invocation.error_payload
        if status is not None:
            assert invocation.result["statusCode"] == status, invocation.result
        else:
            assert not invocation.result.get("batchItemFailures"), invocation.result

    def _alerted(self, case_id: str, channel: str) -> bool:
        import sqlalchemy as sa

        from hospital.db import engine, tables

        with engine().connect() as conn:
            rows = conn.execute(sa.select(tables.rescue_events.c.details).where(
                tables.rescue_events.c.case_id == case_id, tables.rescue_events.c.node == "alerted")).scalars().all()
        return any(d.get("channel") == channel and d.get("result") == "sent" for d in rows)

    def _subscribed(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            message = json.loads(self._socket.recv(timeout=10))
            if message.get("type") == "subscribed":
                _expect(message.get("ok") is True, f"subscription refused: {message}")
                return
        raise AssertionError("the patient's connection never heard it was subscribed")


@contextlib.contextmanager
def _quiet():
    import logging

    logger = logging.getLogger("hospital")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _expect(condition, why: str) -> None:
    if not condition:
        raise AssertionError(why)


def _connection_id() -> str:
    return uuid.uuid4().hex[:14] + "="


# ---- the children ---------------------------------------------------------------------------

def lambda_environment(fn, every_function) -> dict[str, str]:
    """What the function's container would have: this process's environment (the platform's
    endpoint, credentials, CA bundle, database) without the other functions' variables, the
    function's own from the template, Lambda's own variables; the layer as /opt/python."""
    others = {key for other in every_function.values() for key in other.environment} - set(fn.environment)
    env = {k: v for k, v in os.environ.items() if k not in others}
    env.update(fn.environment)
    for local_only in ("DB_POOL_SIZE", "LOG_LEVEL", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH"):
        env.pop(local_only, None)
    env.update({
        "PYTHONPATH": os.pathsep.join(str(p) for p in fn.layer_paths),
        "PYTHONPYCACHEPREFIX": str(ROOT / ".bench" / "pycache"),
        "AWS_LAMBDA_FUNCTION_NAME": fn.logical_id, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "_HANDLER": fn.handler, "LAMBDA_TASK_ROOT": str(fn.code_uri),
    })
    return env


def spawn(job: dict, cwd: pathlib.Path, env: dict[str, str], importtime: bool = False) -> Run:
    args = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", CHILD_SOURCE]
    env = {**env, "BENCH_JOB": json.dumps(job, ensure_ascii=False)}
    spawned = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False)
    exited = time.perf_counter()
    result = next((line[13:] for line in proc.stdout.splitlines() if line.startswith("BENCH-RESULT ")), None)
    if proc.returncode != 0 or result is None:
        said = "\n".join(line for line in proc.stdout.splitlines() if line.startswith("BENCH-FAILED"))
        raise RuntimeError(f"cold start of {job.get('context', {}).get('function_name', 'the minimal handler')} "
                           f"failed (exit {proc.returncode}): {said}\n--- stdout\n{proc.stdout[-3000:]}"
                           f"\n--- stderr\n{proc.stderr[-3000:]}")
    r = json.loads(result)
    return Run(startup_ms=(r["started"] - spawned) * 1000, import_ms=(r["imported"] - r["import_started"]) * 1000,
               event_ms=(r["handled"] - r["imported"]) * 1000, wall_ms=(exited - spawned) * 1000,
               stderr=proc.stderr if importtime else "")


def minimal_job(url: str) -> dict:
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    password = f":{parsed.password}" if parsed.password else ""
    return {"minimal": f"mysql://{parsed.username}{password}@{parsed.host}:{parsed.port or 3306}/{parsed.database}"}


def function_job(fn, job: Job) -> dict:
    return {"handler": fn.handler, "event": job.event, "expect": job.expect,
            "context": {"function_name": fn.logical_id, "arn": fn.arn or f"arn:aws:lambda:::function:{fn.logical_id}",
                        "memory": fn.memory, "timeout": fn.timeout, "request_id": str(uuid.uuid4())}}


# ---- -X importtime ---------------------------------------------------------------------------

def importtime_summary(stderr: str) -> tuple[str, dict]:
    """The top cumulative imports of one run with -X importtime, each with the phase that paid
    it (import: importing the module; event: lazily, during the first event), and the totals."""
    rows, phase = [], "import"
    for line in stderr.splitlines():
        if line.startswith("bench-phase: first event"):
            phase = "event"
            continue
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:"):].split("|", 2)
        depth = (len(name) - len(name.lstrip()) - 1) // 2  # " name" at the top level, two more a level
        rows.append((int(cumulative_us), int(self_us), name.strip(), phase, depth))
    totals = {p: sum(c for c, _, _, ph, depth in rows if ph == p and depth <= 0) / 1000 for p in ("import", "event")}
    top = sorted(rows, reverse=True)[:TOP_IMPORTS]
    lines = [(f"imports: {totals['import']:.0f} ms while importing the module, {totals['event']:.0f} ms during "
              f"the first event (top-level cumulative, under -X importtime; {len(rows)} modules)"),
             f"top {TOP_IMPORTS} cumulative:"]
    lines += [f"  {c / 1000:8.1f} ms  (self {s / 1000:6.1f} ms)  {phase:<6}  {name}" for c, s, name, phase, _ in top]
    return "\n".join(lines), {"import_ms": totals["import"], "event_ms": totals["event"],
                              "top": [{"module": n, "cumulative_ms": c / 1000, "phase": p} for c, _, n, p, _ in top]}


# ---- the benchmark ---------------------------------------------------------------------------

def cold_start(rounds: int, importtime: bool = True, warm_up: bool = True) -> list:
    """The cold start figures: per function, whole / minimal (target <= 1.5). `warm_up`: an
    untimed round first (always when the compiled-module cache is still empty)."""
    from tests.benchmarks.figures import RESULTS
    from tests.benchmarks.run import scratch_database
    from tests.conftest import _use_database, platform_environment

    print(f"cold start: {rounds} rounds; per function: import ms, first event ms, whole = import + event, "
          f"against the minimal handler (boto3 + PyMySQL, connect, one SELECT)", flush=True)
    cache = RESULTS / "pycache"
    warm_up = warm_up or not cache.is_dir() or not any(cache.iterdir())
    cache.mkdir(parents=True, exist_ok=True)
    with scratch_database() as url, platform_environment() as platform:
        _use_database(url)
        functions = platform.runtime.model.functions
        maker = EventMaker(platform)
        missing = sorted(set(functions) - set(maker.describe))
        if missing:
            raise SystemExit(f"no cold-start event for {', '.join(missing)}: give each its most common event in "
                             "tests/benchmarks/coldstart.py (EventMaker.describe and jobs)")
        maker.open_socket()
        envs = {lid: lambda_environment(fn, functions) for lid, fn in functions.items()}
        minimal_env = {k: v for k, v in envs[next(iter(envs))].items()
                       if not k.startswith(("AWS_LAMBDA", "_HANDLER", "LAMBDA_TASK_ROOT"))}
        minimal_root = RESULTS / "minimal"  # an empty task root
        minimal_root.mkdir(exist_ok=True)
        minimal = minimal_job(url)
        floor = {**minimal, "also": list(FLOOR_IMPORTS)}
        order = list(functions)
        runs: dict[str, list[Run]] = {lid: [] for lid in order}
        minimal_runs: list[Run] = []
        floor_runs: list[Run] = []
        try:
            first = 0 if warm_up else 1
            for round_no in range(first, rounds + 1 + (1 if importtime else 0)):  # warm-up, timed, importtime
                warm, profile = round_no == 0, importtime and round_no == rounds + 1
                with _quiet():  # the set-up's own warnings (e.g. no ED console listening) are not news
                    jobs = maker.jobs()
                shift = round_no % len(order)
                for n, lid in enumerate(order[shift:] + order[:shift]):
                    if n % MINIMAL_EVERY == 0 and not profile:
                        run = spawn(minimal, minimal_root, minimal_env)
                        if not warm:
                            minimal_runs.append(run)
                        run = spawn(floor, minimal_root, minimal_env)
                        if not warm:
                            floor_runs.append(run)
                    fn = functions[lid]
                    run = spawn(function_job(fn, jobs[lid]), fn.code_uri, envs[lid], importtime=profile)
                    if jobs[lid].verify:
                        jobs[lid].verify()
                    if profile:
                        _save_importtime(lid, run)
                    elif not warm:
                        runs[lid].append(run)
                print(f"  round {round_no}{' (warm-up, not counted)' if warm else ''}"
                      f"{' (-X importtime, not counted)' if profile else ''} done", flush=True)
            if importtime:
                profile_run = spawn(minimal, minimal_root, minimal_env, importtime=True)
                _save_importtime("minimal", profile_run)
        finally:
            maker.close_socket()
    return _figures(functions, maker.describe, runs, minimal_runs, floor_runs)


def _save_importtime(name: str, run: Run) -> None:
    from tests.benchmarks.figures import RESULTS

    summary, _ = importtime_summary(run.stderr)
    raw = "\n".join(line for line in run.stderr.splitlines()
                    if line.startswith(("import time:", "bench-phase")))
    (RESULTS / f"importtime-{name}.txt").write_text(
        f"{name}: python -X importtime, import + first event (one run; times inflated by the profiling)\n"
        f"{summary}\n\nraw -X importtime output (indent = nesting; after 'bench-phase: first event' the imports "
        f"the first event paid for):\n{raw}\n", encoding="utf-8")
    print(f"  -X importtime {name}: " + summary.replace("\n", "\n    "), flush=True)


def _median(runs: list[Run], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def _figures(functions, describe, runs: dict[str, list[Run]], minimal_runs: list[Run],
             floor_runs: list[Run]) -> list:
    from tests.benchmarks.figures import Figure

    m = {k: _median(minimal_runs, k) for k in ("import_ms", "event_ms", "whole_ms", "startup_ms", "wall_ms")}
    minimal_whole = m["whole_ms"]
    figures = [Figure(
        "cold_start.minimal", "cold start, minimal handler (import + connect + SELECT)", minimal_whole, "ms",
        detail=f"import {m['import_ms']:.0f} ms, connect + SELECT {m['event_ms']:.0f} ms; interpreter start "
               f"{m['startup_ms']:.0f} ms; spawn to result {m['wall_ms']:.0f} ms; {len(minimal_runs)} runs",
        data={**m, "runs": len(minimal_runs)})]
    f = {k: _median(floor_runs, k) for k in ("import_ms", "event_ms", "whole_ms")}
    also = ", ".join(FLOOR_IMPORTS)
    figures.append(Figure(
        "cold_start.floor", f"cold start floor: minimal handler + import {also} (/ minimal)",
        f["whole_ms"] / minimal_whole, "x",
        detail=f"whole {f['whole_ms']:.0f} ms (import {f['import_ms']:.0f} ms); the lowest ratio a function whose "
               f"first event calls AWS and reads the database through {also} can reach; {len(floor_runs)} runs",
        data={**f, "minimal_ms": minimal_whole, "runs": len(floor_runs), "imports": list(FLOOR_IMPORTS)}))
    print(f"  {'function':<30} {'import':>8} {'event':>8} {'whole':>8} {'ratio':>6} {'start':>6} {'wall':>7}  event")
    for lid in functions:
        r = runs[lid]
        data = {k: _median(r, k) for k in ("import_ms", "event_ms", "whole_ms", "startup_ms", "wall_ms")}
        ratio = data["whole_ms"] / minimal_whole
        print(f"  {lid:<30} {data['import_ms']:8.0f} {data['event_ms']:8.0f} {data['whole_ms']:8.0f} {ratio:6.2f} "
              f"{data['startup_ms']:6.0f} {data['wall_ms']:7.0f}  {describe[lid]}")
        figures.append(Figure(
            f"cold_start.{lid}", f"cold start {lid} (whole / minimal)", ratio, "x", "<=", 1.5,
            detail=f"whole {data['whole_ms']:.0f} ms (import {data['import_ms']:.0f} ms, first event "
                   f"{data['event_ms']:.0f} ms) vs minimal {minimal_whole:.0f} ms",
            data={**data, "minimal_ms": minimal_whole, "runs": len(r), "event": describe[lid]}))
    print(f"  (ms; each column the median of {len(next(iter(runs.values())))} runs, the minimal handler's of "
          f"{len(minimal_runs)}; start = interpreter start to the child's first line; wall = spawn to exit, seen "
          f"by the parent; minimal handler: {minimal_whole:.0f} ms whole)", flush=True)
    return figures
