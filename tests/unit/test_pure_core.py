"""The pure core stays pure and stays in use (README, Design notes: the pure core).

- The rule modules (rescue/timeline.py and every *_rules.py of the domains and of
  external_calls) import nothing but the standard library's plain-data modules, other rule
  modules and the adapters' result types: they load in a fresh interpreter where SQLAlchemy,
  the database drivers and boto3 cannot.
- The I/O code decides by calling them (one place to change a rule), not by a copy of its own.
- Services receive the unit of work: in every module of the layer that opens a transaction or
  a unit of work, only its named entries do (each named entry exists and opens one), and
  anywhere in the layer, a function handed a `uow` or a `conn` opens none of its own.
Found statically, except the fresh-interpreter import.
"""
import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers/common/python"
HOSPITAL = LAYER / "hospital"
RULE_FILES = sorted([HOSPITAL / "rescue/timeline.py", *(HOSPITAL / "payments").glob("*_rules.py"),
                     *(HOSPITAL / "outpatient").glob("*_rules.py"), *(HOSPITAL / "reconciliation").glob("*_rules.py"),
                     *(HOSPITAL / "external_calls").glob("*_rules.py"), *(HOSPITAL / "content").glob("*_rules.py"),
                     *(HOSPITAL / "helpdesk").glob("*_rules.py"),
                     *(HOSPITAL / "auth").glob("*_rules.py"), *(HOSPITAL / "links").glob("*_rules.py")])
PURE_STDLIB = {"__future__", "dataclasses", "datetime", "typing", "enum", "collections", "collections.abc", "re",
               "decimal", "hashlib", "unicodedata"}
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
        ("content/admin.py", "_step"): "rules.step_refusal",
        ("content/admin.py", "_new_version"): "rules.base_refusal",
        ("content/admin.py", "unpublish"): "rules.unpublish_refusal",
        ("content/public.py", "notices"): "rules.is_shown",
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

OPENERS = {"transaction", "unit_of_work", "transaction_paying_marks"}
# Every module of the layer that opens a transaction or a unit of work, and the entries in each:
# the functions a handler, a queue consumer or a schedule calls, or another module's entry
# outside any transaction of its own. Every other function takes what it needs (`uow`, `conn`).
# An entry that opens several transactions does so on purpose, and its docstring says why: no
# transaction is open while a provider, the HIS, WeChat or the live endpoint is asked, a
# decryption runs after its read closed, a relay or push follows its commit.
ENTRIES = {
    # ---- the opener itself: a unit of work is one transaction and the messages it publishes
    "unit_of_work.py": {"unit_of_work"},
    # ---- access: roles, permissions, holders -----------------------------------------------------
    "auth/access.py": {"list_roles", "role", "holders", "user", "create_role", "update_role", "delete_role",
                       "may_manage_account", "find_users",
                       "assign", "unassign"},
    # ---- rescue ----------------------------------------------------------------------------------
    "rescue/dispatch.py": {"phone_intake", "step", "acknowledge", "dispatch", "progress", "register_vehicle",
                           "case_view", "_audit_shown", "open_cases"},
    "rescue/guidance.py": {"start", "end"},
    "rescue/patient_steps.py": {"correct_location", "cancel"},
    "rescue/case_store.py": {"load"},  # reads, then decrypts after its transaction closes
    "rescue/intake.py": {"create_case"},  # the Idempotency-Key's look-ups stand apart from the case's unit of work
    "rescue/alerts.py": {"alert_consoles_now"},  # after the intake's commit: pushes, then records the result
    "rescue/consumer.py": {"_on_rescue_event", "_alert_consoles"},  # the handler; _alert_consoles pushes between
    "rescue/notify.py": {"set_on_duty", "send_staff_alert"},  # the notifications handler asks WeChat between
    "rescue/persons.py": {"create", "update", "delete", "get", "list_own"},
    "rescue/profile_link.py": {"status", "link", "withdraw"},
    # ---- links to the hospital's other systems -----------------------------------------------------
    "links/consents.py": {"grant", "withdraw", "listing"},
    "links/home.py": {"grid"},
    "health.py": {"_database"},  # a monitor's probe: one SELECT 1
    "links/imaging.py": {"_patient_id"},  # then the platform is asked, no transaction open
    "links/exam.py": {"authorise", "withdraw", "_member", "_others_hold"},
    "links/insurance.py": {"entry", "authorise", "card"},  # rights end and sessions are issued after commit
    "rescue/reports.py": {"dispatch_records", "case_for_admin"},
    "rescue/tracking.py": {"record_positions", "ambulance_for_patient", "ambulance_for_console"},
    "rescue/triage_link.py": {"deliver",  # the triage handler: reads, pushes, then records the result
                              "payload"},  # reads the case by case_store.load (decrypted), then its version
    "rescue/views.py": {"get_case", "list_own"},  # read by case_store.load, then the audit record
    "rescue/watchdog.py": {"republish_unalerted"},  # one unit of work per case, each relayed on its commit
    # ---- outpatient ------------------------------------------------------------------------------
    "outpatient/cards.py": {"bind", "unbind", "list_own"},  # bind asks the HIS between its transactions
    "outpatient/booking.py": {"book",  # asks the HIS for the slot and the hold between its transactions
                              "view", "list_own", "_release"},  # _release: the HIS asked before each record
    # the HIS asked between: the check before anything changes, the cancellation before the refund
    "outpatient/cancellation.py": {"cancel", "carry_on", "_refund", "_put_back", "_own", "_view"},
    # each asks the HIS or WeChat between its transactions, or is a step of one that does
    "outpatient/suspensions.py": {"read_feed", "find", "handle", "follow_up", "progress", "list_recent", "_record",
                                  "_outcome"},
    "outpatient/notices.py": {"tell_suspended", "_release", "_record"},  # WeChat asked between claim and record
    "outpatient/sweeper.py": {"run", "_give_up_holds"},  # the schedule: each item on its own
    "outpatient/catalogue.py": {"slots"},  # the HIS asked first, then the suspensions read
    # ---- reconciliation ---------------------------------------------------------------------------
    "reconciliation/consistency_reports.py": {"run_scheduled", "run_now", "list_reports", "get_report"},
    "reconciliation/runs.py": {"claim", "renew", "finish", "_stop", "run_view", "due"},
    "reconciliation/findings.py": {"listing", "detail", "export_csv", "resolve", "run_listing", "run_detail"},
    # ---- site content ----------------------------------------------------------------------------
    "content/admin.py": {"listing", "detail", "preview", "create", "edit", "restore", "_step", "unpublish"},
    "content/public.py": {"_one", "notices"},
    # ---- usage guidance: feedback tickets and the FAQ ----------------------------------------------
    "helpdesk/tickets.py": {"create", "listing", "detail", "comment", "assign", "move"},
    "helpdesk/faq.py": {"create", "update", "delete", "get", "search"},
    # ---- payments --------------------------------------------------------------------------------
    "payments/payment_news.py": {"apply_payment"},
    "payments/results.py": {"apply_refund"},
    "payments/refund_records.py": set(),
    "payments/medical_insurance.py": {"apply_mixed", "handle_callback"},
    "payments/ledger.py": {"entries"},  # finance's read of an order's entries
    "payments/payers.py": set(),
    "payments/admin.py": {"anomalies", "order", "refund", "ledger_check"},
    # the actions on an abnormal order: the provider or the HIS asked between their transactions,
    # the outcome audited after; _open_refunds and _standing read before and after they are asked
    "payments/anomaly_actions.py": {"act", "resolve", "query_provider", "retry_his", "refund", "_open_refunds",
                                    "_standing"},
    "payments/watchdog.py": {"run"},  # the schedule: clears and records in one transaction
    "payments/checkout.py": {"pay"},  # reads the order; the channel opens the payment
    "payments/orders.py": {"create", "get_view", "list_own"},  # create asks the HIS first
    "payments/credit_care.py": {"enrol", "status", "withdraw", "handle_callback",  # the provider asked between
                                "debts_for_finance"},
    "payments/his_confirmation.py": {"confirm",  # the payment-events handler: the HIS asked between
                                     "refund_by_policy"},  # its entry and the sweeper's
    "payments/refunds.py": {"process", "follow_up"},  # the refund worker's: the provider asked between
    "payments/sweeper.py": {"run", "_close_expired", "query", "_resend_refund",
                            "_resend_confirmation"},  # the schedule and its steps: each item on its own
    # the channels open the payment and carry a refund on: the provider asked between their transactions
    "payments/channels/credit.py": {"pay", "query", "_charge"},
    "payments/channels/med_ins.py": {"pay", "finish_refund"},
    "payments/channels/wechatpay.py": {"pay"},
    # ---- the platform: sessions, the caller's standing, the audit log, the outbox relay, live
    # connections, the WeChat token; each entry stands alone on purpose -------------------------
    "auth/sessions.py": {"sign_in_identity", "issue", "refresh", "revoke_family", "sign_out", "revoke_sessions",
                         "set_disabled"},  # rights end after the commit
    "auth/standing.py": {"current"},  # per request, a cached read
    "auth/admin_activity.py": {"touch"},  # per back-office call, at most once a minute per session
    # back-office sign-in: the password hash is checked and the TOTP secret decrypted with no
    # transaction open; a failure is counted in one of its own, and then refused
    "auth/admin_accounts.py": {"begin", "enrol", "confirm", "verify", "_challenged", "_failed", "change_password",
                               "_unknown_username",
                               "regenerate_recovery_codes", "_own_account", "create_account", "reset_password",
                               "reset_second_factor", "unlock"},
    "audit.py": {"record"},  # for a caller with no transaction (a read, a refusal); `add` takes one
    "audit_trail.py": {"verify", "search"},  # each reads and audits itself in one transaction
    "outbox.py": {"transaction_paying_marks",  # the unit of work's: writes the owed marks before its commit
                  "write_owed_marks",  # past OWED_LIMIT, the marks in a transaction of their own
                  "sweep", "_relay_one",  # the sweeper's: claim, send, then mark sent
                  "_release"},  # a failed send noted apart from whatever failed
    "live.py": {"connect", "renew", "subscribe_to_case", "is_open", "disconnect", "push_to", "close_for",
                "_close"},  # rows forgotten and committed before the sockets are closed
    "wechat_tokens.py": {"access_token",  # read, lease and wait, each short
                         "_refresh"},  # fetched from WeChat with no transaction open, then stored
    # ---- the record of external calls: written at the end of an invocation, searched, expired
    "external_calls/journal.py": {"write"},
    "external_calls/lookup.py": {"search"},
    "external_calls/expiry.py": {"expire"},  # a batch per transaction
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


def opening_modules() -> set[str]:
    """Every module of the layer with a function that opens a transaction or a unit of work."""
    return {str(path.relative_to(HOSPITAL)) for path in sorted(HOSPITAL.rglob("*.py"))
            if any(openers(ast.parse(path.read_text())))}


def test_every_module_that_opens_a_unit_of_work_names_its_entries():
    unlisted = sorted(opening_modules() - set(ENTRIES))
    assert unlisted == [], "add each to ENTRIES with its entries; every other function takes the uow or conn"


def test_each_named_entry_exists_and_opens_one():
    stale = []
    for path, entries in ENTRIES.items():
        tree = ast.parse((HOSPITAL / path).read_text())
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        opening = {function.name for function, _ in openers(tree)}
        stale += [f"{path}:{name} is not defined" for name in sorted(entries - defined)]
        stale += [f"{path}:{name} opens nothing: no entry" for name in sorted((entries & defined) - opening)]
    assert stale == []


def test_in_every_module_only_its_entries_open_a_unit_of_work():
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


def test_the_module_scan_finds_the_openers_and_only_them():
    found = opening_modules()
    assert {"rescue/intake.py", "payments/orders.py", "outbox.py", "unit_of_work.py"} <= found
    assert found.isdisjoint({"payments/refund_records.py", "payments/payers.py", "rescue/visibility.py"})


def test_the_scan_catches_what_it_is_for():
    rogue = ast.parse("def take(uow, x):\n    with unit_of_work() as inner:\n        pass\n"
                      "def read(conn):\n    with db.transaction() as c:\n        pass\n")
    assert [(function.name, line) for function, line in openers(rogue)] == [("take", 2), ("read", 5)]
