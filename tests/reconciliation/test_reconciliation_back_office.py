"""AD1 for finance, through the back-office function: a WeChat Pay bill file given by hand is
reconciled (CRLF, commas and double quotes in its values, a fee that is not its rate); a file
that does not add up is refused and changes nothing; findings listed by date, kind and status,
exported as CSV with a BOM, shown with their order, resolved once with a note; every call
audited; the operator command does the same from a file."""
import datetime as dt
import json

import sqlalchemy as sa

from hospital.db import engine, tables
from infra import devenv, manage
from infra.simulators.wechatpay import BILL_ALL, BILL_SUMMARY
from tests.reconciliation.support import a_day, admin_call, finance_token, move_to, paid_order


def yuan(fen: int, decimals: int = 2) -> str:
    sign = "-" if fen < 0 else ""
    whole, part = divmod(abs(fen), 100)
    return f"{sign}{whole}.{part:02d}" + "0" * (decimals - 2)


def bill_file(day: dt.date, trades: list[dict], line_end: str = "\r\n") -> bytes:
    """A WeChat Pay ALL bill of `day` as WeChat writes it; each trade: out_trade_no, fen, appid,
    and optionally fee (fen; else 0.54% rounded half up)."""
    lines = [",".join(BILL_ALL)]
    fees = 0
    for number, trade in enumerate(trades):
        fee = trade.get("fee", (trade["fen"] * 54 + 5000) // 10000)
        fees += fee
        values = {"交易时间": f"{day.isoformat()} 10:{number:02d}:00", "公众账号ID": trade["appid"],
                  "商户号": devenv.DEV_V3_MCHID, "特约商户号": "0", "设备号": "",
                  "微信订单号": f"4200{number:024d}", "商户订单号": trade["out_trade_no"], "用户标识": "o-x",
                  "交易类型": "JSAPI", "交易状态": "SUCCESS", "付款银行": "OTHERS", "货币种类": "CNY",
                  "应结订单金额": yuan(trade["fen"]), "代金券金额": "0.00", "微信退款单号": "0", "商户退款单号": "0",
                  "退款金额": "0.00", "充值券退款金额": "0.00", "退款类型": "", "退款状态": "",
                  "商品名称": '挂号费, "普通门诊"', "商户数据包": '{"attach":"a,b","note":"say \\"hi\\""}',
                  "手续费": yuan(fee, 5), "费率": "0.54%", "订单金额": yuan(trade["fen"]), "申请退款金额": "0.00",
                  "费率备注": ""}
        lines.append(",".join("`" + values[column] for column in BILL_ALL))
    total = sum(trade["fen"] for trade in trades)
    lines.append(",".join(BILL_SUMMARY))
    lines.append(",".join("`" + v for v in (str(len(trades)), yuan(total), "0.00", "0.00", yuan(fees, 5), yuan(total),
                                           "0.00")))
    return (line_end.join(lines) + line_end).encode()


def upload(functions, token, day, body: bytes):
    return admin_call(functions, "POST", "/admin/reconciliation/uploads", token, query={"date": day.isoformat()},
                      body=body.decode(), headers={"Content-Type": "text/csv"})


def audit_actions(user_token_actions: tuple[str, ...]):
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.audit_log.c.action, tables.audit_log.c.result).where(
            tables.audit_log.c.action.in_(user_token_actions)).order_by(tables.audit_log.c.id)).all()


def test_finance_reconciles_a_bill_file_and_works_through_its_findings(db, platform, functions):
    day, token = a_day(), finance_token(platform)
    app = platform.mini_program_app_id
    kept, unbilled = paid_order(platform, functions), paid_order(platform, functions)
    for order_id in (kept, unbilled):
        move_to(platform, order_id, day)
    body = bill_file(day, [{"out_trade_no": kept, "fen": 2500, "appid": app, "fee": 15},   # 0.54% of 25.00 is 14
                           {"out_trade_no": "STRAY-FILE-1", "fen": 990, "appid": app}])

    status, _, text = upload(functions, token, day, body)

    run = json.loads(text)
    assert status == 201 and run["status"] == "done" and run["trigger"] == "upload", text
    assert run["inputs"][0]["origin"] == "file" and run["inputs"][0]["entries"] == 2
    status, _, text = admin_call(functions, "GET", "/admin/reconciliation/findings", token,
                                 query={"date": day.isoformat(), "source": "wechatpay"})
    page = json.loads(text)
    assert status == 200
    assert sorted((i["kind"], i["trade_key"]) for i in page["items"]) == sorted([
        ("fee_mismatch", kept), ("missing_ours", "STRAY-FILE-1"), ("missing_provider", unbilled)])
    assert page["totals_by_kind"] == {"fee_mismatch": 1, "missing_ours": 1, "missing_provider": 1}
    fee = next(i for i in page["items"] if i["kind"] == "fee_mismatch")
    assert "0.54% of 2500 is 14" in fee["detail"]

    status, _, text = admin_call(functions, "GET", "/admin/reconciliation/findings", token,
                                 query={"date": day.isoformat(), "kind": "missing_provider", "status": "open"})
    assert status == 200 and [i["trade_key"] for i in json.loads(text)["items"]] == [unbilled]

    status, headers, text = admin_call(functions, "GET", "/admin/reconciliation/findings.csv", token,
                                       query={"date": day.isoformat()})
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert text.startswith("\ufeffid,date,kind,source,trade,trade_key,order_id,ours_fen,theirs_fen,detail")
    assert text.count("\r\n") == 4 and "STRAY-FILE-1" in text

    missing = next(i for i in page["items"] if i["kind"] == "missing_provider")
    path = f"/admin/reconciliation/findings/{missing['id']}"
    status, _, text = admin_call(functions, "GET", path, token, resource="/admin/reconciliation/findings/{finding_id}",
                                 path_parameters={"finding_id": str(missing["id"])})
    detail = json.loads(text)
    assert status == 200 and detail["order"]["order_id"] == unbilled and detail["order"]["amount_fen"] == 2500
    assert detail["run"]["run_id"] == run["run_id"]

    resolve = dict(resource="/admin/reconciliation/findings/{finding_id}/resolve",
                   path_parameters={"finding_id": str(missing["id"])})
    status, _, text = admin_call(functions, "POST", path + "/resolve", token,
                                 body={"resolution": "paid at the window instead, refunded"}, **resolve)
    assert status == 200 and json.loads(text)["status"] == "resolved"
    status, _, text = admin_call(functions, "POST", path + "/resolve", token, body={"resolution": "again"}, **resolve)
    assert status == 409 and json.loads(text)["error"]["code"] == "already_resolved"
    status, _, text = admin_call(functions, "POST", path + "/resolve", token, body={"note": "x"}, **resolve)
    assert status == 400 and json.loads(text)["error"]["field"] in ("note", "resolution")
    # Resolving changed no money.
    with engine().connect() as conn:
        order = conn.execute(sa.select(tables.payment_orders).where(tables.payment_orders.c.id == unbilled)).one()
    assert (order.status, order.paid_fen, order.refunded_fen) == ("confirmed", 2500, 0)
    actions = [a for a, _ in audit_actions(("reconciliation.run_requested", "reconciliation.findings_viewed",
                                            "reconciliation.findings_exported", "reconciliation.finding_viewed",
                                            "reconciliation.finding_resolved"))]
    for action in ("reconciliation.run_requested", "reconciliation.findings_viewed",
                   "reconciliation.findings_exported", "reconciliation.finding_viewed",
                   "reconciliation.finding_resolved"):
        assert action in actions


def test_a_bill_file_that_does_not_add_up_is_refused_and_changes_nothing(db, platform, functions):
    day, token = a_day(), finance_token(platform)
    body = bill_file(day, [{"out_trade_no": "X1", "fen": 100, "appid": "wx"}], line_end="\n")
    broken = body.replace(b"`1.00,`0.00,`0.00,`0.01000", b"`1.01,`0.00,`0.00,`0.01000")  # the summary lies

    status, _, text = upload(functions, token, day, broken)

    assert status == 400, text
    error = json.loads(text)["error"]
    assert error["field"] == "bill" and error["code"] == "invalid_bill"
    with engine().connect() as conn:
        assert conn.execute(sa.select(tables.reconciliation_days).where(
            tables.reconciliation_days.c.bill_date == day)).all() == []
    status, _, text = upload(functions, token, day, b"")
    assert status == 400 and json.loads(text)["error"]["field"] == "bill"
    status, _, text = admin_call(functions, "POST", "/admin/reconciliation/runs", token, body={"date": "2026-13-01"})
    assert status == 400 and json.loads(text)["error"]["field"] == "date"
    status, _, text = admin_call(functions, "GET", "/admin/reconciliation/findings", token,
                                 query={"date": day.isoformat(), "kind": "everything"})
    assert status == 400 and json.loads(text)["error"]["field"] == "kind"
    status, _, text = admin_call(functions, "GET", "/admin/reconciliation/findings/abc", token,
                                 resource="/admin/reconciliation/findings/{finding_id}",
                                 path_parameters={"finding_id": "abc"})
    assert status == 400 and json.loads(text)["error"]["field"] == "finding_id"
    status, _, text = admin_call(functions, "GET", "/admin/reconciliation/findings/999999999", token,
                                 resource="/admin/reconciliation/findings/{finding_id}",
                                 path_parameters={"finding_id": "999999999"})
    assert status == 404


def test_a_bill_file_of_another_day_or_missing_a_merchant_is_refused(db, platform, functions):
    day, token = a_day(), finance_token(platform)
    order_id = paid_order(platform, functions)
    move_to(platform, order_id, day)
    app = platform.mini_program_app_id

    status, _, text = upload(functions, token, day, bill_file(day - dt.timedelta(days=1),
                                                             [{"out_trade_no": order_id, "fen": 2500, "appid": app}]))
    assert status == 400 and json.loads(text)["error"]["code"] == "bill_of_another_day", text

    # A file without the merchant we took the money at would report its whole day missing.
    status, _, text = upload(functions, token, day, bill_file(day, []))
    error = json.loads(text)["error"]
    assert status == 400 and error["code"] == "merchant_bill_missing" and devenv.DEV_V3_MCHID in error["message"]
    with engine().connect() as conn:
        assert conn.execute(sa.select(tables.reconciliation_days).where(
            tables.reconciliation_days.c.bill_date == day)).all() == []

    status, _, text = upload(functions, token, day, b"x" * (5 * 1024 * 1024 + 1))
    assert status == 413 and json.loads(text)["error"]["field"] == "bill"


def test_finance_runs_a_day_now_and_reads_its_runs(db, platform, functions):
    day, token = a_day(), finance_token(platform)
    move_to(platform, paid_order(platform, functions), day)

    status, _, text = admin_call(functions, "POST", "/admin/reconciliation/runs", token, body={"date": day.isoformat()})

    run = json.loads(text)
    assert status == 201 and run["status"] == "done" and run["trigger"] == "back_office", text
    status, _, text = admin_call(functions, "GET", "/admin/reconciliation/runs", token, query={"date": day.isoformat()})
    assert status == 200 and [r["run_id"] for r in json.loads(text)["items"]] == [run["run_id"]]
    status, _, text = admin_call(functions, "GET", f"/admin/reconciliation/runs/{run['run_id']}", token,
                                 resource="/admin/reconciliation/runs/{run_id}",
                                 path_parameters={"run_id": str(run["run_id"])})
    assert status == 200 and json.loads(text)["counts"]["matched"]["wechatpay"] == 1


def test_the_operator_command_reconciles_a_bill_file(db, platform, functions, tmp_path, capsys):
    day = a_day()
    order_id = paid_order(platform, functions)
    move_to(platform, order_id, day)
    path = tmp_path / "bill.csv"
    path.write_bytes(bill_file(day, [{"out_trade_no": order_id, "fen": 2600, "appid": platform.mini_program_app_id}]))

    assert manage.main(["reconcile", "--date", day.isoformat(), "--bill-file", str(path)]) == 0

    printed = json.loads(capsys.readouterr().out)
    assert printed["status"] == "done" and printed["trigger"] == "command"
    f = tables.reconciliation_findings.c
    with engine().connect() as conn:
        rows = conn.execute(sa.select(f.kind, f.source, f.trade_key, f.ours_fen, f.theirs_fen)
                            .where(f.bill_date == day)).all()
    assert [tuple(r) for r in rows] == [("amount_mismatch", "wechatpay", order_id, 2500, 2600)]
    assert manage.main(["reconcile", "--date", "not-a-date"]) == 2
