"""Back office of the WeChat site's content (AD3): pages, notices and menus kept in versions;
a draft is edited (each edit a new version, based on the latest), submitted, and approved
(published) or rejected by someone other than its author; an item is unpublished; any version
is restored as a new draft and reviewed again; any version previewed. Every call audited."""
from hospital import settings, web
from hospital.auth import permissions
from hospital.content import content_rules

answers = web.lazy("hospital.content.answers")
models = web.lazy("hospital.content.models")

app = web.create_app("content_admin", needs=(settings.DATABASE, settings.SESSIONS))
# Editing and publishing will be two permissions (content.edit, content.publish); the four-eyes
# rule already keeps an author from publishing their own version.
EDITORS = permissions.CONTENT_EDIT
PUBLISHERS = permissions.CONTENT_PUBLISH
ITEMS = "/admin/content/items"
VERSION = ITEMS + "/{item_id}/versions/{version}"
# A 200 KB body, JSON-escaped (quotes, non-ASCII as \uXXXX), with room for the other fields.
MAX_REQUEST_BYTES = 1024 * 1024


@web.route(app, ITEMS, methods=["GET"], permission=EDITORS, response=answers.ItemList,
           query=(web.Choice("kind", content_rules.KINDS), web.Choice("status", content_rules.ITEM_STATUSES),
                  web.Choice("state", content_rules.STATES, description="the latest version's state "
                             "(in_review: the reviewers' queue)"),
                  web.Int("limit", default=100, low=1, high=500)))
def list_items():
    """Items by kind and slug, each with its latest version's title and state."""
    from hospital.content import admin

    args = web.args()
    return web.respond(admin.listing(web.principal(), args.kind, args.status, args.state, args.limit))


@web.route(app, ITEMS, methods=["POST"], permission=EDITORS, body=models.NewItem, max_body=MAX_REQUEST_BYTES,
           response=answers.ItemDetail, success=(201,), errors=(409,))
def create_item():
    """Create an item with its first version, a draft.

    The slug is unique per kind (409 slug_taken). A page or notice has body_html (at most
    200 KB, sanitised), a menu its entries; only notices are pinned or shown in a window."""
    from hospital.content import admin

    return web.respond(admin.create(web.principal(), web.body()), status=201)


@web.route(app, ITEMS + "/{item_id}", methods=["GET"], permission=EDITORS, response=answers.ItemDetail)
def item_detail(item_id):
    """An item with the history of its versions, newest first."""
    from hospital.content import admin

    return web.respond(admin.detail(web.principal(), item_id))


@web.route(app, ITEMS + "/{item_id}/versions", methods=["POST"], permission=EDITORS, body=models.Edit,
           max_body=MAX_REQUEST_BYTES, response=answers.ItemDetail, success=(201,), errors=(409,))
def edit_item(item_id):
    """Save an edit as a new draft version.

    base_version must be the item's latest version, else 409 stale_base_version: reload and
    edit the latest. An unfinished (draft or in-review) version it replaces is superseded."""
    from hospital.content import admin

    return web.respond(admin.edit(web.principal(), item_id, web.body()), status=201)


@web.route(app, VERSION, methods=["GET"], permission=EDITORS, response=answers.VersionPreview)
def preview_version(item_id, version):
    """Any version as it would be served, published or not."""
    from hospital.content import admin

    return web.respond(admin.preview(web.principal(), item_id, admin.parse_version(version)))


@web.route(app, VERSION + "/submit", methods=["POST"], permission=EDITORS, response=answers.ItemDetail,
           errors=(409,))
def submit_version(item_id, version):
    """Submit the latest version, a draft, for review."""
    from hospital.content import admin

    return web.respond(admin.submit(web.principal(), item_id, admin.parse_version(version)))


@web.route(app, VERSION + "/approve", methods=["POST"], permission=PUBLISHERS, body=models.Approval,
           body_required=False, response=answers.ItemDetail, errors=(409,))
def approve_version(item_id, version):
    """Approve the latest version, in review, and publish it.

    The body is optional: without one, the approval carries no note. Its author may not
    approve it (403 four_eyes)."""
    from hospital.content import admin

    body = web.body()
    return web.respond(admin.approve(web.principal(), item_id, admin.parse_version(version), body.note))


@web.route(app, VERSION + "/reject", methods=["POST"], permission=PUBLISHERS, body=models.Rejection,
           response=answers.ItemDetail, errors=(409,))
def reject_version(item_id, version):
    """Reject the latest version, in review, with a note saying why.

    Its author may not reject it (403 four_eyes)."""
    from hospital.content import admin

    body = web.body()
    return web.respond(admin.reject(web.principal(), item_id, admin.parse_version(version), body.note))


@web.route(app, VERSION + "/restore", methods=["POST"], permission=EDITORS, body=models.Restore,
           response=answers.ItemDetail, success=(201,), errors=(409,))
def restore_version(item_id, version):
    """Restore a version as a new draft, reviewed again before it is published.

    base_version must be the item's latest version, as for an edit."""
    from hospital.content import admin

    body = web.body()
    return web.respond(admin.restore(web.principal(), item_id, admin.parse_version(version), body.base_version),
                       status=201)


@web.route(app, ITEMS + "/{item_id}/unpublish", methods=["POST"], permission=PUBLISHERS,
           response=answers.ItemDetail, errors=(409,))
def unpublish_item(item_id):
    """Take a published item down; its versions stay and any can be restored."""
    from hospital.content import admin

    return web.respond(admin.unpublish(web.principal(), item_id))

