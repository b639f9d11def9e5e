"""python -m infra.deploy.consoles against the embedded moto: a stack's outputs name the bucket,
the distribution and the live API; every file of consoles/ lands under console/ with its
Content-Type and Cache-Control, config.json names the live API, what is gone is removed, and
/console/* is invalidated."""
from __future__ import annotations

import json

import boto3
import pytest

from infra import consoles
from infra.deploy import consoles as deploy_consoles
from infra.local.aws import start_endpoint

LIVE = "wss://abc123.execute-api.us-east-1.amazonaws.com/prod"


@pytest.fixture(scope="module")
def aws():
    # A dict of its own: the endpoint writes its URL and stand-in credentials there, not into os.environ.
    environ = {"AWS_DEFAULT_REGION": "us-east-1"}
    endpoint = start_endpoint(port=0, environ=environ)
    try:
        yield boto3.session.Session(region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"), \
            endpoint.url
    finally:
        endpoint.stop()


class Session:
    """A boto3 session whose clients reach the embedded moto."""

    def __init__(self, session, url: str):
        self.session, self.url = session, url

    def client(self, service: str):
        return self.session.client(service, endpoint_url=self.url)


def stack(session: Session, name: str, outputs: dict[str, str]) -> None:
    template = {"Resources": {"Placeholder": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": name}}},
                "Outputs": {key: {"Value": value} for key, value in outputs.items()}}
    session.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))


def distribution(session: Session, bucket: str) -> str:
    origin = {"Id": "consoles", "DomainName": f"{bucket}.s3.us-east-1.amazonaws.com",
              "S3OriginConfig": {"OriginAccessIdentity": ""}}
    config = {"CallerReference": bucket, "Comment": "", "Enabled": True,
              "Origins": {"Quantity": 1, "Items": [origin]},
              "DefaultCacheBehavior": {"TargetOriginId": "consoles", "ViewerProtocolPolicy": "https-only",
                                       "MinTTL": 0, "ForwardedValues": {"QueryString": False,
                                                                        "Cookies": {"Forward": "none"}}}}
    return session.client("cloudfront").create_distribution(DistributionConfig=config)["Distribution"]["Id"]


@pytest.fixture()
def hosted(aws, request):
    """A stack that hosts the consoles: (session, stack name, bucket, distribution id)."""
    session = Session(*aws)
    name = "hospital-" + request.node.name.replace("_", "-")[-40:].strip("-")
    bucket = name.lower() + "-consoles"
    session.client("s3").create_bucket(Bucket=bucket)
    dist = distribution(session, bucket)
    stack(session, name, {"ConsoleBucketName": bucket, "ConsoleDistributionId": dist, "LiveApiUrl": LIVE,
                          "ConsoleUrl": "https://d111.cloudfront.net/console/"})
    return session, name, bucket, dist


def objects(session: Session, bucket: str) -> dict[str, dict]:
    s3 = session.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {key: s3.get_object(Bucket=bucket, Key=key) for key in keys}


def test_a_deploy_uploads_every_console_file_with_its_type_and_the_live_api_config(hosted):
    session, name, bucket, dist = hosted
    done = deploy_consoles.deploy(session, name)

    stored = objects(session, bucket)
    files = [p for p in consoles.FOLDER.rglob("*") if p.is_file()]
    assert len(files) >= 4                      # index.html, shared/style.css, api.js, signin.js at least
    assert set(stored) == {"console/" + p.relative_to(consoles.FOLDER).as_posix() for p in files} \
        | {"console/config.json"}
    for path in files:
        obj = stored["console/" + path.relative_to(consoles.FOLDER).as_posix()]
        assert obj["Body"].read() == path.read_bytes()
        assert obj["ContentType"] == consoles.content_type(path.name)
    assert stored["console/index.html"]["ContentType"] == "text/html; charset=utf-8"
    assert stored["console/index.html"]["CacheControl"] == "no-cache"
    assert stored["console/shared/api.js"]["ContentType"] == "text/javascript; charset=utf-8"
    assert stored["console/shared/api.js"]["CacheControl"].startswith("public, max-age=")
    assert stored["console/shared/style.css"]["ContentType"] == "text/css; charset=utf-8"

    config = stored["console/config.json"]
    assert json.loads(config["Body"].read()) == {"api": "", "live": LIVE}
    assert config["ContentType"].startswith("application/json") and config["CacheControl"] == "no-cache"

    invalidation = session.client("cloudfront").get_invalidation(DistributionId=dist, Id=done["invalidation"])
    assert invalidation["Invalidation"]["InvalidationBatch"]["Paths"]["Items"] == ["/console/*"]


def test_a_deploy_removes_files_gone_from_consoles_and_leaves_other_keys(hosted):
    session, name, bucket, _ = hosted
    s3 = session.client("s3")
    s3.put_object(Bucket=bucket, Key="console/old/page.js", Body=b"gone")
    s3.put_object(Bucket=bucket, Key="elsewhere/kept.txt", Body=b"not the consoles'")

    done = deploy_consoles.deploy(session, name)

    keys = set(objects(session, bucket))
    assert "console/old/page.js" not in keys and done["removed"] == ["console/old/page.js"]
    assert "elsewhere/kept.txt" in keys and "console/index.html" in keys


def test_a_dry_run_writes_nothing(hosted):
    session, name, bucket, _ = hosted
    done = deploy_consoles.deploy(session, name, dry_run=True)
    assert "console/config.json" in done["uploaded"] and done["invalidation"] is None
    assert objects(session, bucket) == {}


def test_a_local_config_json_and_hidden_files_are_not_uploaded(tmp_path):
    (tmp_path / "ed").mkdir()
    (tmp_path / "ed" / "index.html").write_text("<!doctype html>")
    (tmp_path / "ed" / ".index.html.swp").write_text("x")
    (tmp_path / "config.json").write_text('{"live": "ws://127.0.0.1:3002/dev"}')
    uploads = deploy_consoles.uploads_for({"ConsoleBucketName": "b", "LiveApiUrl": LIVE}, "s", tmp_path)
    assert [u.key for u in uploads] == ["console/ed/index.html", "console/config.json"]
    assert json.loads(uploads[-1].body)["live"] == LIVE


def test_a_stack_without_the_consoles_or_the_live_output_is_refused(aws):
    session = Session(*aws)
    stack(session, "hospital-dev-no-consoles", {"LiveApiUrl": LIVE})
    with pytest.raises(deploy_consoles.DeployError, match="hosts no consoles"):
        deploy_consoles.deploy(session, "hospital-dev-no-consoles")
    stack(session, "hospital-old-template", {"ConsoleBucketName": "some-bucket"})
    with pytest.raises(deploy_consoles.DeployError, match="LiveApiUrl"):
        deploy_consoles.deploy(session, "hospital-old-template")
    with pytest.raises(deploy_consoles.DeployError, match="no-such-stack"):
        deploy_consoles.deploy(session, "no-such-stack")
