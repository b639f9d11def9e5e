"""template.yaml is the single source of truth: it lints (also after the SAM transform),
it and the Chalice apps in functions/ declare the same routes and triggers, every function
has a sample event it handles, and database timeouts stay below function timeouts."""
import importlib.util
import json
import pathlib

import pytest
from chalice.app import ScheduledEventConfig, SQSEventConfig

from infra.deploy import check_template
from infra.local.template import ApiEvent, ScheduleEvent, SqsEvent, Template, load_template

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model(platform):
    return Template.from_file(ROOT / "template.yaml").model(platform.physical)


def chalice_app(code_uri: pathlib.Path):
    spec = importlib.util.spec_from_file_location(f"_tmpl_{code_uri.name}", code_uri / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def test_template_passes_cfn_lint():
    from cfnlint.api import lint_file

    assert [str(m) for m in lint_file(ROOT / "template.yaml")] == []


def test_template_passes_cfn_lint_after_offline_sam_transform():
    transformed = check_template.transformed_template()
    assert "AWS::Lambda::Function" in {r["Type"] for r in transformed["Resources"].values()}
    assert check_template.lint(transformed) == []


def test_every_function_folder_is_in_the_template(model):
    folders = {p.parent.name for p in (ROOT / "functions").glob("*/app.py")}
    assert folders == {fn.code_uri.name for fn in model.functions.values()}


def test_chalice_routes_and_handlers_match_the_template_both_ways(model, monkeypatch):
    # The apps check their settings at import: the platform set the template's, but no database.
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    declared, implemented = set(), set()
    for lid, fn in model.functions.items():
        app = chalice_app(fn.code_uri)
        module, _, attr = fn.handler.rpartition(".")
        assert module == "app", f"{lid}: handler must live in app.py"
        for event in fn.events:
            if isinstance(event, ApiEvent):
                declared.add((fn.code_uri.name, "api", event.path, event.method.upper()))
            elif isinstance(event, SqsEvent):
                declared.add((fn.code_uri.name, "sqs", attr, event.queue, event.batch_size))
                assert event.report_batch_item_failures, f"{lid}: SQS consumers report partial failures"
            elif isinstance(event, ScheduleEvent):
                declared.add((fn.code_uri.name, "schedule", attr, event.expression))
        assert not fn.unsupported_events, f"{lid}: unsupported events {fn.unsupported_events}"
        if attr == "app":
            for path, methods in app.routes.items():
                for method in methods:
                    implemented.add((fn.code_uri.name, "api", path, method))
        for source in app.event_sources:
            handler = source.handler_string.rpartition(".")[2]
            if isinstance(source, SQSEventConfig):
                implemented.add((fn.code_uri.name, "sqs", handler, source.queue, source.batch_size))
            elif isinstance(source, ScheduledEventConfig):
                expression = source.schedule_expression
                implemented.add((fn.code_uri.name, "schedule", handler,
                                 expression if isinstance(expression, str) else expression.to_string()))
            else:
                raise AssertionError(f"{lid}: event source {type(source).__name__} not checked here")
        for route_key, config in app.websocket_handlers.items():
            implemented.add((fn.code_uri.name, "websocket", config.handler_string.rpartition(".")[2], route_key))
    for api in model.websocket_apis.values():
        for route in api.routes.values():
            handler = model.functions[route.function].handler.rpartition(".")[2]
            folder = model.functions[route.function].code_uri.name
            # Custom route keys ("subscribe") reach Chalice's $default message handler.
            key = route.route_key if route.route_key in ("$connect", "$disconnect") else "$default"
            declared.add((folder, "websocket", handler, key))
    assert declared == implemented


def test_database_timeouts_stay_below_every_function_timeout(model):
    for lid, fn in model.functions.items():
        db_seconds = int(fn.environment["DB_CONNECT_TIMEOUT"]) + int(fn.environment["DB_READ_TIMEOUT"])
        assert db_seconds < fn.timeout, f"{lid}: database may outlive the function ({db_seconds}s vs {fn.timeout}s)"


def _sample_events():
    resources = load_template(ROOT / "template.yaml")["Resources"]
    for lid, resource in sorted(resources.items()):
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        folder = pathlib.Path(resource["Properties"]["CodeUri"]).name
        files = sorted((ROOT / "events" / folder).glob("*.json"))
        sharing = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"
                   and pathlib.Path(r["Properties"]["CodeUri"]).name == folder]
        if len(sharing) > 1:  # several handlers in one app.py: events/<folder>/<handler>*.json
            files = [f for f in files if f.name.startswith(resource["Properties"]["Handler"].rpartition(".")[2])]
        assert files, f"{lid} has no sample event in events/{folder}/"
        for f in files:
            yield pytest.param(lid, f, id=f"{lid}-{f.name}")


@pytest.mark.parametrize("function,event_file", list(_sample_events()))
def test_every_sample_event_is_handled_without_error(
        function, event_file, functions, platform, sqlite_url, monkeypatch):
    from infra import devenv
    from tests.conftest import _use_database

    _use_database(sqlite_url)  # what `make invoke` uses
    event = json.loads(devenv.fill_placeholders(event_file.read_text(), simulator=platform.wechat))
    invocation = functions.invoke(function, event)
    assert invocation.ok, invocation.error_payload
    result = invocation.result
    if "statusCode" in (result or {}):
        assert result["statusCode"] < 500, result
        if "invalid" not in event_file.name:
            assert result["statusCode"] < 400, result
    if isinstance(result, dict) and "batchItemFailures" in result:
        assert result["batchItemFailures"] == []


def test_the_outbox_sweeper_may_send_to_every_queue_the_outbox_relays_to():
    """The sweeper relays whatever a request's own relay left unsent: a destination it may not
    send to would be retried forever, unseen locally (the local runtime does not enforce IAM)."""
    from hospital import outbox

    template = load_template(ROOT / "template.yaml")
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    queues = {variables[setting.name]["Ref"] for setting in outbox.DESTINATIONS.values()}
    policies = template["Resources"]["OutboxSweeperFunction"]["Properties"]["Policies"]
    allowed = {policy["SQSSendMessagePolicy"]["QueueName"]["Fn::GetAtt"][0] for policy in policies
               if isinstance(policy, dict) and "SQSSendMessagePolicy" in policy}
    assert queues <= allowed, sorted(queues - allowed)
