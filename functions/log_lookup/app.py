"""Back office: looking up the calls made to external systems (AS3), by order, case, patient,
system, outcome and time, newest first. IT administration and the super admin only: the
records tie patients to their rescue cases, orders and visits across every system, more than
finance's work needs (finance reads an order's provider state in its own back office). Every
search is audited."""
from hospital import settings, web
from hospital.auth import permissions
from hospital.external_calls import call_rules

answers = web.lazy("hospital.external_calls.answers")

app = web.create_app("log_lookup", needs=(settings.DATABASE, settings.SESSIONS))


@web.route(app, "/admin/logs/external-calls", methods=["GET"], permission=permissions.LOGS_READ,
           query=(web.Text("order_id", max_length=32), web.Text("case_id", max_length=32),
                  web.Text("user_id", max_length=20, description="the patient's user id"),
                  web.Text("system", max_length=32, description="e.g. wechatpay_v3 or his"),
                  web.Choice("outcome", call_rules.OUTCOMES),
                  web.Time("from", description="calls begun at or after this time"),
                  web.Time("to", description="calls begun before this time"),
                  web.Int("limit", default=call_rules.LOOKUP_DEFAULT_LIMIT, low=1, high=call_rules.LOOKUP_MAX_LIMIT)),
           response=answers.ExternalCalls, strict_query=True)
def search_external_calls():
    """The calls to external systems that match every filter given, newest first.

    A filter the route does not know is refused (400 naming it) rather than ignored. The
    search is audited."""
    from hospital.external_calls import lookup

    args = web.args()
    return web.respond(lookup.search(web.principal(), lookup.Filters(
        order_id=args.order_id, case_id=args.case_id, user_id=args.user_id, system=args.system,
        outcome=args.outcome, since=getattr(args, "from"), until=args.to, limit=args.limit)))
