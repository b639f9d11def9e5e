"""Scheduled: relays outbox messages whose own relay did not happen (crash, queue down)."""
from chalice import Chalice

from hospital import observability

app = Chalice(app_name="outbox_sweeper")
observability.setup_logging("outbox_sweeper")


@app.schedule("rate(1 minute)", name="sweep_outbox")
def sweep_outbox(event):
    from hospital import outbox

    return {"relayed": outbox.sweep()}
