"""Back office for the audit log (NF1): verify its hash chain (the first broken link, or how
many entries hold) and search its entries by actor, action, target and time, newest first. IT
administration and the super admin only: the log tells who did what to which patient's record.
Every call is audited, in the log it reads."""
from hospital import audit_trail, settings, web
from hospital.auth import permissions

audit_trail_answers = web.lazy("hospital.audit_trail_answers")

app = web.create_app("audit_admin", needs=(settings.DATABASE, settings.SESSIONS))


@web.route(app, "/admin/audit/verify", methods=["GET"], permission=permissions.AUDIT_READ,
           response=audit_trail_answers.ChainCheck)
def verify_chain():
    """Walk the audit log's hash chain: its first broken link, or how many entries hold.

    A broken chain is still a 200, with ok false. The check is audited."""
    return web.respond(audit_trail.verify(web.principal()))


@web.route(app, "/admin/audit/entries", methods=["GET"], permission=permissions.AUDIT_READ,
           query=(web.Text("actor", max_length=20, description="the acting user's id"),
                  web.Text("action", max_length=64, description="e.g. payments.refund"),
                  web.Text("target_type", max_length=64), web.Text("target_id", max_length=64),
                  web.Time("from", description="entries at or after this time"),
                  web.Time("to", description="entries before this time"),
                  web.Text("before", max_length=20, description="the next_before of the previous page"),
                  web.Int("limit", default=audit_trail.DEFAULT_LIMIT, low=1, high=audit_trail.MAX_LIMIT)),
           response=audit_trail_answers.Entries, strict_query=True)
def search_entries():
    """The audit log's entries that match every filter given, newest first, a page at a time.

    A filter the route does not know is refused (400 naming it) rather than ignored. The
    search is audited."""
    args = web.args()
    return web.respond(audit_trail.search(web.principal(), audit_trail.Filters(
        actor=args.actor, action=args.action, target_type=args.target_type, target_id=args.target_id,
        since=getattr(args, "from"), until=args.to, before=args.before, limit=args.limit)))
