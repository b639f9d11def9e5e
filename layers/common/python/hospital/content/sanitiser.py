"""Rich text of pages and notices cleaned on the way in, by an allow-list (nh3, the bindings of
the ammonia sanitiser, which parses HTML as a browser does): what a hospital notice needs and
nothing that runs. Links may go to https, http, mailto and tel or stay relative; images load
over https only (no tracking over plain http, no data: or relative sources); no script, style,
iframe, event attribute or javascript: URL survives. What is stored is what is served.
"""
from __future__ import annotations

TAGS = frozenset({
    "p", "br", "strong", "em", "ul", "ol", "li", "h2", "h3", "h4", "a", "img", "blockquote",
    "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td",
})
ATTRIBUTES = {
    "a": {"href"},
    "img": {"src", "alt"},
    "th": {"colspan", "rowspan"},
    "td": {"colspan", "rowspan"},
}
URL_SCHEMES = frozenset({"https", "http", "mailto", "tel"})
# Removed with everything inside them, not just unwrapped: their text is code or markup.
DROPPED_WITH_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "svg", "math", "template",
                                  "noscript", "textarea", "select", "frame", "frameset", "noembed", "xmp"})


def clean(html: str) -> str:
    import nh3

    return nh3.clean(html, **_options())


def _options() -> dict:
    return {
        "tags": set(TAGS), "attributes": {tag: set(names) for tag, names in ATTRIBUTES.items()},
        "url_schemes": set(URL_SCHEMES), "clean_content_tags": set(DROPPED_WITH_CONTENT),
        "attribute_filter": _attribute, "strip_comments": True, "link_rel": "noopener noreferrer",
    }


def _attribute(tag: str, name: str, value: str) -> str | None:
    if tag == "img" and name == "src":
        return value if value[:8].lower() == "https://" and len(value) > 8 else None
    if name in ("colspan", "rowspan"):
        return value if value.isascii() and value.isdigit() and 1 <= int(value) <= 100 else None
    return value
