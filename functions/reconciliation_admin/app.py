"""Back office for finance: the nightly reconciliation's runs and findings (AD1): list, detail,
CSV export, resolve with a note, run a day now or from a bill file given by hand. Audited."""
from hospital import settings, web
from hospital.auth import permissions

payment_models = web.lazy("hospital.payments.models")
answers = web.lazy("hospital.reconciliation.answers")
models = web.lazy("hospital.reconciliation.models")

app = web.create_app("reconciliation_admin", needs=(
    settings.DATABASE, settings.SESSIONS, settings.PAYMENTS, settings.HIS, settings.CREDIT,
    settings.MEDICAL_INSURANCE))
KINDS = ("missing_ours", "missing_provider", "missing_his", "amount_mismatch", "status_mismatch", "fee_mismatch",
         "merchant_mismatch")
SOURCES = ("wechatpay", "medical_insurance", "credit", "his")
BILL_TYPES = ["text/csv", "text/plain", "application/octet-stream"]
# Lambda takes a request of at most 6 MB; a larger day is reconciled with `python -m infra.manage reconcile`.
MAX_BILL_BYTES = 5 * 1024 * 1024
FILTERS = (web.Choice("kind", KINDS), web.Choice("status", ("open", "resolved")), web.Choice("source", SOURCES))


def _filters(args) -> tuple[str | None, str | None, str | None]:
    return args.kind, args.status, args.source


@web.route(app, "/admin/reconciliation/findings", methods=["GET"], permission=permissions.RECONCILIATION_READ,
           query=(web.Date("date", required=False), *FILTERS, web.Int("limit", default=50, low=1, high=500),
                  web.Int("before", low=1, high=2**63 - 1, required=False,
                          description="the next_before of the previous page; absent: from the newest")),
           response=answers.FindingPage)
def list_findings():
    """Findings, newest first, of a day or all, by kind, status and source, a page at a time.

    With date=, the day's totals by kind come too."""
    from hospital.reconciliation import findings

    args = web.args()
    return web.respond(findings.listing(web.principal(), args.date, *_filters(args), args.limit,
                                        args.before))


@web.route(app, "/admin/reconciliation/findings.csv", methods=["GET"], permission=permissions.RECONCILIATION_READ,
           query=(web.Date("date"), *FILTERS),
           response=web.Raw("text/csv", "The day's findings as CSV (UTF-8 with a byte-order mark); the header "
                                        "X-Export-Truncated says whether it was cut short"))
def export_findings():
    """A day's findings as a CSV download, by kind, status and source."""
    from hospital.reconciliation import findings

    args = web.args()
    day = args.date
    body, truncated = findings.export_csv(web.principal(), day, *_filters(args))
    return web.Response(body=body, status_code=200, headers={
        "Content-Type": "text/csv; charset=utf-8", "X-Export-Truncated": "true" if truncated else "false",
        "Content-Disposition": f'attachment; filename="reconciliation-{day.isoformat()}.csv"'})


@web.route(app, "/admin/reconciliation/findings/{finding_id}", methods=["GET"],
           permission=permissions.RECONCILIATION_READ, response=answers.FindingDetail)
def finding_detail(finding_id):
    """A finding with our order of the trade and the run that found it."""
    from hospital.reconciliation import findings

    return web.respond(findings.detail(web.principal(), finding_id))


@web.route(app, "/admin/reconciliation/findings/{finding_id}/resolve", methods=["POST"],
           permission=permissions.RECONCILIATION_MANAGE, body=payment_models.Resolution, response=answers.Finding,
           errors=(409,))
def resolve_finding(finding_id):
    """Resolve a finding with a note; money is never changed here.

    409 when it is already resolved."""
    from hospital.reconciliation import findings

    body = web.body()
    return web.respond(findings.resolve(web.principal(), finding_id, body.resolution))


@web.route(app, "/admin/reconciliation/runs", methods=["GET"], permission=permissions.RECONCILIATION_READ,
           query=(web.Date("date", required=False), web.Int("limit", default=20, low=1, high=200)),
           response=answers.RunPage)
def list_runs():
    """Reconciliation runs, newest first, of a day or all."""
    from hospital.reconciliation import findings

    args = web.args()
    return web.respond(findings.run_listing(web.principal(), args.date, args.limit))


@web.route(app, "/admin/reconciliation/runs/{run_id}", methods=["GET"], permission=permissions.RECONCILIATION_READ,
           response=answers.Run)
def run_detail(run_id):
    """One reconciliation run with its inputs and counts."""
    from hospital.reconciliation import findings

    return web.respond(findings.run_detail(web.principal(), run_id))


@web.route(app, "/admin/reconciliation/runs", methods=["POST"], permission=permissions.RECONCILIATION_MANAGE,
           body=models.RunRequest, response=answers.Run, success=(201,), errors=(409,))
def run_now():
    """Reconcile a day now, downloading its statements.

    201 with the run: done, waiting (a statement is not ready yet) or failed. 409 while
    another run holds the day."""
    from hospital.reconciliation import findings

    body = web.body()
    return web.respond(findings.start(web.principal(), body.date), status=201)


@web.route(app, "/admin/reconciliation/uploads", methods=["POST"], permission=permissions.RECONCILIATION_MANAGE,
           content_types=BILL_TYPES, query=(web.Date("date"),), response=answers.Run, success=(201,),
           errors=(409, 413))
def run_from_bill_file():
    """Reconcile a day from the WeChat Pay bill file sent as the body (text/csv).

    The file must be of that day and cover every merchant with trades that day. 201 with the
    run; 413 above 5 MB (that day is reconciled with the operator command); 409 while another
    run holds the day."""
    from hospital.errors import PayloadTooLarge, ValidationFailed
    from hospital.reconciliation import findings

    day = web.args().date
    raw = web.request().raw_body or b""
    if not raw.strip():
        raise ValidationFailed("the body must be the WeChat Pay bill file of the day", field="bill",
                               code="missing_body")
    if len(raw) > MAX_BILL_BYTES:
        raise PayloadTooLarge(f"a bill file larger than {MAX_BILL_BYTES} bytes is reconciled with the "
                              "operator command", field="bill")
    return web.respond(findings.start(web.principal(), day, bill_text=raw), status=201)
