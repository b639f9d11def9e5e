"""The rescue slice with its AWS side on an endpoint the local runtime did not start: a moto
server process of its own on 127.0.0.2 (as a developer's LocalStack would be, on a host no
guess would call local), used because AWS_ENDPOINT_URL names it and provisioned because
LOCAL_AWS_PROVISION=1 chooses it. A one-click intake over HTTP reaches the queue consumer
(ER1, ER3)."""
import time
from types import SimpleNamespace

import pytest
import requests

from infra import devenv
from infra.local.runtime import LocalRuntime
from infra.local.template import load_template
from tests.conftest import ROOT, _forget_container_state
from tests.e2e.test_rescue_slice_e2e import LOCATION, bearer, sign_in
from tests.local_runtime.external_aws import external_moto

# The simulators on free ports: the usual ones may be in use by a `make run`.
SIMULATOR_PORTS = {f"LOCAL_{name}_PORT": "0"
                   for name in ("WECHAT", "TRIAGE", "WECHATPAY", "HIS", "CREDIT", "MED_INS")}


def template_variables() -> set[str]:
    """Every function variable of template.yaml: values other tests exported would win over
    what this runtime provisions."""
    template = load_template(ROOT / "template.yaml")
    names = set(template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    for resource in template["Resources"].values():
        names |= set(((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {})
    return names


@pytest.fixture
def external_runtime(sqlite_url):
    with external_moto("127.0.0.2") as aws:
        env = {**dict.fromkeys(template_variables()), **SIMULATOR_PORTS, "DATABASE_URL": sqlite_url,
               "AWS_ENDPOINT_URL": aws.url, "LOCAL_AWS_PROVISION": "1"}
        try:
            with LocalRuntime(ROOT, api_port=0, control_port=0, websocket_port=0, start_schedules=False,
                              env=env) as rt:
                _forget_container_state()   # clients, secrets and keys of an earlier endpoint
                yield rt, aws
        finally:
            _forget_container_state()


def test_the_rescue_slice_runs_on_an_external_endpoint_chosen_for_provisioning_ER1_ER3(external_runtime):
    rt, aws = external_runtime
    assert not rt.endpoint.embedded
    assert rt.aws_endpoint_url == aws.url
    # What sign_in needs of the test platform: this runtime's WeChat simulator and the app.
    wechat_side = SimpleNamespace(wechat=rt.ctx.services["wechat"],
                                  mini_program_app_id=devenv.wechat_app_ids()["mini_program"])

    patient = sign_in(rt, wechat_side, "o-external-aws-patient")
    created = requests.post(f"{rt.api_url}/rescue/cases", json={"location": LOCATION},
                            headers=bearer(patient), timeout=10)
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]
    deadline, case = time.monotonic() + 15, None
    while time.monotonic() < deadline:
        case = requests.get(f"{rt.api_url}/rescue/cases/{case_id}", headers=bearer(patient),
                            timeout=10).json()
        if case["status"] == "alerted":
            break
        time.sleep(0.2)
    assert [n["node"] for n in case["timeline"]] == ["call_received", "alerted"]

    template_queues = {queue.name for queue in rt.model.queues.values()}
    assert {"hospital-dev-rescue-events", "hospital-dev-rescue-events-dlq"} <= template_queues
    assert template_queues <= aws.queue_names()
    assert "alias/hospital-dev-pii" in aws.alias_names()


def test_no_sqs_poller_outlives_its_runtime_on_an_endpoint_it_did_not_start(external_runtime):
    """Nothing ends a long poll early on an endpoint the runtime did not start: its polls are
    short and its stop waits for them, so no poller is left to take (and hand back, counting a
    receive towards the DLQ) the messages of the next runtime on the same queues."""
    rt, _ = external_runtime
    pollers = list(rt.pollers)
    assert pollers and all(p.thread.is_alive() for p in pollers)
    rt.stop()
    assert [p.thread.name for p in pollers if p.thread.is_alive()] == []
