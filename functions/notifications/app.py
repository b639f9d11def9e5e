"""Notifications queue consumer: WeChat subscribe messages to on-duty staff (ER3, ES1)."""
from hospital import settings
from hospital.chalice_app import create_app

app = create_app("notifications", needs=(
    settings.DATABASE, settings.PERSONAL_DATA, settings.WECHAT, settings.QUEUES, settings.LIVE, settings.TRIAGE))


@app.on_sqs_message(queue="NotificationsQueue", batch_size=10, name="handle_notifications")
def handle_notifications(event):
    from hospital.messaging import process_batch
    from hospital.rescue import consumer

    return process_batch(event, consumer.NOTIFICATIONS)
