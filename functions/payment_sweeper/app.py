"""Scheduled: closes expired unpaid orders, queries unnotified payments and processing
refunds, resends what went missing, refunds by policy what the HIS never confirmed."""
from hospital import settings
from hospital.chalice_app import create_app

app = create_app("payment_sweeper", needs=(
    settings.DATABASE, settings.PERSONAL_DATA, settings.QUEUES, settings.PAYMENTS, settings.HIS,
    settings.CREDIT, settings.MEDICAL_INSURANCE))


@app.schedule("rate(1 minute)", name="sweep_payments")
def sweep_payments(event):
    from hospital.payments import sweeper

    return sweeper.run()
