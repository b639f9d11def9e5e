"""Scheduled: relays outbox messages whose own relay did not happen (crash, queue down)."""
from hospital import settings
from hospital.chalice_app import create_app

app = create_app("outbox_sweeper", needs=(settings.DATABASE, settings.QUEUES))


@app.schedule("rate(1 minute)", name="sweep_outbox")
def sweep_outbox(event):
    from hospital import outbox

    return {"relayed": outbox.sweep()}
