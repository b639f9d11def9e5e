"""The scale plan (README, "Scale plan") holds in template.yaml: every queue consumer has a maximum
concurrency, every queue outlasts its consumer's retries, every function that opens a database
connection is capped and the caps fit DatabaseConnectionBudget, and API-facing functions end
before API Gateway gives up. Every number is read from the template at its defaults."""
import json
import pathlib
import re

import pytest

from infra.deploy import check_template
from infra.local.template import NO_VALUE, Template, load_template

ROOT = pathlib.Path(__file__).resolve().parents[2]
API_GATEWAY_TIMEOUT = 29          # seconds: REST and WebSocket integrations' limit
VISIBILITY_FACTOR = 6             # AWS: visibility timeout >= 6 x function timeout + batching window
ACCOUNT_CONCURRENCY = 1000        # Lambda's default per-region limit ...
UNRESERVED_MINIMUM = 100          # ... of which reservations must leave this much


@pytest.fixture(scope="module")
def raw():
    return load_template(ROOT / "template.yaml")


def evaluated(raw, **overrides) -> Template:
    return Template(raw, base_dir=ROOT, parameters={k: str(v) for k, v in overrides.items()})


def functions(tpl: Template) -> dict[str, dict]:
    return {lid: r["Properties"] for lid, r in tpl.raw["Resources"].items()
            if r["Type"] == "AWS::Serverless::Function"}


def timeout(tpl: Template, props: dict) -> int:
    return int(tpl.resolve(props.get("Timeout", tpl.raw["Globals"]["Function"]["Timeout"])))


def sqs_sources(props: dict) -> list[dict]:
    return [e["Properties"] for e in (props.get("Events") or {}).values() if e["Type"] == "SQS"]


def queue_of(source: dict) -> str:
    return source["Queue"]["Fn::GetAtt"][0]


def opens_database(props: dict) -> bool:
    # The functions allowed to read the database's secret are the ones that connect to it.
    return "DatabaseSecretArn" in json.dumps(props.get("Policies") or [])


def websocket_functions(tpl: Template) -> set[str]:
    uris = [json.dumps(r["Properties"]["IntegrationUri"]) for r in tpl.raw["Resources"].values()
            if r["Type"] == "AWS::ApiGatewayV2::Integration"]
    return {m for uri in uris for m in re.findall(r"\$\{(\w+)\.Alias\}", uri)}


def reserved(tpl: Template, props: dict) -> int | None:
    value = tpl.resolve(props.get("ReservedConcurrentExecutions"))
    return None if value is None or value is NO_VALUE else int(value)


def connection_caps(tpl: Template) -> dict[str, int | None]:
    """Per function opening the database: the most containers (one connection each) it can run, or
    None when nothing caps it. A consumer only of queues is capped by its sources' maximums."""
    caps: dict[str, int | None] = {}
    for lid, props in functions(tpl).items():
        if not opens_database(props):
            continue
        cap = reserved(tpl, props)
        events = (props.get("Events") or {}).values()
        sources = sqs_sources(props)
        if events and len(sources) == len(events):
            by_queue = sum(int(tpl.resolve(s["ScalingConfig"]["MaximumConcurrency"])) for s in sources)
            cap = by_queue if cap in (None, 0) else min(cap, by_queue)
        caps[lid] = cap or None   # reserved 0 throttles everything: none of this template's caps
    return caps


def test_every_sqs_event_source_has_a_maximum_concurrency_lambda_accepts(raw):
    tpl = evaluated(raw)
    seen = 0
    for lid, props in functions(tpl).items():
        for source in sqs_sources(props):
            seen += 1
            assert "MaximumConcurrency" in (source.get("ScalingConfig") or {}), f"{lid}: no MaximumConcurrency"
            assert 2 <= int(tpl.resolve(source["ScalingConfig"]["MaximumConcurrency"])) <= 1000, lid
    assert seen >= 6


def test_every_queue_outlasts_six_of_its_consumers_timeouts_plus_the_batching_window(raw):
    tpl = evaluated(raw)
    queues = {lid: r["Properties"] for lid, r in raw["Resources"].items() if r["Type"] == "AWS::SQS::Queue"}
    consumed = {}
    for lid, props in functions(tpl).items():
        for source in sqs_sources(props):
            window = int(tpl.resolve(source.get("MaximumBatchingWindowInSeconds", 0)))
            consumed[queue_of(source)] = (lid, VISIBILITY_FACTOR * timeout(tpl, props) + window)
    # Every queue that is not a dead-letter queue has a consumer, so none escapes the check.
    assert {q for q, p in queues.items() if "RedrivePolicy" in p} == set(consumed)
    for queue, (consumer, needed) in consumed.items():
        visibility = int(tpl.resolve(queues[queue].get("VisibilityTimeout", 30)))
        assert visibility >= needed, f"{queue}: visibility {visibility}s, {consumer} needs {needed}s"


def test_api_facing_functions_end_before_api_gateway_gives_up(raw):
    tpl = evaluated(raw)
    ws = websocket_functions(tpl)
    api_facing = {lid: props for lid, props in functions(tpl).items()
                  if lid in ws or any(e["Type"] == "Api" for e in (props.get("Events") or {}).values())}
    assert ws and len(api_facing) > len(ws)
    for lid, props in api_facing.items():
        assert timeout(tpl, props) < API_GATEWAY_TIMEOUT, f"{lid}: Timeout {timeout(tpl, props)}s"


def budget_problems(tpl: Template) -> list[str]:
    caps = connection_caps(tpl)
    problems = [f"{lid}: uncapped" for lid, cap in caps.items() if cap is None]
    total, budget = sum(cap or 0 for cap in caps.values()), int(tpl.parameters["DatabaseConnectionBudget"])
    if total > budget:
        problems.append(f"{total} connections at the caps, budget {budget}")
    return problems


def test_every_database_function_is_capped_and_the_caps_fit_the_connection_budget(raw):
    tpl = evaluated(raw)
    assert len(connection_caps(tpl)) > 30
    assert budget_problems(tpl) == []


def test_the_budget_check_fails_one_connection_over_and_on_an_uncapped_function(raw):
    total = sum(connection_caps(evaluated(raw)).values())
    assert budget_problems(evaluated(raw, DatabaseConnectionBudget=total)) == []
    assert budget_problems(evaluated(raw, DatabaseConnectionBudget=total - 1)) == [
        f"{total} connections at the caps, budget {total - 1}"]
    # A stage that reserves nothing for the back office (0) leaves those functions uncapped.
    problems = budget_problems(evaluated(raw, BackOfficeReservedConcurrency=0))
    assert "HealthFunction: uncapped" in problems and "AuditAdminFunction: uncapped" in problems
    # A queue's maximum concurrency counts toward the total.
    raised = int(evaluated(raw).parameters["RescueEventsMaxConcurrency"]) + 7
    assert sum(connection_caps(evaluated(raw, RescueEventsMaxConcurrency=raised)).values()) == total + 7


def test_single_run_schedules_run_one_at_a_time(raw):
    tpl = evaluated(raw)
    for lid, props in functions(tpl).items():
        events = list((props.get("Events") or {}).values())
        if events and all(e["Type"] == "Schedule" for e in events):
            assert reserved(tpl, props) == 1, f"{lid}: a schedule overlapping itself doubles its work"


def test_reservations_leave_lambdas_unreserved_minimum_in_a_default_account(raw):
    tpl = evaluated(raw)
    total = sum(r for props in functions(tpl).values() if (r := reserved(tpl, props)))
    assert total <= ACCOUNT_CONCURRENCY - UNRESERVED_MINIMUM


def test_sam_carries_the_maximum_concurrency_to_the_event_source_mappings(raw):
    transformed = check_template.transformed_template()
    mappings = [r["Properties"] for r in transformed["Resources"].values()
                if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert len(mappings) == sum(len(sqs_sources(p)) for p in functions(evaluated(raw)).values())
    assert all("MaximumConcurrency" in (m.get("ScalingConfig") or {}) for m in mappings)
