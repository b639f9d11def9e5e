"""Patients paying their HIS bills: an order per bill (the amount is the HIS's), paying it
with WeChat Pay (the signed parameters for wx.requestPayment), medical insurance or on
credit, their own orders with their refunds, and their credit-care enrolment (OC1, OC2)."""
from hospital import settings, web
from hospital.auth import permissions

app = web.create_app("payments_api", needs=(
    settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA, settings.QUEUES, settings.PAYMENTS,
    settings.HIS, settings.CREDIT, settings.MEDICAL_INSURANCE))


@web.route(app, "/payments/orders", methods=["POST"], permission=permissions.PAYMENTS_PAY)
def create_order():
    from hospital.payments import models, orders

    body = web.json_body(models.NewOrder)
    order, created = orders.create(web.principal(), body.kind, body.his_ref)
    return web.respond(order, status=201 if created else 200)


@web.route(app, "/payments/orders", methods=["GET"], permission=permissions.PAYMENTS_PAY)
def list_orders():
    from hospital.payments import orders

    return web.respond(orders.list_own(web.principal(), web.query_int("limit", default=20, low=1, high=100)))


@web.route(app, "/payments/orders/{order_id}", methods=["GET"], permission=permissions.PAYMENTS_PAY)
def get_order(order_id):
    from hospital.payments import orders

    return web.respond(orders.get_view(web.principal(), order_id))


@web.route(app, "/payments/orders/{order_id}/pay", methods=["POST"], permission=permissions.PAYMENTS_PAY)
def pay_order(order_id):
    from hospital.payments import checkout, models

    body = web.json_body(models.PayOrder)
    source_ip = (web.request().context.get("identity") or {}).get("sourceIp") or "127.0.0.1"
    return web.respond(checkout.pay(web.principal(), order_id, channel=body.channel, client_ip=source_ip,
                                    auth_code=body.auth_code))


@web.route(app, "/credit/enrolment", methods=["POST"], permission=permissions.PAYMENTS_PAY)
def enrol_in_credit_care():
    from hospital.payments import credit_care, models

    body = web.json_body(models.CreditEnrolment)
    enrolment, created = credit_care.enrol(web.principal(), body.consent_version)
    return web.respond(enrolment, status=201 if created else 200)


@web.route(app, "/credit/enrolment", methods=["GET"], permission=permissions.PAYMENTS_PAY)
def credit_care_status():
    from hospital.payments import credit_care

    return web.respond(credit_care.status(web.principal()))


@web.route(app, "/credit/enrolment", methods=["DELETE"], permission=permissions.PAYMENTS_PAY)
def withdraw_from_credit_care():
    from hospital.payments import credit_care

    return web.respond(credit_care.withdraw(web.principal()))
