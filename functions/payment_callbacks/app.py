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
# Each platform is answered in its own format, a refusal or our own trouble too (the statuses
# below: 400 malformed, 401 not verified, 413 too large, 500 and 503 ours, with Retry-After).
SUCCESS_XML = web.Raw("text/xml", "WeChat Pay API v2's <xml><return_code>SUCCESS</return_code></xml>")
FAIL_XML = web.Raw("text/xml", "Answered in WeChat Pay API v2's FAIL XML.")
FAIL_JSON = web.Raw("application/json", 'Answered in the platform\'s own JSON: {"code": "FAIL", "message"}.')


def _answer(platform: str, handle) -> Response:
    from hospital.payments import platform_answers

    request = web.request()
    answer = platform_answers.guarded(platform, handle, dict(request.headers), request.raw_body or b"")
    return Response(body=answer.body, status_code=answer.status,
                    headers={"Content-Type": f"{answer.content_type}; charset=utf-8", **answer.headers})


@web.route(app, "/callbacks/wechatpay/v3", methods=["POST"], public=True, content_types=PLATFORM_TYPES,
           success=(204,), errors=(400, 401, 413), error_body=FAIL_JSON)
def wechatpay_v3():
    """WeChat Pay API v3 notifications of payments, insurance mixed payments and refunds.

    Verified by the platform's signature and applied once; 204 when taken (a repeat too). A
    refusal answers WeChat Pay's {"code": "FAIL", "message": ...} as application/json."""
    from hospital.payments import callbacks

    return _answer("wechatpay_v3", callbacks.handle_v3)


@web.route(app, "/callbacks/wechatpay/v2/payment", methods=["POST"], public=True, content_types=PLATFORM_TYPES,
           response=SUCCESS_XML, errors=(400, 401, 413), error_body=FAIL_XML)
def wechatpay_v2_payment():
    """WeChat Pay API v2 payment notifications (XML, signed with the merchant key).

    Applied once; answered SUCCESS in XML when taken. A refusal answers the FAIL XML as text/xml."""
    from hospital.payments import callbacks

    return _answer("wechatpay_v2", callbacks.handle_v2_payment)


@web.route(app, "/callbacks/credit", methods=["POST"], public=True, content_types=PLATFORM_TYPES,
           response=web.Raw("application/json", 'The credit provider\'s {"code": "SUCCESS"}'), errors=(401, 413),
           error_body=FAIL_JSON)
def credit_provider():
    """The credit provider's settlement and overdue notices, verified and applied once.

    A refusal answers {"code": "FAIL", "message": ...} as application/json."""
    from hospital.payments import credit_care

    return _answer("credit", credit_care.handle_callback)


@web.route(app, "/callbacks/medical-insurance", methods=["POST"], public=True, content_types=PLATFORM_TYPES,
           response=web.Raw("application/json", 'The insurance platform\'s {"infcode": 0}'), errors=(401, 413),
           error_body=web.Raw("application/json", 'Answered in the platform\'s own JSON: {"infcode": -1, "err_msg"}.'))
def medical_insurance_platform():
    """The medical-insurance platform's settlement and refund notices, verified and applied once.

    A refusal answers {"infcode": -1, "err_msg": ...} as application/json."""
    from hospital.payments import medical_insurance

    return _answer("medical_insurance", medical_insurance.handle_callback)


@web.route(app, "/callbacks/wechatpay/v2/refund", methods=["POST"], public=True, content_types=PLATFORM_TYPES,
           response=SUCCESS_XML, errors=(400, 401, 413), error_body=FAIL_XML)
def wechatpay_v2_refund():
    """WeChat Pay API v2 refund notifications (XML, its details encrypted with the merchant key).

    Applied once; answered SUCCESS in XML when taken. A refusal answers the FAIL XML as text/xml."""
    from hospital.payments import callbacks

    return _answer("wechatpay_v2", callbacks.handle_v2_refund)
