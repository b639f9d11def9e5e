"""The embedded AWS endpoint holds what template.yaml declares, seen by a plain boto3 client
given only the endpoint's URL (as any AWS tool pointed at it would be)."""
import json

import boto3


def aws(platform, service):
    return boto3.session.Session().client(service, endpoint_url=platform.endpoint.url,
                                          region_name="us-east-1",
                                          aws_access_key_id="test", aws_secret_access_key="test")


def test_the_template_queues_are_on_the_endpoint_with_their_redrive(platform):
    sqs = aws(platform, "sqs")
    url = sqs.get_queue_url(QueueName="hospital-dev-rescue-events")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(":hospital-dev-rescue-events-dlq")
    assert int(redrive["maxReceiveCount"]) == 5
    assert attrs["VisibilityTimeout"] == "180"


def test_keys_and_secrets_of_the_template_exist(platform):
    kms = aws(platform, "kms")
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    assert aliases["alias/hospital-dev-pii"] == platform.physical["PiiKey"]["KeyId"]
    assert kms.describe_key(KeyId="alias/hospital-dev-pii")["KeyMetadata"]["KeyState"] == "Enabled"
    secrets = aws(platform, "secretsmanager")
    names = {s["Name"] for s in secrets.list_secrets()["SecretList"]}
    assert {"hospital/dev/session-signing", "hospital/dev/lookup-hash", "hospital/dev/wechat"} <= names
    generated = json.loads(secrets.get_secret_value(SecretId="hospital/dev/session-signing")["SecretString"])
    assert len(generated["session_signing_key"]) == 64  # GenerateSecretString honoured
