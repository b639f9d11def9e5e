"""Project start-up steps of the local runtime (`make run`, `make invoke`, LocalRuntime).

`before_start(ctx)` runs once per start, after the AWS endpoint is up and before the
template's resources are created and the functions are imported:

- migrates the database (DATABASE_URL, or the embedded SQLite file under .local/);
- starts the simulators of the external systems: WeChat API (:7001), ED triage (:7002),
  WeChat Pay (:7003), the HIS (:7004), the credit-care provider (:7005) and the
  medical-insurance platform (:7006), unless WECHAT_API_BASE / TRIAGE_API_BASE /
  WECHATPAY_API_BASE / HIS_API_BASE / CREDIT_API_BASE / MED_INS_API_BASE point at real
  endpoints, and stores the credentials
  they accept in the template's secrets (written where the resources are created: the
  embedded moto, or AWS_ENDPOINT_URL with LOCAL_AWS_PROVISION=1). They are in
  ctx.services by name (wechat, triage, wechatpay, his, credit, medical_insurance);
- once the API server is bound, points the credit provider's and the insurance platform's
  callbacks at it, whatever its port;
- has the API server answer /docs (the API reference) and /openapi.json (infra.apidocs), and
  serve the browser consoles at /console/ (infra.consoles).

Its options, for a caller passing `functools.partial(before_start, ...)` as LocalRuntime's
before_start (the tests' platform): `migrate=False` leaves the database alone,
`simulator_port=0` puts every simulator on a free port, `simulator_options` gives a
simulator's constructor more arguments by name ({"wechatpay": {"retry_scale": ...}}).

`prepare_event(event, ctx)` fills the ${...} placeholders of events/*.json (a signed-in local
patient, one of their cases, fresh WeChat codes) for `make invoke`.

ctx (see infra.local.runtime.HookContext): repo_root, env, aws_endpoint_url, region,
account_id, env_overrides, secret_overrides, parameters, services, api_url, on_stop(fn),
on_ready(fn).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("infra.local.hooks")


# Each external system: the variable that points at a real one, and what `make run` uses
# otherwise: (name, port variable, port, start(port), template parameter, secret, secret value).
def _simulated_systems():
    from infra import devenv

    return {
        "WECHAT_API_BASE": ("wechat", "LOCAL_WECHAT_PORT", devenv.WECHAT_PORT, devenv.start_wechat_simulator,
                            "WeChatApiBase", "WeChatSecret", devenv.wechat_secret_string),
        "TRIAGE_API_BASE": ("triage", "LOCAL_TRIAGE_PORT", devenv.TRIAGE_PORT, devenv.start_triage_simulator,
                            "TriageApiBase", "TriageSecret", devenv.triage_secret_string),
        "WECHATPAY_API_BASE": ("wechatpay", "LOCAL_WECHATPAY_PORT", devenv.WECHATPAY_PORT,
                               devenv.start_wechatpay_simulator, "WeChatPayApiBase", "WeChatPaySecret",
                               devenv.wechatpay_secret_string),
        "HIS_API_BASE": ("his", "LOCAL_HIS_PORT", devenv.HIS_PORT, devenv.start_his_simulator,
                         "HisApiBase", "HisSecret", devenv.his_secret_string),
        "CREDIT_API_BASE": ("credit", "LOCAL_CREDIT_PORT", devenv.CREDIT_PORT, devenv.start_credit_simulator,
                            "CreditApiBase", "CreditSecret", devenv.credit_secret_string),
        "MED_INS_API_BASE": ("medical_insurance", "LOCAL_MED_INS_PORT", devenv.MED_INS_PORT,
                             devenv.start_insurance_simulator, "MedInsApiBase", "MedInsSecret",
                             devenv.insurance_secret_string),
        "IMAGING_API_BASE": ("imaging", "LOCAL_IMAGING_PORT", devenv.IMAGING_PORT, devenv.start_imaging_simulator,
                             "ImagingApiBase", "ImagingSecret", devenv.imaging_secret_string),
        "EXAM_API_BASE": ("exam", "LOCAL_EXAM_PORT", devenv.EXAM_PORT, devenv.start_exam_simulator,
                          "ExamApiBase", "ExamSecret", devenv.exam_secret_string),
        # No API of ours to call, no key of its own: only the link keys of the LinksSecret.
        "INTERNET_HOSPITAL_URL": ("internet_hospital", "LOCAL_INTERNET_HOSPITAL_PORT", devenv.INTERNET_HOSPITAL_PORT,
                                  devenv.start_internet_hospital_simulator, "InternetHospitalUrl", None, None),
    }


def before_start(ctx, *, migrate: bool = True, simulator_port: int | None = None,
                 simulator_options: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    from infra import devenv
    from infra.local.api import LOCAL_API_MARKER

    if migrate:
        devenv.migrate(ctx.env["DATABASE_URL"])
    # Payment platforms (the WeChat Pay simulator) call back the local API server.
    ctx.parameters.setdefault("PaymentNotifyBaseUrl", LOCAL_API_MARKER)
    for variable, (name, port_variable, port, start, parameter, secret, secret_value) in _simulated_systems().items():
        if ctx.env.get(variable):
            log.info("%s at %s: no simulator", name, ctx.env[variable])
            continue
        chosen_port = simulator_port if simulator_port is not None else int(ctx.env.get(port_variable, port))
        simulator = start(chosen_port, **(simulator_options or {}).get(name, {}))
        ctx.services[name] = simulator
        ctx.on_stop(simulator.stop)
        ctx.parameters[parameter] = simulator.url
        if secret is not None:
            ctx.secret_overrides[secret] = secret_value()
    # The linked platforms' keys: the simulators' (a real deployment's are set by operators).
    ctx.secret_overrides.setdefault("LinksSecret", devenv.links_secret_string())
    ctx.on_ready(lambda: _point_callbacks_at(ctx))
    from infra import apidocs, consoles

    ctx.pages.update(apidocs.pages())
    ctx.pages.update(consoles.pages())


def _point_callbacks_at(ctx) -> None:
    """The credit provider and the insurance platform call back our API, known once it is bound."""
    from infra import devenv

    if ctx.api_url is None:
        return
    for name, path in devenv.CALLBACK_PATHS.items():
        if name in ctx.services:
            ctx.services[name].callback_url = f"{ctx.api_url}{path}"


def prepare_event(event, ctx=None):
    from infra import devenv

    text = json.dumps(event, ensure_ascii=False)
    if "${" not in text:
        return event
    wechat = ctx.services.get("wechat") if ctx is not None else None
    return json.loads(devenv.fill_placeholders(text, simulator=wechat))
