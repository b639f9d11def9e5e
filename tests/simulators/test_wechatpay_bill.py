"""The WeChat Pay simulator's trade bill is in WeChat's real layout (for reconciliation): the
v3 download with its SHA1 (plain and GZIP), the v2 download, backtick-prefixed values that
contain commas and quotes, the column sets of ALL / SUCCESS / REFUND, and a summary that adds
up; no trades is NO_STATEMENT_EXIST / No Bill Exist."""
import datetime as dt
import gzip
import hashlib

import pytest
import requests

from hospital.payments import merchants
from infra import devenv
from infra.simulators.wechatpay import BILL_ALL, BILL_REFUND, BILL_SUCCESS, CST


def split(line: str) -> list[str]:
    """As the spec says: split on comma-backtick, drop the leading backtick."""
    return line.lstrip("`").split(",`")


def a_paid_and_refunded_order(platform):
    sim, mchid = platform.wechatpay, devenv.DEV_V3_MCHID
    merchant = sim.merchants[mchid]
    order_id = "BILL" + hashlib.sha1(str(dt.datetime.now()).encode()).hexdigest()[:20]
    sim._open_order(merchant, "v3", platform.mini_program_app_id, order_id, 6000, "http://127.0.0.1:9/", "o-bill",
                    '挂号费, "普通门诊"', "registration")
    sim.pay(mchid, order_id, notify=False)
    sim.refund_mode = "manual"
    try:
        sim._open_refund(merchant, "v3", order_id, "RF" + order_id, 1000, 6000, "http://127.0.0.1:9/")
    finally:
        sim.refund_mode = "auto"
    return order_id


def v3_client(platform):
    return merchants.client(merchants.by_mchid(devenv.DEV_V3_MCHID))


@pytest.mark.parametrize("tar_type", [None, "GZIP"])
def test_the_v3_trade_bill_downloads_with_its_sha1_in_wechats_layout(platform, tar_type):
    order_id = a_paid_and_refunded_order(platform)
    today = dt.datetime.now(CST).date().isoformat()
    client = v3_client(platform)
    query = f"/v3/bill/tradebill?bill_date={today}&bill_type=ALL" + (f"&tar_type={tar_type}" if tar_type else "")
    answer = client._call("GET", query)
    assert answer["hash_type"] == "SHA1"
    path = answer["download_url"].split(platform.wechatpay.url, 1)[1]
    raw = requests.get(answer["download_url"], headers={"Authorization": _auth(client, path)}, timeout=5).content
    data = gzip.decompress(raw) if tar_type else raw
    assert hashlib.sha1(data).hexdigest() == answer["hash_value"]  # the SHA1 is of the uncompressed file
    lines = data.decode("utf-8").splitlines()
    assert lines[0].split(",") == BILL_ALL
    assert len(BILL_ALL) == 27
    rows = [split(line) for line in lines[1:-2]]
    assert all(len(r) == 27 for r in rows)
    mine = [dict(zip(BILL_ALL, r, strict=True)) for r in rows if r[6] == order_id]
    payment = next(r for r in mine if r["交易状态"] == "SUCCESS")
    refund = next(r for r in mine if r["交易状态"] == "REFUND")
    assert payment["应结订单金额"] == "60.00"
    assert payment["商户退款单号"] == "0"
    assert payment["手续费"] == "0.32000"
    assert payment["商品名称"] == '挂号费, "普通门诊"'  # commas and quotes survive the comma-backtick split
    assert refund["退款金额"] == "10.00"
    assert refund["手续费"] == "-0.05000"
    summary = dict(zip(lines[-2].split(","), split(lines[-1]), strict=True))
    assert int(summary["总交易单数"]) == len(rows)
    settle = sum(int(r[12].replace(".", "")) for r in rows)
    assert summary["应结订单总金额"] == f"{settle // 100}.{settle % 100:02d}"


def test_the_v2_bill_is_the_same_text_and_a_day_without_trades_is_no_bill_exist(platform):
    from hospital.adapters import wechatpay_v2

    a_paid_and_refunded_order(platform)
    today = dt.datetime.now(CST).date()
    sim = platform.wechatpay
    merchant = next(m for m in merchants.v2_merchants() if m.mchid == devenv.DEV_V2_MCHID)
    order_id = "V2BILL" + hashlib.sha1(str(dt.datetime.now()).encode()).hexdigest()[:18]
    sim._open_order(sim.merchants[devenv.DEV_V2_MCHID], "v2", platform.mini_program_app_id, order_id, 1230,
                    "http://127.0.0.1:9/", "o-bill", "门诊缴费", None)
    sim.pay(devenv.DEV_V2_MCHID, order_id, notify=False)

    def download(day):
        fields = {"appid": platform.mini_program_app_id, "mch_id": merchant.mchid, "nonce_str": "n" * 16,
                  "bill_date": day.strftime("%Y%m%d"), "bill_type": "ALL"}
        fields["sign"] = wechatpay_v2.sign(fields, merchant.api_key)
        body = "<xml>" + "".join(f"<{k}>{v}</{k}>" for k, v in fields.items()) + "</xml>"
        return requests.post(f"{sim.url}/pay/downloadbill", data=body.encode(), timeout=5).text

    text = download(today)
    assert text.splitlines()[0].split(",") == BILL_ALL
    assert any(split(line)[6] == order_id for line in text.splitlines()[1:-2])
    assert "No Bill Exist" in download(dt.date(2020, 1, 1))


def test_success_and_refund_bills_have_their_own_columns_and_an_empty_day_has_no_bill(platform):
    a_paid_and_refunded_order(platform)
    today = dt.datetime.now(CST).date().isoformat()
    sim = platform.wechatpay
    assert sim.trade_bill(devenv.DEV_V3_MCHID, today, "SUCCESS").splitlines()[0].split(",") == BILL_SUCCESS
    assert len(BILL_SUCCESS) == 20
    assert len(BILL_REFUND) == 29
    assert sim.trade_bill(devenv.DEV_V3_MCHID, today, "REFUND").splitlines()[0].split(",") == BILL_REFUND
    client = v3_client(platform)
    from hospital.adapters.wechatpay_v3 import WeChatPayError

    with pytest.raises(WeChatPayError) as refused:
        client._call("GET", "/v3/bill/tradebill?bill_date=2020-01-01&bill_type=ALL")
    assert refused.value.code == "NO_STATEMENT_EXIST"


def _auth(client, path: str) -> str:
    from hospital.adapters import wechatpay_v3

    return wechatpay_v3.authorization(client.merchant, "GET", path, "")


@pytest.mark.parametrize("bill_type", ["ALL", "SUCCESS", "REFUND"])
def test_the_bill_reader_reads_the_simulators_bill_and_its_summary_adds_up(platform, bill_type):
    from hospital.adapters import wechatpay_bill

    order_id = a_paid_and_refunded_order(platform)
    text = platform.wechatpay.trade_bill(devenv.DEV_V3_MCHID, dt.datetime.now(CST).date().isoformat(), bill_type)

    rows = [r for r in wechatpay_bill.read(text.splitlines(keepends=True)) if r.out_trade_no == order_id]

    if bill_type in ("ALL", "SUCCESS"):
        payment = next(r for r in rows if not r.is_refund)
        assert (payment.settlement_fen, payment.fee_fen, payment.product) == (6000, 32, '挂号费, "普通门诊"')
    if bill_type in ("ALL", "REFUND"):
        refund = next(r for r in rows if r.is_refund)
        assert (refund.refund_fen, refund.fee_fen, refund.out_refund_no) == (1000, -5, "RF" + order_id)


@pytest.mark.parametrize("compressed", [True, False])
def test_the_adapter_downloads_the_bill_streamed_and_checked_against_its_sha1(platform, tmp_path, compressed):
    from hospital.adapters import wechatpay_bill

    order_id = a_paid_and_refunded_order(platform)
    target = tmp_path / "bill.csv"
    with target.open("wb") as into:
        assert v3_client(platform).download_trade_bill(dt.datetime.now(CST).date(), into, "ALL", compressed)

    with target.open(encoding="utf-8", newline="") as bill_file:
        rows = [r for r in wechatpay_bill.read(bill_file) if r.out_trade_no == order_id]
    assert sorted(r.is_refund for r in rows) == [False, True]


def test_a_bill_whose_download_does_not_match_its_sha1_is_refused(platform, tmp_path, monkeypatch):
    from hospital.errors import UpstreamUnavailable

    a_paid_and_refunded_order(platform)
    monkeypatch.setattr(platform.wechatpay, "bill_tokens", _Tampered(platform.wechatpay.bill_tokens))

    with (tmp_path / "bill.csv").open("wb") as into, pytest.raises(UpstreamUnavailable, match="SHA1"):
        v3_client(platform).download_trade_bill(dt.datetime.now(CST).date(), into, "ALL", False)


def test_a_day_without_trades_is_no_bill_and_nothing_is_written(platform, tmp_path):
    with (tmp_path / "bill.csv").open("wb") as into:
        assert v3_client(platform).download_trade_bill(dt.date(2026, 1, 1), into) is False
    assert (tmp_path / "bill.csv").read_bytes() == b""


class _Tampered(dict):
    """The simulator's download store, handing out each file with one byte changed."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def __setitem__(self, key, value):
        self.inner[key] = value[:-1] + (b"X" if value[-1:] != b"X" else b"Y")

    def get(self, key, default=None):
        return self.inner.get(key, default)


# ---- the v2 download, a bill still being made, discrepancies ------------------------------------------

@pytest.fixture
def wechatpay(platform):
    """The platform's WeChat Pay simulator, its bills' edits and making undone after the test."""
    yield platform.wechatpay
    platform.wechatpay.statement_edits.clear()
    platform.wechatpay.bills_creating.clear()


def v2_client():
    return merchants.client(merchants.by_mchid(devenv.DEV_V2_MCHID))


def a_paid_v2_order(platform, amount_fen: int = 1230) -> str:
    sim = platform.wechatpay
    order_id = "V2DL" + hashlib.sha1(str(dt.datetime.now()).encode()).hexdigest()[:18]
    sim._open_order(sim.merchants[devenv.DEV_V2_MCHID], "v2", platform.mini_program_app_id, order_id, amount_fen,
                    "http://127.0.0.1:9/", "o-bill", "门诊缴费, \"复诊\"", None)
    sim.pay(devenv.DEV_V2_MCHID, order_id, notify=False)
    return order_id


@pytest.mark.parametrize("compressed", [True, False])
def test_the_v2_adapter_downloads_the_bill_streamed_and_the_reader_reads_it_AD1(platform, tmp_path, compressed):
    from hospital.adapters import wechatpay_bill

    order_id = a_paid_v2_order(platform)
    target = tmp_path / "bill.csv"
    with target.open("wb") as into:
        assert v2_client().download_trade_bill(dt.datetime.now(CST).date(), into, "ALL", compressed) is True

    with target.open(encoding="utf-8", newline="") as bill_file:
        rows = [r for r in wechatpay_bill.read(bill_file) if r.out_trade_no == order_id]
    assert [(r.settlement_fen, r.mchid, r.product) for r in rows] == [(1230, devenv.DEV_V2_MCHID, '门诊缴费, "复诊"')]


def test_a_v2_day_without_trades_is_no_bill_and_nothing_is_written_AD1(platform, tmp_path):
    with (tmp_path / "bill.csv").open("wb") as into:
        assert v2_client().download_trade_bill(dt.date(2020, 1, 1), into, "ALL", True) is False
    assert (tmp_path / "bill.csv").read_bytes() == b""


def test_a_bill_still_being_made_is_asked_for_later_in_v2_and_v3(wechatpay, tmp_path):
    from hospital.adapters.wechatpay_v3 import BillNotReady

    day = dt.datetime.now(CST).date()
    wechatpay.bills_creating.add(day.isoformat())

    for client in (v2_client(), merchants.client(merchants.by_mchid(devenv.DEV_V3_MCHID))):
        with (tmp_path / "bill.csv").open("wb") as into, pytest.raises(BillNotReady):
            client.download_trade_bill(day, into)


def test_the_v2_simulator_refuses_bad_parameters_as_wechat_does_and_the_adapter_raises_its_refusal(platform, tmp_path):
    from hospital.adapters import wechatpay_v2
    from hospital.adapters.wechatpay_v3 import WeChatPayError

    with (tmp_path / "bill.csv").open("wb") as into, pytest.raises(WeChatPayError) as refused:
        v2_client().download_trade_bill(dt.datetime.now(CST).date(), into, "EVERYTHING")
    assert (refused.value.code, refused.value.message) == ("20001", "invalid bill_type")

    merchant = merchants.by_mchid(devenv.DEV_V2_MCHID)
    fields = {"appid": platform.mini_program_app_id, "mch_id": merchant.mchid, "nonce_str": "n" * 16,
              "bill_date": "2026-12-01", "bill_type": "ALL"}
    fields["sign"] = wechatpay_v2.sign(fields, merchant.api_key)
    body = "<xml>" + "".join(f"<{k}>{v}</{k}>" for k, v in fields.items()) + "</xml>"
    answer = wechatpay_v2.parse_xml(requests.post(f"{platform.wechatpay.url}/pay/downloadbill", data=body.encode(),
                                                  timeout=5).content)
    assert (answer["return_msg"], answer["error_code"]) == ("invalid bill_date", "20001")


def test_a_v2_answer_that_is_neither_bill_nor_xml_is_upstream_unavailable(wechatpay, platform, tmp_path):
    from hospital.errors import UpstreamUnavailable

    a_paid_v2_order(platform)
    wechatpay.inject_fault("/pay/downloadbill", "garbled")  # a proxy's HTML page

    with (tmp_path / "bill.csv").open("wb") as into, pytest.raises(UpstreamUnavailable, match="neither a bill"):
        v2_client().download_trade_bill(dt.datetime.now(CST).date(), into, "ALL", False)


def test_discrepancies_put_into_a_days_bill_show_and_its_summary_still_adds_up_AD1(wechatpay, platform):
    from hospital.adapters import wechatpay_bill

    day = dt.datetime.now(CST).date()
    dropped, changed, refunded = (a_paid_and_refunded_order(platform) for _ in range(3))
    wechatpay.statement_edits.drop(day, kind="payment", out_trade_no=dropped)
    wechatpay.statement_edits.change(day, {"kind": "payment", "out_trade_no": changed}, total=6100)
    wechatpay.statement_edits.change(day, {"kind": "payment", "out_trade_no": refunded}, bill_state="REVOKED")
    wechatpay.statement_edits.change(day, {"out_refund_no": "RF" + refunded}, status="ABNORMAL")
    wechatpay.statement_edits.add(day, {"kind": "payment", "out_trade_no": "STRAY-BILL-AD1", "total": 4321})

    text = wechatpay.trade_bill(devenv.DEV_V3_MCHID, day.isoformat(), "ALL")
    rows = {(r.out_trade_no, r.is_refund): r for r in wechatpay_bill.read(text.splitlines(keepends=True))}

    assert (dropped, False) not in rows and (dropped, True) in rows  # only its payment left the bill
    assert (rows[changed, False].settlement_fen, rows[changed, False].fee_fen) == (6100, 33)
    assert rows[refunded, False].trade_state == "REVOKED"
    assert rows[refunded, True].refund_status == "ABNORMAL"
    assert rows["STRAY-BILL-AD1", False].settlement_fen == 4321
    assert rows["STRAY-BILL-AD1", False].mchid == devenv.DEV_V3_MCHID
    assert wechatpay.orders[(devenv.DEV_V3_MCHID, changed)]["total"] == 6000  # only the bill changed
