"""Back office for money (finance): abnormal orders and the safe actions on them (ask the
provider again, retry the HIS, refund, resolve), an order with its refunds and ledger, refunds
by hand, and the ledger's balance check. Every call is audited."""
from hospital import settings, web
from hospital.auth import permissions

app = web.create_app("payments_admin", needs=(
    settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA, settings.QUEUES, settings.PAYMENTS,
    settings.HIS, settings.CREDIT, settings.MEDICAL_INSURANCE))


@web.route(app, "/admin/payments/anomalies", methods=["GET"], permission=permissions.PAYMENTS_READ)
def list_anomalies():
    from hospital.payments import admin

    return web.respond(admin.anomalies(web.principal(),
                                       web.query_choice("state", ("open", "resolved", "all")) or "open",
                                       web.query_int("limit", default=50, low=1, high=500)))


@web.route(app, "/admin/payments/anomalies/{anomaly_id}/resolve", methods=["POST"],
           permission=permissions.PAYMENTS_MANAGE)
def resolve_anomaly(anomaly_id):
    from hospital.payments import anomaly_actions, models

    body = web.json_body(models.Resolution)
    return web.respond(anomaly_actions.resolve(web.principal(), anomaly_id, body.resolution))


@web.route(app, "/admin/payments/anomalies/{anomaly_id}/actions", methods=["POST"],
           permission=permissions.PAYMENTS_MANAGE)
def act_on_anomaly(anomaly_id):
    from hospital.payments import anomaly_actions, models

    body = web.json_body(models.AnomalyAction)
    answer, later = anomaly_actions.act(web.principal(), anomaly_id, body.action, body.note, body.amount_fen)
    return web.respond(answer, status=202 if later else 200)


@web.route(app, "/admin/payments/orders/{order_id}", methods=["GET"], permission=permissions.PAYMENTS_READ)
def order_for_finance(order_id):
    from hospital.payments import admin

    return web.respond(admin.order(web.principal(), order_id))


@web.route(app, "/admin/payments/orders/{order_id}/refunds", methods=["POST"], permission=permissions.PAYMENTS_MANAGE)
def refund_by_hand(order_id):
    from hospital.payments import admin, models

    body = web.json_body(models.RefundRequest)
    return web.respond(admin.refund(web.principal(), order_id, body.amount_fen, body.reason), status=202)


@web.route(app, "/admin/payments/credit-debts", methods=["GET"], permission=permissions.PAYMENTS_READ)
def credit_debts():
    from hospital.payments import credit_care

    return web.respond(credit_care.debts_for_finance(
        web.principal(), web.query_choice("status", ("open", "overdue", "settled", "reversed")),
        web.query_int("limit", default=50, low=1, high=500)))


@web.route(app, "/admin/payments/ledger-check", methods=["GET"], permission=permissions.PAYMENTS_READ)
def ledger_check():
    from hospital.payments import admin

    return web.respond(admin.ledger_check(web.principal()))
