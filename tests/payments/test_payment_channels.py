"""The channel registry with the merchants of the WeChat Pay secret (embedded AWS, no
database): a WeChat Pay order is served by the API its merchant speaks, an order not yet
opened at a merchant by the API of the merchant new orders go to."""
from types import SimpleNamespace

from hospital.payments.channels import registry
from hospital.payments.channels.wechatpay_v2 import WeChatPayV2
from hospital.payments.channels.wechatpay_v3 import WeChatPayV3
from infra import devenv


def test_a_wechat_pay_order_is_served_by_the_api_of_its_merchant(platform, monkeypatch):
    assert isinstance(registry.for_order(SimpleNamespace(channel="wechat", mchid=devenv.DEV_V3_MCHID)), WeChatPayV3)
    assert isinstance(registry.for_order(SimpleNamespace(channel="wechat", mchid=devenv.DEV_V2_MCHID)), WeChatPayV2)
    new = SimpleNamespace(channel=None, mchid=None)
    monkeypatch.setenv("WECHATPAY_MCHID", devenv.DEV_V3_MCHID)
    assert isinstance(registry.for_payment("wechat", new), WeChatPayV3)
    monkeypatch.setenv("WECHATPAY_MCHID", devenv.DEV_V2_MCHID)
    assert isinstance(registry.for_payment("wechat", new), WeChatPayV2)
