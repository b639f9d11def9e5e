"""The daily statements' readers without a network (AD1): the insurance platform's 3202 file,
a page of the credit provider's statement, a page of the HIS's daily ledger, and a file's lines
as its chunks arrive. What reads is in our terms (fen, aware times, our order and refund
numbers); anything malformed, or totals that disagree with the entries, is StatementUnreadable
naming the line or field, never a value."""
import datetime as dt

import pytest

from hospital.adapters import credit, statements
from hospital.adapters import medical_insurance as insurance
from hospital.adapters.his import LedgerEntry, wire
from hospital.adapters.statements import StatementUnreadable
from hospital.errors import UpstreamUnavailable

CST = dt.timezone(dt.timedelta(hours=8))
HEADER = "\t".join(insurance.STATEMENT_COLUMNS)
PAY = "PAY\tPO01\t\tORD1\t\t10.00\t6.00\t3.00\t0.00\t1.00\tSUCCESS\t2026-12-01 10:00:00"
REFD = "REFD\tPO01\tIR01\tORD1\tRF1\t-10.00\t-6.00\t-3.00\t0.00\t-1.00\tPROCESSING\t2026-12-01 11:30:00"
PAY2 = "PAY\tPO02\t\tORD2\t\t25.50\t15.30\t7.65\t0.00\t2.55\tSUCCESS\t2026-12-01 12:00:00"
TOTAL = "TOTAL\t3\t25.50\t15.30\t7.65\t0.00\t2.55"


def read(*lines: str, expected_count: int | None = None) -> list:
    return list(insurance.read_statement(lines, expected_count=expected_count))


def refused(*lines: str, expected_count: int | None = None) -> StatementUnreadable:
    with pytest.raises(StatementUnreadable) as info:
        read(*lines, expected_count=expected_count)
    return info.value


# ---- the insurance platform's 3202 file -------------------------------------------------------------

def test_an_insurance_statement_reads_payments_and_refunds_in_fen_with_beijing_times_AD1():
    payment, refund, other = read("\ufeff" + HEADER, PAY, REFD, PAY2, TOTAL, "", expected_count=3)

    assert payment == insurance.StatementEntry("payment", "ORD1", None, "PO01", None, 1000, 600, 300, 0, 100,
                                               "SUCCESS", dt.datetime(2026, 12, 1, 10, tzinfo=CST), 2)
    # A refund reverses the settlement whole: its amounts are positive here, the file's negative.
    assert (refund.kind, refund.order_id, refund.out_refund_no, refund.refund_id) == ("refund", "ORD1", "RF1", "IR01")
    assert (refund.total_fen, refund.fund_fen, refund.account_fen, refund.cash_fen) == (1000, 600, 300, 100)
    assert refund.status == "PROCESSING" and refund.at == dt.datetime(2026, 12, 1, 3, 30, tzinfo=dt.UTC)
    assert (other.total_fen, other.fund_fen, other.account_fen, other.cash_fen) == (2550, 1530, 765, 255)


def test_an_empty_day_is_a_header_and_a_totals_line_of_nothing_AD1():
    assert read(HEADER, "TOTAL\t0\t0.00\t0.00\t0.00\t0.00\t0.00", expected_count=0) == []


def test_entries_come_one_at_a_time_and_the_totals_are_checked_when_the_lines_end():
    entries = insurance.read_statement(iter([HEADER, PAY, REFD, PAY2, "TOTAL\t3\t25.51\t15.30\t7.65\t0.00\t2.55"]))

    assert [next(entries).line for _ in range(3)] == [2, 3, 4]  # yielded before the totals are read
    with pytest.raises(StatementUnreadable, match="line 5, field medfee_sumamt"):
        next(entries)


@pytest.mark.parametrize(("lines", "says"), [
    ((HEADER, PAY, REFD, PAY2), "ends without its totals line"),
    ((HEADER, PAY, REFD, PAY2, TOTAL, PAY), "text after the totals line"),
    (("setl_type\tsetl_id", PAY, TOTAL), "line 1"),
    ((), "no header line"),
    ((HEADER, PAY, REFD, PAY2, "TOTAL\t2\t25.50\t15.30\t7.65\t0.00\t2.55"), "counts other than the 3 entries"),
    ((HEADER, PAY, REFD, PAY2, "TOTAL\t3\t25.50\t15.30\t7.66\t0.00\t2.55"), "field acct_pay"),
    ((HEADER, PAY.replace("10.00", "10.01", 1), REFD, PAY2, TOTAL), "line 2, field medfee_sumamt"),
    ((HEADER, PAY.replace("6.00", "6.001"), REFD, PAY2, TOTAL), "line 2, field fund_pay_sumamt"),
    ((HEADER, PAY.replace("6.00", "-6.00"), REFD, PAY2, TOTAL), "line 2, field fund_pay_sumamt"),
    ((HEADER, REFD.replace("-10.00", "10.00"), TOTAL), "line 2, field medfee_sumamt"),
    ((HEADER, PAY.replace("PAY", "PAID"), TOTAL), "field setl_type"),
    ((HEADER, PAY + "\textra", TOTAL), "13 fields"),
    ((HEADER, PAY.replace("ORD1", ""), TOTAL), "field medins_ord"),
    ((HEADER, REFD.replace("RF1", ""), TOTAL), "field out_refund_no"),
    ((HEADER, PAY.replace("\t\tORD1\t\t", "\tIR9\tORD1\t\t"), TOTAL), "field refd_id"),
    ((HEADER, PAY.replace("2026-12-01 10:00:00", "2026-12-01T10:00"), TOTAL), "field setl_time"),
])
def test_a_malformed_insurance_statement_is_refused_naming_where(lines, says):
    problem = refused(*lines)

    assert says in problem.message
    assert isinstance(problem, UpstreamUnavailable) and problem.code == "statement_unreadable"


def test_the_file_must_hold_as_many_entries_as_3202_announced():
    assert "3202 announced 4" in refused(HEADER, PAY, REFD, PAY2, TOTAL, expected_count=4).message


# ---- lines of a streamed file -----------------------------------------------------------------------

def test_lines_are_joined_across_chunks_even_inside_a_character_or_a_crlf():
    text = "交易\r\nsecond line\nthird\r\n".encode()
    chunks = [text[i:i + 1] for i in range(len(text))]  # every byte its own chunk

    assert list(statements.text_lines(chunks)) == ["交易", "second line", "third"]
    assert list(statements.text_lines([b"no end of line"])) == ["no end of line"]


def test_bytes_that_are_not_utf8_are_unreadable():
    with pytest.raises(StatementUnreadable, match="not utf-8"):
        list(statements.text_lines([b"ok\n", "交".encode("gbk")]))


# ---- a page of the credit provider's statement -------------------------------------------------------

CHARGE = {"entry_id": "CC1", "type": "charge", "charge_no": "ORD1", "charge_id": "CC1", "reversal_no": None,
          "amount_fen": 2500, "status": "approved", "settled_by": None, "occurred_at": "2026-12-01T10:00:00+08:00"}
REVERSAL = {**CHARGE, "entry_id": "CR1", "type": "reversal", "reversal_no": "RF1", "amount_fen": 500,
            "status": "succeeded", "occurred_at": "2026-12-01T03:00:00Z"}
SETTLEMENT = {**CHARGE, "entry_id": "CS1", "type": "settlement", "amount_fen": 2000, "status": "succeeded",
              "settled_by": "provider"}
SUMMARY = {"count": 3, "charge_fen": 2500, "reversal_fen": 500, "settlement_fen": 2000}


def page(*entries, next_cursor=None, summary=None) -> dict:
    return {"date": "2026-12-01", "entries": list(entries), "next_cursor": next_cursor, "summary": summary or SUMMARY}


def test_a_credit_statement_page_reads_charges_reversals_and_settlements_AD1():
    read_page = credit.statement_page(page(CHARGE, REVERSAL, SETTLEMENT, next_cursor="3"))

    charge, reversal, settlement = read_page.entries
    assert charge == credit.StatementEntry("charge", "ORD1", "CC1", None, "CC1", 2500, "approved", None,
                                           dt.datetime(2026, 12, 1, 10, tzinfo=CST))
    assert (reversal.out_refund_no, reversal.amount_fen, reversal.at) == ("RF1", 500, dt.datetime(2026, 12, 1, 11,
                                                                                                  tzinfo=CST))
    assert reversal.at.utcoffset() == dt.timedelta(hours=8)  # Beijing, whatever offset the provider wrote
    assert (settlement.kind, settlement.settled_by) == ("settlement", "provider")
    assert (read_page.next_cursor, read_page.summary) == ("3", SUMMARY)


@pytest.mark.parametrize(("data", "field"), [
    ({"entries": "none"}, "entries"),
    (page(CHARGE, next_cursor=""), "next_cursor"),
    (page(CHARGE, summary={**SUMMARY, "count": -1}), "summary"),
    (page(CHARGE, summary={**SUMMARY, "charge_fen": "25.00"}), "summary"),
    (page({**CHARGE, "type": "refund"}), "entries[0].type"),
    (page(CHARGE, {**CHARGE, "amount_fen": 25.0}), "entries[1].amount_fen"),
    (page({**CHARGE, "amount_fen": 0}), "entries[0].amount_fen"),
    (page({**CHARGE, "amount_fen": True}), "entries[0].amount_fen"),
    (page({**CHARGE, "charge_no": ""}), "entries[0].charge_no"),
    (page({**REVERSAL, "reversal_no": None}), "entries[0].reversal_no"),
    (page({**CHARGE, "reversal_no": "RF1"}), "entries[0].reversal_no"),
    (page({**SETTLEMENT, "settled_by": "bank"}), "entries[0].settled_by"),
    (page({**CHARGE, "settled_by": "patient"}), "entries[0].settled_by"),
    (page({**CHARGE, "occurred_at": "2026-12-01T10:00:00"}), "entries[0].occurred_at"),
    (page({**CHARGE, "occurred_at": "yesterday"}), "entries[0].occurred_at"),
    (page("CC1"), "entries[0]"),
])
def test_a_malformed_credit_statement_page_is_refused_naming_the_field(data, field):
    with pytest.raises(StatementUnreadable) as info:
        credit.statement_page(data)

    assert info.value.field == field and "ORD1" not in info.value.message


# ---- a page of the HIS's daily ledger ---------------------------------------------------------------

PAID = {"entry_type": "pay", "bill_no": "B1", "pay_order_no": "ORD1", "transaction_id": "4200000001",
        "amount": "25.00", "receipt_no": "R1", "channel": "wechatpay_v3", "reg_no": "REG000001", "refund_ref": None,
        "booked_at": "2026-12-01T02:00:00Z"}
GIVEN_BACK = {**PAID, "entry_type": "refund", "transaction_id": None, "refund_ref": "registration-1",
              "booked_at": "2026-12-01T11:00:00+08:00"}
LEDGER = {"date": "2026-12-01", "page_no": 1, "page_count": 1, "total_count": 2, "pay_total": "25.00",
          "refund_total": "25.00", "entries": [PAID, GIVEN_BACK]}


def test_a_his_ledger_page_reads_payments_and_refunds_in_fen_and_utc_AD1():
    ledger = wire.ledger_page(LEDGER)

    assert ledger.entries[0] == LedgerEntry("payment", "B1", "ORD1", "4200000001", 2500, "R1", "wechatpay_v3",
                                            "REG000001", None, dt.datetime(2026, 12, 1, 2, tzinfo=dt.UTC))
    assert (ledger.entries[1].kind, ledger.entries[1].refund_ref, ledger.entries[1].transaction_id) == (
        "refund", "registration-1", None)
    assert ledger.entries[1].booked_at == dt.datetime(2026, 12, 1, 3, tzinfo=dt.UTC)
    assert (ledger.page_count, ledger.total_count, ledger.pay_total_fen, ledger.refund_total_fen) == (1, 2, 2500, 2500)


def test_a_his_refund_need_not_name_our_reference_nor_an_empty_day_any_page():
    anonymous = {**GIVEN_BACK, "refund_ref": None, "pay_order_no": None}

    assert wire.ledger_entry(anonymous).refund_ref is None
    empty = wire.ledger_page({**LEDGER, "page_count": 0, "total_count": 0, "pay_total": "0.00",
                              "refund_total": "0.00", "entries": []})
    assert empty.entries == () and empty.page_count == 0


@pytest.mark.parametrize(("data", "field"), [
    ({**LEDGER, "entries": [{**PAID, "entry_type": "charge"}]}, "entry_type"),
    ({**LEDGER, "entries": [{**PAID, "pay_order_no": None}]}, "pay_order_no"),
    ({**LEDGER, "entries": [{**PAID, "receipt_no": ""}]}, "receipt_no"),
    ({**LEDGER, "entries": [{**PAID, "refund_ref": "registration-1"}]}, "refund_ref"),
    ({**LEDGER, "entries": [{**PAID, "amount": 25.0}]}, "amount"),
    ({**LEDGER, "entries": [{**PAID, "amount": "0.00"}]}, "amount"),
    ({**LEDGER, "entries": [{**PAID, "amount": "-25.00"}]}, "amount"),
    ({**LEDGER, "entries": [{**PAID, "booked_at": "2026-12-01T10:00:00"}]}, "booked_at"),
    ({**LEDGER, "page_no": 2}, "page_no"),
    ({**LEDGER, "page_count": -1}, "page_count"),
    ({**LEDGER, "total_count": True}, "total_count"),
    ({**LEDGER, "pay_total": "25.001"}, "pay_total"),
    ({**LEDGER, "refund_total": None}, "refund_total"),
])
def test_a_malformed_his_ledger_page_is_refused_naming_the_field(data, field):
    with pytest.raises(StatementUnreadable) as info, wire.reading("a daily ledger page", StatementUnreadable):
        wire.ledger_page(data)

    assert f"(field {field})" in info.value.message and "ORD1" not in info.value.message
