"""Read template.yaml and evaluate it the way CloudFormation + SAM would.

Three layers, used in this order by the runtime:

1. `load_template(path)` -> plain dict; YAML short tags (!Ref, !Sub, ...) become their
   long JSON form ({"Ref": ...}, {"Fn::Sub": ...}) so one resolver handles both.
2. `Template(raw, parameters=...)` evaluates Parameters and Conditions and can resolve any
   value given a map of *physical values*: {logical_id: {"Ref": ..., "<Attr>": ...}}.
   aws.py fills that map while it creates resources in `creation_order()`.
3. `Template.model(physical)` -> `Model`, the dataclasses the rest of the runtime uses
   (functions with their triggers, queues, keys, secrets, WebSocket APIs ...).
"""
from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class TemplateError(Exception):
    """The template is invalid or uses something the local runtime cannot evaluate."""


# Returned by resolve() for !Ref AWS::NoValue; dict/list resolution drops it.
class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()

DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account
DEFAULT_STACK_NAME = "hospital-local"


# ---------------------------------------------------------------------------------------
# 1. loading
# ---------------------------------------------------------------------------------------

class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation short-form intrinsic tags."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # "!GetAtt Res.Attr" (the attribute itself may contain dots: Endpoint.Address)
        res, _, attr = value.partition(".")
        return {"Fn::GetAtt": [res, attr]}
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: str | os.PathLike) -> dict:
    with open(path, encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict) or "Resources" not in data:
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources)")
    return data


# ---------------------------------------------------------------------------------------
# model (what the rest of the runtime consumes)
# ---------------------------------------------------------------------------------------

@dataclass
class ApiEvent:
    name: str
    path: str            # template path, e.g. /rescue/cases/{case_id}
    method: str          # upper case; "ANY" matches every method
    rest_api: str        # logical id of the AWS::Serverless::Api (or the implicit one)
    stage: str


@dataclass
class SqsEvent:
    name: str
    queue: str | None    # logical id when the queue is in this template
    queue_arn: str
    batch_size: int = 10
    report_batch_item_failures: bool = False
    maximum_batching_window: int = 0
    enabled: bool = True


@dataclass
class ScheduleEvent:
    name: str
    expression: str      # rate(...) / cron(...)
    enabled: bool = True
    input: str | None = None   # JSON text replacing the Scheduled Event when given
    rule_name: str = ""
    description: str = ""


@dataclass
class Function:
    logical_id: str
    code_uri: Path       # absolute folder
    handler: str         # "module.attr"
    timeout: int = 3
    memory: int = 128
    runtime: str = "python3.11"
    environment: dict[str, str] = field(default_factory=dict)
    layer_paths: list[Path] = field(default_factory=list)   # <ContentUri>/python
    events: list[ApiEvent | SqsEvent | ScheduleEvent] = field(default_factory=list)
    unsupported_events: list[str] = field(default_factory=list)
    arn: str = ""

    def events_of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


@dataclass
class Queue:
    logical_id: str
    name: str
    url: str
    arn: str
    visibility_timeout: int = 30
    dead_letter_queue: str | None = None     # logical id of the DLQ
    max_receive_count: int | None = None


@dataclass
class Bucket:
    logical_id: str
    name: str
    arn: str


@dataclass
class KmsKey:
    logical_id: str
    key_id: str
    arn: str


@dataclass
class KmsAlias:
    logical_id: str
    name: str
    target_key: str | None   # logical id of the key when it is in this template


@dataclass
class Secret:
    logical_id: str
    name: str
    arn: str


@dataclass
class WebSocketRoute:
    route_key: str               # $connect, $disconnect, $default or a custom key ("subscribe")
    function: str | None         # logical id of the function behind Target -> Integration, if any
    logical_id: str = ""         # the AWS::ApiGatewayV2::Route
    integration: str | None = None


@dataclass
class WebSocketApi:
    """An AWS::ApiGatewayV2::Api with ProtocolType WEBSOCKET, its stage and routes."""
    logical_id: str
    name: str
    api_id: str
    stage: str | None
    route_selection_expression: str = "$request.body.action"
    routes: dict[str, WebSocketRoute] = field(default_factory=dict)
    not_run: list[str] = field(default_factory=list)   # what the local runtime ignores (banner)

    def function_for(self, route_key: str) -> str | None:
        route = self.routes.get(route_key)
        return route.function if route else None


@dataclass
class Model:
    functions: dict[str, Function]
    queues: dict[str, Queue]
    buckets: dict[str, Bucket]
    keys: dict[str, KmsKey]
    aliases: dict[str, KmsAlias]
    secrets: dict[str, Secret]
    region: str
    account_id: str
    websocket_apis: dict[str, WebSocketApi] = field(default_factory=dict)
    not_run: list[str] = field(default_factory=list)    # resources the runtime cannot serve

    @property
    def dlqs(self) -> dict[str, Queue]:
        """Queues that are some other queue's dead-letter target."""
        targets = {q.dead_letter_queue for q in self.queues.values() if q.dead_letter_queue}
        return {lid: q for lid, q in self.queues.items() if lid in targets}


# ---------------------------------------------------------------------------------------
# 2. evaluation
# ---------------------------------------------------------------------------------------

_SUB_VAR = re.compile(r"\$\{([^}]*)\}")
# arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function arn>/invocations
_INVOCATION_ARN = re.compile(r"/functions/(arn:[^/]+)/invocations")
_LIST_TYPES = ("CommaDelimitedList", "List<")
# SAM's names for what AutoPublishAlias publishes (`!Ref Fn.Alias`, `${Fn.Version}`): no version
# is published locally, so each stands for the function itself.
_PUBLISHED = ("Alias", "Version")


@dataclass
class Resource:
    logical_id: str
    type: str
    properties: dict
    depends_on: list[str]
    metadata: dict


class Template:
    """An evaluated template: parameters, conditions and an intrinsic resolver.

    `base_dir` is the folder of template.yaml; CodeUri/ContentUri are relative to it.
    """

    def __init__(
        self,
        raw: dict,
        base_dir: str | os.PathLike = ".",
        parameters: Mapping[str, Any] | None = None,
        region: str | None = None,
        account_id: str = DEFAULT_ACCOUNT_ID,
        stack_name: str = DEFAULT_STACK_NAME,
    ) -> None:
        self.raw = raw
        self.base_dir = Path(base_dir).resolve()
        self.region = region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.account_id = account_id
        self.stack_name = stack_name
        self.mappings: dict = raw.get("Mappings") or {}
        self.parameters = self._evaluate_parameters(raw.get("Parameters") or {}, parameters or {})
        self._condition_defs: dict = raw.get("Conditions") or {}
        self._conditions: dict[str, bool] = {}
        self.conditions = {name: self.condition(name) for name in self._condition_defs}
        self.resources = self._collect_resources()

    @classmethod
    def from_file(cls, path: str | os.PathLike, **kwargs: Any) -> Template:
        return cls(load_template(path), base_dir=Path(path).resolve().parent, **kwargs)

    # ---- parameters and conditions ------------------------------------------------------

    def _evaluate_parameters(self, decls: dict, overrides: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(overrides) - set(decls)
        if unknown:
            raise TemplateError(f"parameter override(s) not declared in the template: {sorted(unknown)}")
        values: dict[str, Any] = {}
        for name, declared in decls.items():
            decl = declared or {}
            if name in overrides:
                value = overrides[name]
            elif "Default" in decl:
                value = decl["Default"]
            else:
                raise TemplateError(f"parameter {name} has no Default and no override was given")
            value = "" if value is None else value
            ptype = str(decl.get("Type", "String"))
            if ptype.startswith(_LIST_TYPES):
                if not isinstance(value, list):
                    value = [v.strip() for v in str(value).split(",")] if value != "" else []
            else:
                # CloudFormation hands every scalar parameter to Ref as a string.
                value = str(value).lower() if isinstance(value, bool) else str(value)
                allowed = decl.get("AllowedValues")
                if allowed is not None and value not in [str(a) for a in allowed]:
                    raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
            values[name] = value
        return values

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            if name not in self._condition_defs:
                raise TemplateError(f"unknown condition {name!r}")
            self._conditions[name] = False  # guards against self-reference loops
            self._conditions[name] = bool(self.resolve(self._condition_defs[name], {}))
        return self._conditions[name]

    # ---- resources ----------------------------------------------------------------------

    def _collect_resources(self) -> dict[str, Resource]:
        out: dict[str, Resource] = {}
        globals_fn = ((self.raw.get("Globals") or {}).get("Function")) or {}
        for lid, res in (self.raw.get("Resources") or {}).items():
            cond = res.get("Condition")
            if cond and not self.condition(cond):
                continue  # CloudFormation skips resources whose condition is false
            props = res.get("Properties") or {}
            if res.get("Type") == "AWS::Serverless::Function":
                props = merge_sam_globals(globals_fn, props)
            depends = res.get("DependsOn") or []
            out[lid] = Resource(
                logical_id=lid,
                type=res.get("Type", ""),
                properties=props,
                depends_on=[depends] if isinstance(depends, str) else list(depends),
                metadata=res.get("Metadata") or {},
            )
        return out

    def of_type(self, *types: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.type in types]

    def references(self, value: Any) -> set[str]:
        """Logical ids of resources that `value` refers to (Ref, GetAtt, Sub)."""
        found: set[str] = set()

        def walk(v: Any) -> None:
            if isinstance(v, dict):
                if len(v) == 1:
                    (k, arg), = v.items()
                    if k == "Ref" and isinstance(arg, str):
                        found.add(arg.split(".")[0])  # SAM's Fn.Alias is Fn's
                    elif k == "Fn::GetAtt" and isinstance(arg, list) and arg:
                        found.add(str(arg[0]))
                    elif k == "Fn::Sub":
                        text = arg[0] if isinstance(arg, list) else arg
                        if isinstance(text, str):
                            for var in _SUB_VAR.findall(text):
                                if not var.startswith("!"):
                                    found.add(var.split(".")[0])
                for item in v.values():
                    walk(item)
            elif isinstance(v, list):
                for item in v:
                    walk(item)

        walk(value)
        return {r for r in found if r in self.resources}

    def creation_order(self) -> list[str]:
        """Logical ids so that every resource comes after those it references."""
        deps = {
            lid: (self.references(r.properties) | set(r.depends_on)) & set(self.resources) - {lid}
            for lid, r in self.resources.items()
        }
        order: list[str] = []
        done: set[str] = set()
        pending = list(self.resources)
        while pending:
            ready = [lid for lid in pending if deps[lid] <= done]
            if not ready:
                raise TemplateError(f"circular references between resources: {sorted(pending)}")
            for lid in ready:
                order.append(lid)
                done.add(lid)
            pending = [lid for lid in pending if lid not in done]
        return order

    def resolve_properties(self, logical_id: str, physical: Mapping[str, Mapping[str, Any]]) -> dict:
        return self.resolve(self.resources[logical_id].properties, physical)

    # ---- intrinsic functions ------------------------------------------------------------

    def pseudo(self, name: str) -> Any:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }.get(name, KeyError)

    def resolve(self, value: Any, physical: Mapping[str, Mapping[str, Any]] | None = None) -> Any:
        """Resolve intrinsics recursively. `physical` maps logical id -> {"Ref":..., attr:...}."""
        physical = physical or {}
        if isinstance(value, list):
            items = (self.resolve(v, physical) for v in value)
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref" or key == "Condition" or key.startswith("Fn::"):
                return self._intrinsic(key, arg, physical)
        out = {}
        for k, v in value.items():
            r = self.resolve(v, physical)
            if r is not NO_VALUE:
                out[k] = r
        return out

    def _ref(self, name: Any, physical: Mapping) -> Any:
        if not isinstance(name, str):
            raise TemplateError(f"Ref needs a name, got {name!r}")
        p = self.pseudo(name)
        if p is not KeyError:
            return p
        if name in self.parameters:
            return self.parameters[name]
        lid, _, published = name.partition(".")
        if self._is_published(lid, published):
            return self._attr(lid, "Arn", physical)
        return self._attr(name, "Ref", physical)

    def _is_published(self, lid: str, attr: str) -> bool:
        res = self.resources.get(lid)
        return attr in _PUBLISHED and res is not None and res.type == "AWS::Serverless::Function"

    def _attr(self, lid: str, attr: str, physical: Mapping) -> Any:
        if lid not in self.resources:
            raw_res = (self.raw.get("Resources") or {}).get(lid)
            if raw_res is not None:
                raise TemplateError(f"{lid} is referenced but its Condition is false")
            raise TemplateError(f"reference to unknown resource or parameter {lid!r}")
        values = physical.get(lid)
        if values is None:
            raise TemplateError(
                f"{lid} ({self.resources[lid].type}) has no local value yet: it is not created "
                f"by the local runtime or is referenced before creation"
            )
        if attr not in values:
            raise TemplateError(f"{lid} ({self.resources[lid].type}) has no attribute {attr!r} locally")
        return values[attr]

    def _intrinsic(self, key: str, arg: Any, physical: Mapping) -> Any:  # noqa: C901 - one branch per CloudFormation intrinsic function
        def r(v):
            return self.resolve(v, physical)

        if key == "Ref":
            return self._ref(arg, physical)
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::GetAtt":
            lid, attr = (arg.split(".", 1) if isinstance(arg, str) else arg)
            return self._attr(lid, r(attr), physical)
        if key == "Fn::Sub":
            return self._sub(arg, physical)
        if key == "Fn::If":
            cond, yes, no = arg
            return r(yes) if self.condition(cond) else r(no)
        if key == "Fn::Equals":
            a, b = r(arg)
            return _scalar_str(a) == _scalar_str(b)
        if key == "Fn::Not":
            (v,) = r(arg)
            return not v
        if key == "Fn::And":
            return all(r(arg))
        if key == "Fn::Or":
            return any(r(arg))
        if key == "Fn::Join":
            delim, items = arg
            items = r(items)
            return r(delim).join(_scalar_str(i) for i in items)
        if key == "Fn::Select":
            index, items = arg
            items = r(items)
            return items[int(r(index))]
        if key == "Fn::Split":
            delim, text = arg
            return r(text).split(r(delim))
        if key == "Fn::FindInMap":
            return self._find_in_map(arg, physical)
        if key == "Fn::Base64":
            return base64.b64encode(str(r(arg)).encode()).decode()
        if key == "Fn::GetAZs":
            return [f"{self.region}{s}" for s in "abc"]
        if key == "Fn::ToJsonString":
            return json.dumps(r(arg), separators=(",", ":"))
        if key == "Fn::Length":
            return len(r(arg))
        raise TemplateError(f"intrinsic {key} is not supported by the local runtime")

    def _find_in_map(self, arg: list, physical: Mapping) -> Any:
        name, top, second = (self.resolve(a, physical) for a in arg[:3])
        try:
            return self.resolve(self.mappings[name][top][second], physical)
        except KeyError:
            if len(arg) > 3 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                return self.resolve(arg[3]["DefaultValue"], physical)
            raise TemplateError(f"Fn::FindInMap: {name}/{top}/{second} not found") from None

    def _sub(self, arg: Any, physical: Mapping) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], self.resolve(arg[1], physical)
        else:
            text, variables = arg, {}

        def replace(m: re.Match) -> str:
            var = m.group(1)
            if var.startswith("!"):
                return "${" + var[1:] + "}"  # ${!Literal} is an escaped literal
            if var in variables:
                return _scalar_str(variables[var])
            if "." in var and not var.startswith("AWS::"):
                lid, attr = var.split(".", 1)
                return _scalar_str(self._attr(lid, "Arn" if self._is_published(lid, attr) else attr, physical))
            return _scalar_str(self._ref(var, physical))

        return _SUB_VAR.sub(replace, text)

    # ---- 3. model -----------------------------------------------------------------------

    def model(self, physical: Mapping[str, Mapping[str, Any]]) -> Model:
        def value(lid: str, attr: str, default: Any = "") -> Any:
            return (physical.get(lid) or {}).get(attr, default)

        queues: dict[str, Queue] = {}
        arn_to_queue = {value(r.logical_id, "Arn"): r.logical_id for r in self.of_type("AWS::SQS::Queue")}
        for res in self.of_type("AWS::SQS::Queue"):
            props = self.resolve_properties(res.logical_id, physical)
            redrive = props.get("RedrivePolicy") or {}
            if isinstance(redrive, str):
                redrive = json.loads(redrive)
            queues[res.logical_id] = Queue(
                logical_id=res.logical_id,
                name=value(res.logical_id, "QueueName"),
                url=value(res.logical_id, "Ref"),
                arn=value(res.logical_id, "Arn"),
                visibility_timeout=int(props.get("VisibilityTimeout", 30)),
                dead_letter_queue=arn_to_queue.get(redrive.get("deadLetterTargetArn")),
                max_receive_count=int(redrive["maxReceiveCount"]) if "maxReceiveCount" in redrive else None,
            )
        buckets = {
            r.logical_id: Bucket(r.logical_id, value(r.logical_id, "Ref"), value(r.logical_id, "Arn"))
            for r in self.of_type("AWS::S3::Bucket")
        }
        keys = {
            r.logical_id: KmsKey(r.logical_id, value(r.logical_id, "Ref"), value(r.logical_id, "Arn"))
            for r in self.of_type("AWS::KMS::Key")
        }
        aliases = {}
        for r in self.of_type("AWS::KMS::Alias"):
            target = r.properties.get("TargetKeyId")
            target_lid = next(iter(self.references(target)), None)
            aliases[r.logical_id] = KmsAlias(r.logical_id, value(r.logical_id, "Ref"), target_lid)
        secrets = {
            r.logical_id: Secret(r.logical_id, value(r.logical_id, "Name"), value(r.logical_id, "Ref"))
            for r in self.of_type("AWS::SecretsManager::Secret")
        }
        functions = {
            r.logical_id: self._function(r, physical, arn_to_queue)
            for r in self.of_type("AWS::Serverless::Function")
        }
        not_run: list[str] = []
        websocket_apis = self._websocket_apis(physical, functions, not_run)
        return Model(functions, queues, buckets, keys, aliases, secrets, self.region, self.account_id,
                     websocket_apis, not_run)

    def _function(self, res: Resource, physical: Mapping, arn_to_queue: dict[str, str]) -> Function:
        props = res.properties
        def r(v):
            return self.resolve(v, physical)

        code_uri = r(props.get("CodeUri", "."))
        if not isinstance(code_uri, str):
            raise TemplateError(f"{res.logical_id}: CodeUri must be a local folder, got {code_uri!r}")
        env = r((props.get("Environment") or {}).get("Variables") or {})
        fn = Function(
            logical_id=res.logical_id,
            code_uri=(self.base_dir / code_uri).resolve(),
            handler=str(r(props.get("Handler", ""))),
            timeout=int(r(props.get("Timeout", 3))),
            memory=int(r(props.get("MemorySize", 128))),
            runtime=str(r(props.get("Runtime", ""))),
            environment={k: _scalar_str(v) for k, v in env.items()},
            layer_paths=self._layer_paths(res.logical_id, props.get("Layers") or []),
            arn=(physical.get(res.logical_id) or {}).get("Arn", ""),
        )
        for name, ev in (props.get("Events") or {}).items():
            kind, ep = ev.get("Type"), ev.get("Properties") or {}
            if kind == "Api":
                api = next(iter(self.references(ep.get("RestApiId"))), None) or "ServerlessRestApi"
                fn.events.append(ApiEvent(
                    name=name,
                    path=str(r(ep["Path"])),
                    method=str(r(ep["Method"])).upper(),
                    rest_api=api,
                    stage=self._stage_of(api),
                ))
            elif kind == "SQS":
                queue_raw = ep["Queue"]
                arn = r(queue_raw)
                queue_lid = arn_to_queue.get(arn) or next(iter(self.references(queue_raw)), None)
                fn.events.append(SqsEvent(
                    name=name,
                    queue=queue_lid,
                    queue_arn=arn,
                    batch_size=int(r(ep.get("BatchSize", 10))),
                    report_batch_item_failures="ReportBatchItemFailures" in (r(ep.get("FunctionResponseTypes")) or []),
                    maximum_batching_window=int(r(ep.get("MaximumBatchingWindowInSeconds", 0))),
                    enabled=_truthy(r(ep.get("Enabled", True))),
                ))
            elif kind == "Schedule":
                enabled = _truthy(r(ep.get("Enabled", True)))
                if "State" in ep:
                    enabled = str(r(ep["State"])).upper() == "ENABLED"
                fn.events.append(ScheduleEvent(
                    name=name,
                    expression=str(r(ep["Schedule"])),
                    enabled=enabled,
                    input=r(ep["Input"]) if "Input" in ep else None,
                    rule_name=str(r(ep.get("Name") or f"{self.stack_name}-{res.logical_id}{name}")),
                    description=str(r(ep.get("Description", ""))),
                ))
            else:
                fn.unsupported_events.append(f"{name} ({kind})")
        return fn

    # ---- API Gateway v2 (WebSocket) -------------------------------------------------------

    def _websocket_apis(self, physical: Mapping, functions: Mapping[str, Function],
                        not_run: list[str]) -> dict[str, WebSocketApi]:
        """WebSocket APIs with their stage and routes.

        A route reaches its function the way CloudFormation wires it: Route.Target
        ("integrations/<Ref Integration>") -> Integration.IntegrationUri (the function's
        invocation ARN, e.g. !Sub ...functions/${Fn.Arn}/invocations) -> the function.
        """
        def r(v):
            return self.resolve(v, physical)

        apis: dict[str, WebSocketApi] = {}
        for res in self.of_type("AWS::ApiGatewayV2::Api"):
            props = res.properties
            protocol = str(r(props.get("ProtocolType", ""))).upper()
            if protocol != "WEBSOCKET":
                not_run.append(f"{res.logical_id} (AWS::ApiGatewayV2::Api, ProtocolType {protocol or '?'})")
                continue
            api = WebSocketApi(
                logical_id=res.logical_id,
                name=str(r(props.get("Name", res.logical_id))),
                api_id=str((physical.get(res.logical_id) or {}).get("Ref") or res.logical_id),
                stage=None,
                route_selection_expression=str(r(props.get("RouteSelectionExpression", "$request.body.action"))),
            )
            if "Body" in props or "BodyS3Location" in props:
                api.not_run.append("routes defined in an OpenAPI Body "
                                   "(only AWS::ApiGatewayV2::Route resources are read)")
            apis[res.logical_id] = api

        for res in self.of_type("AWS::ApiGatewayV2::Stage"):
            api = apis.get(self._ref_of_type(res.properties.get("ApiId"), "AWS::ApiGatewayV2::Api") or "")
            if api is None:
                continue
            name = str(r(res.properties.get("StageName", "$default")))
            if api.stage is None:
                api.stage = name
            else:
                api.not_run.append(f"stage {name} ({res.logical_id}): only the first stage ({api.stage}) is served")

        for res in self.of_type("AWS::ApiGatewayV2::Route"):
            props = res.properties
            api = apis.get(self._ref_of_type(props.get("ApiId"), "AWS::ApiGatewayV2::Api") or "")
            if api is None:
                continue
            key = str(r(props["RouteKey"]))
            integration = self._ref_of_type(props.get("Target"), "AWS::ApiGatewayV2::Integration")
            fn = self._integration_function(integration, physical, functions, api) if integration else None
            if fn is None:
                api.not_run.append(f"route {key} ({res.logical_id}): no Lambda proxy integration with a function "
                                   "of this template")
            auth = str(r(props.get("AuthorizationType", "NONE"))).upper()
            if auth != "NONE":
                api.not_run.append(f"route {key}: AuthorizationType {auth} is not enforced locally")
            if key in api.routes:
                raise TemplateError(f"{api.logical_id}: route key {key!r} is declared twice "
                                    f"({api.routes[key].logical_id}, {res.logical_id})")
            api.routes[key] = WebSocketRoute(key, fn, res.logical_id, integration)

        for api in apis.values():
            if api.stage is None:
                api.not_run.append("no AWS::ApiGatewayV2::Stage: not deployed, so not served")
        return apis

    def _ref_of_type(self, value: Any, rtype: str) -> str | None:
        """The one resource of type `rtype` that `value` refers to (Ref, GetAtt, Sub, Join ...)."""
        found = sorted(lid for lid in self.references(value) if self.resources[lid].type == rtype)
        return found[0] if found else None

    def _integration_function(self, lid: str, physical: Mapping, functions: Mapping[str, Function],
                              api: WebSocketApi) -> str | None:
        props = self.resources[lid].properties
        kind = str(self.resolve(props.get("IntegrationType", ""), physical)).upper()
        if kind != "AWS_PROXY":
            api.not_run.append(f"integration {lid}: IntegrationType {kind or '?'} (only AWS_PROXY runs locally)")
            return None
        uri = props.get("IntegrationUri")
        fn = self._ref_of_type(uri, "AWS::Serverless::Function")
        if fn is not None:
            return fn
        try:   # a literal ARN (or one built from parameters) naming a function of the template
            text = str(self.resolve(uri, physical))
        except TemplateError:
            return None
        m = _INVOCATION_ARN.search(text)
        arn = ":".join((m.group(1) if m else text).split(":")[:7])   # without a version/alias qualifier
        return next((f.logical_id for f in functions.values() if f.arn and f.arn == arn), None)

    def _stage_of(self, api_lid: str) -> str:
        res = self.resources.get(api_lid)
        if res is None:
            return "Prod"  # SAM's implicit API is deployed to the Prod stage
        return str(self.resolve(res.properties.get("StageName", "Prod")))

    def _layer_paths(self, fn_lid: str, layers: Iterable[Any]) -> list[Path]:
        """Folders to put on sys.path for the function's layers (Lambda's /opt/python)."""
        paths = []
        for layer in layers:
            lids = [lid for lid in self.references(layer) if self.resources[lid].type in
                    ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")]
            if not lids:
                # An external layer ARN: its code is not here; the venv must provide it.
                continue
            props = self.resources[lids[0]].properties
            content = props.get("ContentUri") or (props.get("Content") or {})
            if not isinstance(content, str):
                raise TemplateError(f"{fn_lid}: layer {lids[0]} has no local ContentUri")
            paths.append((self.base_dir / self.resolve(content) / "python").resolve())
        return paths


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------

def merge_sam_globals(glob: Any, local: Any) -> Any:
    """SAM's Globals rules: maps merge (function wins), lists concatenate (globals first),
    scalars and intrinsics are replaced by the function's value."""
    if isinstance(glob, dict) and isinstance(local, dict) and not _is_intrinsic(glob) and not _is_intrinsic(local):
        merged = dict(glob)
        for k, v in local.items():
            merged[k] = merge_sam_globals(glob[k], v) if k in glob else v
        return merged
    if isinstance(glob, list) and isinstance(local, list):
        return glob + local
    return local


def _is_intrinsic(v: Any) -> bool:
    return (isinstance(v, dict) and len(v) == 1 and next(iter(v)) in ("Ref", "Condition")) or (
        isinstance(v, dict) and len(v) == 1 and next(iter(v)).startswith("Fn::"))


def _scalar_str(v: Any) -> str:
    """CloudFormation's string conversion of a scalar (true/false lower case)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)) or v is NO_VALUE:
        raise TemplateError(f"expected a scalar value, got {v!r}")
    return str(v)


def _truthy(v: Any) -> bool:
    return v if isinstance(v, bool) else str(v).lower() == "true"
