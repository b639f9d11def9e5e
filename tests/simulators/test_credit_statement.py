"""The credit provider's daily statement over real HTTP (AD1): the CreditClient against a
CreditSimulator of each test's own, its charges and reversals made by the real calls and its
settlements by the provider (the simulator's `settle`). Pages followed to the last and the
summary checked; an empty day; discrepancies a test puts in come out as the provider states
them; a malformed page, or a statement that changes while read, is refused."""
from __future__ import annotations

import datetime as dt

import pytest

from hospital.adapters import http_sessions
from hospital.adapters.credit import CreditClient, StatementEntry
from hospital.adapters.statements import StatementUnreadable
from hospital.errors import UpstreamUnavailable
from infra.simulators.credit import CreditSimulator

KEY = "credit-statement-test-key"
CST = dt.timezone(dt.timedelta(hours=8))
STATEMENT = "/credit/v1/statements/{date}"


@pytest.fixture
def sim():
    http_sessions.close_all()  # no pooled connection to an earlier test's simulator
    with CreditSimulator(KEY) as sim:
        yield sim
    http_sessions.close_all()


@pytest.fixture
def provider(sim):
    return CreditClient(sim.url, KEY)


@pytest.fixture
def enrolment(provider):
    return provider.enrol("member-statement", "v1", "2026-12-01T08:00:00+08:00")["enrolment_id"]


def day_of(sim) -> dt.date:
    return dt.datetime.fromtimestamp(sim.now(), CST).date()


def test_the_days_charges_reversals_and_settlements_are_read_across_pages_AD1(sim, provider, enrolment):
    for number in range(5):
        provider.charge(enrolment, f"ORD-CR-{number}", 1000 + number, "门诊缴费")
    reversal = provider.reverse("ORD-CR-1", "RF-CR-1", 400)
    settled = sim.settle("ORD-CR-2", "provider", notify=False)

    entries = list(provider.statement(day_of(sim), page_size=2))

    assert sim.stats()[STATEMENT] == 4  # 7 entries, 2 a page
    assert [(e.kind, e.order_id) for e in entries] == [
        *(("charge", f"ORD-CR-{n}") for n in range(5)), ("reversal", "ORD-CR-1"), ("settlement", "ORD-CR-2")]
    charge = entries[0]
    assert (charge.amount_fen, charge.status, charge.entry_id, charge.out_refund_no, charge.settled_by) == (
        1000, "approved", charge.charge_id, None, None)
    assert entries[2].status == "settled"  # a charge's status as of the statement
    assert (entries[5].out_refund_no, entries[5].amount_fen, entries[5].entry_id) == (
        "RF-CR-1", 400, reversal["reversal_id"])
    assert entries[5].charge_id == entries[1].charge_id
    assert (entries[6].amount_fen, entries[6].settled_by, entries[6].entry_id) == (
        1002, "provider", settled["settlement_id"])
    assert all(isinstance(e, StatementEntry) and e.at.date() == day_of(sim) for e in entries)


def test_a_declined_charge_moved_no_money_and_an_empty_day_yields_nothing_AD1(sim, provider, enrolment):
    sim.decline = True
    provider.charge(enrolment, "ORD-CR-DECLINED", 1000, "x")

    assert list(provider.statement(day_of(sim))) == []
    assert list(provider.statement(dt.date(2020, 1, 1))) == []


def test_entries_dropped_changed_or_added_at_the_provider_come_out_as_it_states_them_AD1(sim, provider, enrolment):
    day = day_of(sim)
    for order in ("ORD-CR-DROP", "ORD-CR-AMOUNT", "ORD-CR-STATUS"):
        provider.charge(enrolment, order, 1000, "x")
    provider.reverse("ORD-CR-STATUS", "RF-CR-STATUS", 1000)
    sim.statement_edits.drop(day, charge_no="ORD-CR-DROP")
    sim.statement_edits.change(day, {"kind": "charge", "charge_no": "ORD-CR-AMOUNT"}, amount_fen=1200)
    sim.statement_edits.change(day, {"reversal_no": "RF-CR-STATUS"}, status="failed")
    sim.statement_edits.add(day, {"kind": "settlement", "charge_no": "ORD-CR-NEVER", "amount_fen": 777})

    entries = {(e.kind, e.order_id): e for e in provider.statement(day, page_size=2)}

    assert ("charge", "ORD-CR-DROP") not in entries
    assert entries["charge", "ORD-CR-AMOUNT"].amount_fen == 1200
    assert entries["reversal", "ORD-CR-STATUS"].status == "failed"
    assert (entries["settlement", "ORD-CR-NEVER"].amount_fen, entries["settlement", "ORD-CR-NEVER"].settled_by) == (
        777, "patient")


def test_a_malformed_entry_is_refused_naming_its_field(sim, provider, enrolment):
    provider.charge(enrolment, "ORD-CR-BAD", 1000, "x")
    sim.statement_edits.change(day_of(sim), {"charge_no": "ORD-CR-BAD"}, charge_id=None)

    with pytest.raises(StatementUnreadable) as info:
        list(provider.statement(day_of(sim)))

    assert info.value.field == "entries[0].charge_id"


def test_a_statement_that_changes_between_its_pages_is_refused(sim, provider, enrolment):
    for number in range(3):
        provider.charge(enrolment, f"ORD-CR-MOVING-{number}", 1000, "x")
    entries = provider.statement(day_of(sim), page_size=2)
    assert next(entries).order_id == "ORD-CR-MOVING-0"

    provider.charge(enrolment, "ORD-CR-LATE", 1000, "x")  # booked while the day is being read

    with pytest.raises(StatementUnreadable, match="changed while it was read"):
        list(entries)


def test_a_garbled_page_or_a_provider_down_is_upstream_unavailable(sim, provider, enrolment):
    provider.charge(enrolment, "ORD-CR-GARBLED", 1000, "x")
    sim.inject_fault(STATEMENT, "garbled")

    with pytest.raises(UpstreamUnavailable, match="not JSON"):
        list(provider.statement(day_of(sim)))

    sim.inject_fault(STATEMENT, "http500", count=10)
    with pytest.raises(UpstreamUnavailable, match="500"):
        list(provider.statement(day_of(sim)))
