"""Logical backup and restore (NF2): one consistent snapshot, restored into an empty MariaDB or
SQLite database and checked against the manifest's row counts and checksums; a database that
is not empty, or a damaged file, is refused and nothing changes."""
from __future__ import annotations

import datetime as dt
import gzip
import io
import os
import subprocess
import tarfile
import uuid

import pytest
import sqlalchemy as sa

from hospital import audit, crypto
from hospital.db import engine, tables
from hospital.timeutil import utcnow
from infra import backup
from tests.conftest import ROOT
from tests.payments.support import create_order, ledger_rows, patient_pays, patient_with_bill, pay, wait_status


@pytest.fixture
def empty_mysql(mysql_url):
    """A new, empty database on the test server (no schema at all)."""
    url = sa.engine.make_url(mysql_url)
    name = f"hospital_restore_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url.set(database=""))
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    admin.dispose()


def fill(platform, functions) -> dict:
    """Rows through a real payment (user, identity, session, encrypted card, order, ledger,
    outbox, audit), plus the column kinds a payment does not reach: JSON (and SQL NULL beside
    it), dates in a composite key, floats, text keys differing in case only."""
    principal, token, bill = patient_with_bill(platform, amount="31.20")
    order_id = create_order(functions, token, bill)[1]["order_id"]
    assert pay(functions, token, order_id)[0] == 200
    patient_pays(platform, order_id)
    wait_status(order_id, "paid")
    now = utcnow()
    vehicle = f"120-{uuid.uuid4().hex[:6]}"
    with engine().begin() as conn:
        audit.add(conn, principal, "order.looked_up", "payment_order", order_id, "ok",
                  {"note": "患者 \u2603", "n": [1, 2.5]})
        run_id = conn.execute(tables.reconciliation_runs.insert().values(
            bill_date=dt.date(2025, 3, 1), trigger="command", status="done", started_at=now,
            inputs=[{"source": "wechatpay", "name": "账单 2025-03-01.csv", "bytes": 1024, "ok": True, "ratio": 0.1}],
            counts=None)).inserted_primary_key[0]
        conn.execute(tables.reconciliation_carry_overs.insert(), [
            {"into_date": dt.date(2025, 3, 2), "source": "wechatpay", "trade_key": key, "direction": "carried",
             "from_date": dt.date(2025, 3, 1), "kind": "payment", "order_id": order_id, "amount_fen": 3120,
             "status": "open", "run_id": run_id} for key in (f"T{run_id}a", f"T{run_id}A", f"T{run_id}é")])
        # MySQL's default collation puts "-a" before "-B", bytes the other way round.
        conn.execute(tables.vehicles.insert(), [{"id": f"{vehicle}-{end}", "plate": f"{vehicle}-{end}",
                                                 "status": "available", "updated_at": now} for end in "aB"])
        conn.execute(tables.vehicle_positions.insert().values(
            vehicle_id=f"{vehicle}-a",
            location_enc=crypto.encrypt('{"latitude": 31.2304}', "vehicle_positions.location"),
            reported_coord_system="wgs84", accuracy_m=3.3, speed_mps=12.75, heading=None,
            device_time=now, server_time=now.replace(microsecond=0)))
    return {"order_id": order_id, "run_id": run_id}


def counts(url: str) -> dict[str, int]:
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                    for t in tables.metadata.sorted_tables}
    finally:
        eng.dispose()


def checksums(manifest: dict) -> dict:
    return {name: (entry["rows"], entry["sha256"]) for name, entry in manifest["tables"].items()}


def card_numbers(url: str) -> list[str]:
    """Every card number, decrypted: what a restore is for, and what needs the KMS key."""
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(sa.select(tables.patient_cards.c.id, tables.patient_cards.c.card_no_enc)
                                .order_by(tables.patient_cards.c.id)).all()
    finally:
        eng.dispose()
    return [crypto.decrypt_text(row.card_no_enc, f"patient_cards.card_no:{row.id}") for row in rows]


def test_a_backup_restores_into_fresh_mariadb_and_sqlite_with_equal_checksums_NF2(
        mysql_db, mysql_url, empty_mysql, platform, functions, tmp_path):
    filled = fill(platform, functions)
    manifest = backup.backup(mysql_url, tmp_path / "hospital.tar")
    source_counts = counts(mysql_url)
    assert {name: entry["rows"] for name, entry in manifest["tables"].items()} == source_counts
    assert manifest["revision"] == backup._head(mysql_url)
    assert all(source_counts[name] for name in ("users", "patient_cards", "payment_orders", "ledger_entries",
                                                 "audit_log", "reconciliation_runs", "vehicle_positions"))

    sqlite_url = f"sqlite:///{tmp_path / 'restored.db'}"
    for target in (empty_mysql, sqlite_url):
        assert checksums(backup.restore(target, tmp_path / "hospital.tar")) == checksums(manifest)
        assert counts(target) == source_counts
        # Read again from the restored database, the way a backup reads: the same rows, bit for bit.
        again = backup.backup(target, tmp_path / f"again-{target[:5]}.tar")
        assert checksums(again) == checksums(manifest)
        assert card_numbers(target) == card_numbers(mysql_url)
        with sa.create_engine(target).connect() as conn:
            run = conn.execute(sa.select(tables.reconciliation_runs).where(
                tables.reconciliation_runs.c.id == filled["run_id"])).one()
            assert run.inputs[0]["name"] == "账单 2025-03-01.csv" and run.counts is None
            assert conn.execute(sa.select(sa.func.count()).select_from(tables.ledger_entries).where(
                tables.ledger_entries.c.order_id == filled["order_id"])).scalar_one() == 1
            # The audit chain restored with its head verifies whole.
            from hospital import audit_trail

            chain = audit_trail.walk(conn)
            assert chain["ok"] and chain["checked"] == source_counts["audit_log"] > 0, chain
            # The ledger stays append-only in the restored database.
            with pytest.raises(sa.exc.DBAPIError, match="immutable"):
                conn.execute(tables.ledger_entries.update().values(amount_fen=1))
    assert len(ledger_rows(filled["order_id"])) == 1


def test_a_database_that_is_not_empty_is_refused_and_left_alone_NF2(mysql_db, mysql_url, platform, tmp_path):
    patient_with_bill(platform)
    backup.backup(mysql_url, tmp_path / "hospital.tar")
    before = counts(mysql_url)
    with pytest.raises(backup.BackupError, match="not empty"):
        backup.restore(mysql_url, tmp_path / "hospital.tar")
    assert counts(mysql_url) == before


def _rewrite_member(path, name: str, change) -> None:
    with tarfile.open(path) as archive:
        members = {m.name: archive.extractfile(m).read() for m in archive.getmembers()}
    members[name] = change(members[name])
    with tarfile.open(path, "w") as archive:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def _flip_a_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x55]) + data[middle + 1:]


def _change_an_amount(data: bytes) -> bytes:  # still valid gzip and JSON: only the checksum can tell
    lines = gzip.decompress(data).splitlines(keepends=True)
    lines[0] = lines[0].replace(b"3120", b"3121", 1)
    return gzip.compress(b"".join(lines))


def _drop_a_row(data: bytes) -> bytes:
    return gzip.compress(b"".join(gzip.decompress(data).splitlines(keepends=True)[1:]))


@pytest.mark.parametrize("damage,message", [
    (lambda path: _rewrite_member(path, "reconciliation_carry_overs.jsonl.gz", _flip_a_byte), "damaged"),
    (lambda path: _rewrite_member(path, "reconciliation_carry_overs.jsonl.gz", _change_an_amount), "sha256"),
    (lambda path: _rewrite_member(path, "reconciliation_carry_overs.jsonl.gz", _drop_a_row), "rows"),
    (lambda path: _rewrite_member(path, "manifest.json", lambda data: data[: len(data) // 2]), "damaged"),
    (lambda path: path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2]), "damaged"),
], ids=["flipped byte", "changed amount", "dropped row", "cut manifest", "truncated file"])
def test_a_damaged_backup_is_refused_before_anything_is_written_NF2(
        db, platform, functions, tmp_path, damage, message):
    fill(platform, functions)
    path = tmp_path / "hospital.tar"
    backup.backup(os.environ["DATABASE_URL"], path)
    assert backup.verify(path)["tables"]["reconciliation_carry_overs"]["rows"] >= 3
    damage(path)
    target = tmp_path / "target.db"
    with pytest.raises(backup.BackupError, match=message):
        backup.verify(path)
    with pytest.raises(backup.BackupError, match=message):
        backup.restore(f"sqlite:///{target}", path)
    assert not target.exists() or sa.inspect(sa.create_engine(f"sqlite:///{target}")).get_table_names() == []


def test_the_backup_is_one_snapshot_whatever_commits_while_it_runs_NF2(db, platform, tmp_path):
    url = os.environ["DATABASE_URL"]
    patient_with_bill(platform)
    before = counts(url)
    order = [t.name for t in tables.metadata.sorted_tables]
    assert order.index("audit_log") < order.index("users")  # users is written after the commit below

    def meanwhile(name: str) -> None:
        if name == "audit_log":  # a sign-in commits between two tables of the backup
            patient_with_bill(platform)

    manifest = backup.backup(url, tmp_path / "hospital.tar", after_table=meanwhile)
    assert counts(url)["users"] == before["users"] + 1
    assert {name: entry["rows"] for name, entry in manifest["tables"].items()} == before


def test_make_backup_and_restore_commands_NF2(db, platform, tmp_path):
    patient_with_bill(platform)
    path = tmp_path / "cli.tar"
    target = f"sqlite:///{tmp_path / 'cli.db'}"

    def make(*args, url):
        env = {**os.environ, "DATABASE_URL": url}
        return subprocess.run(["make", "--no-print-directory", *args], check=False, cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    made = make("backup", f"OUT={path}", url=os.environ["DATABASE_URL"])
    assert made.returncode == 0, made.stderr
    assert f"backup written to {path}" in made.stdout
    restored = make("restore", f"FILE={path}", url=target)
    assert restored.returncode == 0, restored.stderr
    assert "checksums match" in restored.stdout
    again = make("restore", f"FILE={path}", url=target)
    assert again.returncode != 0
    assert "restore failed: the target database is not empty" in again.stderr
    assert counts(target) == counts(os.environ["DATABASE_URL"])
