"""template.py: intrinsics, conditions, Globals, and the project's real template.yaml."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.local.aws import generate_password
from infra.local.functions import EnvironmentConflict, FunctionHost, UnknownFunction, function_environment
from infra.local.template import (
    ApiEvent,
    Function,
    ScheduleEvent,
    SqsEvent,
    Template,
    TemplateError,
    load_template,
    merge_sam_globals,
)

REPO = Path(__file__).resolve().parents[2]

SMALL = """
Parameters:
  Stage: {Type: String, Default: dev, AllowedValues: [dev, prod]}
  Names: {Type: CommaDelimitedList, Default: "a,b,c"}
  Size: {Type: Number, Default: 3}
Mappings:
  M: {dev: {Value: small}}
Conditions:
  IsDev: !Equals [!Ref Stage, dev]
  NotDev: !Not [!Condition IsDev]
  Both: !And [!Condition IsDev, !Or [!Condition NotDev, !Equals [1, 1]]]
Resources:
  Q:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "q-${Stage}-${AWS::Region}-${!Literal}"
  P:
    Type: AWS::SQS::Queue
    Condition: NotDev
  X:
    Type: Custom::Thing
    Properties:
      Sub2: !Sub ["${A}-${Q.Arn}", {A: !Select [1, !Ref Names]}]
      Join: !Join ["/", [!Ref Stage, !FindInMap [M, !Ref Stage, Value], !Ref Size]]
      Split: !Select [2, !Split [",", "x,y,z"]]
      Maybe: !If [IsDev, !Ref AWS::NoValue, gone]
      List: [1, !If [NotDev, 2, !Ref AWS::NoValue], 3]
      Cond: !If [Both, yes-both, no]
      Acct: !Sub "${AWS::AccountId}:${AWS::Partition}:${AWS::StackName}"
"""


@pytest.fixture()
def small(tmp_path):
    (tmp_path / "t.yaml").write_text(SMALL)
    return Template.from_file(tmp_path / "t.yaml")


def test_intrinsics(small):
    physical = {"Q": {"Ref": "url", "Arn": "arn:q"}}
    props = small.resolve_properties("X", physical)
    assert props == {
        "Sub2": "b-arn:q",
        "Join": "dev/small/3",
        "Split": "z",
        "List": [1, 3],
        "Cond": "yes-both",
        "Acct": "123456789012:aws:hospital-local",
    }
    assert small.resolve_properties("Q", physical)["QueueName"] == "q-dev-us-east-1-${Literal}"


def test_conditions_parameters_and_order(small, tmp_path):
    assert small.conditions == {"IsDev": True, "NotDev": False, "Both": True}
    assert "P" not in small.resources                     # Condition false -> not created
    assert small.creation_order().index("Q") < small.creation_order().index("X")
    prod = Template.from_file(tmp_path / "t.yaml", parameters={"Stage": "prod"})
    assert prod.conditions["NotDev"]
    assert "P" in prod.resources
    with pytest.raises(TemplateError):
        Template.from_file(tmp_path / "t.yaml", parameters={"Stage": "qa"})
    with pytest.raises(TemplateError):
        Template.from_file(tmp_path / "t.yaml", parameters={"Unknown": "x"})
    with pytest.raises(TemplateError, match="no local value"):
        small.resolve_properties("X", {})


def test_sam_globals_merge():
    glob = {"Timeout": 10, "Layers": ["L1"], "Environment": {"Variables": {"A": "1", "B": "2"}}}
    local = {"Timeout": 30, "Layers": ["L2"], "Environment": {"Variables": {"B": "x"}}}
    assert merge_sam_globals(glob, local) == {
        "Timeout": 30, "Layers": ["L1", "L2"], "Environment": {"Variables": {"A": "1", "B": "x"}}}


def test_real_template_is_supported():
    """The project's template.yaml evaluates fully with stand-in physical values."""
    t = Template.from_file(REPO / "template.yaml")
    physical = {}
    for lid in t.creation_order():
        physical[lid] = {"Ref": f"ref-{lid}", "Arn": f"arn:{lid}", "QueueName": f"name-{lid}", "KeyId": lid}
        t.resolve_properties(lid, physical)               # every property resolves
    model = t.model(physical)
    assert model.functions, "no functions found"
    for fn in model.functions.values():
        assert fn.handler.count(".") >= 1, fn
        assert not fn.unsupported_events, fn
        assert fn.layer_paths == [REPO / "layers/common/python"]
        assert "DATABASE_SECRET_ARN" not in fn.environment     # HasDatabaseSecret is false by default
        for ev in fn.events:
            assert isinstance(ev, (ApiEvent, SqsEvent, ScheduleEvent))
    # Every queue with a redrive has its DLQ.
    assert {"RescueEventsDLQ", "TriageDLQ", "NotificationsDLQ"} <= set(model.dlqs)
    assert load_template(REPO / "template.yaml")["Resources"]


def test_environment_conflicts_are_refused(tmp_path):
    a = Function("A", tmp_path, "app.app", environment={"X": "1", "SAME": "s"})
    b = Function("B", tmp_path, "app.app", environment={"X": "2", "SAME": "s"})
    with pytest.raises(EnvironmentConflict, match="X"):
        function_environment({"A": a, "B": b}, {})
    # ... unless the process environment sets it (it wins over the template)
    assert function_environment({"A": a, "B": b}, {"X": "env"}) == {"SAME": "s"}


def test_resolve_name(tmp_path):
    fa = Function("AFunction", tmp_path / "a", "app.app", arn="arn:aws:lambda:us-east-1:1:function:AFunction")
    fb = Function("BFunction", tmp_path / "shared", "app.app")
    fc = Function("CFunction", tmp_path / "shared", "other.handler")
    host = FunctionHost({"AFunction": fa, "BFunction": fb, "CFunction": fc})
    assert host.resolve_name("AFunction") == "AFunction"
    assert host.resolve_name("a") == "AFunction"
    assert host.resolve_name("functions/a/") == "AFunction"
    assert host.resolve_name("arn:aws:lambda:us-east-1:1:function:AFunction") == "AFunction"
    with pytest.raises(UnknownFunction, match="several"):
        host.resolve_name("shared")
    with pytest.raises(UnknownFunction):
        host.resolve_name("nope")


def test_generated_secret_options():
    pw = generate_password({"PasswordLength": 64, "ExcludePunctuation": True})
    assert len(pw) == 64
    assert pw.isalnum()
    pw = generate_password({"PasswordLength": 20, "ExcludeCharacters": "abcABC123", "ExcludeUppercase": True})
    assert len(pw) == 20
    assert not set(pw) & set("abcABC123")
    assert pw == pw.lower()


def test_secrets_created_kept_and_overridden(runtime):
    sm = runtime.endpoint.client("secretsmanager")
    app = json.loads(sm.get_secret_value(SecretId="fixture/test/app")["SecretString"])
    assert set(app) == {"signing_key"}
    assert len(app["signing_key"]) == 40
    assert sm.get_secret_value(SecretId="fixture/test/wechat")["SecretString"] == '{"wx-app": "sim-secret"}'
    # Provisioning again keeps the generated value (never regenerated).
    from infra.local.aws import provision
    provision(runtime.template, runtime.endpoint, {})
    again = json.loads(sm.get_secret_value(SecretId="fixture/test/app")["SecretString"])
    assert again == app
    kms = runtime.endpoint.client("kms")
    key = kms.describe_key(KeyId="alias/fixture-test-pii")["KeyMetadata"]
    assert key["KeyId"] == runtime.physical["FixturePiiKey"]["Ref"]
    assert runtime.endpoint.client("s3").head_bucket(Bucket="fixture-test-files-123456789012")


def test_resources_not_created_locally_are_one_line_of_the_banner(runtime, monkeypatch):
    """A resource type the runtime has no counterpart for is counted once, at the end of the
    banner, not warned about one by one before it; LOCAL_VERBOSE=1 names each."""
    assert runtime.not_created() == {"LivePermission": "AWS::Lambda::Permission"}
    monkeypatch.delenv("LOCAL_VERBOSE", raising=False)
    assert runtime.banner().splitlines()[-1] == (
        "  NOT CREATED LOCALLY: 1 resource of the template (1 AWS::Lambda::Permission); LOCAL_VERBOSE=1 lists them")
    monkeypatch.setenv("LOCAL_VERBOSE", "1")
    assert runtime.banner().splitlines()[-1] == "  NOT CREATED LOCALLY: LivePermission (AWS::Lambda::Permission)"
