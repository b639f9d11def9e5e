"""Outpatient schedule: reads the HIS's suspension feed and finishes stalled cancellations."""
from hospital import settings
from hospital.chalice_app import create_app

app = create_app("outpatient_sweeper", needs=(
    settings.DATABASE, settings.PERSONAL_DATA, settings.WECHAT, settings.QUEUES, settings.PAYMENTS, settings.HIS,
    settings.CREDIT, settings.MEDICAL_INSURANCE, settings.OUTPATIENT))


@app.schedule("rate(1 minute)", name="sweep_outpatient")
def sweep_outpatient(event):
    from hospital.outpatient import sweeper

    return sweeper.run()
