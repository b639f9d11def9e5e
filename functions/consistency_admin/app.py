"""Back office for data consistency (AS4): run every check now, list the stored reports, read
one with the rows that broke each check. IT administration sees every check, finance the
money's. Every call is audited."""
from hospital import settings, web
from hospital.auth import permissions

answers = web.lazy("hospital.reconciliation.answers")

app = web.create_app("consistency_admin", needs=(settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA))


@web.route(app, "/admin/consistency/runs", methods=["POST"], permission=permissions.CONSISTENCY_CHECK,
           response=answers.ConsistencyReport, success=(201,))
def run_checks():
    """Run every consistency check now and store the report.

    201 with the report, showing the checks the caller's roles may see."""
    from hospital.reconciliation import consistency_reports

    return web.respond(consistency_reports.run_now(web.principal()), status=201)


@web.route(app, "/admin/consistency/reports", methods=["GET"], permission=permissions.CONSISTENCY_CHECK,
           query=(web.Int("limit", default=20, low=1, high=100),), response=answers.ConsistencyReportPage)
def list_reports():
    """The latest stored reports, newest first, without the rows that broke each check."""
    from hospital.reconciliation import consistency_reports

    return web.respond(consistency_reports.list_reports(web.principal(), web.args().limit))


@web.route(app, "/admin/consistency/reports/{report_id}", methods=["GET"], permission=permissions.CONSISTENCY_CHECK,
           response=answers.ConsistencyReport)
def get_report(report_id):
    """One stored report with the rows that broke each check the caller may see."""
    from hospital.reconciliation import consistency_reports

    return web.respond(consistency_reports.get_report(web.principal(), report_id))
