"""Usage guidance for the back office (AS2): feedback tickets the front desk files and IT works
to closed (every call audited; the front desk sees only its own tickets), and the FAQ that
finance and the front desk keep and every staff role reads and searches in Chinese."""
from hospital import settings, web
from hospital.auth import permissions

app = web.create_app("helpdesk", needs=(settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA))
FILERS = permissions.FEEDBACK_FILE
WORKERS = permissions.FEEDBACK_WORK
TICKET_USERS = permissions.FEEDBACK_FOLLOW
FAQ_READERS = permissions.FAQ_READ
FAQ_EDITORS = permissions.FAQ_EDIT
TICKET_FILTERS = ("status", "category", "mine", "before", "limit")
FAQ_FILTERS = ("q", "category", "before", "limit")


def _known_filters(names: tuple[str, ...]) -> None:
    """A filter spelt wrong would widen the listing without a word: refused, naming it."""
    from hospital.errors import ValidationFailed

    for name in sorted(web.request().query_params or {}):
        if name not in names:
            raise ValidationFailed(f"unknown filter; use {', '.join(names)}", field=name)


def _before() -> int | None:
    from hospital import text

    return web.query_int("before", default=0, low=1, high=text.MAX_ID) if web.query("before") is not None else None


# ---- feedback tickets -------------------------------------------------------------------------------

@web.route(app, "/admin/feedback/tickets", methods=["POST"], permission=FILERS)
def file_ticket():
    from hospital.helpdesk import models, tickets

    ticket, created = tickets.create(web.principal(), web.json_body(models.NewTicket))
    return web.respond(ticket, status=201 if created else 200)


@web.route(app, "/admin/feedback/tickets", methods=["GET"], permission=TICKET_USERS)
def list_tickets():
    from hospital.helpdesk import ticket_rules, tickets

    _known_filters(TICKET_FILTERS)
    return web.respond(tickets.listing(web.principal(), tickets.Filters(
        status=web.query_choice("status", ticket_rules.STATUSES),
        category=web.query_choice("category", ticket_rules.CATEGORIES),
        mine=web.query_choice("mine", ("true", "false")) == "true", before=_before(),
        limit=web.query_int("limit", default=tickets.DEFAULT_LIMIT, low=1, high=tickets.MAX_LIMIT))))


@web.route(app, "/admin/feedback/tickets/{ticket_id}", methods=["GET"], permission=TICKET_USERS)
def ticket_detail(ticket_id):
    from hospital.helpdesk import tickets

    return web.respond(tickets.detail(web.principal(), ticket_id))


@web.route(app, "/admin/feedback/tickets/{ticket_id}/comments", methods=["POST"], permission=TICKET_USERS)
def comment_ticket(ticket_id):
    from hospital.helpdesk import models, tickets

    tickets.ticket_number(ticket_id)  # a bad id is named before the body
    return web.respond(tickets.comment(web.principal(), ticket_id, web.json_body(models.TicketComment).note),
                       status=201)


@web.route(app, "/admin/feedback/tickets/{ticket_id}/assignee", methods=["PUT"], permission=WORKERS)
def assign_ticket(ticket_id):
    from hospital.helpdesk import models, tickets

    tickets.ticket_number(ticket_id)
    body = web.json_body(models.TicketAssignee)
    return web.respond(tickets.assign(web.principal(), ticket_id, body.assignee_user_id))


@web.route(app, "/admin/feedback/tickets/{ticket_id}/status", methods=["POST"], permission=TICKET_USERS)
def move_ticket(ticket_id):
    from hospital.helpdesk import models, tickets

    tickets.ticket_number(ticket_id)
    body = web.json_body(models.TicketMove)
    return web.respond(tickets.move(web.principal(), ticket_id, body.status, body.note))


# ---- FAQ ----------------------------------------------------------------------------------------------

@web.route(app, "/admin/faq/entries", methods=["GET"], permission=FAQ_READERS)
def search_faq():
    from hospital.helpdesk import faq, faq_rules

    _known_filters(FAQ_FILTERS)
    query = web.query("q")
    return web.respond(faq.search(
        query, web.query_choice("category", faq_rules.CATEGORIES),
        web.query_int("limit", default=faq_rules.DEFAULT_LIMIT, low=1, high=faq_rules.MAX_LIMIT), _before()))


@web.route(app, "/admin/faq/entries/{entry_id}", methods=["GET"], permission=FAQ_READERS)
def faq_entry(entry_id):
    from hospital.helpdesk import faq

    return web.respond(faq.get(entry_id))


@web.route(app, "/admin/faq/entries", methods=["POST"], permission=FAQ_EDITORS)
def create_faq_entry():
    from hospital.helpdesk import faq, models

    return web.respond(faq.create(web.principal(), web.json_body(models.FaqEntry, max_bytes=64 * 1024)), status=201)


@web.route(app, "/admin/faq/entries/{entry_id}", methods=["PUT"], permission=FAQ_EDITORS)
def update_faq_entry(entry_id):
    from hospital.helpdesk import faq, models

    faq.entry_number(entry_id)
    return web.respond(faq.update(web.principal(), entry_id, web.json_body(models.FaqEdit, max_bytes=64 * 1024)))


@web.route(app, "/admin/faq/entries/{entry_id}", methods=["DELETE"], permission=FAQ_EDITORS)
def delete_faq_entry(entry_id):
    from hospital.errors import ValidationFailed
    from hospital.helpdesk import faq

    faq.entry_number(entry_id)
    if web.query("version") is None:
        raise ValidationFailed("version is required: the version the entry was read at", field="version")
    faq.delete(web.principal(), entry_id, web.query_int("version", default=1, low=1, high=2**31 - 1))
    return web.respond(None, status=204)
