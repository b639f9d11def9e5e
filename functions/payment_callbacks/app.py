"""Payment platform callbacks. No session: each verifies its platform's signature instead,
applies the news once, and answers in the platform's format (hospital.payments.callbacks).
Every one passes the same guard first: a size limit, and the platform's own failure answer
when our side is in trouble (hospital.payments.platform_answers)."""
from chalice import Response

from hospital import settings, web

app = web.create_app("payment_callbacks", needs=(
    settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA, settings.QUEUES, settings.PAYMENTS,
    settings.HIS, settings.CREDIT, settings.MEDICAL_INSURANCE))
PLATFORM_TYPES = ["application/json", "text/xml", "application/xml", "text/plain"]


def _answer(platform: str, handle) -> Response:
    from hospital.payments import platform_answers

    request = web.request()
    answer = platform_answers.guarded(platform, handle, dict(request.headers), request.raw_body or b"")
    return Response(body=answer.body, status_code=answer.status,
                    headers={"Content-Type": f"{answer.content_type}; charset=utf-8", **answer.headers})


@web.route(app, "/callbacks/wechatpay/v3", methods=["POST"], public=True, content_types=PLATFORM_TYPES)
def wechatpay_v3():
    from hospital.payments import callbacks

    return _answer("wechatpay_v3", callbacks.handle_v3)


@web.route(app, "/callbacks/wechatpay/v2/payment", methods=["POST"], public=True, content_types=PLATFORM_TYPES)
def wechatpay_v2_payment():
    from hospital.payments import callbacks

    return _answer("wechatpay_v2", callbacks.handle_v2_payment)


@web.route(app, "/callbacks/credit", methods=["POST"], public=True, content_types=PLATFORM_TYPES)
def credit_provider():
    from hospital.payments import credit_care

    return _answer("credit", credit_care.handle_callback)


@web.route(app, "/callbacks/medical-insurance", methods=["POST"], public=True, content_types=PLATFORM_TYPES)
def medical_insurance_platform():
    from hospital.payments import medical_insurance

    return _answer("medical_insurance", medical_insurance.handle_callback)


@web.route(app, "/callbacks/wechatpay/v2/refund", methods=["POST"], public=True, content_types=PLATFORM_TYPES)
def wechatpay_v2_refund():
    from hospital.payments import callbacks

    return _answer("wechatpay_v2", callbacks.handle_v2_refund)
