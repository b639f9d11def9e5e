"""The embedded AWS endpoint holds what template.yaml declares, and LocalStack tooling
works against it (it speaks on the LocalStack edge port under `make run`)."""
import json
from urllib.parse import urlparse


def localstack(platform, service):
    from localstack_client.session import Session

    endpoint = urlparse(platform.endpoint.url)
    return Session(localstack_host=f"{endpoint.hostname}:{endpoint.port}", region_name="us-east-1").client(service)


def test_localstack_client_sees_the_template_queues_with_their_redrive(platform):
    sqs = localstack(platform, "sqs")
    url = sqs.get_queue_url(QueueName="hospital-dev-rescue-events")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(":hospital-dev-rescue-events-dlq")
    assert int(redrive["maxReceiveCount"]) == 5
    assert attrs["VisibilityTimeout"] == "180"


def test_keys_and_secrets_of_the_template_exist(platform):
    kms = localstack(platform, "kms")
    aliases = {a["AliasName"] for a in kms.list_aliases()["Aliases"]}
    assert "alias/hospital-dev-pii" in aliases
    secrets = localstack(platform, "secretsmanager")
    names = {s["Name"] for s in secrets.list_secrets()["SecretList"]}
    assert {"hospital/dev/session-signing", "hospital/dev/lookup-hash", "hospital/dev/wechat"} <= names
    generated = json.loads(secrets.get_secret_value(SecretId="hospital/dev/session-signing")["SecretString"])
    assert len(generated["session_signing_key"]) == 64  # GenerateSecretString honoured
