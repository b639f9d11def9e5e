"""Scheduled: puts on finance's work list the orders and refunds stuck past their thresholds
(AS1), once each, and resolves the ones recorded before that have since cleared."""
from hospital import settings
from hospital.chalice_app import create_app

app = create_app("payments_watchdog", needs=(settings.DATABASE, settings.PAYMENT_WATCHDOG))


@app.schedule("rate(5 minutes)", name="watch_abnormal_orders")
def watch_abnormal_orders(event):
    from hospital.payments import watchdog

    return watchdog.run()
