"""Rescue events queue consumer: records the `alerted` node of each new case (ER3)."""
from chalice import Chalice

from hospital import observability

app = Chalice(app_name="rescue_events")
observability.setup_logging("rescue_events")


@app.on_sqs_message(queue="RescueEventsQueue", batch_size=10, name="handle_rescue_events")
def handle_rescue_events(event):
    from hospital.messaging import process_batch
    from hospital.rescue import consumer

    return process_batch(event, consumer.handle_message)
