"""Money is integer fen: HIS yuan strings are converted with Decimal, never through float,
and the edges (1 fen, the maximum, one fen over) behave."""
import pytest

from hospital import money
from tests.payments.support import (
    create_order,
    ledger_rows,
    order_row,
    patient_pays,
    patient_with_bill,
    pay,
    wait_status,
)


@pytest.mark.parametrize("text,fen", [("0.01", 1), ("0.29", 29), ("19.99", 1999), ("1.10", 110), ("1.1", 110),
                                      ("25", 2500), ("1000000.00", 100_000_000), ("-3.50", -350)])
def test_yuan_strings_become_exact_fen(text, fen):
    assert money.yuan_to_fen(text) == fen
    assert int(float(text) * 100) != fen or text in ("0.01", "1.10", "1.1", "25", "1000000.00", "-3.50", "19.99")


@pytest.mark.parametrize("bad", ["0.001", "1e3", "12.345", "", " ", "NaN", "Infinity", "1,000.00", "¥12", 12.3, 12,
                                 None])
def test_anything_but_a_plain_yuan_amount_is_refused(bad):
    with pytest.raises(money.MoneyError):
        money.yuan_to_fen(bad)


def test_fen_print_as_yuan_with_two_decimals():
    assert [money.fen_to_yuan(v) for v in (1, 29, 2500, 100_000_000, -350, 0)] == \
        ["0.01", "0.29", "25.00", "1000000.00", "-3.50", "0.00"]
    with pytest.raises(money.MoneyError):
        money.fen_to_yuan(2.5)


@pytest.mark.parametrize("amount,fen", [("0.01", 1), ("0.29", 29), ("1000000.00", 100_000_000)])
def test_an_order_is_paid_and_booked_at_the_edges(db, platform, functions, amount, fen):
    _, token, bill = patient_with_bill(platform, amount=amount)
    status, order = create_order(functions, token, bill)
    assert status == 201
    assert order["amount_fen"] == fen
    assert pay(functions, token, order["order_id"])[0] == 200
    patient_pays(platform, order["order_id"])
    wait_status(order["order_id"], "paid")
    assert order_row(order["order_id"]).paid_fen == fen
    assert [e.amount_fen for e in ledger_rows(order["order_id"])] == [fen]


def test_one_fen_over_the_maximum_cannot_be_paid_online(db, platform, functions):
    _, token, bill = patient_with_bill(platform, amount="1000000.01")
    status, body = create_order(functions, token, bill)
    assert status == 409
    assert body["error"]["code"] == "amount_out_of_range"
