"""Back office for emergency rescue: dispatch records and statistics, CSV export, and the
full case with the caller's details for the roles allowed (EA1, EA2, EA3)."""
from hospital import settings, web
from hospital.auth import permissions

app = web.create_app("rescue_admin", needs=(
    settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA, settings.TRIAGE))


@web.route(app, "/admin/rescue/dispatches", methods=["GET"], permission=permissions.RESCUE_RECORDS)
def dispatch_records():
    from chalice import Response

    from hospital import audit
    from hospital.rescue import reports

    date_from, date_to = web.query_date("from"), web.query_date("to")
    outcome = web.query_choice("outcome", ("completed", "cancelled", "open"))
    report = reports.dispatch_records(date_from, date_to, web.query("vehicle_id"), outcome)
    audit.record(web.principal(), "rescue.dispatch_records", "report", None, "ok",
                 {"from": report["from"], "to": report["to"], "count": report["count"]})
    if web.query("format") == "csv":
        return Response(body=reports.as_csv(report), status_code=200, headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="dispatches-{report["from"]}-{report["to"]}.csv"'})
    return web.respond(report)


@web.route(app, "/admin/rescue/cases/{case_id}", methods=["GET"], permission=permissions.RESCUE_RECORDS)
def case_for_admin(case_id):
    from hospital.rescue import reports

    return web.respond(reports.case_for_admin(web.principal(), case_id))
