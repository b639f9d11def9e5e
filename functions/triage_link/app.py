"""Triage queue consumer: pushes rescue cases to the ED triage system (ER7)."""
from hospital import settings
from hospital.chalice_app import create_app

app = create_app("triage_link", needs=(
    settings.DATABASE, settings.PERSONAL_DATA, settings.WECHAT, settings.QUEUES, settings.LIVE, settings.TRIAGE))


@app.on_sqs_message(queue="TriageQueue", batch_size=5, name="handle_triage_messages")
def handle_triage_messages(event):
    from hospital.messaging import process_batch
    from hospital.rescue import consumer

    return process_batch(event, consumer.TRIAGE)
