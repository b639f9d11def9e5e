"""The AWS side: an endpoint (embedded moto, or the one AWS_ENDPOINT_URL names) and the
template's queues, buckets, keys and secrets on it.

`start_endpoint()` decides where AWS calls go and exports AWS_ENDPOINT_URL, which boto3
(>= 1.28) honours for every client, so function code needs no local-only switch. Resources
are created only where that was chosen: on the embedded moto (started by us, empty) always;
on an endpoint named by AWS_ENDPOINT_URL (LocalStack, another moto, any host) only with
LOCAL_AWS_PROVISION=1 or the runtime's --provision-aws. Anywhere else they are only looked up
by name. `provision()` does either in dependency order and returns the physical-values map
that template.py uses for Ref / GetAtt. Serverless functions, APIs and API Gateway v2
resources get local stand-in ids instead: the runtime serves them itself.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import pathlib
import secrets as pysecrets
import string
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config
import botocore.session
from botocore.exceptions import BotoCoreError, ClientError

from .template import DEFAULT_ACCOUNT_ID, Template, TemplateError

log = logging.getLogger("infra.local.aws")

DEFAULT_PORT = 4566
# The explicit choice to create template.yaml's resources on the endpoint of AWS_ENDPOINT_URL.
PROVISION_VARIABLE = "LOCAL_AWS_PROVISION"
_YES, _NO = {"1", "true", "yes", "on"}, {"", "0", "false", "no", "off"}
# Tag that lets us find "our" KMS key again on a long-lived endpoint (keys have no name).
KEY_TAG = "local-runtime:logical-id"

Physical = dict[str, dict[str, Any]]


class ProvisionError(Exception):
    pass


@dataclass
class AwsEndpoint:
    url: str
    region: str
    creates_resources: bool  # template.yaml's resources are created here, not only looked up
    server: Any = None  # the moto process (subprocess.Popen) when we started it
    port_held_elsewhere: int | None = None  # embedded moto: the port asked for, held by another program

    @property
    def embedded(self) -> bool:
        return self.server is not None

    def client(self, service: str, retries: dict | None = None):
        # A fresh session per client: boto3 sessions are not thread-safe.
        config = None if retries is None else botocore.config.Config(retries=retries)
        return boto3.session.Session().client(service, endpoint_url=self.url, region_name=self.region, config=config)

    def account_id(self) -> str:
        sts = self.client("sts")
        try:
            return sts.get_caller_identity()["Account"]
        except Exception:  # noqa: BLE001 - an endpoint without STS: moto's default is right
            return DEFAULT_ACCOUNT_ID
        finally:
            sts.close()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stdin.close()  # moto_process exits when its input closes
            try:
                self.server.wait(10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
            self.server = None


def provisioning_chosen(environ: os._Environ[str] | dict = os.environ) -> bool:
    """LOCAL_AWS_PROVISION as a yes/no; anything else is refused rather than guessed."""
    value = environ.get(PROVISION_VARIABLE, "").strip().lower()
    if value not in _YES | _NO:
        raise ProvisionError(f"{PROVISION_VARIABLE}={environ[PROVISION_VARIABLE]!r}: use 1 (create the "
                             "template's resources at AWS_ENDPOINT_URL) or 0 (only look them up)")
    return value in _YES


def start_endpoint(
    port: int | None = None,
    environ: os._Environ[str] | dict = os.environ,
    create_resources: bool | None = None,
) -> AwsEndpoint:
    """The endpoint of AWS_ENDPOINT_URL, whatever its host, or else an embedded moto.

    `create_resources` (None: LOCAL_AWS_PROVISION decides) applies to AWS_ENDPOINT_URL only;
    the embedded moto is ours and empty, so its resources are always created.
    """
    region = environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    url = environ.get("AWS_ENDPOINT_URL")
    if url:
        chosen = provisioning_chosen(environ) if create_resources is None else create_resources
        if not _credentials_configured(environ):
            # LocalStack and moto accept any; a configured identity is kept (LocalStack maps
            # an access key to its account).
            environ["AWS_ACCESS_KEY_ID"] = environ["AWS_SECRET_ACCESS_KEY"] = "test"
        return AwsEndpoint(url=url, region=region, creates_resources=chosen)
    wanted_port = int(port if port is not None else environ.get("LOCAL_AWS_PORT", DEFAULT_PORT))
    return _start_embedded_endpoint(wanted_port, environ, region)


def _start_embedded_endpoint(wanted_port: int, environ, region: str) -> AwsEndpoint:
    server, port = _start_moto(wanted_port)
    held_elsewhere = wanted_port if port != wanted_port else None
    if held_elsewhere:
        log.warning(
            "port %s is held by another program, which is left alone: the embedded AWS endpoint (moto) "
            "listens on 127.0.0.1:%s instead. To use that program as the AWS endpoint, set "
            "AWS_ENDPOINT_URL to it (and %s=1 to create the template's resources there).",
            wanted_port, port, PROVISION_VARIABLE)
    url = f"http://127.0.0.1:{port}"
    environ["AWS_ENDPOINT_URL"] = url
    # Dummy credentials so no real account can ever be touched by this process.
    environ["AWS_ACCESS_KEY_ID"] = "test"
    environ["AWS_SECRET_ACCESS_KEY"] = "test"
    environ.pop("AWS_SESSION_TOKEN", None)
    environ.pop("AWS_PROFILE", None)
    return AwsEndpoint(url=url, region=region, creates_resources=True, server=server,
                       port_held_elsewhere=held_elsewhere)


def _credentials_configured(environ) -> bool:
    """Whether the developer configured an AWS identity (variables, profiles, SSO, a credential
    process). The instance and container metadata services are not asked: off AWS they only
    answer with a timeout."""
    if any(environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE")):
        return True
    if environ is not os.environ:  # botocore reads os.environ; a test's dict says it all
        return False
    resolver = botocore.session.Session().get_component("credential_provider")
    for network_provider in ("container-role", "iam-role"):
        resolver.remove(network_provider)
    try:
        return resolver.load_credentials() is not None
    except BotoCoreError:
        return True  # configured, if wrongly: boto3 will say so, dummy values would hide it


def _start_moto(port: int) -> tuple[subprocess.Popen, int]:
    """moto in a child process (see moto_process.py for why), once it prints "ready PORT":
    `port`, or a free one when another program holds `port`."""
    root = pathlib.Path(__file__).resolve().parents[2]
    process = subprocess.Popen([sys.executable, "-m", "infra.local.moto_process", str(port)], cwd=root,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    answer = process.stdout.readline().split()
    if len(answer) != 2 or answer[0] != "ready":
        process.kill()
        process.wait()
        raise ProvisionError(f"the embedded AWS endpoint (moto) did not start on port {port}")
    return process, int(answer[1])


# ---------------------------------------------------------------------------------------
# provisioning
# ---------------------------------------------------------------------------------------

def provision(
    template: Template,
    endpoint: AwsEndpoint,
    secret_overrides: Mapping[str, str] | None = None,
) -> Physical:
    """Create (where `endpoint.creates_resources`) or look up every supported resource."""
    p = _Provisioner(template, endpoint, dict(secret_overrides or {}))
    try:
        for lid in template.creation_order():
            res = template.resources[lid]
            handler = p.handlers.get(res.type)
            if handler is None:
                # Left out of the physical map; the runtime's banner sums them up in one line.
                log.debug("resource %s (%s) is not created locally", lid, res.type)
                continue
            try:
                p.physical[lid] = handler(lid)
            except (ClientError, TemplateError, ProvisionError) as exc:
                raise ProvisionError(f"{lid} ({res.type}): {exc}") from exc
    finally:
        p.close()
    unknown = set(p.secret_overrides) - set(p.physical)
    if unknown:
        raise ProvisionError(f"secret_overrides for unknown secrets: {sorted(unknown)}")
    return p.physical


class _Provisioner:
    def __init__(self, template: Template, endpoint: AwsEndpoint, secret_overrides: dict[str, str]):
        self.t = template
        self.ep = endpoint
        self.create = endpoint.creates_resources
        self.secret_overrides = secret_overrides
        self.physical: Physical = {}
        self.region, self.account = template.region, template.account_id
        self._clients: dict[str, Any] = {}
        self.handlers: dict[str, Callable[[str], dict]] = {
            "AWS::SQS::Queue": self.queue,
            "AWS::S3::Bucket": self.bucket,
            "AWS::KMS::Key": self.kms_key,
            "AWS::KMS::Alias": self.kms_alias,
            "AWS::SecretsManager::Secret": self.secret,
            # Serverless resources are not created anywhere: they get local stand-in values.
            "AWS::Serverless::Function": self.function,
            "AWS::Serverless::Api": self.api,
            "AWS::Serverless::LayerVersion": self.layer,
            "AWS::Lambda::LayerVersion": self.layer,
            # API Gateway v2 (WebSocket APIs): served by websocket.py, ids are stand-ins too.
            "AWS::ApiGatewayV2::Api": self.api_v2,
            "AWS::ApiGatewayV2::Stage": self.api_v2_stage,
            "AWS::ApiGatewayV2::Route": self.api_v2_part,
            "AWS::ApiGatewayV2::Integration": self.api_v2_part,
            "AWS::ApiGatewayV2::Deployment": self.api_v2_part,
            "AWS::ApiGatewayV2::RouteResponse": self.api_v2_part,
            "AWS::ApiGatewayV2::IntegrationResponse": self.api_v2_part,
        }

    def client(self, service: str):
        if service not in self._clients:
            self._clients[service] = self.ep.client(service)
        return self._clients[service]

    def close(self) -> None:
        # Closing drops keep-alive connections, so the endpoint's handler threads can end.
        for c in self._clients.values():
            c.close()

    def missing(self, what: str) -> ProvisionError:
        return ProvisionError(
            f"{what} does not exist on {self.ep.url}, and creating template.yaml's resources there was "
            f"not chosen: set {PROVISION_VARIABLE}=1 (or run with --provision-aws) to create them")

    def props(self, lid: str) -> dict:
        return self.t.resolve_properties(lid, self.physical)

    def default_name(self, lid: str) -> str:
        # CloudFormation would add a random suffix; a stable name keeps creation idempotent.
        return f"{self.t.stack_name}-{lid}"

    # ---- SQS --------------------------------------------------------------------------

    def queue(self, lid: str) -> dict:
        props = self.props(lid)
        sqs = self.client("sqs")
        fifo = str(props.get("FifoQueue", "false")).lower() == "true"
        name = props.get("QueueName") or self.default_name(lid) + (".fifo" if fifo else "")
        attrs = {
            k: _attr_str(props[k]) for k in (
                "VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "MaximumMessageSize",
                "ReceiveMessageWaitTimeSeconds", "ContentBasedDeduplication", "KmsMasterKeyId",
                "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled",
            ) if k in props
        }
        if "RedrivePolicy" in props:
            rp = props["RedrivePolicy"]
            rp = json.loads(rp) if isinstance(rp, str) else rp
            attrs["RedrivePolicy"] = json.dumps({
                "deadLetterTargetArn": rp["deadLetterTargetArn"],
                "maxReceiveCount": int(rp["maxReceiveCount"]),
            })
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            if self.create and attrs:
                sqs.set_queue_attributes(QueueUrl=url, Attributes=attrs)  # keep in step with the template
        except ClientError as exc:
            if not _is_not_found(exc):
                raise
            if not self.create:
                raise self.missing(f"queue {name}") from exc
            create_attrs = dict(attrs, **({"FifoQueue": "true"} if fifo else {}))
            url = sqs.create_queue(QueueName=name, Attributes=create_attrs)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return {"Ref": url, "QueueUrl": url, "Arn": arn, "QueueName": name}

    # ---- S3 ---------------------------------------------------------------------------

    def bucket(self, lid: str) -> dict:
        props = self.props(lid)
        s3 = self.client("s3")
        name = props.get("BucketName") or self.default_name(lid).lower()
        try:
            s3.head_bucket(Bucket=name)
        except ClientError as exc:
            if not self.create:
                raise self.missing(f"bucket {name}") from exc
            kwargs: dict[str, Any] = {"Bucket": name}
            if self.region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            s3.create_bucket(**kwargs)
        return {
            "Ref": name, "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{self.region}.amazonaws.com",
        }

    # ---- KMS --------------------------------------------------------------------------

    def kms_key(self, lid: str) -> dict:
        kms = self.client("kms")
        key_id = self._find_key(kms, lid)
        if key_id is None:
            if not self.create:
                # Keys have no name: without creating, one is found only through the template's alias.
                raise self.missing(f"KMS key {lid} (looked up through its AWS::KMS::Alias)")
            props = self.props(lid)
            kwargs: dict[str, Any] = {
                "Description": props.get("Description", lid),
                "KeyUsage": props.get("KeyUsage", "ENCRYPT_DECRYPT"),
                "KeySpec": props.get("KeySpec", "SYMMETRIC_DEFAULT"),
                "Tags": [{"TagKey": KEY_TAG, "TagValue": f"{self.t.stack_name}/{lid}"}],
            }
            if props.get("KeyPolicy"):
                kwargs["Policy"] = json.dumps(props["KeyPolicy"])
            key_id = kms.create_key(**kwargs)["KeyMetadata"]["KeyId"]
            if str(props.get("EnableKeyRotation", "false")).lower() == "true":
                kms.enable_key_rotation(KeyId=key_id)
        arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
        return {"Ref": key_id, "KeyId": key_id, "Arn": arn}

    def _find_key(self, kms, lid: str) -> str | None:
        # 1) through an alias of the template that targets this key (works on real AWS too)
        for alias in self.t.of_type("AWS::KMS::Alias"):
            if lid in self.t.references(alias.properties.get("TargetKeyId")):
                name = self.t.resolve(alias.properties["AliasName"], self.physical)
                try:
                    return kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"]
                except ClientError as exc:
                    if not _is_not_found(exc):
                        raise
        if not self.create:
            return None
        # 2) through our tag (an endpoint we provisioned in a previous run)
        want = f"{self.t.stack_name}/{lid}"
        for page in kms.get_paginator("list_keys").paginate():
            for key in page["Keys"]:
                meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
                if meta.get("KeyState") not in ("Enabled", "Disabled"):
                    continue
                tags = kms.list_resource_tags(KeyId=key["KeyId"]).get("Tags", [])
                if any(t["TagKey"] == KEY_TAG and t["TagValue"] == want for t in tags):
                    return key["KeyId"]
        return None

    def kms_alias(self, lid: str) -> dict:
        props = self.props(lid)
        kms = self.client("kms")
        name, target = props["AliasName"], props["TargetKeyId"]
        current = None
        for page in kms.get_paginator("list_aliases").paginate():
            for alias in page["Aliases"]:
                if alias["AliasName"] == name:
                    current = alias
        if current is None:
            if not self.create:
                raise self.missing(f"KMS alias {name}")
            kms.create_alias(AliasName=name, TargetKeyId=target)
        elif self.create and current.get("TargetKeyId") != target:
            kms.update_alias(AliasName=name, TargetKeyId=target)
        return {"Ref": name}

    # ---- Secrets Manager --------------------------------------------------------------

    def secret(self, lid: str) -> dict:
        props = self.props(lid)
        sm = self.client("secretsmanager")
        name = props.get("Name") or self.default_name(lid)
        override = self.secret_overrides.get(lid)
        try:
            arn = sm.describe_secret(SecretId=name)["ARN"]
            exists = True
        except ClientError as exc:
            if not _is_not_found(exc):
                raise
            exists = False
        if not self.create:
            if not exists:
                raise self.missing(f"secret {name}")
            if override is not None:
                log.warning("the local value for secret %s is not written: creating resources on %s was not "
                            "chosen (%s=1 writes it)", lid, self.ep.url, PROVISION_VARIABLE)
        elif not exists:
            value = override if override is not None else _initial_secret_value(props)
            arn = sm.create_secret(Name=name, Description=props.get("Description", ""), SecretString=value)["ARN"]
        elif override is not None and sm.get_secret_value(SecretId=arn).get("SecretString") != override:
            # An existing secret is never regenerated; only an explicit local override replaces it.
            sm.put_secret_value(SecretId=arn, SecretString=override)
        return {"Ref": arn, "Id": arn, "Name": name}

    # ---- serverless stand-ins ---------------------------------------------------------

    def function(self, lid: str) -> dict:
        name = self.t.resources[lid].properties.get("FunctionName")
        name = self.t.resolve(name, self.physical) if name else lid
        return {"Ref": name, "Arn": f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"}

    def api(self, lid: str) -> dict:
        # Stable fake API id (10 chars like real ones) so URLs in logs stay the same run to run.
        api_id = ("local" + lid.lower())[:10]
        return {"Ref": api_id, "RootResourceId": "root"}

    def api_v2(self, lid: str) -> dict:
        api_id = ("local" + lid.lower())[:10]
        protocol = str(self.t.resolve(self.t.resources[lid].properties.get("ProtocolType", ""), self.physical))
        scheme = "wss" if protocol.upper() == "WEBSOCKET" else "https"
        # The public domain; the runtime maps it to the local WebSocket server (websocket.py).
        return {"Ref": api_id, "ApiId": api_id,
                "ApiEndpoint": f"{scheme}://{api_id}.execute-api.{self.region}.amazonaws.com"}

    def api_v2_stage(self, lid: str) -> dict:
        name = self.t.resolve(self.t.resources[lid].properties.get("StageName", "$default"), self.physical)
        return {"Ref": str(name)}

    def api_v2_part(self, lid: str) -> dict:
        # Routes, integrations, deployments: a 7-character id like the real ones, stable per logical id.
        return {"Ref": hashlib.sha1(lid.encode(), usedforsecurity=False).hexdigest()[:7]}

    def layer(self, lid: str) -> dict:
        props = self.t.resources[lid].properties
        name = self.t.resolve(props.get("LayerName"), self.physical) if props.get("LayerName") else lid
        return {"Ref": f"arn:aws:lambda:{self.region}:{self.account}:layer:{name}:1"}


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------

_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


def generate_password(opts: Mapping[str, Any]) -> str:
    """Secrets Manager GenerateSecretString semantics (PasswordLength default 32)."""
    length = int(opts.get("PasswordLength", 32))

    def flag(k):
        return str(opts.get(k, "false")).lower() == "true"

    groups = []
    if not flag("ExcludeLowercase"):
        groups.append(string.ascii_lowercase)
    if not flag("ExcludeUppercase"):
        groups.append(string.ascii_uppercase)
    if not flag("ExcludeNumbers"):
        groups.append(string.digits)
    if not flag("ExcludePunctuation"):
        groups.append(_PUNCTUATION)
    if flag("IncludeSpace"):
        groups.append(" ")
    excluded = set(opts.get("ExcludeCharacters", ""))
    groups = [g for g in ("".join(c for c in g if c not in excluded) for g in groups) if g]
    if not groups:
        raise ProvisionError("GenerateSecretString excludes every character")
    alphabet = "".join(groups)
    require_each = str(opts.get("RequireEachIncludedType", "true")).lower() == "true"
    while True:
        pw = "".join(pysecrets.choice(alphabet) for _ in range(length))
        if not require_each or length < len(groups) or all(any(c in g for c in pw) for g in groups):
            return pw


def _initial_secret_value(props: Mapping[str, Any]) -> str:
    if "SecretString" in props:
        return str(props["SecretString"])
    gen = props.get("GenerateSecretString")
    if gen is None:
        return ""
    password = generate_password(gen)
    if "SecretStringTemplate" in gen:
        body = json.loads(gen["SecretStringTemplate"])
        body[gen["GenerateStringKey"]] = password
        return json.dumps(body)
    return password


def _attr_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _is_not_found(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code", "")
    return code in (
        "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NotFoundException",
        "ResourceNotFoundException", "NoSuchBucket", "404",
    )
