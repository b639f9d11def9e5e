"""Back office: looking up the calls made to external systems (AS3), by order, case, patient,
system, outcome and time, newest first. IT administration and the super admin only: the
records tie patients to their rescue cases, orders and visits across every system, more than
finance's work needs (finance reads an order's provider state in its own back office). Every
search is audited."""
from hospital import settings, web
from hospital.auth import permissions

app = web.create_app("log_lookup", needs=(settings.DATABASE, settings.SESSIONS))


@web.route(app, "/admin/logs/external-calls", methods=["GET"], permission=permissions.LOGS_READ)
def search_external_calls():
    from hospital.external_calls import lookup

    lookup.unknown_filter(web.request().query_params or {})
    return web.respond(lookup.search(web.principal(), lookup.Filters(
        order_id=web.query("order_id"), case_id=web.query("case_id"), user_id=web.query("user_id"),
        system=web.query("system"), outcome=web.query_choice("outcome", lookup.OUTCOMES),
        since=web.query_time("from"), until=web.query_time("to"),
        limit=web.query_int("limit", default=lookup.DEFAULT_LIMIT, low=1, high=lookup.MAX_LIMIT))))
