"""Rescue events queue consumer: records the `alerted` node of each new case (ER3)."""
from hospital import settings
from hospital.chalice_app import create_app

app = create_app("rescue_events", needs=(
    settings.DATABASE, settings.PERSONAL_DATA, settings.WECHAT, settings.QUEUES, settings.LIVE, settings.TRIAGE))


@app.on_sqs_message(queue="RescueEventsQueue", batch_size=10, name="handle_rescue_events")
def handle_rescue_events(event):
    from hospital.messaging import process_batch
    from hospital.rescue import consumer

    return process_batch(event, consumer.RESCUE_EVENTS)
