"""Outbound calls reuse connections: the calls of one adapter in a container go over one TCP
connection (counted by the simulator that accepted them); GET queries, and partner queries
marked as such, are retried after a 5xx or a reset connection, while calls that create or
move money are sent once; a timeout is not retried."""
import datetime as dt
import time
import uuid

import pytest

from hospital.adapters import his, http_sessions, wechatpay_v3
from hospital.adapters.triage import TriageApi
from hospital.adapters.wechat import WeChatApi
from hospital.errors import UpstreamUnavailable
from hospital.payments import merchants
from infra import devenv

V3, V2 = devenv.DEV_V3_MCHID, devenv.DEV_V2_MCHID
ORDER_QUERY = "/v3/pay/transactions/out-trade-no/{out_trade_no}"
REFUNDS = "/v3/refund/domestic/refunds"
HIS_GATEWAY = "/his/gateway"
CST = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def new_container(platform):
    """A container that has made no call yet: no session, no connection."""
    http_sessions.close_all()
    yield
    for simulator in (platform.wechatpay, platform.his):
        simulator.clear_faults()


def v3_order(platform) -> tuple:
    """(client, out_trade_no) of an order opened at the simulator through the v3 adapter."""
    client = merchants.client(merchants.by_mchid(V3))
    out_trade_no = f"CN{uuid.uuid4().hex[:20]}"
    client.jsapi_prepay(appid=platform.mini_program_app_id, description="挂号费", out_trade_no=out_trade_no,
                        amount_fen=100, openid="o-conn-test", notify_url=f"{platform.api.url}/callbacks/wechatpay/v3",
                        time_expire=(dt.datetime.now(CST) + dt.timedelta(minutes=15)).isoformat(timespec="seconds"))
    return client, out_trade_no


def test_five_v3_order_queries_go_over_one_connection(platform, new_container):
    before = platform.wechatpay.connections()
    _, out_trade_no = v3_order(platform)
    for _ in range(5):  # a new client per call, as the payment code makes them
        assert merchants.client(merchants.by_mchid(V3)).query_order(out_trade_no)["trade_state"] == "NOTPAY"
    assert platform.wechatpay.connections() - before == 1


def test_each_adapter_keeps_one_connection_across_its_calls(platform, new_container):
    v2_client = merchants.client(merchants.by_mchid(V2))
    out_trade_no = f"CN{uuid.uuid4().hex[:20]}"
    bill = platform.his.add_bill(f"P{uuid.uuid4().hex[:10].upper()}", "25.00")
    secret = platform.wechat_secrets[platform.mini_program_app_id]

    def v2_calls():
        v2_client.unified_order(description="挂号费", out_trade_no=out_trade_no, amount_fen=100, openid="o-conn",
                                notify_url=f"{platform.api.url}/callbacks/wechatpay/v2/payment",
                                time_expire=dt.datetime.now(CST) + dt.timedelta(minutes=15), client_ip="127.0.0.1")
        for _ in range(4):
            assert v2_client.query_order(out_trade_no)["trade_state"] == "NOTPAY"

    def his_calls():  # the partner call that HIS, insurance and credit share
        for _ in range(5):
            assert his.client().bill(bill["bill_no"]).amount_fen == 2500

    def triage_calls():
        case_id = uuid.uuid4().hex
        for version in (1, 2, 3):
            TriageApi(platform.triage.url, devenv.TRIAGE_DEV_KEY).push_case({
                "case_id": case_id, "version": version, "status": "received", "received_at": "2026-11-26T08:30:00Z",
                "location": {"latitude": 31.23, "longitude": 121.47, "coord_system": "gcj02"}})

    def wechat_calls():
        for _ in range(3):
            assert WeChatApi(platform.wechat.url).fetch_stable_token(platform.mini_program_app_id, secret)[0]

    for simulator, calls in ((platform.wechatpay, v2_calls), (platform.his, his_calls),
                             (platform.triage, triage_calls), (platform.wechat, wechat_calls)):
        before = simulator.connections()
        calls()
        assert simulator.connections() - before == 1, calls.__name__


def test_a_v3_query_is_retried_after_a_5xx_or_a_reset_and_a_refund_is_sent_once(platform, new_container):
    sim = platform.wechatpay
    client, out_trade_no = v3_order(platform)
    for mode in ("http500", "reset"):
        calls = sim.stats().get(ORDER_QUERY, 0)
        sim.inject_fault(ORDER_QUERY, mode)
        assert client.query_order(out_trade_no)["trade_state"] == "NOTPAY", mode
        assert sim.stats()[ORDER_QUERY] - calls == 2, mode

    sim.pay(V3, out_trade_no, notify=False)
    for mode in ("http500", "reset"):
        calls = sim.stats().get(REFUNDS, 0)
        sim.inject_fault(REFUNDS, mode)
        with pytest.raises(UpstreamUnavailable):
            client.create_refund(out_trade_no=out_trade_no, out_refund_no=f"RF{uuid.uuid4().hex[:20]}", reason="test",
                                 refund_fen=100, total_fen=100, notify_url=f"{platform.api.url}/callbacks/wechatpay/v3")
        assert sim.stats()[REFUNDS] - calls == 1, mode
    assert not [r for r in sim.refunds.values() if r["out_trade_no"] == out_trade_no]


def test_a_query_that_times_out_is_not_retried(platform, new_container):
    sim = platform.wechatpay
    _, out_trade_no = v3_order(platform)
    impatient = wechatpay_v3.Client(merchants.by_mchid(V3), sim.url, timeout=0.3)
    calls = sim.stats().get(ORDER_QUERY, 0)
    sim.inject_fault(ORDER_QUERY, "timeout", seconds=1)
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable):
        impatient.query_order(out_trade_no)
    assert time.monotonic() - started < 0.9
    assert sim.stats()[ORDER_QUERY] - calls == 1


def test_the_his_bill_query_is_retried_and_the_payment_confirmation_is_not(platform, new_container):
    sim = platform.his
    bill = sim.add_bill(f"P{uuid.uuid4().hex[:10].upper()}", "25.00")
    for mode in ("http500", "reset"):
        calls = sim.stats().get(HIS_GATEWAY, 0)
        sim.inject_fault(HIS_GATEWAY, mode)
        assert his.client().bill(bill["bill_no"]).status == "unpaid", mode
        assert sim.stats()[HIS_GATEWAY] - calls == 2, mode
        calls = sim.stats()[HIS_GATEWAY]
        sim.inject_fault(HIS_GATEWAY, mode)
        with pytest.raises(UpstreamUnavailable):
            his.client().confirm_payment(bill_no=bill["bill_no"], pay_order_no=uuid.uuid4().hex,
                                         transaction_id="4200000000000000000000000000", amount_fen=2500,
                                         channel="wechat", paid_at="2026-11-26T08:30:00Z")
        assert sim.stats()[HIS_GATEWAY] - calls == 1, mode
    assert sim.bills[bill["bill_no"]]["status"] == "unpaid"


def test_a_query_whose_failure_came_slowly_is_not_retried(platform, new_container):
    """Retries are for quick failures only: a 5xx after a long wait is not tried again, so a
    query never runs much past what its timeouts allow."""
    sim = platform.wechatpay
    client, out_trade_no = v3_order(platform)
    calls = sim.stats().get(ORDER_QUERY, 0)
    sim.inject_fault(ORDER_QUERY, "slow500", seconds=http_sessions.RETRY_WITHIN_SECONDS + 0.3)
    with pytest.raises(UpstreamUnavailable):
        client.query_order(out_trade_no)
    assert sim.stats()[ORDER_QUERY] - calls == 1
