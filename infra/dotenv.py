"""A developer's local settings in `.env` at the repository root (git-ignored; `.env.example`
lists the useful ones), read by the commands a developer runs by hand: `make run`, `make
invoke`, `make trigger`, `make migrate`, `make backup`, `make restore`. Tests never read it.

The format is the common subset every .env reader agrees on: `KEY=VALUE` lines, an optional
`export ` in front, blank lines and `#` comments, a value optionally in single or double quotes
(taken as written). No `${VAR}` expansion and no escapes: what is in the file is what the
variable holds. A variable already in the environment wins over the file, so
`DATABASE_URL=... make run` still overrides it for one run.
"""
from __future__ import annotations

import os
import re
import sys
from collections.abc import MutableMapping
from pathlib import Path

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class DotenvError(ValueError):
    """A line of the file that is not KEY=VALUE; the message names the file and line."""


def parse(text: str, source: str = ".env") -> dict[str, str]:
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _KEY.fullmatch(key):
            raise DotenvError(f"{source}:{number}: expected KEY=VALUE, got {raw.strip()!r}")
        values[key] = _value(value.strip(), f"{source}:{number}")
    return values


def _value(value: str, where: str) -> str:
    if value[:1] in ("'", '"'):
        quote = value[0]
        end = value.find(quote, 1)
        rest = value[end + 1:].strip() if end > 0 else ""
        if end < 0 or (rest and not rest.startswith("#")):
            raise DotenvError(f"{where}: the value's quote {quote} is not closed at the end of the value")
        return value[1:end]
    # Unquoted: a " #" starts a comment (a "#" inside a word, as in a URL's fragment, does not).
    comment = re.search(r"\s#", value)
    return value[:comment.start()].rstrip() if comment else value


def load(repo_root: str | os.PathLike, environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set the variables of <repo_root>/.env that `environ` (default os.environ) lacks; returns
    those it set. No file: nothing happens."""
    environ = os.environ if environ is None else environ
    path = Path(repo_root) / ".env"
    if not path.is_file():
        return {}
    added = {k: v for k, v in parse(path.read_text(encoding="utf-8"), str(path)).items() if k not in environ}
    environ.update(added)
    return added


def load_for_command(repo_root: str | os.PathLike) -> bool:
    """load() for a command line: the names it set (never the values: a URL may hold a password)
    on stderr; False after saying on stderr why the file cannot be read."""
    try:
        added = load(repo_root)
    except (DotenvError, OSError, UnicodeDecodeError) as exc:
        print(f"cannot read .env: {exc}", file=sys.stderr)
        return False
    if added:
        print(f"from {Path(repo_root) / '.env'}: {', '.join(sorted(added))}", file=sys.stderr, flush=True)
    return True
