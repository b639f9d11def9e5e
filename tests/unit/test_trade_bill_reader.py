"""The WeChat Pay trade bill read as the spec says (AD1): every layout (ALL 27, SUCCESS 20,
REFUND 29, the old 24-column ALL with its 5-field summary), LF or CRLF, merchant data with
commas and double quotes, amounts and fees to whole fen, the bill's own summary checked."""
import itertools

import pytest

from hospital.adapters import wechatpay_bill as bill

ALL = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
       "付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,"
       "退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注")
REFUND_ONLY = ("微信退款单号", "商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态", "申请退款金额")
SUCCESS = ",".join(c for c in ALL.split(",") if c not in REFUND_ONLY)
REFUND = ALL.replace("代金券金额,", "代金券金额,退款申请时间,退款成功时间,")
OLD_ALL = ("交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
           "付款银行,货币种类,总金额,企业红包金额,微信退款单号,商户退款单号,退款金额,企业红包退款金额,"
           "退款类型,退款状态,商品名称,商户数据包,手续费,费率")
SUMMARY = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
OLD_SUMMARY = "总交易单数,总交易额,总退款金额,总企业红包退款金额,手续费总金额"

# The spec's two sample lines (public sample data, ALL layout).
REFUND_LINE = ("`2024-07-09 16:47:58,`wxe1696e7c7db8e7f4,`1579507281,`0,`,`4200002166202406250324636876,"
               "`5617363390111199232,`oVgfJ5d35c6iAXrRCnfhOGF9aHT8,`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,`0.00,"
               "`50302709992024070991956632208,`5622435300878286848,`50.00,`0.00,`ORIGINAL,`SUCCESS,"
               "`2024-06-28 18:30 客户付款,`{\"statement_id\":\"5617363390111199232\"},`-0.27000,`0.54%,`0.00,`50.00,`")
PAYMENT_LINE = ("`2024-07-09 10:06:33,`wxe1696e7c7db8e7f4,`1579507281,`0,`,`4200002360202407091150650780,"
                "`5622334254839656448,`oVgfJ5TrnzDOSuaxbFc33mw-5LUY,`JSAPI,`SUCCESS,`OTHERS,`CNY,`60.00,`0.00,`0,`0,"
                "`0.00,`0.00,`,`,`2024-07-10 13:50 客户付款,`{\"statement_id\":\"5622334254839656448\"},`0.32000,"
                "`0.54%,`60.00,`0.00,`")


def line(header: str, **values) -> str:
    """A data line of `header`'s layout: each column's value from `values` by column name, "0"
    or "" otherwise, every value after a backtick."""
    defaults = {"交易时间": "2026-11-30 09:15:00", "公众账号ID": "wx-service-account", "商户号": "1900000109",
                "交易类型": "JSAPI", "交易状态": "SUCCESS", "货币种类": "CNY"}
    cells = [str(values.get(name, defaults.get(name, "0.00" if "金额" in name else ""))) for name in header.split(",")]
    return ",".join("`" + cell for cell in cells)


def summary(*values) -> str:
    return ",".join("`" + str(v) for v in values)


def test_the_specs_sample_lines_in_the_all_layout_with_lf_or_crlf():
    for end in ("\n", "\r\n"):
        text = [ALL + end, REFUND_LINE + end, PAYMENT_LINE + end, SUMMARY + end,
                summary(2, "60.00", "50.00", "0.00", "0.05000", "60.00", "50.00") + end]
        refund, payment = list(bill.read(text))
        assert (refund.trade_state, refund.settlement_fen, refund.refund_fen, refund.requested_refund_fen,
                refund.fee_fen) == ("REFUND", 0, 5000, 5000, -27)
        assert refund.refund_id == "50302709992024070991956632208" and refund.out_refund_no == "5622435300878286848"
        assert refund.is_refund and refund.out_trade_no == "5617363390111199232"
        assert refund.attach == '{"statement_id":"5617363390111199232"}'
        assert refund.product == "2024-06-28 18:30 客户付款"
        assert (payment.settlement_fen, payment.order_fen, payment.fee_fen, payment.refund_id) == (6000, 6000, 32, "")
        assert not payment.is_refund and payment.sub_mchid == "" and payment.line == 3
        assert payment.trade_time.isoformat() == "2024-07-09T10:06:33"


def test_merchant_data_and_product_names_with_commas_and_double_quotes_stay_whole():
    attach = '{"note":"a, b","quote":"say \\"hi\\"","list":[1,2]}'
    product = '挂号费,内科 "张医生"'
    rows = list(bill.read([ALL, line(ALL, 商户数据包=attach, 商品名称=product, 应结订单金额="25.00", 订单金额="25.00",
                                     手续费="0.14000", 商户订单号="o1", 微信订单号="t1"),
                           SUMMARY, summary(1, "25.00", "0.00", "0.00", "0.14000", "25.00", "0.00")]))
    assert (rows[0].attach, rows[0].product, rows[0].settlement_fen, rows[0].fee_fen) == (attach, product, 2500, 14)


def test_the_success_layout_has_no_refund_columns():
    text = [SUCCESS, line(SUCCESS, 应结订单金额="35.00", 订单金额="35.00", 手续费="0.19000", 商户订单号="o2",
                          微信订单号="t2"),
            SUMMARY, summary(1, "35.00", "0.00", "0.00", "0.19000", "35.00", "0.00")]
    (row,) = bill.read(text)
    assert len(SUCCESS.split(",")) == 20
    assert (row.settlement_fen, row.refund_fen, row.requested_refund_fen, row.refund_id) == (3500, None, None, "")


def test_the_refund_layout_carries_the_refund_times():
    text = [REFUND, line(REFUND, 交易状态="REFUND", 微信退款单号="50300", 商户退款单号="RF1", 退款金额="25.00",
                         申请退款金额="25.00", 手续费="-0.14000", 退款申请时间="2026-11-30 10:00:00",
                         退款成功时间="2026-11-30 10:00:05", 退款状态="SUCCESS", 商户订单号="o3", 微信订单号="t3"),
            SUMMARY, summary(1, "0.00", "25.00", "0.00", "-0.14000", "0.00", "25.00")]
    (row,) = bill.read(text)
    assert len(REFUND.split(",")) == 29
    assert (row.refund_fen, row.fee_fen, row.out_refund_no) == (2500, -14, "RF1")
    assert (row.refund_requested_at, row.refund_succeeded_at) == ("2026-11-30 10:00:00", "2026-11-30 10:00:05")


def test_the_old_24_column_all_with_its_5_field_summary():
    text = [OLD_ALL, line(OLD_ALL, 总金额="25.00", 手续费="0.15000", 商户订单号="o4", 微信订单号="t4"),
            line(OLD_ALL, 交易状态="REFUND", 微信退款单号="50301", 商户退款单号="RF2", 退款金额="10.00",
                 手续费="-0.06000", 商户订单号="o4", 微信订单号="t4"),
            OLD_SUMMARY, summary(2, "25.00", "10.00", "0.00", "0.09000")]
    payment, refund = bill.read(text)
    assert len(OLD_ALL.split(",")) == 24
    assert (payment.settlement_fen, payment.order_fen, refund.refund_fen, refund.fee_fen) == (2500, None, 1000, -6)


@pytest.mark.parametrize("wrong_summary, says", [
    (summary(3, "60.00", "50.00", "0.00", "0.05000", "60.00", "50.00"), "总交易单数 says 3 rows"),
    (summary(2, "60.01", "50.00", "0.00", "0.05000", "60.00", "50.00"), "应结订单总金额 says 60.01"),
    (summary(2, "60.00", "50.00", "0.00", "0.06000", "60.00", "50.00"), "手续费总金额"),
    (summary(2, "60.00", "50.00", "0.00", "0.05000", "60.00", "49.00"), "申请退款总金额"),
])
def test_a_bill_that_does_not_add_up_is_refused_at_its_summary_line(wrong_summary, says):
    with pytest.raises(bill.BillError, match=says) as caught:
        list(bill.read([ALL, REFUND_LINE, PAYMENT_LINE, SUMMARY, wrong_summary]))
    assert caught.value.line == 5


@pytest.mark.parametrize("lines, says", [
    ([ALL, PAYMENT_LINE], "without its summary"),
    ([], "empty bill"),
    (["交易时间,商户号", PAYMENT_LINE], "not a trade bill header"),
    ([ALL, PAYMENT_LINE.replace("`60.00,`0.00,`0,", "`60.001,`0.00,`0,", 1)], "应结订单金额"),
    ([ALL, PAYMENT_LINE.replace("`0.32000,", "`0.32100,")], "not a whole fen"),
    ([ALL, PAYMENT_LINE.rsplit(",`", 1)[0]], "26 values where the header has 27"),
    ([ALL, PAYMENT_LINE.replace("`2024-07-09 10:06:33", "`yesterday")], "交易时间 is not a time"),
    ([ALL, PAYMENT_LINE[1:]], "starts with a backtick"),
])
def test_a_malformed_bill_names_the_line(lines, says):
    with pytest.raises(bill.BillError, match=says):
        list(bill.read(lines))


def test_text_after_the_summary_is_refused():
    with pytest.raises(bill.BillError, match="after the summary"):
        list(bill.read([ALL, PAYMENT_LINE, SUMMARY, summary(1, "60.00", "0.00", "0.00", "0.32000", "60.00", "0.00"),
                        PAYMENT_LINE]))


def test_rows_stream_without_reading_the_bill_ahead():
    def endless():
        yield ALL
        for n in itertools.count():
            yield line(ALL, 应结订单金额="1.00", 订单金额="1.00", 手续费="0.01000", 商户订单号=f"o{n}",
                       微信订单号=f"t{n}")

    rows = bill.read(endless())
    first = [next(rows) for _ in range(1000)]
    assert [r.out_trade_no for r in first[:2]] == ["o0", "o1"] and first[-1].settlement_fen == 100


@pytest.mark.parametrize("text, decimals, fen", [("50.00", 2, 5000), ("-0.27000", 5, -27), ("0", 2, 0),
                                                 ("12.3", 2, 1230)])
def test_amounts_become_whole_fen(text, decimals, fen):
    assert bill.to_fen(text, decimals) == fen


@pytest.mark.parametrize("text, decimals", [("1.001", 2), ("0.00100", 5), ("1e3", 2), ("", 2), ("1,000.00", 2)])
def test_what_is_not_a_whole_fen_is_refused(text, decimals):
    with pytest.raises(ValueError):
        bill.to_fen(text, decimals)
