"""The pure core stays pure and stays in use (README, Design notes: the pure core).

- The rule modules (rescue/timeline.py and every payments/*_rules.py) import nothing but the
  standard library's plain-data modules, other rule modules and the adapters' result types:
  they load in a fresh interpreter where SQLAlchemy, the database drivers and boto3 cannot.
- The I/O code decides by calling them (one place to change a rule), not by a copy of its own.
- In the modules converted to "services receive the unit of work", only the entries open a
  transaction or a unit of work; and anywhere in the layer, a function handed a `uow` or a
  `conn` opens none of its own.
Found statically, except the fresh-interpreter import.
"""
import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers/common/python"
HOSPITAL = LAYER / "hospital"
RULE_FILES = sorted([HOSPITAL / "rescue/timeline.py", *(HOSPITAL / "payments").glob("*_rules.py")])
PURE_STDLIB = {"__future__", "dataclasses", "datetime", "typing", "enum", "collections", "collections.abc"}
PURE_LAYER = {"hospital.adapters.payment_results"}


def module_name(path: pathlib.Path) -> str:
    return ".".join(path.relative_to(LAYER).with_suffix("").parts)


RULE_MODULES = {module_name(path) for path in RULE_FILES}


def imported(tree: ast.Module) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add(node.module or "")
    return found


def test_the_rule_modules_are_found():
    assert {"hospital.rescue.timeline", "hospital.payments.order_rules", "hospital.payments.refund_rules",
            "hospital.payments.news_rules"} <= RULE_MODULES


def test_rule_modules_import_only_plain_data_and_other_rules():
    impure = {f"{module_name(path)} imports {name}" for path in RULE_FILES
              for name in imported(ast.parse(path.read_text()))
              if name not in PURE_STDLIB | PURE_LAYER | RULE_MODULES}
    assert impure == set()


def test_rule_modules_load_without_the_database_drivers_or_aws():
    blocked = ["sqlalchemy", "pymysql", "boto3", "botocore", "hospital.db", "hospital.aws", "hospital.crypto",
               "hospital.unit_of_work", "hospital.outbox", "requests"]
    script = ("import sys\n"
              f"for name in {blocked!r}:\n"
              "    sys.modules[name] = None  # importing any of them now raises ImportError\n"
              f"for name in {sorted(RULE_MODULES)!r}:\n"
              "    __import__(name)\n")
    done = subprocess.run([sys.executable, "-c", script], env={"PYTHONPATH": str(LAYER)}, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


# ---- the I/O code decides by the rules -----------------------------------------------------------

def calls_in(path: str, function: str) -> set[str]:
    tree = ast.parse((HOSPITAL / path).read_text())
    [body] = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function]
    return {_dotted(n.func) for n in ast.walk(body) if isinstance(n, ast.Call)}


def _dotted(node) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else "?"


def test_the_io_code_calls_the_rules():
    uses = {
        ("rescue/case_store.py", "append_node"): "refusal",
        ("payments/orders.py", "try_move"): "order_rules.entered_from",
        ("payments/orders.py", "ensure_payable"): "order_rules.payable_refusal",
        ("payments/refunds.py", "request"): "refund_rules.amount_refusal",
        ("payments/channels/med_ins.py", "refund_parts"): "refund_rules.full_only_refusal",
        ("payments/refund_records.py", "settle"): "refund_rules.settle",
        ("payments/refund_records.py", "succeeded"): "refund_rules.count_refund",
        ("payments/refund_records.py", "leave_refund_pending"): "refund_rules.order_status_when_refund_ends",
        ("payments/payment_news.py", "take_payment"): "news_rules.payment_mismatch",
        ("payments/results.py", "take_refund_news"): "news_rules.refund_mismatch",
        ("payments/medical_insurance.py", "take_mixed"): "news_rules.mixed_mismatch",
    }
    missing = [f"{path}:{function} does not call {rule}" for (path, function), rule in uses.items()
               if rule not in calls_in(path, function)]
    assert missing == []


def test_no_copy_of_a_transition_table_outside_the_rules():
    copies = [f"{path.relative_to(ROOT)}:{node.lineno}" for path in sorted(HOSPITAL.rglob("*.py"))
              if path not in RULE_FILES
              for node in ast.walk(ast.parse(path.read_text()))
              if isinstance(node, (ast.Assign, ast.AnnAssign))
              and any(isinstance(target, ast.Name) and target.id == "ALLOWED_FROM"
                      for target in (node.targets if isinstance(node, ast.Assign) else [node.target]))]
    assert copies == []


# ---- services receive the unit of work; only entries open one ------------------------------------

OPENERS = {"transaction", "unit_of_work"}
# The converted modules, and the entries in each (every other function takes what it needs).
ENTRIES = {
    "rescue/dispatch.py": {"phone_intake", "step", "acknowledge", "dispatch", "progress", "register_vehicle",
                           "case_view", "_audit_shown"},
    "rescue/guidance.py": {"start", "end"},
    "rescue/patient_steps.py": {"correct_location", "cancel"},
    "rescue/case_store.py": {"load"},  # reads, then decrypts after its transaction closes
    "payments/payment_news.py": {"apply_payment"},
    "payments/results.py": {"apply_refund"},
    "payments/refund_records.py": set(),
    "payments/medical_insurance.py": {"apply_mixed", "handle_callback"},
    "payments/ledger.py": {"entries"},  # finance's read of an order's entries
}


def openers(tree: ast.Module):
    """(function, line) of every `with transaction()` / `with unit_of_work()` in a tree."""
    for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        for node in ast.walk(function):
            if isinstance(node, ast.With):
                for item in node.items:
                    call = item.context_expr
                    if isinstance(call, ast.Call) and _dotted(call.func).split(".")[-1] in OPENERS:
                        yield function, node.lineno


def test_in_the_converted_modules_only_the_entries_open_a_unit_of_work():
    found = [f"{path}:{line}: {function.name} opens one; a service takes the caller's unit of work"
             for path, entries in ENTRIES.items()
             for function, line in openers(ast.parse((HOSPITAL / path).read_text())) if function.name not in entries]
    assert found == []


def test_a_function_handed_a_unit_of_work_or_connection_opens_none_of_its_own():
    found = [f"{path.relative_to(ROOT)}:{line}: {function.name}"
             for path in sorted(HOSPITAL.rglob("*.py")) if path.name not in ("unit_of_work.py",)
             for function, line in openers(ast.parse(path.read_text()))
             if function.args.args and function.args.args[0].arg in ("uow", "conn")]
    assert found == []


def test_the_scan_catches_what_it_is_for():
    rogue = ast.parse("def take(uow, x):\n    with unit_of_work() as inner:\n        pass\n"
                      "def read(conn):\n    with db.transaction() as c:\n        pass\n")
    assert [(function.name, line) for function, line in openers(rogue)] == [("take", 2), ("read", 5)]
