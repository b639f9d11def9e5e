"""Usage guidance for the back office (AS2): feedback tickets the front desk files and IT works
to closed (every call audited; the front desk sees only its own tickets), and the FAQ that
finance and the front desk keep and every staff role reads and searches in Chinese."""
from hospital import settings, text, web
from hospital.auth import permissions
from hospital.helpdesk import faq_rules, ticket_rules

answers = web.lazy("hospital.helpdesk.answers")
models = web.lazy("hospital.helpdesk.models")

app = web.create_app("helpdesk", needs=(settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA))
FILERS = permissions.FEEDBACK_FILE
WORKERS = permissions.FEEDBACK_WORK
TICKET_USERS = permissions.FEEDBACK_FOLLOW
FAQ_READERS = permissions.FAQ_READ
FAQ_EDITORS = permissions.FAQ_EDIT
FAQ_BODY_BYTES = 64 * 1024
BEFORE = web.Int("before", low=1, high=text.MAX_ID, required=False, description="the next_before of the previous page")
TICKET_QUERY = (web.Choice("status", ticket_rules.STATUSES), web.Choice("category", ticket_rules.CATEGORIES),
                web.Choice("mine", ("true", "false"), default="false",
                           description="for IT: only the tickets assigned to the caller"),
                BEFORE, web.Int("limit", default=ticket_rules.DEFAULT_LIMIT, low=1, high=ticket_rules.MAX_LIMIT))
# A pasted paragraph searches by its first terms (search_rules.MAX_QUERY_TERMS).
FAQ_QUERY = (web.Text("q", max_length=500, description="words or Chinese text to search for"),
             web.Choice("category", faq_rules.CATEGORIES), BEFORE,
             web.Int("limit", default=faq_rules.DEFAULT_LIMIT, low=1, high=faq_rules.MAX_LIMIT))


# ---- feedback tickets -------------------------------------------------------------------------------

@web.route(app, "/admin/feedback/tickets", methods=["POST"], permission=FILERS, body=models.NewTicket,
           response=answers.Ticket, success=(201, 200), errors=(404, 409))
def file_ticket():
    """File a feedback ticket, optionally naming the order, registration or case it is about.

    201 for a new ticket; 200 with the same ticket when the same request_id is sent again with
    the same content (a retry); 409 request_id_reused when it came with other content. 404
    unknown_reference when the named record does not exist."""
    from hospital.helpdesk import tickets

    ticket, created = tickets.create(web.principal(), web.body())
    return web.respond(ticket, status=201 if created else 200)


@web.route(app, "/admin/feedback/tickets", methods=["GET"], permission=TICKET_USERS, query=TICKET_QUERY,
           response=answers.TicketPage, strict_query=True)
def list_tickets():
    """Tickets newest first, a page at a time: the front desk sees those it filed, IT all.

    Any other query parameter is refused (400), so a misspelt filter never widens the list."""
    from hospital.helpdesk import tickets

    args = web.args()
    return web.respond(tickets.listing(web.principal(), tickets.Filters(
        status=args.status, category=args.category, mine=args.mine == "true", before=args.before, limit=args.limit)))


@web.route(app, "/admin/feedback/tickets/{ticket_id}", methods=["GET"], permission=TICKET_USERS,
           response=answers.TicketDetail)
def ticket_detail(ticket_id):
    """A ticket with its history and what the caller may do next."""
    from hospital.helpdesk import tickets

    return web.respond(tickets.detail(web.principal(), ticket_id))


@web.route(app, "/admin/feedback/tickets/{ticket_id}/comments", methods=["POST"], permission=TICKET_USERS,
           body=models.TicketComment, response=answers.TicketDetail, success=(201,), errors=(409,))
def comment_ticket(ticket_id):
    """Comment on a ticket; a closed one takes no comments (409 ticket_closed)."""
    from hospital.helpdesk import tickets

    tickets.ticket_number(ticket_id)  # a bad id is named before the body
    return web.respond(tickets.comment(web.principal(), ticket_id, web.body().note), status=201)


@web.route(app, "/admin/feedback/tickets/{ticket_id}/assignee", methods=["PUT"], permission=WORKERS,
           body=models.TicketAssignee, response=answers.TicketDetail, errors=(409,))
def assign_ticket(ticket_id):
    """Assign a ticket to someone who works tickets; assigning the same person again changes nothing."""
    from hospital.helpdesk import tickets

    tickets.ticket_number(ticket_id)
    body = web.body()
    return web.respond(tickets.assign(web.principal(), ticket_id, body.assignee_user_id))


@web.route(app, "/admin/feedback/tickets/{ticket_id}/status", methods=["POST"], permission=TICKET_USERS,
           body=models.TicketMove, response=answers.TicketDetail, errors=(409,))
def move_ticket(ticket_id):
    """Move a ticket along its flow with a note: IT works it forward, its filer reopens it once resolved.

    409 invalid_transition for no such move, stale_status when it changed meanwhile."""
    from hospital.helpdesk import tickets

    tickets.ticket_number(ticket_id)
    body = web.body()
    return web.respond(tickets.move(web.principal(), ticket_id, body.status, body.note))


# ---- FAQ ----------------------------------------------------------------------------------------------

@web.route(app, "/admin/faq/entries", methods=["GET"], permission=FAQ_READERS, query=FAQ_QUERY,
           response=answers.FaqPage, strict_query=True)
def search_faq():
    """FAQ entries: with q, the best matches ranked; without, newest first, a page at a time.

    Any other query parameter is refused (400); before pages only a listing without q."""
    from hospital.helpdesk import faq

    args = web.args()
    return web.respond(faq.search(args.q, args.category, args.limit, args.before))


@web.route(app, "/admin/faq/entries/{entry_id}", methods=["GET"], permission=FAQ_READERS,
           response=answers.FaqEntryView)
def faq_entry(entry_id):
    """One FAQ entry."""
    from hospital.helpdesk import faq

    return web.respond(faq.get(entry_id))


@web.route(app, "/admin/faq/entries", methods=["POST"], permission=FAQ_EDITORS, body=models.FaqEntry,
           max_body=FAQ_BODY_BYTES, response=answers.FaqEntryView, success=(201,))
def create_faq_entry():
    """Add a FAQ entry, at version 1."""
    from hospital.helpdesk import faq

    return web.respond(faq.create(web.principal(), web.body()), status=201)


@web.route(app, "/admin/faq/entries/{entry_id}", methods=["PUT"], permission=FAQ_EDITORS, body=models.FaqEdit,
           max_body=FAQ_BODY_BYTES, response=answers.FaqEntryView, errors=(409,))
def update_faq_entry(entry_id):
    """Replace a FAQ entry, naming the version it was read at.

    409 stale_version when someone changed it since: reload it."""
    from hospital.helpdesk import faq

    faq.entry_number(entry_id)
    return web.respond(faq.update(web.principal(), entry_id, web.body()))


@web.route(app, "/admin/faq/entries/{entry_id}", methods=["DELETE"], permission=FAQ_EDITORS,
           query=(web.Int("version", low=1, high=2**31 - 1, description="the version the entry was read at"),),
           errors=(409,))
def delete_faq_entry(entry_id):
    """Delete a FAQ entry, naming the version it was read at.

    409 stale_version when someone changed it since: reload it."""
    from hospital.helpdesk import faq

    faq.entry_number(entry_id)
    faq.delete(web.principal(), entry_id, web.args().version)
    return web.respond(None, status=204)
