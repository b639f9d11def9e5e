"""Scheduled: relays outbox messages unsent for 30 s: their own relay did not happen (crash, queue
down), or the container that relayed them went idle or died before recording the send."""
from hospital import settings
from hospital.chalice_app import create_app

app = create_app("outbox_sweeper", needs=(settings.DATABASE, settings.QUEUES))


@app.schedule("rate(1 minute)", name="sweep_outbox")
def sweep_outbox(event):
    from hospital import outbox

    return {"relayed": outbox.sweep()}
