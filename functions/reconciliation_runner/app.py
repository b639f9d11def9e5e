"""Scheduled: reconciles yesterday once its statements are ready (10:00 Beijing), and tries
again the days whose statements were still being made or whose run failed (AD1)."""
from hospital import settings
from hospital.chalice_app import create_app

app = create_app("reconciliation_runner", needs=(
    settings.DATABASE, settings.PAYMENTS, settings.HIS, settings.CREDIT, settings.MEDICAL_INSURANCE))


@app.schedule("rate(15 minutes)", name="reconcile_due_days")
def reconcile_due_days(event):
    from hospital.reconciliation import schedule

    return schedule.run_due()
