"""Back office for finance: the nightly reconciliation's runs and findings (AD1): list, detail,
CSV export, resolve with a note, run a day now or from a bill file given by hand. Audited."""
from hospital import settings, web
from hospital.auth import permissions

app = web.create_app("reconciliation_admin", needs=(
    settings.DATABASE, settings.SESSIONS, settings.PAYMENTS, settings.HIS, settings.CREDIT,
    settings.MEDICAL_INSURANCE))
KINDS = ("missing_ours", "missing_provider", "missing_his", "amount_mismatch", "status_mismatch", "fee_mismatch",
         "merchant_mismatch")
SOURCES = ("wechatpay", "medical_insurance", "credit", "his")
BILL_TYPES = ["text/csv", "text/plain", "application/octet-stream"]
# Lambda takes a request of at most 6 MB; a larger day is reconciled with `python -m infra.manage reconcile`.
MAX_BILL_BYTES = 5 * 1024 * 1024


def _filters() -> tuple[str | None, str | None, str | None]:
    return (web.query_choice("kind", KINDS), web.query_choice("status", ("open", "resolved")),
            web.query_choice("source", SOURCES))


@web.route(app, "/admin/reconciliation/findings", methods=["GET"], permission=permissions.RECONCILIATION_READ)
def list_findings():
    from hospital.reconciliation import findings

    day = web.query_date("date") if web.query("date") is not None else None
    before = web.query_int("before", default=0, low=1, high=2**63 - 1) if web.query("before") else None
    return web.respond(findings.listing(web.principal(), day, *_filters(),
                                        web.query_int("limit", default=50, low=1, high=500), before))


@web.route(app, "/admin/reconciliation/findings.csv", methods=["GET"], permission=permissions.RECONCILIATION_READ)
def export_findings():
    from hospital.reconciliation import findings

    day = web.query_date("date")
    body, truncated = findings.export_csv(web.principal(), day, *_filters())
    return web.Response(body=body, status_code=200, headers={
        "Content-Type": "text/csv; charset=utf-8", "X-Export-Truncated": "true" if truncated else "false",
        "Content-Disposition": f'attachment; filename="reconciliation-{day.isoformat()}.csv"'})


@web.route(app, "/admin/reconciliation/findings/{finding_id}", methods=["GET"],
           permission=permissions.RECONCILIATION_READ)
def finding_detail(finding_id):
    from hospital.reconciliation import findings

    return web.respond(findings.detail(web.principal(), finding_id))


@web.route(app, "/admin/reconciliation/findings/{finding_id}/resolve", methods=["POST"],
           permission=permissions.RECONCILIATION_MANAGE)
def resolve_finding(finding_id):
    from hospital.payments import models
    from hospital.reconciliation import findings

    body = web.json_body(models.Resolution)
    return web.respond(findings.resolve(web.principal(), finding_id, body.resolution))


@web.route(app, "/admin/reconciliation/runs", methods=["GET"], permission=permissions.RECONCILIATION_READ)
def list_runs():
    from hospital.reconciliation import findings

    day = web.query_date("date") if web.query("date") is not None else None
    return web.respond(findings.run_listing(web.principal(), day, web.query_int("limit", default=20, low=1, high=200)))


@web.route(app, "/admin/reconciliation/runs/{run_id}", methods=["GET"], permission=permissions.RECONCILIATION_READ)
def run_detail(run_id):
    from hospital.reconciliation import findings

    return web.respond(findings.run_detail(web.principal(), run_id))


@web.route(app, "/admin/reconciliation/runs", methods=["POST"], permission=permissions.RECONCILIATION_MANAGE)
def run_now():
    from hospital.reconciliation import findings, models

    body = web.json_body(models.RunRequest)
    return web.respond(findings.start(web.principal(), body.date), status=201)


@web.route(app, "/admin/reconciliation/uploads", methods=["POST"], permission=permissions.RECONCILIATION_MANAGE,
           content_types=BILL_TYPES)
def run_from_bill_file():
    from hospital.errors import PayloadTooLarge, ValidationFailed
    from hospital.reconciliation import findings

    day = web.query_date("date")
    raw = web.request().raw_body or b""
    if not raw.strip():
        raise ValidationFailed("the body must be the WeChat Pay bill file of the day", field="bill",
                               code="missing_body")
    if len(raw) > MAX_BILL_BYTES:
        raise PayloadTooLarge(f"a bill file larger than {MAX_BILL_BYTES} bytes is reconciled with the "
                              "operator command", field="bill")
    return web.respond(findings.start(web.principal(), day, bill_text=raw), status=201)
