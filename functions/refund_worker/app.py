"""Refunds queue consumer: has the provider refund (idempotently, by out_refund_no) and records the answer."""
from hospital import settings
from hospital.chalice_app import create_app

app = create_app("refund_worker", needs=(
    settings.DATABASE, settings.PERSONAL_DATA, settings.QUEUES, settings.PAYMENTS, settings.HIS,
    settings.CREDIT, settings.MEDICAL_INSURANCE))


@app.on_sqs_message(queue="RefundsQueue", batch_size=5, name="handle_refunds")
def handle_refunds(event):
    from hospital.messaging import process_batch
    from hospital.payments import consumer

    return process_batch(event, consumer.REFUNDS)
