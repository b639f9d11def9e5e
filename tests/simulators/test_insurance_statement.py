"""The insurance platform's daily detail statement (3202, then its file by 9102) over real HTTP
(AD1): the InsuranceClient against an InsuranceSimulator of each test's own, its settlements and
refunds made by the real calls (AUTH, 6201, 6202, 6203). An empty day; discrepancies a test puts
in (an entry dropped, an amount or a status changed, an entry we never made) come out as the
platform states them; a garbled or tampered file is refused; a large day reads across chunks."""
from __future__ import annotations

import datetime as dt

import pytest
import requests

from hospital.adapters import http_sessions
from hospital.adapters.medical_insurance import InsuranceClient, InsuranceRefused, StatementEntry
from hospital.adapters.statements import StatementUnreadable
from hospital.errors import UpstreamUnavailable
from infra.simulators.medical_insurance import InsuranceSimulator

KEY = "insurance-statement-test-key"
CST = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def sim():
    http_sessions.close_all()  # no pooled connection to an earlier test's simulator
    with InsuranceSimulator(KEY) as sim:
        yield sim
    http_sessions.close_all()


@pytest.fixture
def ins(sim):
    return InsuranceClient(sim.url, KEY)


def settle(sim, ins, order_id: str, total_fen: int):
    """A settlement made as the payments channel makes it: authorisation, fees, pre-settlement."""
    pay_auth_no = ins.pay_auth_no(sim.mint_auth_code("PSN-" + order_id))
    return ins.pre_settle(pay_auth_no, ins.upload_fees(pay_auth_no, order_id, "门诊缴费", total_fen))


def day_of(sim) -> dt.date:
    return dt.datetime.fromtimestamp(sim.now(), CST).date()


def test_the_days_settlements_and_refunds_are_read_with_their_parts_AD1(sim, ins):
    paid = settle(sim, ins, "ORD-INS-1", 2500)
    kept = settle(sim, ins, "ORD-INS-2", 10000)
    ins.refund(paid.pay_ord_id, "RF-INS-1", "registration_cancelled", paid.fund_fen, paid.account_fen, paid.other_fen)

    entries = list(ins.statement(day_of(sim)))

    assert [(e.kind, e.order_id, e.out_refund_no) for e in entries] == [
        ("payment", "ORD-INS-1", None), ("payment", "ORD-INS-2", None), ("refund", "ORD-INS-1", "RF-INS-1")]
    payment, other, refund = entries
    assert (payment.settlement_id, payment.total_fen, payment.fund_fen, payment.account_fen, payment.other_fen,
            payment.cash_fen, payment.status) == (paid.pay_ord_id, 2500, paid.fund_fen, paid.account_fen, 0,
                                                  paid.cash_fen, "SUCCESS")
    assert (other.total_fen, other.cash_fen) == (10000, kept.cash_fen)
    # The refund reverses the settlement whole, and names the platform's refund and our number.
    assert (refund.settlement_id, refund.total_fen, refund.fund_fen, refund.cash_fen) == (
        paid.pay_ord_id, 2500, paid.fund_fen, paid.cash_fen)
    assert refund.refund_id and refund.refund_id == sim.refunds["RF-INS-1"]["refund_id"]
    assert all(e.at.utcoffset() == dt.timedelta(hours=8) and e.at.date() == day_of(sim) for e in entries)


def test_a_refund_still_processing_says_so_and_an_empty_day_yields_nothing_AD1(sim, ins):
    paid = settle(sim, ins, "ORD-INS-3", 1234)
    sim.refund_mode = "processing"
    ins.refund(paid.pay_ord_id, "RF-INS-3", "by_hand", paid.fund_fen, paid.account_fen, paid.other_fen)

    statuses = {e.kind: e.status for e in ins.statement(day_of(sim))}

    assert statuses == {"payment": "SUCCESS", "refund": "PROCESSING"}
    assert list(ins.statement(dt.date(2020, 1, 1))) == []


def test_entries_dropped_changed_or_added_at_the_platform_come_out_as_it_states_them_AD1(sim, ins):
    day = day_of(sim)
    dropped = settle(sim, ins, "ORD-INS-DROP", 1000)
    settle(sim, ins, "ORD-INS-AMOUNT", 1000)
    changed = settle(sim, ins, "ORD-INS-STATUS", 1000)
    ins.refund(changed.pay_ord_id, "RF-INS-STATUS", "x", changed.fund_fen, changed.account_fen, changed.other_fen)
    sim.statement_edits.drop(day, medins_ord="ORD-INS-DROP")
    sim.statement_edits.change(day, {"medins_ord": "ORD-INS-AMOUNT"}, total="11.00", cash="2.00")
    sim.statement_edits.change(day, {"out_refund_no": "RF-INS-STATUS"}, status="FAILED")
    sim.statement_edits.add(day, {"kind": "payment", "medins_ord": "ORD-NEVER-MADE", "total": "50.00",
                                  "fund": "30.00", "account": "15.00", "other": "0.00", "cash": "5.00"})

    entries = {(e.kind, e.order_id): e for e in ins.statement(day)}

    assert dropped.pay_ord_id not in {e.settlement_id for e in entries.values()}
    assert (entries["payment", "ORD-INS-AMOUNT"].total_fen, entries["payment", "ORD-INS-AMOUNT"].cash_fen) == (
        1100, 200)
    assert entries["refund", "ORD-INS-STATUS"].status == "FAILED"
    stray = entries["payment", "ORD-NEVER-MADE"]
    assert (stray.total_fen, stray.status, stray.at.date()) == (5000, "SUCCESS", day)
    assert "ORD-INS-DROP" in {o["med_org_ord"] for o in sim.orders.values()}  # only the statement changed


def test_the_edits_are_controls_over_http_too(sim, ins):
    day = day_of(sim)
    settle(sim, ins, "ORD-INS-HTTP", 1000)

    answer = requests.post(f"{sim.url}/_sim/statement-edits", json={"day": day.isoformat(),
                                                                     "drop": {"medins_ord": "ORD-INS-HTTP"}}, timeout=5)
    assert answer.status_code == 200
    assert list(ins.statement(day)) == []
    assert requests.post(f"{sim.url}/_sim/statement-edits", json={"day": day.isoformat()}, timeout=5).status_code == 400

    assert requests.delete(f"{sim.url}/_sim/statement-edits", timeout=5).status_code == 200
    assert [e.order_id for e in ins.statement(day)] == ["ORD-INS-HTTP"]


def test_a_garbled_file_is_refused_and_a_refused_download_is_the_platforms_refusal(sim, ins):
    settle(sim, ins, "ORD-INS-GARBLED", 1000)
    sim.inject_fault("/fsi/api/9102", "garbled")  # a proxy's HTML page where the file should be

    with pytest.raises(StatementUnreadable, match="not a 3202 statement"):
        list(ins.statement(day_of(sim)))

    sim.statement_files = _Forgetful()
    with pytest.raises(InsuranceRefused, match="file_qury_no"):
        list(ins.statement(day_of(sim)))


def test_a_file_that_disagrees_with_its_totals_or_with_3202_is_refused(sim, ins):
    settle(sim, ins, "ORD-INS-T1", 1000)
    settle(sim, ins, "ORD-INS-T2", 2000)
    sim.statement_files = _Tampered(lambda text: text.replace("\t20.00\t", "\t20.01\t", 1))

    with pytest.raises(StatementUnreadable, match="parts do not add up"):
        list(ins.statement(day_of(sim)))

    sim.statement_files = _Tampered(lambda text: "\r\n".join(line for line in text.split("\r\n")
                                                            if "ORD-INS-T2" not in line))
    with pytest.raises(StatementUnreadable, match="counts other than the 1 entries"):
        list(ins.statement(day_of(sim)))


def test_a_platform_that_is_down_is_upstream_unavailable(sim, ins):
    sim.inject_fault("/fsi/api/3202", "http500", count=10)

    with pytest.raises(UpstreamUnavailable):
        list(ins.statement(day_of(sim)))


def test_a_large_day_is_read_across_many_chunks_entry_by_entry_AD1(sim, ins):
    day = day_of(sim)
    for number in range(1500):
        sim.record_settlement(f"ORD-BULK-{number:05d}", f"{number % 300 + 1}.{number % 100:02d}")

    entries = ins.statement(day)
    first = next(entries)
    rest = list(entries)

    assert isinstance(first, StatementEntry) and first.order_id == "ORD-BULK-00000"
    assert len(rest) == 1499 and rest[-1].order_id == "ORD-BULK-01499"
    assert sum(e.total_fen for e in [first, *rest]) == sum((n % 300 + 1) * 100 + n % 100 for n in range(1500))
    assert len(sim.statement(day).encode()) > 2 * (1 << 16)  # more than the adapter's chunks


class _Forgetful(dict):
    """The platform's file store losing every file at once (as an expired file_qury_no)."""

    def __setitem__(self, key, value):
        pass


class _Tampered(dict):
    """The platform's file store, changing each file as it is stored."""

    def __init__(self, change):
        super().__init__()
        self.change = change

    def __setitem__(self, key, value):
        super().__setitem__(key, self.change(value))
