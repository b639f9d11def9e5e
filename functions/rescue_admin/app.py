"""Back office for emergency rescue: dispatch records and statistics, CSV export, and the
full case with the caller's details for the roles allowed (EA1, EA2, EA3)."""
from hospital import settings, web
from hospital.auth import permissions

answers = web.lazy("hospital.rescue.answers")

app = web.create_app("rescue_admin", needs=(
    settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA, settings.TRIAGE))


@web.route(app, "/admin/rescue/dispatches", methods=["GET"], permission=permissions.RESCUE_RECORDS,
           query=(web.Date("from", description="first local (Asia/Shanghai) day a case came in"),
                  web.Date("to", description="last local day, at most a year after from"),
                  web.Text("vehicle_id", max_length=32),
                  web.Choice("outcome", ("completed", "cancelled", "open")),
                  web.Choice("format", ("json", "csv"), default="json")),
           response=answers.DispatchRecords,
           also=(web.Raw("text/csv", "with format=csv: the records as a CSV download (UTF-8 with BOM)"),))
def dispatch_records():
    """Dispatch records of the cases received between two days, with counts and interval statistics.

    format=csv answers the records as a CSV download instead of JSON."""
    from chalice import Response

    from hospital import audit
    from hospital.rescue import reports

    args = web.args()
    report = reports.dispatch_records(getattr(args, "from"), args.to, args.vehicle_id, args.outcome)
    audit.record(web.principal(), "rescue.dispatch_records", "report", None, "ok",
                 {"from": report["from"], "to": report["to"], "count": report["count"]})
    if args.format == "csv":
        return Response(body=reports.as_csv(report), status_code=200, headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="dispatches-{report["from"]}-{report["to"]}.csv"'})
    return web.respond(report)


@web.route(app, "/admin/rescue/cases/{case_id}", methods=["GET"], permission=permissions.RESCUE_RECORDS,
           response=answers.AdminCase)
def case_for_admin(case_id):
    """The full case and timeline, with the caller's details only for the roles that may see them."""
    from hospital.rescue import reports

    return web.respond(reports.case_for_admin(web.principal(), case_id))
