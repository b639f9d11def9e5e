"""The API reference `make run` serves beside the API: /openapi.json, written from the code
(infra.openapi) at its first request, and Swagger UI at /docs from the files of the
swagger-ui-py package (Swagger UI 5, which reads OpenAPI 3.1), so nothing comes from a CDN.
"Try it out" calls the same origin: the local API."""
from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path

INDEX = """<!doctype html>
<html lang="zh-CN">
<head><meta charset="utf-8"><title>Hospital API reference</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="reference"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#reference", deepLinking: true,
  persistAuthorization: true, displayOperationId: true});</script>
</body></html>
"""


def _static(name: str) -> Path:
    import swagger_ui

    return Path(swagger_ui.__file__).parent / "static" / name


@functools.cache
def _document() -> bytes:
    from infra.openapi import document

    return json.dumps(document(), ensure_ascii=False).encode()


def pages() -> dict[str, Callable[[str], tuple[str, bytes] | None]]:
    return {
        "/docs": lambda _: ("text/html; charset=utf-8", INDEX.encode()),
        "/docs/swagger-ui.css": lambda _: ("text/css", _static("swagger-ui.css").read_bytes()),
        "/docs/swagger-ui-bundle.js": lambda _: ("application/javascript",
                                                 _static("swagger-ui-bundle.js").read_bytes()),
        "/openapi.json": lambda _: ("application/json", _document()),
    }
