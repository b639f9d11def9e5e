"""Scheduled: republishes the event of any rescue case not alerted two minutes after intake."""
from hospital import settings
from hospital.chalice_app import create_app

app = create_app("rescue_watchdog", needs=(settings.DATABASE, settings.PERSONAL_DATA, settings.QUEUES))


@app.schedule("rate(1 minute)", name="watch_unalerted_cases")
def watch_unalerted_cases(event):
    from hospital.rescue import watchdog

    return {"republished": watchdog.republish_unalerted()}
