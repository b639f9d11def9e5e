"""The case store is the only code that knows the rescue cases' tables and how their
personal fields are encrypted (EA3, NF1); every other module goes through its public
functions, and no module reaches into another's private names.

Found statically, without a database: the layer, the functions and infra are scanned for the
tables (`t.rescue_cases`, `metadata.tables["rescue_events"]`), for encryption contexts of
the cases (`"rescue_cases.<column>:..."`) and for `<rescue module>._<name>`.
"""
import ast
import pathlib

import pytest

from hospital.rescue import case_store

ROOT = pathlib.Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers/common/python"
TABLES = {"rescue_cases", "rescue_events", "rescue_locations"}
# Where the tables are declared and created; the store itself.
ALLOWED = {"layers/common/python/hospital/db/tables.py", "layers/common/python/hospital/rescue/case_store.py"}
RESCUE_MODULES = {path.stem for path in (LAYER / "hospital/rescue").glob("*.py")} - {"__init__"}


def problems(where: str, source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        at = f"{where}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Attribute) and node.attr in TABLES:
            found.append(f"{at}: uses the table {node.attr}")
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and node.slice.value in TABLES:
            found.append(f"{at}: uses the table {node.slice.value}")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and any(
                node.value.startswith(f"{table}.") for table in TABLES):
            found.append(f"{at}: names an encryption context or column of the cases: {node.value!r}")
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in RESCUE_MODULES
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{at}: reaches into {node.value.id}.{node.attr}")
    return found


def scanned() -> dict[str, str]:
    paths = [*(LAYER / "hospital").rglob("*.py"), *(ROOT / "functions").rglob("*.py"),
             *(p for p in (ROOT / "infra").rglob("*.py") if "migrations" not in p.parts)]
    return {str(p.relative_to(ROOT)): p.read_text() for p in sorted(paths) if str(p.relative_to(ROOT)) not in ALLOWED}


def test_only_the_case_store_knows_the_case_tables_and_their_encryption_NF1():
    found = [problem for where, source in scanned().items() for problem in problems(where, source)]
    assert found == []


def test_the_scan_catches_what_it_is_for():
    rogue = ("def f(conn, case_id):\n"
             "    conn.execute(t.rescue_events.insert())\n"
             "    table = t.metadata.tables['rescue_locations']\n"
             "    return crypto.decrypt(b'', f'rescue_cases.caller_phone:{case_id}'), "
             "case_store._context(case_id, 'x')\n")
    assert sorted(problem.split(": ")[0] for problem in problems("rogue.py", rogue)) == [
        "rogue.py:2", "rogue.py:3", "rogue.py:4", "rogue.py:4"]


def test_an_informative_node_cannot_move_a_case_past_the_state_machine():
    with pytest.raises(ValueError, match="append_node"):
        case_store.append_informative_node(None, "c1", "dispatched", source="dispatch_console")
    with pytest.raises(ValueError):
        case_store.append_informative_node(None, "c1", "no_such_node", source="dispatch_console")
