"""Payment events queue consumer: confirms paid orders with the HIS (or refunds them by policy)."""
from hospital import settings
from hospital.chalice_app import create_app

app = create_app("payment_events", needs=(
    settings.DATABASE, settings.PERSONAL_DATA, settings.QUEUES, settings.PAYMENTS, settings.HIS,
    settings.CREDIT, settings.MEDICAL_INSURANCE))


@app.on_sqs_message(queue="PaymentEventsQueue", batch_size=5, name="handle_payment_events")
def handle_payment_events(event):
    from hospital.messaging import process_batch
    from hospital.payments import consumer

    return process_batch(event, consumer.PAYMENT_EVENTS)
