"""Payment platform callbacks. No session: each verifies its platform's signature instead,
applies the news once, and answers in the platform's format (hospital.payments.callbacks)."""
from chalice import Response

from hospital import web

app = web.create_app("payment_callbacks")
PLATFORM_TYPES = ["application/json", "text/xml", "application/xml", "text/plain"]


def _answer(answer) -> Response:
    return Response(body=answer.body, status_code=answer.status,
                    headers={"Content-Type": f"{answer.content_type}; charset=utf-8"})


@web.route(app, "/callbacks/wechatpay/v3", methods=["POST"], public=True, content_types=PLATFORM_TYPES)
def wechatpay_v3():
    from hospital.payments import callbacks

    request = web.request()
    return _answer(callbacks.handle_v3(dict(request.headers), request.raw_body or b""))


@web.route(app, "/callbacks/wechatpay/v2/payment", methods=["POST"], public=True, content_types=PLATFORM_TYPES)
def wechatpay_v2_payment():
    from hospital.payments import callbacks

    return _answer(callbacks.handle_v2_payment(web.request().raw_body or b""))


@web.route(app, "/callbacks/credit", methods=["POST"], public=True, content_types=PLATFORM_TYPES)
def credit_provider():
    from hospital.payments import credit_care

    request = web.request()
    status, body = credit_care.handle_callback(dict(request.headers), request.raw_body or b"")
    return web.respond(body, status=status)


@web.route(app, "/callbacks/medical-insurance", methods=["POST"], public=True, content_types=PLATFORM_TYPES)
def medical_insurance_platform():
    from hospital.payments import medical_insurance

    request = web.request()
    status, body = medical_insurance.handle_callback(dict(request.headers), request.raw_body or b"")
    return web.respond(body, status=status)


@web.route(app, "/callbacks/wechatpay/v2/refund", methods=["POST"], public=True, content_types=PLATFORM_TYPES)
def wechatpay_v2_refund():
    from hospital.payments import callbacks

    return _answer(callbacks.handle_v2_refund(web.request().raw_body or b""))
