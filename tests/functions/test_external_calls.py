"""Every call to an external system is recorded and can be looked up (AS3): real flows through
the functions leave one record per call naming their order, case or patient, the system, the
operation, the outcome and the provider's code, and nothing secret or personal; the back
office searches them by each filter, only IT administration and the super admin may, every
search is audited; old records expire; recording never breaks the call it records."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import random
import uuid

import pytest
import sqlalchemy as sa

from hospital import external_calls
from hospital.adapters.his import HisClient
from hospital.auth import roles as R
from hospital.auth import sessions
from hospital.db import engine, reset_engine, tables
from hospital.errors import UpstreamUnavailable
from hospital.timeutil import iso_utc, utcnow
from infra import devenv
from tests.conftest import ROOT, api_event, call, make_patient
from tests.functions.test_triage_link import new_case, push
from tests.outpatient.support import archive, bind, book, doctor_with_slots, hospital_today
from tests.payments.support import (
    deliver_queued,
    order_row,
    patient_pays,
    patient_with_bill,
    pay,
    wait_status,
)

PATH = "/admin/logs/external-calls"
c = tables.external_calls.c


def records(*where) -> list:
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.external_calls).where(*where).order_by(c.at, c.id)).all()


def token_of(platform, role: str) -> tuple[int, str]:
    from hospital.auth.tokens import Principal, issue_access_token

    user, _ = make_patient(platform)
    if role != R.PATIENT:
        sessions.grant_role(user.user_id, role)
    return user.user_id, issue_access_token(Principal(user_id=user.user_id, roles=frozenset({role})))


def search(functions, token: str, query: dict | None = None) -> tuple[int, dict]:
    event = api_event("GET", PATH, token=token)
    if query:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return call(functions, "LogLookupFunction", event)


def correlated(correlation_id: str) -> dict:
    return {"X-Correlation-Id": correlation_id}


def his(platform, timeout=(2, 5)) -> HisClient:
    return HisClient(platform.his.url, devenv.HIS_DEV_KEY, timeout=timeout)


@pytest.fixture
def his_faults(platform):
    platform.his.clear_faults()
    yield platform.his
    platform.his.clear_faults()


# ---- real flows leave their records --------------------------------------------------------------

def test_a_paid_order_leaves_a_record_of_each_call_naming_its_order_and_patient_AS3(db, platform, functions):
    principal, token, bill = patient_with_bill(platform)
    cid = f"as3-{uuid.uuid4().hex}"
    status, order = call(functions, "PaymentsApiFunction", api_event(
        "POST", "/payments/orders", token=token, body={"kind": bill["bill_type"], "his_ref": bill["bill_no"]},
        headers=correlated(cid)))
    assert status == 201, order
    order_id = order["order_id"]
    # The bill is asked for before the order exists: the record names the patient only.
    [fee] = records(c.correlation_id == cid)
    assert (fee.system, fee.operation, fee.outcome, fee.http_status, fee.error_code) == (
        "his", "FEE_QUERY", "ok", 200, None)
    assert (fee.user_id, fee.order_id, fee.case_id, fee.function) == (principal.user_id, None, None, "payments_api")
    assert fee.latency_ms is not None and fee.latency_ms >= 0
    assert abs((fee.at - utcnow()).total_seconds()) < 60

    assert pay(functions, token, order_id)[0] == 200
    patient_pays(platform, order_id)
    wait_status(order_id, "paid")
    deliver_queued(platform, functions, "PaymentEventsQueue", until=lambda: order_row(order_id).status == "confirmed")

    made = [(r.system, r.operation, r.outcome, r.http_status, r.user_id, r.function)
            for r in records(c.order_id == order_id)]
    assert ("wechatpay_v3", "POST /v3/pay/transactions/jsapi", "ok", 200, principal.user_id, "payments_api") in made
    assert ("his", "PAY_CONFIRM", "ok", 200, principal.user_id, "payment_events") in made
    assert all(r.correlation_id for r in records(c.order_id == order_id))


def test_a_booking_records_its_his_calls_for_the_patient_and_keeps_nothing_personal_AS3(db, platform, functions):
    principal, token = make_patient(platform)
    record = archive(platform)
    status, card = bind(functions, token, record)
    assert status == 201, card
    doctor = doctor_with_slots(platform, hospital_today() + dt.timedelta(days=1))
    status, held = book(functions, token, card["card_id"], doctor)
    assert status == 201, held

    mine = records(c.user_id == principal.user_id)
    assert [r.operation for r in mine] == ["ARCHIVE_QUERY", "CARD_BIND", "SLOT_QUERY", "DOCTOR_QUERY", "DEPT_QUERY",
                                           "SLOT_HOLD"]
    assert {(r.system, r.outcome, r.http_status, r.function) for r in mine} == {
        ("his", "ok", 200, "outpatient_api")}
    # The archive lookup sent the name, identity card number and phone; the hold, the HIS's
    # patient id: the records hold none of them, nor the card number the HIS answered.
    personal = {record["name"], record["id_no"], record["phone"], record["card_no"], record["patient_id"]}
    assert not any(value in text for text in _texts_of(mine) for value in personal)


def test_a_triage_push_is_recorded_under_its_case_and_a_failed_one_with_the_partner_s_code_AS3(
        db, platform, functions):
    case_id, _ = new_case(functions, platform)
    platform.triage.clear_faults()
    assert push(functions, case_id)["batchItemFailures"] == []
    platform.triage.inject_fault("http503", count=1)
    try:
        assert len(push(functions, case_id)["batchItemFailures"]) == 1
    finally:
        platform.triage.clear_faults()

    rows = records(c.case_id == case_id)
    operation = f"PUT /api/v1/prehospital-cases/{case_id}"
    assert [(r.system, r.operation, r.outcome, r.http_status, r.error_code, r.function) for r in rows] == [
        ("triage", operation, "ok", 201, None, "triage_link"),
        ("triage", operation, "error", 503, "unavailable", "triage_link")]
    assert all(r.order_id is None and r.user_id is None for r in rows)


def test_a_staff_alert_is_recorded_under_its_case_without_the_access_token_AS3(db, platform, functions):
    from hospital import wechat_tokens
    from tests.functions.test_rescue_dispatch import staff_member
    from tests.functions.test_staff_alerts import known_to_wechat

    case_id, _ = new_case(functions, platform)
    member, _ = staff_member(platform, "staff")
    openid = known_to_wechat(platform, member.user_id)
    wechat_tokens.forget_held()  # the container reads (or fetches) the token for this alert
    record = {"messageId": str(uuid.uuid4()), "receiptHandle": "rh", "messageAttributes": {},
              "attributes": {"ApproximateReceiveCount": "1"},
              "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:hospital-dev-notifications",
              "body": json.dumps({"message_id": f"m-{uuid.uuid4().hex}", "type": "notify.staff_alert",
                                  "data": {"case_id": case_id, "user_id": member.user_id}})}
    assert functions.invoke("NotificationsFunction", {"Records": [record]}).result == {"batchItemFailures": []}

    rows = records(c.case_id == case_id)
    sent = [r for r in rows if r.operation == "POST /cgi-bin/message/subscribe/send"]
    assert [(r.system, r.outcome, r.http_status, r.function, r.user_id) for r in sent] == [
        ("wechat", "ok", 200, "notifications", None)]  # a user id in a record is the patient's
    token = wechat_tokens.access_token(platform.mini_program_app_id,
                                       platform.wechat_secrets[platform.mini_program_app_id], None)
    assert not any(value in text for text in _texts_of(rows) for value in (token, openid))


def test_a_sign_in_records_the_wechat_call_without_its_secret_code_or_query_AS3(db, platform, functions):
    openid = f"o-as3-{uuid.uuid4().hex[:8]}"
    code = platform.wechat.mint_login_code(platform.mini_program_app_id, openid=openid)
    cid = f"as3-{uuid.uuid4().hex}"
    status, _ = call(functions, "AuthFunction", api_event(
        "POST", "/auth/wechat/mini-program", body={"code": code["code"]}, headers=correlated(cid)))
    assert status == 200
    [signed_in] = records(c.correlation_id == cid)
    assert (signed_in.system, signed_in.operation, signed_in.outcome, signed_in.http_status, signed_in.function) == (
        "wechat", "GET /sns/jscode2session", "ok", 200, "auth")
    secrets = {code["code"], openid, *devenv.wechat_dev_secrets().values()}
    assert not any(secret in text for text in _texts_of([signed_in]) for secret in secrets)


# ---- refusals and failures, with the provider's code -------------------------------------------------

def test_a_refused_call_is_recorded_with_the_provider_s_error_code_AS3(db, platform, functions):
    principal, token = make_patient(platform)
    cid = f"as3-{uuid.uuid4().hex}"
    status, body = call(functions, "PaymentsApiFunction", api_event(
        "POST", "/payments/orders", token=token, body={"kind": "registration", "his_ref": f"B{uuid.uuid4().hex[:8]}"},
        headers=correlated(cid)))
    assert status == 404, body
    [refused] = records(c.correlation_id == cid)
    assert (refused.operation, refused.outcome, refused.http_status, refused.error_code, refused.user_id) == (
        "FEE_QUERY", "refused", 200, "E_NO_BILL", principal.user_id)


@pytest.mark.parametrize("mode, status, code", [("http500", 500, None), ("errcode", 200, "E_SYSTEM"),
                                                ("garbled", 200, "garbled")])
def test_a_failing_partner_is_recorded_as_an_error_with_what_it_answered_AS3(db, platform, functions, his_faults,
                                                                           mode, status, code):
    _, token, bill = patient_with_bill(platform)
    his_faults.inject_trade_fault("FEE_QUERY", mode, count=3)  # the query's retries too
    cid = f"as3-{uuid.uuid4().hex}"
    answered, body = call(functions, "PaymentsApiFunction", api_event(
        "POST", "/payments/orders", token=token, body={"kind": bill["bill_type"], "his_ref": bill["bill_no"]},
        headers=correlated(cid)))
    assert answered == 503, body
    [failed] = records(c.correlation_id == cid)  # one record, its retries included
    assert (failed.operation, failed.outcome, failed.http_status, failed.error_code) == (
        "FEE_QUERY", "error", status, code)


def test_wechat_pay_refusals_are_recorded_with_their_codes_v3_and_v2_AS3(db, platform):
    from hospital.adapters.wechatpay_v3 import WeChatPayError
    from hospital.payments import merchants

    order_id = uuid.uuid4().hex
    with external_calls.recorded(), external_calls.concerning(order_id=order_id):
        for mchid in (devenv.DEV_V3_MCHID, devenv.DEV_V2_MCHID):
            with pytest.raises(WeChatPayError):
                merchants.client(merchants.by_mchid(mchid)).query_order(order_id)  # WeChat Pay has no such order
    made = records(c.order_id == order_id)
    assert [(r.system, r.operation, r.outcome, r.http_status, r.error_code) for r in made] == [
        ("wechatpay_v3", f"GET /v3/pay/transactions/out-trade-no/{order_id}", "refused", 404, "ORDER_NOT_EXIST"),
        ("wechatpay_v2", "POST /pay/orderquery", "refused", 200, "ORDERNOTEXIST")]


def test_a_call_that_times_out_is_recorded_as_a_timeout_AS3(db, platform, his_faults):
    his_faults.inject_trade_fault("DEPT_QUERY", "timeout", count=3, seconds=1.0)
    case_id = uuid.uuid4().hex
    with external_calls.recorded() as held, external_calls.concerning(case_id=case_id), \
            pytest.raises(UpstreamUnavailable):
        his(platform, timeout=(1, 0.3)).departments()
    [timed_out] = held.calls
    assert (timed_out.operation, timed_out.outcome, timed_out.http_status, timed_out.error_code) == (
        "DEPT_QUERY", "timeout", None, "ReadTimeout")
    [row] = records(c.case_id == case_id)
    assert (row.outcome, row.error_code) == ("timeout", "ReadTimeout")


# ---- recording never breaks the call ---------------------------------------------------------------

def test_records_that_cannot_be_written_leave_the_call_and_its_answer_as_they_were_AS3(
        platform, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="hospital.external_calls")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'no-tables.db'}")  # no external_calls table
    reset_engine()
    try:
        with external_calls.recorded() as held:
            departments = his(platform).departments()
    finally:
        monkeypatch.undo()
        reset_engine()
    assert departments and len(held.calls) == 1
    assert [r.message for r in caplog.records] == ["external calls not recorded"]


def test_a_record_that_cannot_be_made_leaves_the_call_as_it_was_AS3(db, platform, caplog):
    caplog.set_level(logging.WARNING, logger="hospital.external_calls")
    with external_calls.recorded() as held, external_calls.concerning(user_id="not a user id"):  # type: ignore[arg-type]
        departments = his(platform).departments()
    assert departments and held.calls == []
    assert "an external call could not be recorded" in [r.message for r in caplog.records]


# ---- the back office's search ------------------------------------------------------------------------

@dataclasses.dataclass
class Window:
    """Records of the test's own, in a stretch of time no other test writes in."""

    start: dt.datetime
    order: str
    case: str
    user: int
    ids: list[int] = dataclasses.field(default_factory=list)

    def query(self, **filters) -> dict:
        return {"from": iso_utc(self.start), "to": iso_utc(self.start + dt.timedelta(minutes=1)), **filters}


@pytest.fixture
def window(db) -> Window:
    window = Window(dt.datetime(2001, 1, 1) + dt.timedelta(minutes=random.randrange(10**6)), uuid.uuid4().hex,
                    uuid.uuid4().hex, random.randrange(10**9, 10**12))
    order, case, user, other_user = window.order, window.case, window.user, window.user + 1
    rows = [
        {"system": "his", "operation": "FEE_QUERY", "order_id": None, "case_id": None, "user_id": user,
         "outcome": "ok", "http_status": 200, "error_code": None},
        {"system": "wechatpay_v3", "operation": "POST /v3/pay/transactions/jsapi", "order_id": order, "case_id": None,
         "user_id": user, "outcome": "refused", "http_status": 400, "error_code": "ORDER_CLOSED"},
        {"system": "triage", "operation": f"PUT /api/v1/prehospital-cases/{case}", "order_id": None,
         "case_id": case, "user_id": None, "outcome": "error", "http_status": 503, "error_code": "unavailable"},
        {"system": "his", "operation": "PAY_CONFIRM", "order_id": order, "case_id": None, "user_id": other_user,
         "outcome": "timeout", "http_status": None, "error_code": "ReadTimeout"},
    ]
    with engine().begin() as conn:
        for second, row in enumerate(rows, start=1):
            window.ids.append(conn.execute(tables.external_calls.insert().values(
                at=window.start + dt.timedelta(seconds=second), function="test", correlation_id=f"w-{second}",
                latency_ms=12, **row)).inserted_primary_key[0])
    return window


def found(functions, token, query) -> list[int]:
    status, body = search(functions, token, query)
    assert status == 200, body
    assert body["count"] == len(body["items"])
    return [item["id"] for item in body["items"]]


def test_each_filter_narrows_the_search_newest_first_AS3(window, platform, functions):
    _, token = token_of(platform, R.IT_ADMIN)
    one, two, three, four = window.ids
    w = window
    assert found(functions, token, w.query()) == [four, three, two, one]
    assert found(functions, token, w.query(order_id=w.order)) == [four, two]
    assert found(functions, token, w.query(case_id=w.case)) == [three]
    assert found(functions, token, w.query(user_id=str(w.user))) == [two, one]
    assert found(functions, token, w.query(system="his")) == [four, one]
    assert found(functions, token, w.query(outcome="timeout")) == [four]
    assert found(functions, token, w.query(order_id=w.order, outcome="refused")) == [two]
    assert found(functions, token, {**w.query(), "from": iso_utc(w.start + dt.timedelta(seconds=2.5))}) == [four,
                                                                                                             three]
    assert found(functions, token, {**w.query(), "to": iso_utc(w.start + dt.timedelta(seconds=2.5))}) == [two, one]
    assert found(functions, token, w.query(limit="1")) == [four]
    # Outside the filters' reach: an order no record names.
    assert found(functions, token, w.query(order_id=uuid.uuid4().hex)) == []

    [item] = search(functions, token, w.query(order_id=w.order, outcome="refused"))[1]["items"]
    assert item == {"id": two, "at": iso_utc(w.start + dt.timedelta(seconds=2)), "system": "wechatpay_v3",
                    "operation": "POST /v3/pay/transactions/jsapi", "outcome": "refused", "http_status": 400,
                    "error_code": "ORDER_CLOSED", "latency_ms": 12, "order_id": w.order, "case_id": None,
                    "user_id": w.user, "function": "test", "correlation_id": "w-2"}


def test_a_time_with_an_offset_is_read_as_that_instant_AS3(window, platform, functions):
    _, token = token_of(platform, R.SUPER_ADMIN)
    beijing = dt.timezone(dt.timedelta(hours=8))
    since = (window.start + dt.timedelta(seconds=2.5)).replace(tzinfo=dt.UTC).astimezone(beijing).isoformat()
    assert found(functions, token, {**window.query(), "from": since}) == window.ids[:1:-1]


def test_a_search_is_audited_with_its_filters_and_count_AS3(window, platform, functions):
    user_id, token = token_of(platform, R.IT_ADMIN)
    assert found(functions, token, window.query(order_id=window.order)) == [window.ids[3], window.ids[1]]
    with engine().connect() as conn:
        [audit] = conn.execute(sa.select(tables.audit_log).where(tables.audit_log.c.actor_user_id == user_id)).all()
    assert (audit.action, audit.result, audit.actor_roles) == ("external_calls.searched", "ok", "it_admin,patient")
    assert audit.details["count"] == 2
    assert audit.details["filters"] == {"order_id": window.order, "from": iso_utc(window.start),
                                        "to": iso_utc(window.start + dt.timedelta(minutes=1))}


BAD_FILTERS = [
    ({"user_id": "abc"}, "user_id"), ({"user_id": "0"}, "user_id"), ({"user_id": "１２"}, "user_id"),
    ({"order_id": "x" * 33}, "order_id"), ({"order_id": "a;b"}, "order_id"), ({"case_id": "../x"}, "case_id"),
    ({"system": "HIS"}, "system"), ({"system": "his gateway"}, "system"), ({"outcome": "fine"}, "outcome"),
    ({"from": "yesterday"}, "from"), ({"to": "2026-11-26T08:00:00"}, "to"),
    ({"from": "2026-11-27T00:00:00Z", "to": "2026-11-26T00:00:00Z"}, "to"),
    ({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"), ({"order": "abc"}, "order"),
]


def test_a_bad_filter_is_refused_naming_it_and_nothing_is_written_AS3(db, platform, functions):
    user_id, token = token_of(platform, R.IT_ADMIN)
    for query, field in BAD_FILTERS:
        status, body = search(functions, token, query)
        assert (status, body["error"]["field"]) == (400, field), (query, body)
    with engine().connect() as conn:
        audited = conn.execute(sa.select(sa.func.count()).select_from(tables.audit_log)
                               .where(tables.audit_log.c.actor_user_id == user_id)).scalar_one()
    assert audited == 0


def test_only_it_administration_and_the_super_admin_may_search_AS3(db, platform, functions):
    for role in sorted(R.ALL):
        _, token = token_of(platform, role)
        status, body = search(functions, token, {"limit": "1"})
        assert status == (200 if role in (R.IT_ADMIN, R.SUPER_ADMIN) else 403), (role, body)
    assert search(functions, "not-a-token")[0] == 401


# ---- expiry ------------------------------------------------------------------------------------------

def test_the_schedule_deletes_only_the_records_past_their_retention_AS3(db, platform, functions, monkeypatch):
    monkeypatch.setenv("EXTERNAL_CALL_RETENTION_DAYS", "7")
    order = uuid.uuid4().hex
    now = utcnow()
    ages = {"past": dt.timedelta(days=7, minutes=5), "kept": dt.timedelta(days=6, hours=23), "new": dt.timedelta()}
    with engine().begin() as conn:
        for name, age in ages.items():
            conn.execute(tables.external_calls.insert().values(
                at=now - age, system="his", operation=name, order_id=order, outcome="ok"))
    event = json.loads((ROOT / "events/external_calls_expiry/hourly.json").read_text())

    invocation = functions.invoke("ExternalCallsExpiryFunction", event)

    assert invocation.ok, invocation.error_payload
    assert invocation.result["retention_days"] == 7 and invocation.result["deleted"] >= 1
    assert [r.operation for r in records(c.order_id == order)] == ["kept", "new"]
    assert functions.invoke("ExternalCallsExpiryFunction", event).result["deleted"] == 0


def _texts_of(rows) -> set[str]:
    return {str(value) for row in rows for value in row._mapping.values() if value is not None}
