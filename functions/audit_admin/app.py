"""Back office for the audit log (NF1): verify its hash chain (the first broken link, or how
many entries hold) and search its entries by actor, action, target and time, newest first. IT
administration and the super admin only: the log tells who did what to which patient's record.
Every call is audited, in the log it reads."""
from hospital import settings, web
from hospital.auth import permissions

app = web.create_app("audit_admin", needs=(settings.DATABASE, settings.SESSIONS))


@web.route(app, "/admin/audit/verify", methods=["GET"], permission=permissions.AUDIT_READ)
def verify_chain():
    from hospital import audit_trail

    return web.respond(audit_trail.verify(web.principal()))


@web.route(app, "/admin/audit/entries", methods=["GET"], permission=permissions.AUDIT_READ)
def search_entries():
    from hospital import audit_trail

    audit_trail.unknown_filter(web.request().query_params or {})
    return web.respond(audit_trail.search(web.principal(), audit_trail.Filters(
        actor=web.query("actor"), action=web.query("action"), target_type=web.query("target_type"),
        target_id=web.query("target_id"), since=web.query_time("from"), until=web.query_time("to"),
        before=web.query("before"),
        limit=web.query_int("limit", default=audit_trail.DEFAULT_LIMIT, low=1, high=audit_trail.MAX_LIMIT))))
