"""template.yaml's switch to python3.13 and SnapStart: python3.11 without SnapStart unless asked;
SnapStart refused on python3.11; every event reaches a function through its published alias;
either switch publishes new versions; the local runtime still reads the template."""
import json
import pathlib

import pytest

from infra.deploy import check_template
from infra.local.template import Template, load_template

ROOT = pathlib.Path(__file__).resolve().parents[2]
SNAPSTART_ON = {"Fn::If": ["UsesSnapStart", {"ApplyOn": "PublishedVersions"}, {"Ref": "AWS::NoValue"}]}


@pytest.fixture(scope="module")
def raw():
    return load_template(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def transformed():
    return check_template.transformed_template()


def of_type(template: dict, kind: str) -> dict:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == kind}


def test_python311_without_snapstart_unless_asked(raw):
    runtime, snapstart = raw["Parameters"]["PythonRuntime"], raw["Parameters"]["SnapStart"]
    assert (runtime["Default"], runtime["AllowedValues"]) == ("python3.11", ["python3.11", "python3.13"])
    assert (snapstart["Default"], snapstart["AllowedValues"]) == ("off", ["off", "on"])


@pytest.mark.parametrize("runtime, snapstart, refused", [
    ("python3.11", "off", []), ("python3.13", "off", []), ("python3.13", "on", []),
    ("python3.11", "on", ["SnapStartNeedsPython312OrNewer"]),
])
def test_snapstart_is_refused_on_python311(raw, runtime, snapstart, refused):
    template = Template(raw, base_dir=ROOT, parameters={
        "PythonRuntime": runtime, "SnapStart": snapstart, "PaymentNotifyBaseUrl": "https://pay.example/dev"})
    failing = [name for name, rule in raw["Rules"].items()
               if template.resolve(rule.get("RuleCondition", True))
               and not all(template.resolve(a["Assert"]) for a in rule["Assertions"])]
    assert failing == refused


@pytest.mark.parametrize("warm, snapstart, refused", [
    ("0", "off", []), ("0", "on", []), ("2", "off", []),
    ("2", "on", ["WarmRescueContainersWithoutSnapStart"]),
])
def test_warm_rescue_containers_are_refused_with_snapstart(raw, warm, snapstart, refused):
    template = Template(raw, base_dir=ROOT, parameters={
        "PythonRuntime": "python3.13", "SnapStart": snapstart, "RescueIntakeWarmContainers": warm,
        "PaymentNotifyBaseUrl": "https://pay.example/dev"})
    failing = [name for name, rule in raw["Rules"].items()
               if template.resolve(rule.get("RuleCondition", True))
               and not all(template.resolve(a["Assert"]) for a in rule["Assertions"])]
    assert failing == refused


def test_warm_rescue_containers_are_provisioned_on_the_live_alias_only_when_asked(raw, transformed):
    assert raw["Parameters"]["RescueIntakeWarmContainers"]["Default"] == 0
    aliases = {a["Properties"]["FunctionName"]["Ref"]: a for a in of_type(transformed, "AWS::Lambda::Alias").values()}
    provisioned = {lid: a["Properties"]["ProvisionedConcurrencyConfig"] for lid, a in aliases.items()
                   if "ProvisionedConcurrencyConfig" in a["Properties"]}
    assert provisioned == {"RescueApiFunction": {"Fn::If": [
        "KeepsRescueIntakeWarm", {"ProvisionedConcurrentExecutions": {"Ref": "RescueIntakeWarmContainers"}},
        {"Ref": "AWS::NoValue"}]}}


def test_every_function_takes_the_runtime_and_snapstart_switches(transformed):
    functions = of_type(transformed, "AWS::Lambda::Function")
    assert functions
    for lid, function in functions.items():
        assert function["Properties"]["Runtime"] == {"Ref": "PythonRuntime"}, lid
        assert function["Properties"]["SnapStart"] == SNAPSTART_ON, lid
    (layer,) = of_type(transformed, "AWS::Lambda::LayerVersion").values()
    assert layer["Properties"]["CompatibleRuntimes"] == [{"Ref": "PythonRuntime"}]


def test_every_event_invokes_the_published_alias_never_latest(transformed):
    aliases = of_type(transformed, "AWS::Lambda::Alias")
    functions = of_type(transformed, "AWS::Lambda::Function")
    assert sorted(a["Properties"]["FunctionName"]["Ref"] for a in aliases.values()) == sorted(functions)
    assert {a["Properties"]["Name"] for a in aliases.values()} == {"live"}
    targets = {}
    for lid, resource in transformed["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] in ("AWS::Lambda::Permission", "AWS::Lambda::EventSourceMapping"):
            targets[lid] = props["FunctionName"]
        elif resource["Type"] == "AWS::Events::Rule":
            targets[lid] = [t["Arn"] for t in props["Targets"]]
        elif resource["Type"] == "AWS::ApiGatewayV2::Integration":
            targets[lid] = props["IntegrationUri"]
    for path, methods in transformed["Resources"]["HospitalApi"]["Properties"]["Body"]["paths"].items():
        for method, operation in methods.items():
            targets[f"HospitalApi {method} {path}"] = operation["x-amazon-apigateway-integration"]["uri"]
    assert len(targets) > len(functions)
    for source, target in targets.items():
        assert any(alias in json.dumps(target) for alias in aliases), f"{source} does not invoke an alias: {target}"


def test_either_switch_publishes_new_versions(raw, transformed):
    """SAM names a version by a hash of the template's text, where a parameter shows as `!Ref`
    whatever its value; so each version's description names both values, and CloudFormation
    cannot change a version's description in place: it publishes a new version instead."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    version_schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", "AWS::Lambda::Version").schema
    assert "/properties/Description" in version_schema["createOnlyProperties"]
    versions = of_type(transformed, "AWS::Lambda::Version")
    assert len(versions) == len(of_type(transformed, "AWS::Lambda::Function"))
    for lid, version in versions.items():
        described = version["Properties"]["Description"]["Fn::Sub"]
        assert "${PythonRuntime}" in described and "${SnapStart}" in described, lid
    # A new layer version (most of the code is in it) publishes new versions of the functions too.
    assert raw["Resources"]["CommonLayer"]["Properties"]["PublishLambdaVersion"] is True
    for lid, resource in raw["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            assert resource["Properties"]["AutoPublishAliasAllProperties"] is True, lid


def test_the_local_runtime_reads_the_template_switched_to_python313_with_snapstart(platform):
    model = Template.from_file(ROOT / "template.yaml", parameters={"PythonRuntime": "python3.13", "SnapStart": "on"}
                               ).model(platform.physical)
    assert {fn.runtime for fn in model.functions.values()} == {"python3.13"}
    routes = model.websocket_apis["LiveApi"].routes
    assert {key: route.function for key, route in routes.items()} == {
        "$connect": "LiveConnectFunction", "subscribe": "LiveMessageFunction", "$default": "LiveMessageFunction",
        "$disconnect": "LiveDisconnectFunction"}
