"""The unit tier (`make unit`) runs in seconds with no database server, moto or simulator: a
unit test that asks for a fixture of tests/conftest.py (the platform, the databases, the
functions) is refused at collection, before any of them starts."""
import ast
import pathlib

import pytest

HERE = pathlib.Path(__file__).resolve().parent


def _is_fixture(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(target, ast.Attribute) and target.attr == "fixture"


# Every fixture tests/conftest.py declares: each needs, or is, the platform or a database.
OUTSIDE_THE_UNIT_TIER = {
    node.name for node in ast.parse((HERE.parent / "conftest.py").read_text()).body
    if isinstance(node, ast.FunctionDef) and any(_is_fixture(d) for d in node.decorator_list)}


def pytest_collection_modifyitems(config, items):
    offending = [f"{item.nodeid} uses {', '.join(sorted(used))}" for item in items
                 if HERE in pathlib.Path(str(item.path)).resolve().parents
                 and (used := set(getattr(item, "fixturenames", ())) & OUTSIDE_THE_UNIT_TIER)]
    if offending:
        raise pytest.UsageError("unit tests run without a database, moto or simulators; these do not belong in "
                                "tests/unit:\n  " + "\n  ".join(offending))
