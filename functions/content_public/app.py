"""The WeChat site's public content (AD3): a published page, menu or notice by its slug and the
notices shown now, pinned first. No session: it is the site. Answers are cacheable for a minute
(and served stale while revalidating); each has an ETag, and If-None-Match answers 304."""
from hospital import settings, web

answers = web.lazy("hospital.content.answers")

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


# 304: If-None-Match holds the answer's ETag; no body then.
CACHED = (200, 304)


@web.route(app, "/content/pages/{slug}", methods=["GET"], public=True, response=answers.Page, success=CACHED)
def page(slug):
    """A published page by its slug.

    Cacheable for a minute; with If-None-Match holding its ETag, 304 without a body."""
    from hospital.content import public

    return _cached(public.page(slug))


@web.route(app, "/content/notices", methods=["GET"], public=True, response=answers.Notices, success=CACHED)
def notices():
    """The notices shown now, pinned first, then the newest published, without their bodies.

    Cacheable for a minute; with If-None-Match holding its ETag, 304 without a body."""
    from hospital.content import public

    return _cached(public.notices())


@web.route(app, "/content/notices/{slug}", methods=["GET"], public=True, response=answers.Notice, success=CACHED)
def notice(slug):
    """A notice shown now, by its slug, with its body; one outside its window is 404.

    Cacheable for a minute; with If-None-Match holding its ETag, 304 without a body."""
    from hospital.content import public

    return _cached(public.notice(slug))


@web.route(app, "/content/menus/{slug}", methods=["GET"], public=True, response=answers.Menu, success=CACHED)
def menu(slug):
    """A published menu by its slug, with its entries.

    Cacheable for a minute; with If-None-Match holding its ETag, 304 without a body."""
    from hospital.content import public

    return _cached(public.menu(slug))
