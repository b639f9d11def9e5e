"""Where the runtime's AWS calls go, and where template.yaml's resources are created: on the
embedded moto it starts itself, and on the endpoint of AWS_ENDPOINT_URL (any host) only when
provisioning was chosen. Nothing is ever written into an endpoint that was not chosen."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid

import pytest
import requests

from infra.local.aws import ProvisionError
from infra.local.runtime import LocalRuntime
from tests.conftest import wait_for
from tests.local_runtime.external_aws import counting_http_server, external_moto

FIXTURE_QUEUES = {"fixture-test-work", "fixture-test-work-dlq"}
FIXTURE_SECRETS = {"fixture/test/app", "fixture/test/wechat"}


def fixture_runtime(fixture_repo, env, **options) -> LocalRuntime:
    return LocalRuntime(fixture_repo, api_port=0, control_port=0, websocket_port=0, start_schedules=False,
                        env=env, **options)


def test_an_endpoint_not_chosen_for_provisioning_is_refused_and_left_empty(fixture_repo, clean_env):
    # localhost: where a developer's LocalStack usually is, and where creation used to be assumed.
    with external_moto("127.0.0.1", url_host="localhost") as aws:
        env = {**clean_env, "AWS_ENDPOINT_URL": aws.url, "LOCAL_AWS_PROVISION": None}
        rt = fixture_runtime(fixture_repo, env)
        try:
            with pytest.raises(ProvisionError) as refused:
                rt.start()
        finally:
            rt.stop()
        message = str(refused.value)
        assert f"queue fixture-test-work-dlq does not exist on {aws.url}" in message
        assert "LOCAL_AWS_PROVISION=1" in message
        assert "--provision-aws" in message

        assert aws.queue_names() == set()
        assert aws.secret_names() == set()
        assert aws.key_ids() == set()
        assert aws.alias_names() == set()
        assert aws.bucket_names() == set()


def test_provisioning_chosen_on_the_command_line_creates_the_template_on_any_host(fixture_repo,
                                                                                subprocess_env):
    """127.0.0.2 is loopback but no name a guess would call local: the choice alone decides."""
    with external_moto("127.0.0.2") as aws:
        env = {**subprocess_env, "AWS_ENDPOINT_URL": aws.url}
        command = [sys.executable, "-m", "infra.local.runtime", "--repo", str(fixture_repo), "--port", "0",
                   "--control-port", "0", "--ws-port", "0", "--no-schedules", "--no-sqs"]

        refused = subprocess.run(command, env=env, cwd=subprocess_env["PYTHONPATH"], capture_output=True,
                                 text=True, timeout=60, check=False)
        assert refused.returncode == 1
        assert "does not exist on " + aws.url in refused.stderr
        assert "--provision-aws" in refused.stderr
        assert aws.queue_names() == set()

        banner = _banner_of([*command, "--provision-aws"], env, subprocess_env["PYTHONPATH"])
        assert f"AWS endpoint   {aws.url}  (AWS_ENDPOINT_URL; template.yaml's resources created" in banner
        assert aws.queue_names() == FIXTURE_QUEUES
        assert aws.secret_names() == FIXTURE_SECRETS
        assert aws.alias_names() == {"alias/fixture-test-pii"}
        assert len(aws.key_ids()) == 1
        assert aws.bucket_names() == {"fixture-test-files-123456789012"}

        # Without the choice, what is there now is used as it is.
        looked_up = _banner_of(command, env, subprocess_env["PYTHONPATH"])
        assert "resources looked up, not created" in looked_up
        assert aws.queue_names() == FIXTURE_QUEUES
        assert len(aws.key_ids()) == 1


def _banner_of(command: list[str], env: dict, cwd: str) -> str:
    """Starts the runtime, returns its banner once ready, and stops it with SIGTERM."""
    proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        lines, deadline = [], time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Lambda invoke" in line:
                break
        failure = proc.stderr.read() if proc.poll() is not None else lines
        assert lines, failure
        assert "Local runtime ready" in lines[0], failure
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        return "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_a_program_on_the_embedded_port_is_left_alone(fixture_repo, clean_env):
    """AWS_ENDPOINT_URL unset and LOCAL_AWS_PORT held by something else: the embedded moto
    moves to a free port, and the runtime works as usual."""
    with counting_http_server() as other:
        env = {**clean_env, "LOCAL_AWS_PORT": str(other.port)}
        with fixture_runtime(fixture_repo, env) as rt:
            assert rt.endpoint.embedded
            assert rt.aws_endpoint_url != f"http://127.0.0.1:{other.port}"
            assert f"port {other.port} is held by another program, left alone" in rt.banner()

            answer = requests.get(rt.api_url + "/env", timeout=10).json()
            assert answer["WORK_QUEUE_URL"].startswith(rt.aws_endpoint_url + "/")
            body = f"left-alone-{uuid.uuid4().hex[:8]}"
            sqs = rt.endpoint.client("sqs")
            sqs.send_message(QueueUrl=rt.model.queues["WorkQueue"].url, MessageBody=body)
            seen = fixture_repo / "functions/worker/seen.jsonl"
            wait_for(lambda: seen.exists() and any(json.loads(line)["body"] == body
                                                   for line in seen.read_text().splitlines()), timeout=10)
            sqs.close()
        assert other.requests == []
