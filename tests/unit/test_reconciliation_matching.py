"""Three-way matching of a day (AD1) without a database: every finding kind, nothing reported
for what matches, a payment just before midnight carried to the next day and matched there."""
import datetime as dt

from hospital.adapters.wechatpay_bill import BillRow
from hospital.reconciliation import matching_rules as m

DAY = dt.date(2026, 11, 30)
MCH, APP = "1900000109", "wx-service-account"


def row(out_trade_no, amount_fen, *, refund_no="", refund_fen=None, state="SUCCESS", fee=None, rate="0.60%",
        mchid=MCH, appid=APP, refund_status=""):
    refund = bool(refund_no)
    base = refund_fen if refund else amount_fen
    fee = fee if fee is not None else (-1 if refund else 1) * round(base * 0.006)
    return BillRow(line=2, trade_time=dt.datetime(2026, 11, 30, 12), appid=appid, mchid=mchid, sub_mchid="",
                   transaction_id="4200" + out_trade_no, out_trade_no=out_trade_no, openid="o", trade_type="JSAPI",
                   trade_state="REFUND" if refund else state, settlement_fen=0 if refund else amount_fen,
                   coupon_fen=0, refund_id="5030" + refund_no if refund else "", out_refund_no=refund_no,
                   refund_fen=refund_fen if refund else 0, coupon_refund_fen=0,
                   refund_type="ORIGINAL" if refund else "",
                   refund_status=refund_status or ("SUCCESS" if refund else ""), refund_requested_at="",
                   refund_succeeded_at="", product="挂号费", attach="", fee_fen=fee, rate=rate,
                   order_fen=0 if refund else amount_fen, requested_refund_fen=refund_fen if refund else 0)


def ours(key, amount_fen, *, kind=m.PAYMENT, status="confirmed", at=dt.datetime(2026, 11, 30, 12), order_id=None,
         his_confirmed=True, mchid=MCH, appid=APP):
    return m.Ours(kind, key, order_id or key, amount_fen, status, mchid, appid, at, his_confirmed)


def his(order_id, amount_fen):
    return m.HisEntry(m.PAYMENT, order_id, amount_fen)


def kinds(result):
    return sorted((f.kind, f.source, f.key) for f in result.findings)


def test_a_day_that_agrees_three_ways_reports_nothing():
    mine = {"o1": ours("o1", 2500), "o2": ours("o2", 5000, status="refunded"),
            "RF1": ours("RF1", 5000, kind=m.REFUND, status="success", order_id="o2")}
    result = m.match([row("o1", 2500), row("o2", 5000), row("o2", 0, refund_no="RF1", refund_fen=5000)], mine,
                     {"o1": his("o1", 2500), "o2": his("o2", 5000)}, day=DAY)

    assert result.findings == [] and result.matched == 3 and result.rows == 3 and result.carried_out == {}


def test_every_kind_of_discrepancy_is_found_once():
    mine = {
        "o-ours-only": ours("o-ours-only", 1000, at=dt.datetime(2026, 11, 30, 9)),
        "o-amount": ours("o-amount", 2500),
        "o-status": ours("o-status", 2500, status="closed"),
        "o-merchant": ours("o-merchant", 2500, mchid="1900000110"),
        "o-his-missing": ours("o-his-missing", 3000),
        "o-his-amount": ours("o-his-amount", 3000),
        "RF-status": ours("RF-status", 500, kind=m.REFUND, status="abnormal", order_id="o-amount"),
    }
    bill = [row("o-bill-only", 800), row("o-amount", 2600), row("o-status", 2500), row("o-merchant", 2500),
            row("o-his-missing", 3000), row("o-his-amount", 3000), row("o-fee", 10000, fee=61),
            row("o-amount", 0, refund_no="RF-status", refund_fen=500)]
    ledger = {k: his(k, 2500) for k in ("o-amount", "o-status", "o-merchant")}
    ledger["o-his-amount"] = his("o-his-amount", 2999)
    ledger["o-his-unknown"] = his("o-his-unknown", 700)

    result = m.match(bill, mine, ledger, day=DAY)

    assert kinds(result) == sorted([
        ("missing_ours", "provider", "o-bill-only"),
        ("missing_ours", "provider", "o-fee"),           # not ours either
        ("fee_mismatch", "provider", "o-fee"),           # 0.60% of 100.00 is 0.60, the bill says 0.61
        ("amount_mismatch", "provider", "o-amount"),
        ("status_mismatch", "provider", "o-status"),
        ("merchant_mismatch", "provider", "o-merchant"),
        ("status_mismatch", "provider", "RF-status"),
        ("missing_provider", "provider", "o-ours-only"),
        ("missing_his", "his", "o-his-missing"),
        ("amount_mismatch", "his", "o-his-amount"),
        ("missing_ours", "his", "o-his-unknown"),
        ("missing_his", "his", "o-ours-only"),
    ])
    amount = next(f for f in result.findings if f.kind == "amount_mismatch" and f.source == "provider")
    assert (amount.ours_fen, amount.theirs_fen) == (2500, 2600)


def test_a_payment_just_before_midnight_is_carried_over_and_matched_the_next_day():
    late = ours("o-late", 2500, at=dt.datetime(2026, 11, 30, 23, 55))
    early = ours("o-early", 2500, at=dt.datetime(2026, 11, 30, 23, 49))  # outside the window: reported

    first = m.match([], {"o-late": late, "o-early": early}, {"o-late": his("o-late", 2500),
                                                            "o-early": his("o-early", 2500)}, day=DAY)
    assert kinds(first) == [("missing_provider", "provider", "o-early")]
    assert set(first.carried_out) == {"o-late"}

    second = m.match([row("o-late", 2500)], {}, {}, day=DAY + dt.timedelta(days=1), carried_in=first.carried_out)
    assert second.findings == [] and second.matched == 1

    third = m.match([], {}, {}, day=DAY + dt.timedelta(days=1), carried_in=first.carried_out)
    assert kinds(third) == [("missing_provider", "provider", "o-late")]  # the next day's bill lacks it too


def test_a_payment_the_his_never_confirmed_is_not_missing_there():
    result = m.match([row("o1", 2500)], {"o1": ours("o1", 2500, status="paid", his_confirmed=False)}, {}, day=DAY)
    assert result.findings == []


def test_fees_follow_the_rate_rounded_half_up_to_the_fen_and_negative_on_refunds():
    assert m.fee_problem(32, 6000, "0.54%", refund=False) is None     # 32.4 -> 32
    assert m.fee_problem(-27, 5000, "0.54%", refund=True) is None     # 27.0
    assert m.fee_problem(3, 500, "0.60%", refund=False) is None       # 3.0
    assert m.fee_problem(1, 250, "0.60%", refund=False) is not None   # 1.5 -> 2
    assert m.fee_problem(2, 250, "0.60%", refund=False) is None
    assert "not a percentage" in m.fee_problem(2, 250, "abc", refund=False)
    assert m.fee_problem(0, 250, "", refund=False) is None            # no rate printed: nothing to check
