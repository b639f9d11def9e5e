"""Logical backup and restore of the database (NF2).

  python -m infra.backup backup [--out FILE]   # one consistent snapshot into FILE
  python -m infra.backup verify FILE           # check a backup file against its own manifest
  python -m infra.backup restore FILE          # into an EMPTY database, checked row for row

DATABASE_URL chooses the database; without it, the SQLite file `make run` uses (.local/).

A backup file is a tar archive: `<table>.jsonl.gz` per table (one JSON array per row, in
primary-key order, columns as the manifest lists them) and `manifest.json` (format, schema
revision, and per table its columns, row count and the SHA-256 of its rows' lines). The lines
are a canonical encoding, so a database restored from the file, read the same way, gives the
same checksums whatever the engine (MariaDB/MySQL or SQLite).

Pure Python on purpose: it needs no mysqldump on the machine, reads both engines, and the
same code that writes the checksums checks them after a restore. Physical backups and
point-in-time recovery are the managed database's job (README, "Operations").
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import gzip
import hashlib
import json
import os
import pathlib
import sys
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator

import sqlalchemy as sa

from infra import migrate

ROOT = pathlib.Path(__file__).resolve().parents[1]
FORMAT = "hospital-logical-backup"
VERSION = 1
MANIFEST = "manifest.json"
BATCH = 1000
_TIME = "%Y-%m-%d %H:%M:%S.%f"  # always six fraction digits: MySQL and SQLite then read alike


class BackupError(Exception):
    """A backup or restore that must not go on; the message says why and what to do."""


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or f"sqlite:///{ROOT / '.local' / 'hospital.db'}"


def _engine(url: str) -> sa.Engine:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        eng = sa.create_engine(parsed, connect_args={"timeout": 30})

        @sa.event.listens_for(eng, "connect")
        def _foreign_keys(dbapi_conn, _record):  # a restore loads in dependency order: let SQLite check it
            dbapi_conn.execute("PRAGMA foreign_keys=ON")

        return eng
    return sa.create_engine(parsed, hide_parameters=True, connect_args={"charset": "utf8mb4"})


# ---- the canonical encoding of a row ----------------------------------------------------------

def _kind(column: sa.Column) -> str:
    kind = column.type
    if isinstance(kind, sa.JSON):
        return "json"
    if isinstance(kind, sa.LargeBinary):
        return "bytes"
    if isinstance(kind, sa.DateTime):
        return "datetime"
    if isinstance(kind, sa.Date):
        return "date"
    return "plain"


def _encode(kind: str, value):
    if value is None:
        return None
    if kind == "json":  # read as text: SQL NULL stays apart from a JSON null
        return json.dumps(json.loads(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if kind == "bytes":
        return base64.b64encode(value).decode("ascii")
    if kind == "datetime":
        return value.strftime(_TIME)
    if kind == "date":
        return value.isoformat()
    return value


def _decode(kind: str, value):
    if value is None or kind in ("json", "plain"):
        return value
    if kind == "bytes":
        return base64.b64decode(value, validate=True)
    if kind == "datetime":
        return dt.datetime.strptime(value, _TIME)
    return dt.date.fromisoformat(value)


def _line(values: list) -> bytes:
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


class _Table:
    """A table as the backup reads and writes it: JSON columns as their text."""

    def __init__(self, table: sa.Table, names: list[str]):
        self.name = table.name
        self.names = names
        self.kinds = [_kind(table.c[name]) for name in names]
        self.wire = sa.table(table.name, *(
            sa.column(name, sa.Text() if kind == "json" else table.c[name].type)
            for name, kind in zip(names, self.kinds, strict=True)))
        # Key order as bytes (a binary cast of text keys): MySQL's collations and SQLite's
        # would otherwise order some keys differently, and the checksums with them.
        self.order = [sa.cast(self.wire.c[c.name], sa.LargeBinary) if isinstance(c.type, sa.String)
                      else self.wire.c[c.name] for c in (table.primary_key.columns or table.c)]

    def lines(self, conn) -> Iterator[bytes]:
        query = sa.select(*self.wire.c).order_by(*self.order)
        for row in conn.execution_options(yield_per=BATCH).execute(query):
            yield _line([_encode(kind, value) for kind, value in zip(self.kinds, row, strict=True)])

    def row(self, line: bytes) -> dict:
        values = json.loads(line)
        if not isinstance(values, list) or len(values) != len(self.names):
            raise ValueError(f"a row of {self.name} does not have its {len(self.names)} columns")
        return {name: _decode(kind, value) for name, kind, value in zip(self.names, self.kinds, values, strict=True)}


def _tables(names: list[str] | None = None, columns: dict[str, list[str]] | None = None) -> list[_Table]:
    """The schema's tables in dependency order (parents first), or those named, as the code defines them."""
    from hospital.db.tables import metadata

    known = {t.name: t for t in metadata.sorted_tables}
    if names is not None:
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise BackupError(f"the backup holds tables this code does not know: {', '.join(unknown)}; "
                              "restore with the release that made the backup")
    chosen = [t for t in metadata.sorted_tables if names is None or t.name in names]
    result = []
    for table in chosen:
        wanted = (columns or {}).get(table.name) or [c.name for c in table.c]
        missing = sorted(set(wanted) - set(table.c.keys()))
        if missing:
            raise BackupError(f"table {table.name}: columns unknown to this code: {', '.join(missing)}")
        result.append(_Table(table, wanted))
    return result


@contextlib.contextmanager
def _snapshot(eng: sa.Engine) -> Iterator[sa.Connection]:
    """One read-only transaction that sees the database as of its start, across all tables."""
    with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if eng.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")  # WAL: a reader keeps its snapshot while writers go on
        else:
            conn.exec_driver_sql("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            conn.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        try:
            yield conn
        finally:
            conn.exec_driver_sql("ROLLBACK")


def _revision(conn) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def _head(url: str) -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(migrate.alembic_config(url)).get_current_head() or ""


def _checksum(lines) -> tuple[int, str]:
    digest, count = hashlib.sha256(), 0
    for line in lines:
        digest.update(line)
        count += 1
    return count, digest.hexdigest()


# ---- backup -------------------------------------------------------------------------------------

def backup(url: str, out: str | os.PathLike, *, after_table: Callable[[str], None] | None = None) -> dict:
    """Write the whole database to `out` from one consistent snapshot; returns the manifest.
    `after_table(name)` runs once a table is written (the snapshot is still open)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and not pathlib.Path(parsed.database or "").is_file():
        raise BackupError(f"no database file at {parsed.database}")
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    eng = _engine(url)
    partial = out.with_name(out.name + ".partial")  # never a half-written file under the final name
    try:
        with _snapshot(eng) as conn, tarfile.open(partial, "w") as archive:
            revision, head = _revision(conn), _head(url)
            if revision != head:
                raise BackupError(f"the database is at revision {revision}, this code's schema at {head}: "
                                  "migrate it (make migrate) or back it up with the release it runs")
            manifest: dict = {"format": FORMAT, "version": VERSION, "revision": revision,
                              "source": eng.dialect.name,
                              "created_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "tables": {}}
            for table in _tables():
                with tempfile.TemporaryFile() as raw:
                    digest, count = hashlib.sha256(), 0
                    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
                        for line in table.lines(conn):
                            packed.write(line)
                            digest.update(line)
                            count += 1
                    _add(archive, f"{table.name}.jsonl.gz", raw)
                manifest["tables"][table.name] = {"columns": table.names, "rows": count, "sha256": digest.hexdigest()}
                if after_table:
                    after_table(table.name)
            with tempfile.TemporaryFile() as raw:
                raw.write(json.dumps(manifest, indent=1, ensure_ascii=False).encode())
                _add(archive, MANIFEST, raw)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
        eng.dispose()
    return manifest


def _add(archive: tarfile.TarFile, name: str, raw) -> None:
    info = tarfile.TarInfo(name)
    info.size = raw.tell()
    info.mode = 0o600  # personal data, if encrypted: for the operator's eyes only
    raw.seek(0)
    archive.addfile(info, raw)


# ---- reading a backup file ----------------------------------------------------------------------

@contextlib.contextmanager
def _opened(path: str | os.PathLike) -> Iterator[tuple[tarfile.TarFile, dict]]:
    try:
        with tarfile.open(path, "r:") as archive:
            manifest = json.loads(_member(archive, MANIFEST).read())
            if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
                raise BackupError(f"{path}: not a backup of format {FORMAT} version {VERSION}")
            yield archive, manifest
    except (OSError, EOFError, tarfile.TarError, ValueError, KeyError, zlib.error) as exc:
        raise BackupError(f"{path}: damaged or not a backup file ({exc})") from exc


def _member(archive: tarfile.TarFile, name: str):
    member = archive.extractfile(name)
    if member is None:
        raise KeyError(name)
    return member


def _file_lines(archive: tarfile.TarFile, name: str) -> Iterator[bytes]:
    with gzip.GzipFile(fileobj=_member(archive, f"{name}.jsonl.gz")) as packed:
        yield from packed


def verify(path: str | os.PathLike) -> dict:
    """Check every table of the file against the manifest (counts, checksums, row shapes); the manifest."""
    with _opened(path) as (archive, manifest):
        for table in _tables(list(manifest["tables"]), _columns(manifest)):
            def checked(table=table):
                for line in _file_lines(archive, table.name):
                    table.row(line)
                    yield line
            _compare(manifest, table.name, _checksum(checked()), "the file")
    return manifest


def _columns(manifest: dict) -> dict[str, list[str]]:
    return {name: entry["columns"] for name, entry in manifest["tables"].items()}


def _compare(manifest: dict, name: str, found: tuple[int, str], where: str) -> None:
    expected = manifest["tables"][name]
    if found != (expected["rows"], expected["sha256"]):
        raise BackupError(f"table {name}: {where} holds {found[0]} rows (sha256 {found[1][:12]}…), the manifest "
                          f"says {expected['rows']} (sha256 {expected['sha256'][:12]}…)")


# ---- restore ------------------------------------------------------------------------------------

def restore(url: str, path: str | os.PathLike) -> dict:
    """Restore the backup at `path` into the EMPTY database at `url`: the file is checked first
    (a damaged one changes nothing), the schema migrated to the backup's revision, the rows
    loaded parents first, then read back and checked against the manifest; the manifest."""
    manifest = verify(path)
    revision = manifest["revision"]
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        ScriptDirectory.from_config(migrate.alembic_config(url)).get_revision(revision)
    except CommandError as exc:
        raise BackupError(f"the backup is at schema revision {revision}, which this code does not know: "
                          "restore with the release that made it") from exc
    eng = _engine(url)
    try:
        _refuse_unless_empty(eng, revision)
        migrate.upgrade(url, revision)
        tables = _tables(list(manifest["tables"]), _columns(manifest))
        _clear_seeds(eng, tables)
        with _opened(path) as (archive, _):
            for table in tables:
                try:
                    _load(eng, table, _file_lines(archive, table.name))
                except sa.exc.DBAPIError as exc:
                    raise BackupError(f"loading table {table.name} failed ({exc.orig!r}); the database holds part "
                                      "of the backup now: drop and recreate it before trying again") from exc
        with _snapshot(eng) as conn:
            for table in tables:
                _compare(manifest, table.name, _checksum(table.lines(conn)), "the restored database")
    finally:
        eng.dispose()
    return manifest


# Tables the migrations themselves fill (the audit chain's head at its genesis, the built-in
# roles): empty of anything else, a database holds these rows, and the backup's replace them.
SEEDED = frozenset({"audit_chain_head", "roles", "role_permissions"})


def _clear_seeds(eng: sa.Engine, tables: list[_Table]) -> None:
    """The migrations' seed rows deleted, children first, before the backup's are loaded."""
    with eng.begin() as conn:
        for table in reversed(tables):
            if table.name in SEEDED:
                conn.execute(table.wire.delete())


def _refuse_unless_empty(eng: sa.Engine, revision: str) -> None:
    with eng.connect() as conn:
        current = _revision(conn)
        if current not in (None, revision):
            raise BackupError(f"the target database is at schema revision {current}, the backup at {revision}: "
                              "restore into an empty database")
        for name in sa.inspect(conn).get_table_names():
            if name != "alembic_version" and name not in SEEDED and conn.execute(sa.select(sa.literal(1)).select_from(
                    sa.table(name)).limit(1)).first():
                raise BackupError(f"the target database is not empty (table {name} has rows): "
                                  "restore into an empty database only")


def _load(eng: sa.Engine, table: _Table, lines: Iterator[bytes]) -> None:
    """Insert in batches, one transaction per table. Inserts only (seed rows were deleted
    first): the append-only triggers refuse updates and deletes, not these; foreign keys stay
    checked (parents first)."""
    insert = table.wire.insert()
    with eng.begin() as conn:
        batch: list[dict] = []
        for line in lines:
            batch.append(table.row(line))
            if len(batch) == BATCH:
                conn.execute(insert, batch)
                batch = []
        if batch:
            conn.execute(insert, batch)


# ---- command line -------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.backup", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("backup", help="write a backup of DATABASE_URL")
    made.add_argument("--out", help="the file (default: .local/backups/hospital-<UTC time>.tar)")
    commands.add_parser("verify", help="check a backup file").add_argument("file")
    commands.add_parser("restore", help="restore a backup into an empty DATABASE_URL").add_argument("file")
    args = parser.parse_args(argv)
    url = database_url()
    try:
        if args.command == "backup":
            out = args.out or ROOT / ".local" / "backups" / f"hospital-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.tar"
            manifest = backup(url, out)
            print(f"backup written to {out}: {_summary(manifest)}")
        elif args.command == "verify":
            print(f"{args.file} is intact: {_summary(verify(args.file))}")
        else:
            manifest = restore(url, args.file)
            print(f"restored {args.file}: {_summary(manifest)}, checksums match")
    except BackupError as exc:
        print(f"{args.command} failed: {exc}", file=sys.stderr)
        return 1
    return 0


def _summary(manifest: dict) -> str:
    rows = sum(entry["rows"] for entry in manifest["tables"].values())
    return f"revision {manifest['revision']}, {len(manifest['tables'])} tables, {rows} rows"


if __name__ == "__main__":
    from infra import dotenv

    sys.exit(main() if dotenv.load_for_command(ROOT) else 1)
