"""Scheduled: relays outbox messages unsent for 30 s: their own relay did not happen (crash, queue
down), or the container that relayed them went idle or died before recording the send. Each run
also publishes the dead-letter queues' depths (hospital.queue_depths), a minute apart."""
from hospital import settings
from hospital.chalice_app import create_app

app = create_app("outbox_sweeper", needs=(settings.DATABASE, settings.QUEUES, settings.DEAD_LETTER_QUEUES))


@app.schedule("rate(1 minute)", name="sweep_outbox")
def sweep_outbox(event):
    from hospital import outbox, queue_depths

    try:
        return {"relayed": outbox.sweep()}
    finally:  # even when the sweep fails (its database down); never raises itself
        queue_depths.publish_dead_letter_depths()
