"""Scheduled, daily: runs every consistency check (AS4), stores the report and logs a warning
naming the checks found broken."""
from hospital import settings
from hospital.chalice_app import create_app

app = create_app("consistency_checks", needs=(settings.DATABASE, settings.PERSONAL_DATA))


# 03:30 in the hospital (UTC+8): after the day's sweeps, before the working day.
@app.schedule("cron(30 19 * * ? *)", name="check_consistency")
def check_consistency(event):
    from hospital.reconciliation import consistency_reports

    return consistency_reports.run_scheduled()
