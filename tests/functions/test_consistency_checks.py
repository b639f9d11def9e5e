"""Consistency checks (AS4): each broken invariant is reported with the rows that break it,
by the back office now and by the daily schedule, and stored; repaired, it is no longer
reported; IT administration sees every check, finance the money's; every call is audited.

The code cannot produce these states (that is what the checks are for), so each test makes
real orders, refunds, registrations and cases through the functions and then breaks them
straight in the database, as a fault would, and repairs them at the end: the database is
shared by the session, and a ledger entry cannot be taken back on MySQL/MariaDB."""
import contextlib
import json
import logging
import uuid

import sqlalchemy as sa

from hospital.auth import sessions
from hospital.auth.tokens import Principal, issue_access_token
from hospital.db import engine, tables
from hospital.payments import ledger
from hospital.timeutil import utcnow
from tests.conftest import ROOT, api_event, call, make_patient
from tests.functions.test_rescue_dispatch import CALL, d, staff_member, vehicle
from tests.outpatient.test_booking import booked
from tests.payments.support import create_order, order_row, patient_with_bill
from tests.payments.test_refunds import confirmed_order

MONEY = ["ledger_vs_orders", "paid_without_his_record", "registration_not_booked", "refund_without_payment",
         "refunds_above_paid"]
EVERY = [*MONEY, "case_ended_with_open_dispatch"]


def holder(platform, role):
    user, _ = make_patient(platform)
    sessions.grant_role(user.user_id, role)
    return user.user_id, issue_access_token(Principal(user_id=user.user_id, roles=frozenset({role})))


def consistency(functions, token, method, path, resource=None, params=None, query=None):
    event = api_event(method, path, resource=resource, token=token, path_parameters=params,
                      body={} if method == "POST" else None)
    if query:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return call(functions, "ConsistencyAdminFunction", event)


def run_now(functions, token):
    status, report = consistency(functions, token, "POST", "/admin/consistency/runs")
    assert status == 201, report
    return report


def rows_of(report, check) -> list[dict]:
    [finding] = [f for f in report["findings"] if f["check"] == check]
    return finding["rows"]


def set_order(order_id, **values):
    with engine().begin() as conn:
        conn.execute(tables.payment_orders.update().where(tables.payment_orders.c.id == order_id).values(**values))


def add_refund_row(order_id, amount_fen, status) -> str:
    refund_id = uuid.uuid4().hex
    with engine().begin() as conn:
        conn.execute(tables.payment_refunds.insert().values(
            id=refund_id, order_id=order_id, out_refund_no="RF" + uuid.uuid4().hex[:30], route="wechat",
            amount_fen=amount_fen, reason="fault", status=status, created_at=utcnow(), updated_at=utcnow()))
    return refund_id


def drop_refund_rows(*refund_ids):
    with engine().begin() as conn:
        conn.execute(tables.payment_refunds.delete().where(tables.payment_refunds.c.id.in_(refund_ids)))


def unpaid_order(platform, functions) -> str:
    _, token, bill = patient_with_bill(platform)
    return create_order(functions, token, bill)[1]["order_id"]


def ended_case_with_open_dispatch(platform, functions) -> tuple[str, str]:
    """(case id, dispatch id): a dispatched case a fault marked completed, its dispatch still open."""
    _, dtoken = staff_member(platform, "dispatcher")
    crew, _ = staff_member(platform, "staff")
    case_id = d(functions, dtoken, "POST", body=CALL)[1]["case_id"]
    d(functions, dtoken, "POST", case_id, "/accept", {})
    status, answer = d(functions, dtoken, "POST", case_id, "/dispatch",
                       {"vehicle_id": vehicle(), "crew_user_ids": [crew.user_id]})
    assert status == 200, answer
    with engine().begin() as conn:
        conn.execute(tables.rescue_cases.update().where(tables.rescue_cases.c.id == case_id)
                     .values(status="completed"))
        dispatch_id = conn.execute(sa.select(tables.dispatches.c.id)
                                   .where(tables.dispatches.c.case_id == case_id)).scalar_one()
    return case_id, dispatch_id


def close_dispatch(dispatch_id):
    with engine().begin() as conn:
        conn.execute(tables.dispatches.update().where(tables.dispatches.c.id == dispatch_id)
                     .values(closed_at=utcnow()))


def audits(user_id) -> list[tuple]:
    with engine().connect() as conn:
        return [(r.action, r.target_id) for r in conn.execute(
            sa.select(tables.audit_log).where(tables.audit_log.c.actor_user_id == user_id,
                                              tables.audit_log.c.action.like("consistency.%"))
            .order_by(tables.audit_log.c.id))]


def test_each_broken_invariant_is_reported_with_its_rows_and_no_longer_once_repaired_AS4(db, platform, functions):
    with contextlib.ExitStack() as repairs:  # each break is undone, whatever happens (the database is shared)
        # the ledger and an order disagree: a fault rewrote what the order was paid
        unbalanced, _ = confirmed_order(platform, functions)
        set_order(unbalanced, paid_fen=2400)
        repairs.callback(set_order, unbalanced, paid_fen=2500)
        # a confirmed order with no receipt of the HIS
        no_receipt, _ = confirmed_order(platform, functions)
        repairs.callback(set_order, no_receipt, his_confirmation=order_row(no_receipt).his_confirmation)
        set_order(no_receipt, his_confirmation=None)
        # a booked registration whose order lost the registration number the HIS gave it
        *_, held = booked(platform, functions)
        answer = order_row(held["order_id"]).his_confirmation
        repairs.callback(set_order, held["order_id"], his_confirmation=answer)
        set_order(held["order_id"],
                  his_confirmation={k: v for k, v in answer.items() if k not in ("reg_no", "visit_no")})
        # a refund row of an order never paid; a refund entry of the ledger for an order it holds no payment
        # of (the order counts it, so the ledger still balances, and the entry stays: it cannot be deleted)
        orphan_refund = add_refund_row(unpaid_order(platform, functions), 100, "requested")
        repairs.callback(drop_refund_rows, orphan_refund)
        orphan_entry_order = unpaid_order(platform, functions)
        with engine().begin() as conn:
            ledger.book(conn, order_id=orphan_entry_order, entry_type=ledger.REFUND, channel="wechat",
                        amount_fen=-100, dedupe_key=f"test:orphan:{orphan_entry_order}")
        set_order(orphan_entry_order, refunded_fen=100)
        # more refunded than paid
        overpaid, _ = confirmed_order(platform, functions)
        repairs.callback(drop_refund_rows, add_refund_row(overpaid, 2600, "succeeded"))
        # a completed case whose dispatch is still open
        case_id, dispatch_id = ended_case_with_open_dispatch(platform, functions)
        repairs.callback(close_dispatch, dispatch_id)

        admin_id, admin = holder(platform, "it_admin")
        report = run_now(functions, admin)
        assert report["source"] == "back_office" and report["requested_by"] == admin_id
        assert report["broken"] == EVERY
        assert [f["check"] for f in report["findings"]] == EVERY
        assert {"order_id": unbalanced, "order_paid_fen": 2400, "ledger_paid_fen": 2500, "order_refunded_fen": 0,
                "ledger_refunded_fen": 0} in rows_of(report, "ledger_vs_orders")
        assert no_receipt in [r["order_id"] for r in rows_of(report, "paid_without_his_record")]
        assert [(r["status"], r["order_status"]) for r in rows_of(report, "registration_not_booked")
                if r["registration_id"] == held["registration_id"]] == [("held", "confirmed")]
        orphans = rows_of(report, "refund_without_payment")
        assert orphan_refund in [r.get("refund_id") for r in orphans if "ledger_entry_id" not in r]
        assert orphan_entry_order in [r["order_id"] for r in orphans if "ledger_entry_id" in r]
        assert {"order_id": overpaid, "status": "confirmed", "paid_fen": 2500, "refunded_fen": 0,
                "refunds_fen": 2600} in rows_of(report, "refunds_above_paid")
        assert [(r["case_id"], r["case_status"]) for r in rows_of(report, "case_ended_with_open_dispatch")
                if r["dispatch_id"] == dispatch_id] == [(case_id, "completed")]
        assert "13912345678" not in json.dumps(report, ensure_ascii=False)  # no personal field in any row

    # repaired (all but the ledger entry), none of them is reported again
    again = run_now(functions, admin)
    assert unbalanced not in [r["order_id"] for r in rows_of(again, "ledger_vs_orders")]
    assert no_receipt not in [r["order_id"] for r in rows_of(again, "paid_without_his_record")]
    assert held["registration_id"] not in [r["registration_id"] for r in rows_of(again, "registration_not_booked")]
    assert orphan_refund not in [r.get("refund_id") for r in rows_of(again, "refund_without_payment")]
    assert overpaid not in [r["order_id"] for r in rows_of(again, "refunds_above_paid")]
    assert dispatch_id not in [r["dispatch_id"] for r in rows_of(again, "case_ended_with_open_dispatch")]

    # both are stored, newest first; one is read back with its rows
    status, listed = consistency(functions, admin, "GET", "/admin/consistency/reports", query={"limit": "2"})
    assert status == 200
    assert [item["report_id"] for item in listed["items"]] == [again["report_id"], report["report_id"]]
    assert all("rows" not in f for item in listed["items"] for f in item["findings"])
    assert listed["items"][1]["broken"] == EVERY
    status, stored = consistency(functions, admin, "GET", f"/admin/consistency/reports/{report['report_id']}",
                                 "/admin/consistency/reports/{report_id}", {"report_id": report["report_id"]})
    assert status == 200
    assert stored["findings"] == report["findings"]
    assert audits(admin_id) == [("consistency.checked", report["report_id"]),
                                ("consistency.checked", again["report_id"]), ("consistency.reports_viewed", None),
                                ("consistency.report_viewed", report["report_id"])]


def test_finance_sees_the_money_s_checks_and_it_administration_every_check_AS4(db, platform, functions):
    case_id, dispatch_id = ended_case_with_open_dispatch(platform, functions)
    try:
        finance_id, finance = holder(platform, "finance")
        report = run_now(functions, finance)
        assert [f["check"] for f in report["findings"]] == MONEY
        assert "case_ended_with_open_dispatch" not in report["broken"]
        _, admin = holder(platform, "it_admin")
        status, stored = consistency(functions, admin, "GET", f"/admin/consistency/reports/{report['report_id']}",
                                     "/admin/consistency/reports/{report_id}", {"report_id": report["report_id"]})
        assert status == 200
        assert [f["check"] for f in stored["findings"]] == EVERY  # every check ran; finance was shown its own
        assert case_id in [r["case_id"] for r in rows_of(stored, "case_ended_with_open_dispatch")]
        status, listed = consistency(functions, finance, "GET", "/admin/consistency/reports")
        assert status == 200
        assert {f["check"] for item in listed["items"] for f in item["findings"]} <= set(MONEY)
        for role in ("patient", "staff", "dispatcher", "ed_nurse"):
            _, token = holder(platform, role)
            assert consistency(functions, token, "POST", "/admin/consistency/runs")[0] == 403
        assert audits(finance_id)[0] == ("consistency.checked", report["report_id"])
    finally:
        close_dispatch(dispatch_id)


def test_a_report_id_that_is_not_one_is_400_and_an_unknown_one_404_AS4(db, platform, functions):
    _, admin = holder(platform, "it_admin")
    for spelt in ("not-a-report", "A" * 32, "1" * 33, "１" * 32):
        status, body = consistency(functions, admin, "GET", f"/admin/consistency/reports/{spelt}",
                                   "/admin/consistency/reports/{report_id}", {"report_id": spelt})
        assert (status, body["error"]["field"]) == (400, "report_id"), spelt
    unknown = uuid.uuid4().hex
    status, body = consistency(functions, admin, "GET", f"/admin/consistency/reports/{unknown}",
                               "/admin/consistency/reports/{report_id}", {"report_id": unknown})
    assert (status, body["error"]["field"]) == (404, "report_id")


def test_the_daily_run_stores_its_report_and_warns_naming_the_broken_checks_AS4(db, platform, functions, caplog):
    _, dispatch_id = ended_case_with_open_dispatch(platform, functions)
    event = json.loads((ROOT / "events/consistency_checks/daily.json").read_text())
    try:
        with caplog.at_level(logging.INFO, logger="hospital.reconciliation"):
            invocation = functions.invoke("ConsistencyChecksFunction", event)
    finally:
        close_dispatch(dispatch_id)
    assert invocation.ok, invocation.error_payload
    result = invocation.result
    assert "case_ended_with_open_dispatch" in result["broken"]
    with engine().connect() as conn:
        row = conn.execute(sa.select(tables.consistency_reports)
                           .where(tables.consistency_reports.c.id == result["report_id"])).one()
    assert (row.source, row.requested_by, row.broken) == ("schedule", None, len(result["broken"]))
    [warning] = [r for r in caplog.records if r.getMessage() == "consistency checks found broken invariants"]
    assert warning.levelno == logging.WARNING
    assert warning.broken == result["broken"] and warning.report_id == result["report_id"]
    assert warning.counts["case_ended_with_open_dispatch"] >= 1

