"""Matching a day (AD1) without a database: every finding kind, nothing reported for what
matches, a payment just before midnight carried to the next day and matched there, an entry
booked just before midnight that we hold just after it matched once."""
import datetime as dt

from hospital.adapters.wechatpay_bill import BillRow
from hospital.reconciliation import matching_rules as m

DAY = dt.date(2026, 11, 30)
NEXT = DAY + dt.timedelta(days=1)
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


def bill(*rows):
    return [m.from_bill_row(r) for r in rows]


def ours(key, amount_fen, *, kind=m.PAYMENT, status="confirmed", order_id=None, due=DAY, late=False, early=False,
         mchid=MCH, appid=APP):
    return m.Ours(kind, key, order_id or key, amount_fen, status, due, late, early, mchid, appid)


def his_entry(order_id, amount_fen):
    return m.Theirs(m.PAYMENT, order_id, amount_fen, "paid", True, "R" + order_id)


def his_ours(key, amount_fen, **kw):
    return ours(key, amount_fen, mchid="", appid="", **kw)


def kinds(*results):
    return sorted((f.kind, f.source, f.key) for r in results for f in r.findings)


def test_a_day_that_agrees_with_the_bill_and_the_his_reports_nothing():
    mine = {"o1": ours("o1", 2500), "o2": ours("o2", 5000, status="refunded"),
            "RF1": ours("RF1", 5000, kind=m.REFUND, status="succeeded", order_id="o2")}
    rows = bill(row("o1", 2500), row("o2", 5000), row("o2", 0, refund_no="RF1", refund_fen=5000))
    result = m.match(m.WECHATPAY, rows, mine)
    his = m.match(m.HIS, [his_entry("o1", 2500), his_entry("o2", 5000)],
                  {"o1": his_ours("o1", 2500), "o2": his_ours("o2", 5000, status="refunded")})

    assert result.findings == [] and result.matched == 3 and result.entries == 3 and result.carried_out == []
    assert his.findings == [] and his.matched == 2 and his.unexpected == []


def test_every_kind_of_discrepancy_is_found_once():
    mine = {
        "o-ours-only": ours("o-ours-only", 1000),
        "o-amount": ours("o-amount", 2500),
        "o-status": ours("o-status", 2500, status="closed"),
        "o-merchant": ours("o-merchant", 2500, mchid="1900000110"),
        "o-not-paid": ours("o-not-paid", 2500),
        "RF-status": ours("RF-status", 500, kind=m.REFUND, status="abnormal", order_id="o-amount"),
    }
    provider = m.match(m.WECHATPAY, bill(
        row("o-bill-only", 800), row("o-amount", 2600), row("o-status", 2500), row("o-merchant", 2500),
        row("o-fee", 10000, fee=61), row("o-not-paid", 2500, state="NOTPAY"),
        row("o-amount", 0, refund_no="RF-status", refund_fen=500)), mine)
    found, taken = m.settle(m.WECHATPAY, provider.unexpected, {}, DAY)
    his = m.match(m.HIS, [his_entry("o-his-amount", 2999), his_entry("o-his-unknown", 700)],
                  {"o-his-missing": his_ours("o-his-missing", 3000), "o-his-amount": his_ours("o-his-amount", 3000)})
    his_found, _ = m.settle(m.HIS, his.unexpected, {}, DAY)

    assert taken == []
    assert sorted((f.kind, f.source, f.key) for f in provider.findings + found + his.findings + his_found) == sorted([
        ("missing_ours", "wechatpay", "o-bill-only"),
        ("missing_ours", "wechatpay", "o-fee"),           # not ours either
        ("fee_mismatch", "wechatpay", "o-fee"),           # 0.60% of 100.00 is 0.60, the bill says 0.61
        ("amount_mismatch", "wechatpay", "o-amount"),
        ("status_mismatch", "wechatpay", "o-status"),     # paid there, closed here
        ("status_mismatch", "wechatpay", "o-not-paid"),   # paid here, not there
        ("merchant_mismatch", "wechatpay", "o-merchant"),
        ("status_mismatch", "wechatpay", "RF-status"),
        ("missing_provider", "wechatpay", "o-ours-only"),
        ("missing_his", "his", "o-his-missing"),
        ("amount_mismatch", "his", "o-his-amount"),
        ("missing_ours", "his", "o-his-unknown"),
    ])
    amount = next(f for f in provider.findings if f.kind == "amount_mismatch")
    assert (amount.ours_fen, amount.theirs_fen, amount.order_id) == (2500, 2600, "o-amount")
    assert {f.fingerprint for f in provider.findings} >= {"wechatpay:amount_mismatch:payment:o-amount"}


def test_a_payment_just_before_midnight_is_carried_over_and_matched_the_next_day():
    late = ours("o-late", 2500, late=True)
    early = ours("o-early", 2500)  # 23:49, outside the window: reported

    first = m.match(m.WECHATPAY, [], {"o-late": late, "o-early": early})
    assert kinds(first) == [("missing_provider", "wechatpay", "o-early")]
    assert first.carried_out == [late]

    carried = {mine.key: mine for mine in first.carried_out}
    second = m.match(m.WECHATPAY, bill(row("o-late", 2500)), {}, carried)
    assert second.findings == [] and second.matched == 1

    third = m.match(m.WECHATPAY, [], {}, carried)
    assert kinds(third) == [("missing_provider", "wechatpay", "o-late")]  # the next day's bill lacks it too
    assert "carried over from 2026-11-30" in third.findings[0].detail


def test_an_entry_booked_just_before_midnight_that_we_hold_just_after_is_matched_once():
    ours_next_day = his_ours("o-x", 2500, due=NEXT, early=True)
    today = m.match(m.HIS, [his_entry("o-x", 2500)], {})
    found, taken = m.settle(m.HIS, today.unexpected, {"o-x": ours_next_day}, DAY)
    assert found == [] and taken == [ours_next_day]

    tomorrow = m.match(m.HIS, [], {"o-x": ours_next_day}, taken=frozenset({"o-x"}))
    assert tomorrow.findings == []

    # An entry of ours on a day far from the statement's is reported, saying which day.
    far = his_ours("o-y", 2500, due=NEXT)
    found, taken = m.settle(m.HIS, [his_entry("o-y", 2500)], {"o-y": far}, DAY)
    assert [(f.kind, f.key) for f in found] == [("missing_ours", "o-y")] and taken == []
    assert "ours is of 2026-12-01" in found[0].detail


def test_a_refund_row_counts_whatever_status_it_printed():
    mine = {"RF1": ours("RF1", 500, kind=m.REFUND, status="processing", order_id="o1")}
    result = m.match(m.WECHATPAY, bill(row("o1", 0, refund_no="RF1", refund_fen=500, refund_status="PROCESSING")), mine)
    assert result.findings == []


def test_the_midnight_windows():
    tz = dt.timezone(dt.timedelta(hours=8))
    assert m.windows(dt.datetime(2026, 11, 30, 23, 50, tzinfo=tz)) == (True, False)
    assert m.windows(dt.datetime(2026, 11, 30, 23, 49, 59, tzinfo=tz)) == (False, False)
    assert m.windows(dt.datetime(2026, 11, 30, 0, 9, 59, tzinfo=tz)) == (False, True)
    assert m.windows(dt.datetime(2026, 11, 30, 0, 10, tzinfo=tz)) == (False, False)


def test_fees_follow_the_rate_rounded_half_up_to_the_fen_and_negative_on_refunds():
    assert m.fee_problem(32, 6000, "0.54%", refund=False) is None     # 32.4 -> 32
    assert m.fee_problem(-27, 5000, "0.54%", refund=True) is None     # 27.0
    assert m.fee_problem(3, 500, "0.60%", refund=False) is None       # 3.0
    assert m.fee_problem(1, 250, "0.60%", refund=False) is not None   # 1.5 -> 2
    assert m.fee_problem(2, 250, "0.60%", refund=False) is None
    assert "not a percentage" in m.fee_problem(2, 250, "abc", refund=False)
    assert m.fee_problem(0, 250, "", refund=False) is None            # no rate printed: nothing to check


def test_the_fee_is_charged_on_what_is_settled_to_the_merchant():
    coupon = row("o-coupon", 10000, fee=49)._replace(settlement_fen=9000, coupon_fen=1000)  # 0.54% of 90.00
    theirs = m.from_bill_row(coupon._replace(rate="0.54%"))
    assert theirs.fee_problem is None and theirs.amount_fen == 10000
    assert m.from_bill_row(coupon._replace(rate="0.54%", fee_fen=54)).fee_problem is not None
