"""A small self-contained repo (template + layer + three functions) for the runtime tests,
so they do not depend on the project's real functions/ folder."""
from __future__ import annotations

import os
import socket
import textwrap
from pathlib import Path

import pytest

from infra.local.runtime import LocalRuntime

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: test
    AllowedValues: [test, prod]
  ExtraSecretArn:
    Type: String
    Default: ""
Conditions:
  HasExtra: !Not [!Equals [!Ref ExtraSecretArn, ""]]
  IsProd: !Equals [!Ref Stage, prod]
Mappings:
  StageConfig:
    test: {Greeting: hello}
    prod: {Greeting: bonjour}
Globals:
  Function:
    Runtime: python3.11
    Timeout: 5
    MemorySize: 256
    Layers:
      - !Ref CommonLayer
    Environment:
      Variables:
        STAGE: !Ref Stage
        EXTRA_SECRET_ARN: !If [HasExtra, !Ref ExtraSecretArn, !Ref AWS::NoValue]
        WORK_QUEUE_URL: !Ref WorkQueue
        APP_SECRET_ARN: !Ref AppSecret
        PII_KEY_ID: !Ref PiiKeyAlias
        GREETING: !FindInMap [StageConfig, !Ref Stage, Greeting]
        BUCKET: !Ref FilesBucket

Resources:
  CommonLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      LayerName: !Sub fixture-common-${Stage}
      ContentUri: layers/common/

  FixtureApi:
    Type: AWS::Serverless::Api
    Properties:
      StageName: !Ref Stage

  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/echo/
      Handler: app.app
      Events:
        GetItem:
          Type: Api
          Properties: {RestApiId: !Ref FixtureApi, Path: "/items/{item_id}", Method: get}
        PostItem:
          Type: Api
          Properties: {RestApiId: !Ref FixtureApi, Path: "/items/{item_id}", Method: post}
        Special:
          Type: Api
          Properties: {RestApiId: !Ref FixtureApi, Path: /items/special, Method: get}
        Env:
          Type: Api
          Properties: {RestApiId: !Ref FixtureApi, Path: /env, Method: get}

  RawFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/echo/
      Handler: raw.handler
      Events:
        Files:
          Type: Api
          Properties: {RestApiId: !Ref FixtureApi, Path: "/files/{proxy+}", Method: any}
        Boom:
          Type: Api
          Properties: {RestApiId: !Ref FixtureApi, Path: /raw/boom, Method: get}
        Binary:
          Type: Api
          Properties: {RestApiId: !Ref FixtureApi, Path: /raw/binary, Method: get}
        Malformed:
          Type: Api
          Properties: {RestApiId: !Ref FixtureApi, Path: /raw/malformed, Method: get}

  WorkerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/worker/
      Handler: app.handle_work
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt WorkQueue.Arn
            BatchSize: 10
            FunctionResponseTypes: [ReportBatchItemFailures]

  TickFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/tick/
      Handler: app.tick
      Timeout: 30
      Events:
        Every5:
          Type: Schedule
          Properties:
            Schedule: rate(5 minutes)
        WithInput:
          Type: Schedule
          Properties:
            Schedule: cron(0 3 * * ? *)
            Input: '{"job": "nightly"}'
            Enabled: false

  WorkQueue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub fixture-${Stage}-work
      VisibilityTimeout: 1
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt WorkDLQ.Arn
        maxReceiveCount: 2

  WorkDLQ:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub fixture-${Stage}-work-dlq

  ProdOnlyQueue:
    Type: AWS::SQS::Queue
    Condition: IsProd
    Properties:
      QueueName: prod-only

  FilesBucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub fixture-${Stage}-files-${AWS::AccountId}

  FixturePiiKey:
    Type: AWS::KMS::Key
    Properties:
      Description: fixture key
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {AWS: !Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
            Action: kms:*
            Resource: "*"

  PiiKeyAlias:
    Type: AWS::KMS::Alias
    Properties:
      AliasName: !Sub alias/fixture-${Stage}-pii
      TargetKeyId: !Ref FixturePiiKey

  AppSecret:
    Type: AWS::SecretsManager::Secret
    Properties:
      Name: !Sub fixture/${Stage}/app
      GenerateSecretString:
        SecretStringTemplate: '{}'
        GenerateStringKey: signing_key
        PasswordLength: 40
        ExcludePunctuation: true

  WeChatSecret:
    Type: AWS::SecretsManager::Secret
    Properties:
      Name: !Sub fixture/${Stage}/wechat
      SecretString: '{}'
"""

FILES = {
    "layers/common/python/fixture_common/__init__.py": """
        def greeting():
            return "hi from the layer"
    """,
    # Chalice app: echoes the proxy event it received.
    "functions/echo/app.py": """
        import os
        from chalice import Chalice
        from fixture_common import greeting

        app = Chalice(app_name="echo")
        ANY_BODY = ["application/json", "application/octet-stream", "text/plain"]

        def _echo(**extra):
            return {"event": app.current_request.to_original_event(), "greeting": greeting(), **extra}

        @app.route("/items/{item_id}", methods=["GET", "POST"], content_types=ANY_BODY)
        def item(item_id):
            return _echo(item_id=item_id)

        @app.route("/items/special")
        def special():
            return _echo(special=True)

        @app.route("/env")
        def env():
            keys = ["STAGE", "EXTRA_SECRET_ARN", "WORK_QUEUE_URL", "APP_SECRET_ARN", "PII_KEY_ID",
                    "GREETING", "BUCKET", "DATABASE_URL", "DB_POOL_SIZE", "AWS_ENDPOINT_URL", "AWS_REGION"]
            return {k: os.environ.get(k) for k in keys}
    """,
    # Plain handler in the same folder: {proxy+}, errors, binary and multi-value responses.
    "functions/echo/raw.py": """
        import base64, json

        def handler(event, context):
            path = event.get("path", "")
            if path == "/raw/boom":
                raise RuntimeError("boom")
            if path == "/raw/malformed":
                return {"statusCode": 200, "body": {"not": "a string"}}
            if path == "/raw/binary":
                return {"statusCode": 201, "isBase64Encoded": True,
                        "headers": {"Content-Type": "application/octet-stream", "X-One": "1"},
                        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
                        "body": base64.b64encode(bytes(range(256))).decode()}
            return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
                    "body": json.dumps({"event": event, "remaining": context.get_remaining_time_in_millis(),
                                        "function": context.function_name})}
    """,
    # Chalice SQS handler: fails messages whose body is "fail".
    "functions/worker/app.py": """
        import json
        from pathlib import Path
        from chalice import Chalice

        app = Chalice(app_name="worker")
        SEEN = Path(__file__).parent / "seen.jsonl"

        @app.on_sqs_message(queue="fixture-test-work", batch_size=10)
        def handle_work(event):
            failures = []
            with SEEN.open("a") as fh:
                for record in event:
                    raw = record.to_dict()
                    fh.write(json.dumps(raw) + "\\n")
                    if record.body == "fail":
                        failures.append({"itemIdentifier": raw["messageId"]})
            return {"batchItemFailures": failures}
    """,
    # Schedule handler: appends the event it got to a file.
    "functions/tick/app.py": """
        import json
        from pathlib import Path
        from chalice import Chalice

        app = Chalice(app_name="tick")
        TICKS = Path(__file__).parent / "ticks.jsonl"

        @app.lambda_function(name="tick")
        def tick(event, context):
            if event.get("fail"):
                raise ValueError("asked to fail")
            with TICKS.open("a") as fh:
                fh.write(json.dumps(event) + "\\n")
            return {"ticked": event.get("detail-type") or event.get("job"), "function": context.function_name}
    """,
}


def build_fixture_repo(root: Path) -> Path:
    (root / "template.yaml").write_text(TEMPLATE)
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def fixture_repo(tmp_path_factory) -> Path:
    return build_fixture_repo(tmp_path_factory.mktemp("repo"))


# Unset for the fixture runtime: values already in os.environ would win over the fixture
# template's (other suites in the same pytest run export the real template's variables).
CLEAN_ENV = dict.fromkeys([
    "AWS_ENDPOINT_URL", "DATABASE_URL", "DB_POOL_SIZE", "STAGE", "EXTRA_SECRET_ARN", "WORK_QUEUE_URL",
    "APP_SECRET_ARN", "PII_KEY_ID", "GREETING", "BUCKET",
])


@pytest.fixture()
def clean_env() -> dict:
    return dict(CLEAN_ENV)


@pytest.fixture(scope="module")
def runtime(fixture_repo):
    """A running runtime (embedded moto on a free port) for one test module. Module scope:
    it exports its environment while it runs, which other test folders must not see."""
    rt = LocalRuntime(
        fixture_repo,
        api_port=0,
        control_port=0,
        aws_port=free_port(),
        start_schedules=False,
        env=CLEAN_ENV,
        secret_overrides={"WeChatSecret": '{"wx-app": "sim-secret"}'},
    )
    with rt:
        yield rt


@pytest.fixture()
def subprocess_env():
    """Environment for `python -m infra.local...` children: repo importable, no inherited endpoint."""
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV and k != "LOCAL_CONTROL_URL"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env
