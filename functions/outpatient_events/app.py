"""Outpatient-events queue consumer: finds the registrations in a suspension, then cancels,
refunds and tells each patient, one message per registration (OS1-OS3)."""
from hospital import settings
from hospital.chalice_app import create_app

app = create_app("outpatient_events", needs=(
    settings.DATABASE, settings.PERSONAL_DATA, settings.WECHAT, settings.QUEUES, settings.PAYMENTS, settings.HIS,
    settings.CREDIT, settings.MEDICAL_INSURANCE, settings.OUTPATIENT))


@app.on_sqs_message(queue="OutpatientEventsQueue", batch_size=10, name="handle_outpatient_events")
def handle_outpatient_events(event):
    from hospital.messaging import process_batch
    from hospital.outpatient import consumer

    return process_batch(event, consumer.OUTPATIENT_EVENTS)
