"""The WeChat site's public content (AD3): a published page, menu or notice by its slug and the
notices shown now, pinned first. No session: it is the site. Answers are cacheable for a minute
(and served stale while revalidating); each has an ETag, and If-None-Match answers 304."""
from hospital import settings, web

app = web.create_app("content_public", needs=(settings.DATABASE, settings.SESSIONS))
CACHE_CONTROL = "public, max-age=60, stale-while-revalidate=300"


def _cached(answer: tuple[dict, str]):
    from chalice import Response

    from hospital.content import content_rules

    body, etag = answer
    headers: dict = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if content_rules.not_modified(web.header("if-none-match"), etag):
        return Response(body="", status_code=304, headers=headers)
    return web.respond(body, headers=headers)


@web.route(app, "/content/pages/{slug}", methods=["GET"], public=True)
def page(slug):
    from hospital.content import public

    return _cached(public.page(slug))


@web.route(app, "/content/notices", methods=["GET"], public=True)
def notices():
    from hospital.content import public

    return _cached(public.notices())


@web.route(app, "/content/notices/{slug}", methods=["GET"], public=True)
def notice(slug):
    from hospital.content import public

    return _cached(public.notice(slug))


@web.route(app, "/content/menus/{slug}", methods=["GET"], public=True)
def menu(slug):
    from hospital.content import public

    return _cached(public.menu(slug))
