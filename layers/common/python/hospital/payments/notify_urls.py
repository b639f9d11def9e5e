"""Where providers send their notifications: our API's public base URL (PAYMENT_NOTIFY_BASE_URL,
from template.yaml) plus the callback paths. WeChat Pay refuses a notify_url with a query
string, so everything the callback needs is in the body."""
from hospital import settings


def _base() -> str:
    return settings.PAYMENT_NOTIFY_BASE_URL.get().rstrip("/")


def v3() -> str:
    return f"{_base()}/callbacks/wechatpay/v3"


def v2_payment() -> str:
    return f"{_base()}/callbacks/wechatpay/v2/payment"


def v2_refund() -> str:
    return f"{_base()}/callbacks/wechatpay/v2/refund"
