"""AD1: the nightly reconciliation of a day, over the simulators and real databases: a day that
agrees reports nothing; each kind of discrepancy put into a counterpart's statement is found
once, and a rerun replaces the day's findings without duplicates; a payment just before
midnight booked the next day is carried over, not reported twice; one writer per day; a bill
still being made makes the day wait for the schedule; an empty day is a day without findings."""
import concurrent.futures
import datetime as dt

import pytest
import sqlalchemy as sa

from hospital.db import engine, tables
from hospital.errors import Conflict, ValidationFailed
from hospital.reconciliation import reconcile, runs, schedule
from infra import devenv
from tests.reconciliation.support import a_day, beijing_utc, finance_token, move_to, paid_order, refund, the_next_noon


def findings_of(day):
    f = tables.reconciliation_findings.c
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.reconciliation_findings).where(f.bill_date == day)
                            .order_by(f.id)).all()


def found(day):
    return sorted((row.kind, row.source, row.trade_key) for row in findings_of(day))


@pytest.fixture
def edits(platform):
    """The simulators' statement edits, cleared after the test."""
    yield platform
    for simulator in (platform.wechatpay, platform.his):
        simulator.statement_edits.clear()


def test_a_day_that_agrees_everywhere_reports_nothing_and_records_what_it_read(db, platform, functions):
    day = a_day()
    first, second = paid_order(platform, functions), paid_order(platform, functions, "30.00")
    refund_no = refund(platform, functions, second, 1000, finance_token(platform))
    for order_id in (first, second):
        move_to(platform, order_id, day)

    result = reconcile.run(day, "command", now=the_next_noon(day))

    assert result["status"] == "done", result
    assert found(day) == []
    assert result["counts"]["entries"]["wechatpay"] == 3 and result["counts"]["matched"]["wechatpay"] == 3
    assert result["counts"]["entries"]["his"] == 2 and result["counts"]["matched"]["his"] == 2
    bills = [i for i in result["inputs"] if i["source"] == "wechatpay"]
    assert {b["name"].split()[2] for b in bills} == {devenv.DEV_V3_MCHID, devenv.DEV_V2_MCHID}
    v3 = next(b for b in bills if devenv.DEV_V3_MCHID in b["name"])
    assert len(v3["sha256"]) == 64 and v3["entries"] == 3 and v3["bytes"] > 0 and not v3["empty"]
    assert next(b for b in bills if devenv.DEV_V2_MCHID in b["name"])["empty"]  # nothing paid there that day
    assert refund_no.startswith("RF")


def test_every_kind_of_discrepancy_is_found_once_and_a_rerun_replaces_them(db, edits, platform, functions):
    day = a_day()
    orders = {name: paid_order(platform, functions) for name in
              ("agrees", "not_billed", "other_amount", "not_paid_there", "other_app", "not_in_his", "his_amount")}
    for order_id in orders.values():
        move_to(platform, order_id, day)
    bill, his = platform.wechatpay.statement_edits, platform.his.statement_edits
    bill.drop(day, out_trade_no=orders["not_billed"])
    bill.change(day, {"out_trade_no": orders["other_amount"]}, total=2600)
    bill.change(day, {"out_trade_no": orders["not_paid_there"]}, bill_state="REVOKED")
    bill.change(day, {"out_trade_no": orders["other_app"]}, appid="wx-someone-else")
    bill.add(day, {"kind": "payment", "out_trade_no": "STRAY-BILL-1", "total": 800})
    his.drop(day, pay_order_no=orders["not_in_his"])
    his.change(day, {"pay_order_no": orders["his_amount"]}, amount="24.99")
    his.add(day, {"kind": "payment", "pay_order_no": "STRAY-HIS-1", "amount": "7.00"})

    first = reconcile.run(day, "command", now=the_next_noon(day))

    expected = sorted([
        ("missing_provider", "wechatpay", orders["not_billed"]),
        ("amount_mismatch", "wechatpay", orders["other_amount"]),
        ("status_mismatch", "wechatpay", orders["not_paid_there"]),
        ("merchant_mismatch", "wechatpay", orders["other_app"]),
        ("missing_ours", "wechatpay", "STRAY-BILL-1"),
        ("missing_his", "his", orders["not_in_his"]),
        ("amount_mismatch", "his", orders["his_amount"]),
        ("missing_ours", "his", "STRAY-HIS-1"),
    ])
    assert first["status"] == "done" and found(day) == expected
    amounts = {(r.kind, r.source): (r.ours_fen, r.theirs_fen) for r in findings_of(day)}
    assert amounts[("amount_mismatch", "wechatpay")] == (2500, 2600)
    assert amounts[("amount_mismatch", "his")] == (2500, 2499)
    assert first["counts"]["findings"] == {"missing_provider": 1, "amount_mismatch": 2, "status_mismatch": 1,
                                           "merchant_mismatch": 1, "missing_ours": 2, "missing_his": 1}

    # A rerun finds the same: the same rows, no duplicates; a resolved one keeps its note.
    ids = {(r.kind, r.source, r.trade_key): r.id for r in findings_of(day)}
    with engine().begin() as conn:
        conn.execute(tables.reconciliation_findings.update().where(
            tables.reconciliation_findings.c.id == ids[("missing_ours", "his", "STRAY-HIS-1")])
            .values(status="resolved", resolution="booked at the window, not ours"))
    second = reconcile.run(day, "command", now=the_next_noon(day))
    assert found(day) == expected
    assert {(r.kind, r.source, r.trade_key): r.id for r in findings_of(day)} == ids
    assert {r.run_id for r in findings_of(day)} == {second["run_id"]}

    # Once the statements agree, the open findings go; the resolved one stays as it was.
    bill.clear()
    his.clear()
    reconcile.run(day, "command", now=the_next_noon(day))
    assert [(r.kind, r.trade_key, r.status) for r in findings_of(day)] == [
        ("missing_ours", "STRAY-HIS-1", "resolved")]


def test_a_payment_just_before_midnight_booked_the_next_day_is_carried_over_not_reported_twice(
        db, platform, functions):
    next_day = a_day()
    day = a_day()  # the day before next_day: both of their own
    assert next_day == day + dt.timedelta(days=1)
    late, lost = paid_order(platform, functions), paid_order(platform, functions)
    for order_id in (late, lost):
        move_to(platform, order_id, day, dt.time(23, 55))
    # WeChat Pay booked `late` just after midnight; `lost` it never booked.
    rfc3339 = dt.datetime.combine(next_day, dt.time(0, 1), tzinfo=dt.timezone(dt.timedelta(hours=8))).isoformat()
    with platform.wechatpay._lock:
        for order in platform.wechatpay.orders.values():
            if order["out_trade_no"] == late:
                order["success_time"] = rfc3339
            if order["out_trade_no"] == lost:
                order["success_time"] = None

    first = reconcile.run(day, "command", now=the_next_noon(next_day))
    assert first["status"] == "done" and found(day) == [] and first["counts"]["carried_out"] == 2

    second = reconcile.run(next_day, "command", now=the_next_noon(next_day))
    assert second["status"] == "done"
    assert found(next_day) == [("missing_provider", "wechatpay", lost)]  # reported once, on the day after
    assert "carried over from" in findings_of(next_day)[0].detail
    assert found(day) == []


def test_two_runs_of_one_day_cannot_both_write(mysql_db, edits, platform, functions):
    day = a_day()
    move_to(platform, paid_order(platform, functions), day)
    platform.wechatpay.statement_edits.add(day, {"kind": "payment", "out_trade_no": "STRAY-TWICE", "total": 500})
    now = the_next_noon(day)

    # While one run holds the day, another is refused and writes nothing.
    held = runs.claim(day, "command")
    with pytest.raises(Conflict) as refused:
        reconcile.run(day, "command", now=now)
    assert refused.value.code == "run_in_progress" and findings_of(day) == []
    # A run whose lease ran out while it worked cannot write over the one that took the day.
    with engine().begin() as conn:
        conn.execute(tables.reconciliation_days.update().where(tables.reconciliation_days.c.bill_date == day)
                     .values(lease_until=dt.datetime(2000, 1, 1)))
    assert reconcile.run(day, "command", now=now)["status"] == "done"
    with pytest.raises(runs.LeaseLost):
        runs.finish(held, runs.Outcome([], {}, {}, [], {}))
    assert found(day) == [("missing_ours", "wechatpay", "STRAY-TWICE")]
    with engine().connect() as conn:
        statuses = conn.execute(sa.select(tables.reconciliation_runs.c.status).where(
            tables.reconciliation_runs.c.bill_date == day).order_by(tables.reconciliation_runs.c.id)).scalars().all()
    assert statuses == ["abandoned", "done"]

    # Two at once: each either writes the day alone or is refused; one row per finding.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda _: _outcome(day, now), range(2)))
    assert set(outcomes) <= {"done", "run_in_progress"} and "done" in outcomes
    assert found(day) == [("missing_ours", "wechatpay", "STRAY-TWICE")]


def _outcome(day, now):
    try:
        return reconcile.run(day, "command", now=now)["status"]
    except Conflict as exc:
        return exc.code


def test_a_bill_still_being_made_makes_the_day_wait_for_the_schedule(db, platform, functions):
    import requests

    day = a_day()
    move_to(platform, paid_order(platform, functions), day)
    creating = f"{platform.wechatpay.url}/_sim/bills/creating"
    requests.post(creating, json={"day": day.isoformat(), "creating": True}, timeout=5).raise_for_status()
    try:
        now = the_next_noon(day)
        waiting = reconcile.run(day, "command", now=now)
        assert waiting["status"] == "waiting" and "being made" in waiting["error"]
        assert day not in runs.due(now)                                  # not before its next try
        assert day in runs.due(now + dt.timedelta(minutes=31))
    finally:
        requests.post(creating, json={"day": day.isoformat(), "creating": False}, timeout=5).raise_for_status()
    outcome = schedule.run_due(now + dt.timedelta(minutes=31))
    assert outcome["days"][day.isoformat()] == "done"
    assert found(day) == []
    assert day not in runs.due(now + dt.timedelta(hours=2))


def test_a_day_waits_for_the_day_before_it_and_a_run_that_died_is_taken_over(db, platform):
    before, day = a_day(), a_day()
    before, day = min(before, day), max(before, day)
    now = the_next_noon(day)
    # The day before failed; its retry is due at the same time as the day itself.
    reconcile.run(before, "command", now=now)
    reconcile.run(day, "command", now=now)
    with engine().begin() as conn:
        conn.execute(tables.reconciliation_days.update().where(tables.reconciliation_days.c.bill_date == before)
                     .values(status="failed", next_try_at=now))
        conn.execute(tables.reconciliation_days.update().where(tables.reconciliation_days.c.bill_date == day)
                     .values(status="waiting", next_try_at=now))
    assert [d for d in runs.due(now) if d in (before, day)] == [before, day]   # oldest first
    with engine().begin() as conn:
        conn.execute(tables.reconciliation_days.update().where(tables.reconciliation_days.c.bill_date == before)
                     .values(next_try_at=now + dt.timedelta(hours=1)))
    assert day not in runs.due(now)            # the day before is not done and not due: the day waits

    # A run that died holding the day: once its lease has run out, the schedule takes it over.
    held = runs.claim(before, "schedule")
    assert before not in runs.due(now)
    with engine().begin() as conn:
        conn.execute(tables.reconciliation_days.update().where(tables.reconciliation_days.c.bill_date == before)
                     .values(lease_until=now - dt.timedelta(minutes=1)))
    assert before in runs.due(now) and held is not None
    outcome = schedule.run_due(now)["days"]
    assert outcome[before.isoformat()] == "done" and outcome[day.isoformat()] == "done"


def test_an_empty_day_is_a_day_without_findings(db, platform):
    day = a_day()
    result = reconcile.run(day, "command", now=the_next_noon(day))
    assert result["status"] == "done" and found(day) == []
    assert all(i["empty"] for i in result["inputs"]) and result["counts"]["findings"] == {}


def test_a_day_whose_statements_are_not_ready_or_no_longer_kept_is_refused(db, platform):
    today = dt.datetime.now(reconcile.schedule_rules.BEIJING).date()
    days = [today - dt.timedelta(days=1), today - dt.timedelta(days=200)]

    def recorded():  # what another test of the session may have run for yesterday stays as it was
        with engine().connect() as conn:
            return conn.execute(sa.select(tables.reconciliation_days).where(
                tables.reconciliation_days.c.bill_date.in_(days))).all()

    before = recorded()
    with pytest.raises(ValidationFailed) as early:
        reconcile.run(days[0], "command", now=beijing_utc(today, dt.time(9, 59)))
    assert early.value.field == "date" and "10:00" in early.value.message
    with pytest.raises(ValidationFailed) as old:
        reconcile.run(days[1], "command")
    assert "3 months" in old.value.message
    assert recorded() == before


def test_insurance_and_credit_orders_are_matched_on_each_counterparts_statement(db, edits, platform, functions):
    import requests

    from tests.payments.support import create_order, deliver_queued, order_row, patient_with_bill
    from tests.payments.test_credit_care import enrol, pay_on_credit
    from tests.payments.test_medical_insurance import insured_order

    day = a_day()
    _, insured, answer = insured_order(platform, functions, "100.00")   # fund 60, account 30, cash 10
    requests.post(f"{platform.wechatpay.url}/_sim/med-ins/pay", json={"mix_trade_no": answer["mix_trade_no"]},
                  timeout=5).raise_for_status()
    deliver_queued(platform, functions, "PaymentEventsQueue", until=lambda: order_row(insured).status == "confirmed")
    _, token, bill = patient_with_bill(platform, amount="36.50", bill_type="outpatient")
    enrol(functions, token)
    on_credit = create_order(functions, token, bill)[1]["order_id"]
    assert pay_on_credit(functions, token, on_credit)[0] == 200
    deliver_queued(platform, functions, "PaymentEventsQueue", until=lambda: order_row(on_credit).status == "confirmed")
    for order_id in (insured, on_credit):
        move_to(platform, order_id, day)

    agreed = reconcile.run(day, "command", now=the_next_noon(day))
    assert agreed["status"] == "done" and found(day) == []
    assert agreed["counts"]["matched"] == {"wechatpay": 1, "medical_insurance": 1, "credit": 1, "his": 2}

    platform.insurance.statement_edits.change(day, {"medins_ord": insured}, fund="59.00", total="99.00")
    platform.credit.statement_edits.drop(day, charge_no=on_credit)
    try:
        reconcile.run(day, "command", now=the_next_noon(day))
    finally:
        platform.insurance.statement_edits.clear()
        platform.credit.statement_edits.clear()
    assert found(day) == sorted([("amount_mismatch", "medical_insurance", insured),
                                 ("missing_provider", "credit", on_credit)])
    amounts = {r.source: (r.ours_fen, r.theirs_fen) for r in findings_of(day)}
    assert amounts["medical_insurance"] == (9000, 8900)


def test_a_run_needs_no_more_than_the_one_connection_a_container_holds(mysql_db, platform, functions, monkeypatch):
    from hospital.db import reset_engine

    day = a_day()
    move_to(platform, paid_order(platform, functions), day)
    monkeypatch.setenv("DB_POOL_SIZE", "1")
    reset_engine()
    try:
        assert engine().pool.size() == 1
        result = reconcile.run(day, "schedule", now=the_next_noon(day))
    finally:
        monkeypatch.undo()
        reset_engine()
    assert result["status"] == "done", result["error"]
