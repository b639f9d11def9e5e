"""Back office for data consistency (AS4): run every check now, list the stored reports, read
one with the rows that broke each check. IT administration sees every check, finance the
money's. Every call is audited."""
from hospital import settings, web
from hospital.auth import permissions

app = web.create_app("consistency_admin", needs=(settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA))


@web.route(app, "/admin/consistency/runs", methods=["POST"], permission=permissions.CONSISTENCY_CHECK)
def run_checks():
    from hospital.reconciliation import consistency_reports

    return web.respond(consistency_reports.run_now(web.principal()), status=201)


@web.route(app, "/admin/consistency/reports", methods=["GET"], permission=permissions.CONSISTENCY_CHECK)
def list_reports():
    from hospital.reconciliation import consistency_reports

    return web.respond(consistency_reports.list_reports(web.principal(),
                                                        web.query_int("limit", default=20, low=1, high=100)))


@web.route(app, "/admin/consistency/reports/{report_id}", methods=["GET"], permission=permissions.CONSISTENCY_CHECK)
def get_report(report_id):
    from hospital.reconciliation import consistency_reports

    return web.respond(consistency_reports.get_report(web.principal(), report_id))
