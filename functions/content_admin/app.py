"""Back office of the WeChat site's content (AD3): pages, notices and menus kept in versions;
a draft is edited (each edit a new version, based on the latest), submitted, and approved
(published) or rejected by someone other than its author; an item is unpublished; any version
is restored as a new draft and reviewed again; any version previewed. Every call audited."""
from hospital import settings, web
from hospital.auth import permissions

app = web.create_app("content_admin", needs=(settings.DATABASE, settings.SESSIONS))
# Editing and publishing will be two permissions (content.edit, content.publish); the four-eyes
# rule already keeps an author from publishing their own version.
EDITORS = permissions.CONTENT_EDIT
PUBLISHERS = permissions.CONTENT_PUBLISH
ITEMS = "/admin/content/items"
VERSION = ITEMS + "/{item_id}/versions/{version}"
# A 200 KB body, JSON-escaped (quotes, non-ASCII as \uXXXX), with room for the other fields.
MAX_REQUEST_BYTES = 1024 * 1024


@web.route(app, ITEMS, methods=["GET"], permission=EDITORS)
def list_items():
    from hospital.content import admin, content_rules

    return web.respond(admin.listing(
        web.principal(), web.query_choice("kind", content_rules.KINDS),
        web.query_choice("status", content_rules.ITEM_STATUSES), web.query_choice("state", content_rules.STATES),
        web.query_int("limit", default=100, low=1, high=500)))


@web.route(app, ITEMS, methods=["POST"], permission=EDITORS)
def create_item():
    from hospital.content import admin, models

    return web.respond(admin.create(web.principal(), web.json_body(models.NewItem, MAX_REQUEST_BYTES)), status=201)


@web.route(app, ITEMS + "/{item_id}", methods=["GET"], permission=EDITORS)
def item_detail(item_id):
    from hospital.content import admin

    return web.respond(admin.detail(web.principal(), item_id))


@web.route(app, ITEMS + "/{item_id}/versions", methods=["POST"], permission=EDITORS)
def edit_item(item_id):
    from hospital.content import admin, models

    return web.respond(admin.edit(web.principal(), item_id, web.json_body(models.Edit, MAX_REQUEST_BYTES)),
                       status=201)


@web.route(app, VERSION, methods=["GET"], permission=EDITORS)
def preview_version(item_id, version):
    from hospital.content import admin

    return web.respond(admin.preview(web.principal(), item_id, admin.parse_version(version)))


@web.route(app, VERSION + "/submit", methods=["POST"], permission=EDITORS)
def submit_version(item_id, version):
    from hospital.content import admin

    return web.respond(admin.submit(web.principal(), item_id, admin.parse_version(version)))


@web.route(app, VERSION + "/approve", methods=["POST"], permission=PUBLISHERS)
def approve_version(item_id, version):
    from hospital.content import admin, models

    body = _optional_body(models.Approval)
    return web.respond(admin.approve(web.principal(), item_id, admin.parse_version(version), body.note))


@web.route(app, VERSION + "/reject", methods=["POST"], permission=PUBLISHERS)
def reject_version(item_id, version):
    from hospital.content import admin, models

    body = web.json_body(models.Rejection)
    return web.respond(admin.reject(web.principal(), item_id, admin.parse_version(version), body.note))


@web.route(app, VERSION + "/restore", methods=["POST"], permission=EDITORS)
def restore_version(item_id, version):
    from hospital.content import admin, models

    body = web.json_body(models.Restore)
    return web.respond(admin.restore(web.principal(), item_id, admin.parse_version(version), body.base_version),
                       status=201)


@web.route(app, ITEMS + "/{item_id}/unpublish", methods=["POST"], permission=PUBLISHERS)
def unpublish_item(item_id):
    from hospital.content import admin

    return web.respond(admin.unpublish(web.principal(), item_id))


def _optional_body(model):
    """An approval may carry a note, or no body at all."""
    raw = web.request().raw_body or b""
    return model() if not raw.strip() else web.json_body(model)
