"""Patients paying their HIS bills: an order per bill (the amount is the HIS's), paying it
with WeChat Pay (the signed parameters for wx.requestPayment), medical insurance or on
credit, their own orders with their refunds, and their credit-care enrolment (OC1, OC2)."""
from hospital import settings, web
from hospital.auth import permissions

answers = web.lazy("hospital.payments.answers")
models = web.lazy("hospital.payments.models")

app = web.create_app("payments_api", needs=(
    settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA, settings.QUEUES, settings.PAYMENTS,
    settings.HIS, settings.CREDIT, settings.MEDICAL_INSURANCE))


@web.route(app, "/payments/orders", methods=["POST"], permission=permissions.PAYMENTS_PAY, body=models.NewOrder,
           response=answers.Order, success=(201, 200), errors=(404, 409))
def create_order():
    """Open an order for one of the caller's HIS bills; the amount is the HIS's.

    201 for a new order, 200 with the open order when the bill already has one of the caller's.
    404 when the HIS has no such bill of the caller's cards."""
    from hospital.payments import orders

    body = web.body()
    order, created = orders.create(web.principal(), body.kind, body.his_ref)
    return web.respond(order, status=201 if created else 200)


@web.route(app, "/payments/orders", methods=["GET"], permission=permissions.PAYMENTS_PAY,
           query=(web.Int("limit", default=20, low=1, high=100),), response=answers.OrderPage)
def list_orders():
    """The caller's orders, newest first."""
    from hospital.payments import orders

    return web.respond(orders.list_own(web.principal(), web.args().limit))


@web.route(app, "/payments/orders/{order_id}", methods=["GET"], permission=permissions.PAYMENTS_PAY,
           response=answers.OrderWithRefunds)
def get_order(order_id):
    """One of the caller's orders with its refunds."""
    from hospital.payments import orders

    return web.respond(orders.get_view(web.principal(), order_id))


@web.route(app, "/payments/orders/{order_id}/pay", methods=["POST"], permission=permissions.PAYMENTS_PAY,
           body=models.PayOrder, response=answers.PayAnswer, errors=(409,))
def pay_order(order_id):
    """Pay an order by a channel: wechat (default), med_ins (with the insurance auth_code) or credit.

    WeChat Pay answers the order with the signed parameters for wx.requestPayment (asking again
    while it is being paid answers the same prepay); medical insurance the order with the
    settled split; credit care the order, charged at once, with its refunds."""
    from hospital.payments import checkout

    body = web.body()
    source_ip = (web.request().context.get("identity") or {}).get("sourceIp") or "127.0.0.1"
    return web.respond(checkout.pay(web.principal(), order_id, channel=body.channel, client_ip=source_ip,
                                    auth_code=body.auth_code))


@web.route(app, "/credit/enrolment", methods=["POST"], permission=permissions.PAYMENTS_PAY,
           body=models.CreditEnrolment, response=answers.CreditCare, success=(201, 200), errors=(409,))
def enrol_in_credit_care():
    """Enrol in credit care with the patient's consent.

    201 for a new enrolment, 200 with the enrolment when already enrolled."""
    from hospital.payments import credit_care

    body = web.body()
    enrolment, created = credit_care.enrol(web.principal(), body.consent_version)
    return web.respond(enrolment, status=201 if created else 200)


@web.route(app, "/credit/enrolment", methods=["GET"], permission=permissions.PAYMENTS_PAY,
           response=answers.CreditCare)
def credit_care_status():
    """The caller's credit-care enrolment, as the provider sees it, and their debts."""
    from hospital.payments import credit_care

    return web.respond(credit_care.status(web.principal()))


@web.route(app, "/credit/enrolment", methods=["DELETE"], permission=permissions.PAYMENTS_PAY,
           response=answers.CreditWithdrawal, errors=(404, 409))
def withdraw_from_credit_care():
    """Withdraw from credit care.

    404 when not enrolled, 409 while a credit-care debt is outstanding."""
    from hospital.payments import credit_care

    return web.respond(credit_care.withdraw(web.principal()))
