"""Back office for data consistency (AS4): run every check now, list the stored reports, read
one with the rows that broke each check. IT administration sees every check, finance the
money's. Every call is audited."""
from hospital import settings, web
from hospital.auth import roles

app = web.create_app("consistency_admin", needs=(settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA))
CHECKERS = {roles.FINANCE, roles.IT_ADMIN, roles.SUPER_ADMIN}


@web.route(app, "/admin/consistency/runs", methods=["POST"], allow=CHECKERS)
def run_checks():
    from hospital.reconciliation import consistency_reports

    return web.respond(consistency_reports.run_now(web.principal()), status=201)


@web.route(app, "/admin/consistency/reports", methods=["GET"], allow=CHECKERS)
def list_reports():
    from hospital.reconciliation import consistency_reports

    return web.respond(consistency_reports.list_reports(web.principal(),
                                                        web.query_int("limit", default=20, low=1, high=100)))


@web.route(app, "/admin/consistency/reports/{report_id}", methods=["GET"], allow=CHECKERS)
def get_report(report_id):
    from hospital.reconciliation import consistency_reports

    return web.respond(consistency_reports.get_report(web.principal(), report_id))
