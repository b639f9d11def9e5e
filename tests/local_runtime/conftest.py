"""A small self-contained repo (template + layer + functions, a WebSocket API) for the runtime
tests, so they do not depend on the project's real functions/ folder."""
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
        # For functions that push without a WebSocket event (e.g. a queue consumer).
        LIVE_ENDPOINT: !Sub "https://${LiveApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Stage}"

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

  # WebSocket API, declared the way template.yaml declares it: Route.Target -> Integration ->
  # IntegrationUri -> function. One Chalice app (functions/live/app.py) holds the $connect,
  # $default and $disconnect handlers; "subscribe" goes to another module of the folder.
  LiveApi:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: !Sub "fixture-live-${Stage}", ProtocolType: WEBSOCKET,
                 RouteSelectionExpression: "$request.body.action"}
  LiveStage:
    Type: AWS::ApiGatewayV2::Stage
    Properties: {ApiId: !Ref LiveApi, StageName: !Ref Stage, AutoDeploy: true}
  LiveConnectRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref LiveApi, RouteKey: $connect, AuthorizationType: NONE,
                 Target: !Join [/, [integrations, !Ref LiveConnectIntegration]]}
  LiveConnectIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref LiveApi
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/\\
        ${LiveConnectFunction.Arn}/invocations"
  LiveDisconnectRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref LiveApi, RouteKey: $disconnect,
                 Target: !Join [/, [integrations, !Ref LiveDisconnectIntegration]]}
  LiveDisconnectIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref LiveApi
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/\\
        ${LiveDisconnectFunction.Arn}/invocations"
  LiveDefaultRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref LiveApi, RouteKey: $default,
                 Target: !Join [/, [integrations, !Ref LiveMessageIntegration]]}
  LiveMessageIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref LiveApi
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/\\
        ${LiveMessageFunction.Arn}/invocations"
  LiveSubscribeRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref LiveApi, RouteKey: subscribe,
                 Target: !Join [/, [integrations, !Ref LiveSubscribeIntegration]]}
  LiveSubscribeIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref LiveApi
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/\\
        ${LiveSubscribeFunction.Arn}/invocations"
  LivePermission:
    Type: AWS::Lambda::Permission
    Properties: {Action: lambda:InvokeFunction, FunctionName: !Ref LiveMessageFunction,
                 Principal: apigateway.amazonaws.com}

  LiveConnectFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: functions/live/, Handler: app.connect}
  LiveMessageFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: functions/live/, Handler: app.message}
  LiveDisconnectFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: functions/live/, Handler: app.disconnect}
  LiveSubscribeFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: functions/live/, Handler: subscribe.subscribe}

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
    # Chalice WebSocket app: $connect wants ?token=good and echoes the offered subprotocol;
    # messages are answered through app.websocket_api.send (the @connections endpoint).
    "functions/live/app.py": """
        import json
        from pathlib import Path

        import boto3
        from chalice import Chalice, Response, WebsocketDisconnectedError

        app = Chalice(app_name="live")
        app.experimental_feature_flags.update(["WEBSOCKETS"])
        app.websocket_api.session = boto3.session.Session()
        EVENTS = Path(__file__).parent / "events.jsonl"

        def _record(event):
            with EVENTS.open("a") as fh:
                fh.write(json.dumps(event.to_dict()) + "\\n")

        @app.on_ws_connect()
        def connect(event):
            _record(event)
            raw = event.to_dict()
            if (raw.get("queryStringParameters") or {}).get("token") != "good":
                return Response(body="", status_code=401)
            offered = (raw["headers"].get("Sec-WebSocket-Protocol") or "").split(",")[0].strip()
            return Response(body="", status_code=200, headers={"Sec-WebSocket-Protocol": offered} if offered else {})

        @app.on_ws_message()
        def message(event):
            _record(event)
            try:
                body = json.loads(event.body)
            except ValueError:
                body = {"text": event.body}
            if body.get("action") == "boom":
                raise RuntimeError("boom")
            reply = {"handler": "message", "route": event.to_dict()["requestContext"]["routeKey"],
                     "connection_id": event.connection_id, "echo": body}
            if "push_to" in body:
                try:
                    app.websocket_api.send(body["push_to"], json.dumps({"pushed_by": event.connection_id}))
                    reply["pushed"] = True
                except WebsocketDisconnectedError:
                    reply["pushed"] = "gone"
            app.websocket_api.send(event.connection_id, json.dumps(reply))
            if body.get("action") == "bye":
                app.websocket_api.close(event.connection_id)

        @app.on_ws_disconnect()
        def disconnect(event):
            _record(event)
    """,
    # A route of its own, posting with a plain boto3 client at https://{domainName}/{stage}.
    "functions/live/subscribe.py": """
        import json
        import os

        import boto3
        from chalice import Chalice

        app = Chalice(app_name="live-subscribe")
        app.experimental_feature_flags.update(["WEBSOCKETS"])

        @app.on_ws_message()
        def subscribe(event):
            client = boto3.session.Session().client(
                "apigatewaymanagementapi", endpoint_url=f"https://{event.domain_name}/{event.stage}")
            client.post_to_connection(ConnectionId=event.connection_id, Data=json.dumps({
                "handler": "subscribe", "route": event.to_dict()["requestContext"]["routeKey"],
                "live_endpoint": os.environ["LIVE_ENDPOINT"]}))
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
    "APP_SECRET_ARN", "PII_KEY_ID", "GREETING", "BUCKET", "LIVE_ENDPOINT",
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
        websocket_port=0,
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
