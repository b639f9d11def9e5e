"""The browser consoles (consoles/: the ED console and the back office), served by `make run`
beside the API at /console/, as CloudFront serves them from S3 beside API Gateway when
deployed: one origin, so the pages call the API without CORS.

/console/config.json tells the pages where the live WebSocket API is; `make run` writes it from
the functions' own LIVE_API_ENDPOINT (https://host/stage, whose clients connect to wss:// or,
locally, ws://), a deployment uploads it with the stack's output (infra/deploy)."""
from __future__ import annotations

import json
import mimetypes
import os
from collections.abc import Callable
from pathlib import Path

FOLDER = Path(__file__).resolve().parent.parent / "consoles"
MOUNT = "/console/"


def live_url(endpoint: str | None) -> str | None:
    """The WebSocket clients' URL of a connection-management endpoint (https://host/stage)."""
    if not endpoint:
        return None
    _, _, rest = endpoint.partition("://")
    return f"{'ws' if rest.startswith(('127.0.0.1', 'localhost')) else 'wss'}://{rest}"


def config() -> dict:
    return {"api": "", "live": live_url(os.environ.get("LIVE_API_ENDPOINT"))}


# The consoles' own kinds of file, fixed rather than read from the machine's MIME table (which
# on some systems serves .js as text/plain, and Chrome runs ES modules only as JavaScript).
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}


def content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return guessed + "; charset=utf-8" if guessed.startswith("text/") else guessed


def file(rest: str, folder: Path = FOLDER) -> tuple[str, bytes] | None:
    """A file of the consoles' folder, `index.html` for a folder; None outside it or absent."""
    if rest == "config.json":
        return content_type(rest), json.dumps(config()).encode()
    path = (folder / rest).resolve()
    if path.is_dir():
        path = path / "index.html"
    if not path.is_relative_to(folder.resolve()) or not path.is_file():
        return None
    return content_type(path.name), path.read_bytes()


def pages() -> dict[str, Callable[[str], tuple[str, bytes] | None]]:
    return {MOUNT: file}
