"""Back office for money (finance): abnormal orders and the safe actions on them (ask the
provider again, retry the HIS, refund, resolve), an order with its refunds and ledger, refunds
by hand, and the ledger's balance check. Every call is audited."""
from hospital import settings, web
from hospital.auth import permissions

answers = web.lazy("hospital.payments.answers")
models = web.lazy("hospital.payments.models")

app = web.create_app("payments_admin", needs=(
    settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA, settings.QUEUES, settings.PAYMENTS,
    settings.HIS, settings.CREDIT, settings.MEDICAL_INSURANCE))


@web.route(app, "/admin/payments/anomalies", methods=["GET"], permission=permissions.PAYMENTS_READ,
           query=(web.Choice("state", ("open", "resolved", "all"), default="open"),
                  web.Int("limit", default=50, low=1, high=500)),
           response=answers.AnomalyPage)
def list_anomalies():
    """Abnormal orders, newest first, with the actions finance may take on each."""
    from hospital.payments import admin

    args = web.args()
    return web.respond(admin.anomalies(web.principal(), args.state, args.limit))


@web.route(app, "/admin/payments/anomalies/{anomaly_id}/resolve", methods=["POST"],
           permission=permissions.PAYMENTS_MANAGE, body=models.Resolution, response=answers.Anomaly, errors=(409,))
def resolve_anomaly(anomaly_id):
    """Resolve an abnormal order with finance's note; nothing else changes.

    409 when it is already resolved."""
    from hospital.payments import anomaly_actions

    body = web.body()
    return web.respond(anomaly_actions.resolve(web.principal(), anomaly_id, body.resolution))


@web.route(app, "/admin/payments/anomalies/{anomaly_id}/actions", methods=["POST"],
           permission=permissions.PAYMENTS_MANAGE, body=models.AnomalyAction, response=answers.AnomalyActionResult,
           success=(200, 202), errors=(409,))
def act_on_anomaly(anomaly_id):
    """Take one of the entry's allowed actions: query_provider, retry_his, refund or resolve.

    202 for a refund (the money goes back later; asking again finds the same refund), 200
    otherwise, with how the order and its refunds stand. 409 when the entry does not allow it."""
    from hospital.payments import anomaly_actions

    body = web.body()
    answer, later = anomaly_actions.act(web.principal(), anomaly_id, body.action, body.note, body.amount_fen)
    return web.respond(answer, status=202 if later else 200)


@web.route(app, "/admin/payments/orders/{order_id}", methods=["GET"], permission=permissions.PAYMENTS_READ,
           response=answers.OrderForFinance)
def order_for_finance(order_id):
    """An order with its refunds and its ledger entries."""
    from hospital.payments import admin

    return web.respond(admin.order(web.principal(), order_id))


@web.route(app, "/admin/payments/orders/{order_id}/refunds", methods=["POST"], permission=permissions.PAYMENTS_MANAGE,
           body=models.RefundRequest, response=answers.Refund, success=(202,), errors=(409,))
def refund_by_hand(order_id):
    """Refund part or all of a paid order; the money goes back later.

    Asking again with the same reason answers the same refund. 409 when more than what is left
    to refund is asked."""
    from hospital.payments import admin

    body = web.body()
    return web.respond(admin.refund(web.principal(), order_id, body.amount_fen, body.reason), status=202)


@web.route(app, "/admin/payments/credit-debts", methods=["GET"], permission=permissions.PAYMENTS_READ,
           query=(web.Choice("status", ("open", "overdue", "settled", "reversed")),
                  web.Int("limit", default=50, low=1, high=500)),
           response=answers.DebtPage)
def credit_debts():
    """Credit-care debts, latest changed first, all or of one status."""
    from hospital.payments import credit_care

    args = web.args()
    return web.respond(credit_care.debts_for_finance(web.principal(), args.status, args.limit))


@web.route(app, "/admin/payments/ledger-check", methods=["GET"], permission=permissions.PAYMENTS_READ,
           response=answers.LedgerCheck)
def ledger_check():
    """Whether the ledger adds up to every order's paid and refunded amounts, with the orders that do not."""
    from hospital.payments import admin

    return web.respond(admin.ledger_check(web.principal()))
