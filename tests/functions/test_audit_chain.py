"""The audit log is tamper-evident (NF1): every entry is chained to the one before by a hash;
the database refuses to change or remove an entry; an entry altered or removed behind the
triggers' back is found by the verification at the right id; concurrent writers keep one
chain; the back office verifies and searches the log (IT administration and the super admin
only), every call audited."""
from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import itertools
import json
import uuid

import pytest
import sqlalchemy as sa

from hospital import audit, audit_trail
from hospital.auth import roles as R
from hospital.db import engine, tables
from hospital.timeutil import utcnow
from infra import manage
from tests.conftest import api_event, call
from tests.db_costs import counted
from tests.functions.test_external_calls import token_of

c = tables.audit_log.c
TRIGGERS = {
    "mysql": "CREATE TRIGGER audit_log_no_{a} BEFORE {A} ON audit_log FOR EACH ROW "
             "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit entries are immutable'",
    "sqlite": "CREATE TRIGGER audit_log_no_{a} BEFORE {A} ON audit_log "
              "BEGIN SELECT RAISE(ABORT, 'audit entries are immutable'); END",
}


def get(functions, path: str, token: str, query: dict | None = None) -> tuple[int, dict]:
    event = api_event("GET", path, token=token)
    if query:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return call(functions, "AuditAdminFunction", event)


def entries(*where) -> list:
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.audit_log).where(*where).order_by(c.seq)).all()


def head():
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.audit_chain_head)).one()


@contextlib.contextmanager
def triggers_dropped(db: str):
    """The append-only triggers gone for the block, as someone with the rights could drop them,
    and put back after it."""
    with engine().begin() as conn:
        for action in ("update", "delete"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS audit_log_no_{action}")
    try:
        yield
    finally:
        with engine().begin() as conn:
            for action in ("update", "delete"):
                conn.exec_driver_sql(TRIGGERS[db].format(a=action, A=action.upper()))


def record_probe(action: str, **fields) -> None:
    class Principal:
        user_id = fields.pop("actor", None)
        roles = frozenset({R.IT_ADMIN})

    audit.record(Principal(), action, fields.pop("target_type", "probe"), fields.pop("target_id", None), "ok",
                 fields.pop("details", None))


# ---- the chain --------------------------------------------------------------------------------------


def test_the_chain_verifies_after_real_flows_NF1(db, platform, functions):
    it_id, it = token_of(platform, R.IT_ADMIN)  # a sign-in and a role granted: both audited
    record_probe("test.flow", details={"amount_fen": 1200, "note": "退费", "nested": {"b": [1, 2], "a": None}})
    status, body = get(functions, "/admin/audit/verify", it)
    assert status == 200, body
    assert body["ok"] is True and body["broken"] is None, body
    assert body["checked"] == head().seq - 1  # the verification's own entry comes after the walk
    rows = entries()
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))  # one chain, no gaps
    assert all(later.prev_hash == earlier.entry_hash for earlier, later in itertools.pairwise(rows))
    assert rows[-1].action == "audit.verified" and rows[-1].actor_user_id == it_id and rows[-1].result == "ok"
    assert rows[-1].details["checked"] == body["checked"]
    assert head().head_hash == rows[-1].entry_hash
    assert manage.main(["audit-verify"]) == 0


def test_an_entry_costs_one_statement_more_than_the_insert_NF1(db, platform):
    with engine().begin() as conn, counted() as costs:
        audit.add(conn, None, "test.cost", None, None, "ok")
    assert costs.writes == ["UPDATE audit_chain_head SET", "INSERT INTO audit_log"], costs
    assert costs.statements == 2, costs


def test_the_database_refuses_to_change_or_remove_an_entry_NF1(db, platform):
    record_probe("test.immutable")
    entry = entries(c.action == "test.immutable")[-1]
    for statement in (tables.audit_log.update().where(c.id == entry.id).values(result="refused"),
                      tables.audit_log.delete().where(c.id == entry.id)):
        with pytest.raises(sa.exc.DBAPIError, match="audit entries are immutable"), engine().begin() as conn:
            conn.execute(statement)
    assert entries(c.id == entry.id) == [entry]


def test_an_entry_altered_behind_the_triggers_back_is_found_at_its_id_NF1(db, platform, functions):
    _, it = token_of(platform, R.IT_ADMIN)
    for n in range(3):
        record_probe("test.altered", target_id=str(n), details={"amount_fen": 100 + n})
    _, altered, _ = entries(c.action == "test.altered")[-3:]
    with triggers_dropped(db), engine().begin() as conn:
        conn.execute(tables.audit_log.update().where(c.id == altered.id).values(details={"amount_fen": 1}))
    try:
        status, body = get(functions, "/admin/audit/verify", it)
        assert status == 200 and body["ok"] is False, body
        assert body["broken"]["id"] == altered.id and body["broken"]["seq"] == altered.seq
        assert body["broken"]["stored_hash"] == altered.entry_hash != body["broken"]["expected_hash"]
        assert body["checked"] == altered.seq - 1
        assert manage.main(["audit-verify"]) == 1
        last = entries()[-1]
        assert (last.action, last.result, last.details["broken_id"]) == ("audit.verified", "broken", altered.id)
    finally:
        with triggers_dropped(db), engine().begin() as conn:
            conn.execute(tables.audit_log.update().where(c.id == altered.id).values(details=altered.details))
    assert audit_trail.verify(None)["ok"] is True


def test_an_entry_removed_behind_the_triggers_back_breaks_the_link_of_the_next_NF1(db, platform):
    for n in range(3):
        record_probe("test.removed", target_id=str(n))
    _, removed, after = entries(c.action == "test.removed")[-3:]
    with triggers_dropped(db), engine().begin() as conn:
        conn.execute(tables.audit_log.delete().where(c.id == removed.id))
    try:
        result = audit_trail.verify(None)
        assert result["ok"] is False and result["broken"]["id"] == after.id, result
        assert result["broken"]["stored_hash"] == after.entry_hash
    finally:
        with triggers_dropped(db), engine().begin() as conn:
            conn.execute(tables.audit_log.insert().values(removed._asdict()))
    assert audit_trail.verify(None)["ok"] is True


def test_a_tail_cut_off_leaves_the_head_pointing_past_the_last_entry_NF1(db, platform):
    record_probe("test.tail")
    last = entries()[-1]
    with triggers_dropped(db), engine().begin() as conn:
        conn.execute(tables.audit_log.delete().where(c.id == last.id))
    try:
        with engine().connect() as conn:  # the walk alone: an audited check would take the freed id on SQLite
            result = audit_trail.walk(conn)
        assert result["ok"] is False and result["broken"]["id"] is None, result
        assert result["broken"]["seq"] == last.seq and result["broken"]["stored_hash"] == last.entry_hash
    finally:
        with triggers_dropped(db), engine().begin() as conn:
            conn.execute(tables.audit_log.insert().values(last._asdict()))
    assert audit_trail.verify(None)["ok"] is True


def test_concurrent_writers_keep_one_chain_NF1(mysql_db, platform):
    before = head().seq
    marker = f"test.concurrent_{uuid.uuid4().hex[:8]}"

    def write(worker: int) -> None:
        for n in range(10):
            # Some in transactions that write something else first, as the business ones do.
            with engine().begin() as conn:
                conn.execute(sa.select(sa.literal(1)))
                audit.add(conn, None, marker, "worker", str(worker), "ok", {"n": n})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(8)))
    written = entries(c.action == marker)
    assert len(written) == 80
    assert head().seq == before + 80
    rows = entries(c.seq > before)
    assert [r.seq for r in rows] == list(range(before + 1, before + 81))
    assert sorted(r.id for r in rows) == [r.id for r in rows]  # the chain's order is the order of ids
    assert audit_trail.verify(None)["ok"] is True


# ---- search ---------------------------------------------------------------------------------------


def test_entries_are_found_by_actor_action_target_and_time_newest_first_NF1(db, platform, functions):
    it_id, it = token_of(platform, R.IT_ADMIN)
    action = f"test.search_{uuid.uuid4().hex[:8]}"
    start = utcnow().replace(tzinfo=dt.UTC)
    record_probe(action, actor=it_id, target_type="user", target_id="41")
    record_probe(action, actor=it_id, target_type="user", target_id="42")
    record_probe(action, actor=None, target_type="order", target_id="42")
    mine = entries(c.action == action)

    def ids(**query) -> list[int]:
        status, body = get(functions, "/admin/audit/entries", it, {"action": action, **query})
        assert status == 200, body
        assert body["count"] == len(body["items"])
        return [item["id"] for item in body["items"]]

    assert ids() == [r.id for r in reversed(mine)]
    assert ids(actor=str(it_id)) == [mine[1].id, mine[0].id]
    assert ids(target_type="user") == [mine[1].id, mine[0].id]
    assert ids(target_id="42") == [mine[2].id, mine[1].id]
    assert ids(target_type="order", target_id="42") == [mine[2].id]
    assert ids(**{"from": start.isoformat()}) == [r.id for r in reversed(mine)]
    assert ids(to=start.isoformat()) == []
    assert ids(to=(start + dt.timedelta(hours=1)).astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat()) == \
        [r.id for r in reversed(mine)]
    # Pages: `before` the last id of the page before.
    status, page = get(functions, "/admin/audit/entries", it, {"action": action, "limit": "2"})
    assert status == 200, page
    assert [i["id"] for i in page["items"]] == [mine[2].id, mine[1].id] and page["next_before"] == mine[1].id
    assert ids(limit="2", before=str(page["next_before"])) == [mine[0].id]
    item = page["items"][0]
    assert item["seq"] == mine[2].seq and item["entry_hash"] == mine[2].entry_hash
    assert item["actor_roles"] == [R.IT_ADMIN] and item["target_type"] == "order" and item["result"] == "ok"
    # Each search is itself audited, with its filters.
    searched = entries(c.action == "audit.searched", c.actor_user_id == it_id)
    assert searched and searched[-1].details["filters"] == {"action": action, "before": mine[1].id}
    assert searched[-1].details["count"] == 1


@pytest.mark.parametrize("query, field", [
    ({"actor": "seven"}, "actor"), ({"actor": "0"}, "actor"), ({"action": "Payments Refund"}, "action"),
    ({"target_type": "x" * 65}, "target_type"), ({"target_id": "a b"}, "target_id"),
    ({"target_id": "x" * 65}, "target_id"), ({"from": "yesterday"}, "from"), ({"to": "2026-12-01T00:00:00"}, "to"),
    ({"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"}, "to"), ({"before": "-1"}, "before"),
    ({"limit": "0"}, "limit"), ({"limit": "201"}, "limit"), ({"actor_id": "7"}, "actor_id"),
])
def test_a_bad_filter_is_refused_naming_it_and_nothing_is_written_NF1(db, platform, functions, query, field):
    _, it = token_of(platform, R.IT_ADMIN)
    before = head().seq
    status, body = get(functions, "/admin/audit/entries", it, query)
    assert status == 400, body
    assert body["error"]["field"] == field
    assert head().seq == before


# ---- who may ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [R.PATIENT, R.FINANCE, R.DISPATCHER, R.ED_NURSE])
def test_only_it_administration_and_the_super_admin_read_the_audit_log_NF1(db, platform, functions, role):
    _, token = token_of(platform, role)
    for path in ("/admin/audit/verify", "/admin/audit/entries"):
        status, body = get(functions, path, token)
        assert status == 403, (path, body)
    for allowed in (R.IT_ADMIN, R.SUPER_ADMIN):
        _, token = token_of(platform, allowed)
        for path in ("/admin/audit/verify", "/admin/audit/entries"):
            assert get(functions, path, token)[0] == 200, (allowed, path)


def test_the_sample_events_are_answered_as_they_say(db, platform, functions):
    from tests.conftest import ROOT

    _, it = token_of(platform, R.IT_ADMIN)
    expected = {"verify.json": 200, "search_by_action.json": 200, "search_invalid.json": 400}
    for name, status in expected.items():
        event = json.loads((ROOT / "events/audit_admin" / name).read_text())
        event["headers"]["Authorization"] = event["multiValueHeaders"]["Authorization"] = f"Bearer {it}"
        event["multiValueHeaders"]["Authorization"] = [f"Bearer {it}"]
        assert call(functions, "AuditAdminFunction", event)[0] == status, name
