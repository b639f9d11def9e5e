"""Scheduled: deletes the records of external calls older than EXTERNAL_CALL_RETENTION_DAYS
(30 by default), a batch at a time; what one run leaves, the next takes."""
from hospital import settings
from hospital.chalice_app import create_app

app = create_app("external_calls_expiry", needs=(settings.DATABASE, settings.EXTERNAL_CALLS))


@app.schedule("rate(1 hour)", name="expire_external_calls")
def expire_external_calls(event):
    from hospital.external_calls import expiry

    return expiry.expire()
