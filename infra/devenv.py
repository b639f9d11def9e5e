"""The local platform around the functions: database migrated, simulators of external
systems started, and their credentials agreed with the AWS side.

Used by the local runtime's start-up hook (`make run`, `make invoke`) and by the tests,
so both run the functions against the same surroundings.

One simulator alone, with the keys `make run` gives it (the simulators know nothing of this
module): python -m infra.devenv {wechatpay,his,credit,medical_insurance} [--port N]
"""
from __future__ import annotations

import functools
import json
import logging
import os
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
log = logging.getLogger("infra.devenv")

WECHAT_PORT = int(os.environ.get("LOCAL_WECHAT_PORT", "7001"))
TRIAGE_PORT = int(os.environ.get("LOCAL_TRIAGE_PORT", "7002"))
TRIAGE_DEV_KEY = "local-triage-api-key"  # meaningful only to the local simulator
WECHATPAY_PORT = int(os.environ.get("LOCAL_WECHATPAY_PORT", "7003"))
HIS_PORT = int(os.environ.get("LOCAL_HIS_PORT", "7004"))
HIS_DEV_KEY = "local-his-api-key"
CREDIT_PORT = int(os.environ.get("LOCAL_CREDIT_PORT", "7005"))
CREDIT_DEV_KEY = "local-credit-api-key"
MED_INS_PORT = int(os.environ.get("LOCAL_MED_INS_PORT", "7006"))
MED_INS_DEV_KEY = "local-medical-insurance-key"
IMAGING_PORT = int(os.environ.get("LOCAL_IMAGING_PORT", "7007"))
IMAGING_DEV_KEY = "local-imaging-api-key"
EXAM_PORT = int(os.environ.get("LOCAL_EXAM_PORT", "7008"))
EXAM_DEV_KEY = "local-exam-api-key"
EXAM_DEV_SALT = "local-exam-identity-salt"
INTERNET_HOSPITAL_PORT = int(os.environ.get("LOCAL_INTERNET_HOSPITAL_PORT", "7009"))
DEV_V3_MCHID = "1900000109"   # the template's default merchant: API v3
DEV_V2_MCHID = "1900000110"   # a merchant still on API v2
# Where the partners that call us back send their news, under our API's URL (by simulator name).
CALLBACK_PATHS = {"credit": "/callbacks/credit", "medical_insurance": "/callbacks/medical-insurance"}


def template_parameter(name: str) -> str:
    """A template parameter's default (the local runtime uses defaults)."""
    from infra.local.template import load_template

    return str(load_template(ROOT / "template.yaml")["Parameters"][name]["Default"])


def wechat_app_ids() -> dict[str, str]:
    return {
        "mini_program": os.environ.get("WECHAT_MINI_PROGRAM_APP_ID") or template_parameter("MiniProgramAppId"),
        "official_account": os.environ.get("WECHAT_OFFICIAL_ACCOUNT_APP_ID")
        or template_parameter("OfficialAccountAppId"),
    }


def wechat_dev_secrets() -> dict[str, str]:
    """App secrets the simulator accepts. Local-only values, meaningless to real WeChat."""
    return {app_id: f"local-secret-of-{app_id}" for app_id in wechat_app_ids().values()}


def migrate(url: str) -> None:
    from infra import migrate as migrations

    migrations.upgrade(url)


def start_wechat_simulator(port: int = WECHAT_PORT):
    from infra.simulators.wechat import WeChatSimulator

    return WeChatSimulator(wechat_dev_secrets(), port=port).start()


def start_triage_simulator(port: int = TRIAGE_PORT):
    from infra.simulators.triage import TriageSimulator

    return TriageSimulator(TRIAGE_DEV_KEY, port=port).start()


def triage_secret_string() -> str:
    return json.dumps({"api_key": TRIAGE_DEV_KEY})


def wechat_secret_string() -> str:
    return json.dumps(wechat_dev_secrets())


@functools.lru_cache(maxsize=1)
def wechatpay_dev_keys() -> dict:
    """Keys for the local WeChat Pay simulator and the backend, made fresh in each process
    (so no key is ever in the repo): our merchant key, and two platform keys (a certificate
    serial and a public-key id) that both sign, as during a real switch-over. The certificate
    serial's key comes with its platform certificate (self-signed), whose serial it is."""
    import secrets
    import string

    from cryptography.hazmat.primitives.asymmetric import rsa

    from infra.simulators.wechatpay import new_certificate_serial_number, platform_certificate

    def key():
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    alphabet = string.ascii_letters + string.digits
    certificate_key, serial_number = key(), new_certificate_serial_number()
    certificate_serial = format(serial_number, "X")
    return {
        "merchant_key": key(), "merchant_serial": secrets.token_hex(20).upper(),
        "platform": {certificate_serial: certificate_key, "PUB_KEY_ID_0119000010920261126000000000001": key()},
        "platform_certificates": {certificate_serial: platform_certificate(certificate_key, serial_number)},
        "apiv3_key": "".join(secrets.choice(alphabet) for _ in range(32)),
        "v2_api_key": "".join(secrets.choice(alphabet) for _ in range(32)),
    }


def _pem(key, private: bool) -> str:
    from cryptography.hazmat.primitives import serialization

    if private:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def wechatpay_secret_string() -> str:
    """What the backend holds: our private key, the platform certificate and public key, the
    API keys."""
    from cryptography.hazmat.primitives.serialization import Encoding

    keys, appids = wechatpay_dev_keys(), list(wechat_app_ids().values())
    certificates = keys["platform_certificates"]
    return json.dumps({"merchants": [
        {"mchid": DEV_V3_MCHID, "api": "v3", "appids": appids, "serial_no": keys["merchant_serial"],
         "private_key": _pem(keys["merchant_key"], True), "apiv3_key": keys["apiv3_key"],
         "platform_keys": {serial: certificates[serial].public_bytes(Encoding.PEM).decode() if serial in certificates
                           else _pem(k, False) for serial, k in keys["platform"].items()}},
        {"mchid": DEV_V2_MCHID, "api": "v2", "appids": appids, "api_key": keys["v2_api_key"], "sign_type": "MD5"},
    ]})


def wechatpay_simulator(port: int = 0, **options):
    """What WeChat holds: our public key, the platform private keys, the API keys."""
    from infra.simulators.wechatpay import SimMerchant, WeChatPaySimulator

    keys, appids = wechatpay_dev_keys(), tuple(wechat_app_ids().values())
    return WeChatPaySimulator([
        SimMerchant(DEV_V3_MCHID, appids, "v3", apiv3_key=keys["apiv3_key"], merchant_serial=keys["merchant_serial"],
                    merchant_public_key=keys["merchant_key"].public_key(), platform_keys=dict(keys["platform"]),
                    certificates=dict(keys["platform_certificates"])),
        SimMerchant(DEV_V2_MCHID, appids, "v2", api_key=keys["v2_api_key"]),
    ], port=port, **options)


def start_wechatpay_simulator(port: int = WECHATPAY_PORT, **options):
    return wechatpay_simulator(port, **options).start()


# A patient on file at the local HIS, so ARCHIVE_QUERY and a registration work from the first curl.
DEV_HIS_ARCHIVE = {"name": "张三", "id_no": "110101199003074514", "phone": "13800138000", "patient_id": "P0000001",
                   "card_no": "9000000001"}


def his_simulator(port: int = HIS_PORT, **options):
    """The HIS simulator with the outpatient department seeded (a week of slots from today) and
    DEV_HIS_ARCHIVE on file."""
    from infra.simulators.his import HisSimulator

    simulator = HisSimulator(HIS_DEV_KEY, port=port, **options)
    simulator.seed_outpatient()
    simulator.add_archive(**DEV_HIS_ARCHIVE)
    return simulator


def start_his_simulator(port: int = HIS_PORT, **options):
    return his_simulator(port, **options).start()


def his_secret_string() -> str:
    return json.dumps({"api_key": HIS_DEV_KEY})


def start_credit_simulator(port: int = CREDIT_PORT, callback_url: str | None = None):
    """The credit provider calls back our API at callback_url (the local runtime's hook sets it
    once its API server is bound: CALLBACK_PATHS)."""
    from infra.simulators.credit import CreditSimulator

    return CreditSimulator(CREDIT_DEV_KEY, port=port, callback_url=callback_url).start()


def start_insurance_simulator(port: int = MED_INS_PORT, callback_url: str | None = None):
    """The insurance platform calls back our API at callback_url (set as for the credit provider)."""
    from infra.simulators.medical_insurance import InsuranceSimulator

    simulator = InsuranceSimulator(MED_INS_DEV_KEY, port=port)
    simulator.callback_url = callback_url
    return simulator.start()


def insurance_secret_string() -> str:
    return json.dumps({"api_key": MED_INS_DEV_KEY})


# Keys shared with the linked platforms (hospital.links.link_tokens), made anew for each run:
# the simulators of this process are given the same ones.
LINK_PLATFORMS = ("imaging", "exam", "internet_hospital")
LINK_DEV_KEYS = {platform: ("dev1", os.urandom(32)) for platform in LINK_PLATFORMS}


def imaging_secret_string() -> str:
    return json.dumps({"api_key": IMAGING_DEV_KEY})


def exam_secret_string() -> str:
    return json.dumps({"api_key": EXAM_DEV_KEY, "identity_salt": EXAM_DEV_SALT})


def _link_keys(platform: str) -> dict[str, bytes]:
    kid, key = LINK_DEV_KEYS[platform]
    return {kid: key}


def start_imaging_simulator(port: int = IMAGING_PORT):
    from infra.simulators.imaging import ImagingSimulator

    return ImagingSimulator(IMAGING_DEV_KEY, _link_keys("imaging"), port=port).start()


def start_exam_simulator(port: int = EXAM_PORT):
    from infra.simulators.exam import ExamSimulator

    return ExamSimulator(EXAM_DEV_KEY, _link_keys("exam"), port=port).start()


def start_internet_hospital_simulator(port: int = INTERNET_HOSPITAL_PORT):
    from infra.simulators.internet_hospital import InternetHospitalSimulator

    return InternetHospitalSimulator(_link_keys("internet_hospital"), port=port).start()


def links_secret_string() -> str:
    import base64

    return json.dumps({platform: {"current": kid, "keys": {kid: base64.b64encode(key).decode()}}
                       for platform, (kid, key) in LINK_DEV_KEYS.items()})


def credit_secret_string() -> str:
    return json.dumps({"api_key": CREDIT_DEV_KEY})


# ---- sample events: placeholders filled with values that work against this environment ----

_PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")
DEV_PATIENT_OPENID = "o-local-dev-patient"
DEV_DISPATCHER_OPENID = "o-local-dev-dispatcher"
DEV_STAFF_OPENID = "o-local-dev-staff"
# Placeholder -> (openid, role) of the local staff and back-office users.
# The local back office's sign-in (sample events, `make run`); never an account anywhere else.
DEV_BACK_OFFICE_USERNAME, DEV_BACK_OFFICE_PASSWORD = "dev.admin", "Local-dev-only-2026"
_STAFF_IDENTITIES = {
    "DEV_DISPATCHER_TOKEN": (DEV_DISPATCHER_OPENID, "dispatcher"),
    "DEV_STAFF_TOKEN": (DEV_STAFF_OPENID, "staff"),
    "DEV_ADMIN_TOKEN": ("o-local-dev-admin", "super_admin"),
    "DEV_FINANCE_TOKEN": ("o-local-dev-finance", "finance"),
    "DEV_IT_ADMIN_TOKEN": ("o-local-dev-it-admin", "it_admin"),
    "DEV_FRONT_DESK_TOKEN": ("o-local-dev-front-desk", "front_desk"),
}


def fill_placeholders(text: str, simulator=None) -> str:
    """Replace ${...} placeholders of events/*.json with live values (a signed-in dev
    patient, one of their cases, fresh WeChat codes from the simulator)."""
    cache: dict[str, str] = {}

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in cache:
            cache.update(_make(name, simulator, cache))
        return cache[name]

    return _PLACEHOLDER.sub(value, text)


def _payment_patient(app_id: str) -> dict:
    """A patient holding a hospital card, and an unpaid registration bill of theirs at the HIS
    (made through the HIS simulator's control API)."""
    import uuid

    import requests

    from hospital import crypto
    from hospital.auth import sessions
    from hospital.db import engine, tables
    from hospital.timeutil import utcnow

    issued = sessions.sign_in_identity(app_id, f"o-local-pay-{uuid.uuid4().hex[:8]}")
    his_patient_id, card_id, card_no = f"P{uuid.uuid4().hex[:10].upper()}", uuid.uuid4().hex, uuid.uuid4().hex[:10]
    with engine().begin() as conn:
        conn.execute(tables.patient_cards.insert().values(
            id=card_id, user_id=issued["user"]["id"], his_patient_id=his_patient_id,
            card_no_enc=crypto.encrypt(card_no, f"patient_cards.card_no:{card_id}"),
            card_no_hash=crypto.lookup_hash(card_no, "card_no"), created_at=utcnow()))
    bill = requests.post(f"{os.environ['HIS_API_BASE']}/_sim/bills", timeout=5,
                         json={"patient_id": his_patient_id, "amount": "25.00", "bill_type": "registration"}).json()
    return {"DEV_PAYMENT_PATIENT_TOKEN": issued["access_token"], "DEV_HIS_BILL_NO": bill["bill_no"]}


def _make(name: str, simulator, cache: dict) -> dict:  # noqa: C901 - one branch per sample-event placeholder, each a few lines
    from hospital.auth import sessions
    from hospital.auth.tokens import verify_access_token

    def need(other: str) -> str:
        if other not in cache:
            cache.update(_make(other, simulator, cache))
        return cache[other]

    ids = wechat_app_ids()
    if name in ("WECHAT_LOGIN_CODE", "WECHAT_OAUTH_CODE"):
        if simulator is None:
            raise RuntimeError(f"{name} needs the WeChat simulator (unset WECHAT_API_BASE)")
        app = ids["mini_program"] if name == "WECHAT_LOGIN_CODE" else ids["official_account"]
        return {name: simulator.mint_login_code(app, openid=DEV_PATIENT_OPENID)["code"]}
    if name in ("DEV_PATIENT_TOKEN", "DEV_REFRESH_TOKEN"):
        issued = sessions.sign_in_identity(ids["mini_program"], DEV_PATIENT_OPENID)
        return {"DEV_PATIENT_TOKEN": issued["access_token"], "DEV_REFRESH_TOKEN": issued["refresh_token"]}
    if name in _STAFF_IDENTITIES or name == "DEV_STAFF_USER_ID":
        key = "DEV_STAFF_TOKEN" if name == "DEV_STAFF_USER_ID" else name
        openid, role = _STAFF_IDENTITIES[key]
        user_id = sessions.sign_in_identity(ids["mini_program"], openid)["user"]["id"]
        sessions.grant_role(user_id, role)
        token = sessions.sign_in_identity(ids["mini_program"], openid)["access_token"]
        return {key: token, **({"DEV_STAFF_USER_ID": str(user_id)} if role == "staff" else {})}
    if name in ("DEV_BACK_OFFICE_USERNAME", "DEV_BACK_OFFICE_PASSWORD"):
        # A back-office account of the dev super admin (local only), made once.
        import contextlib

        from hospital.auth import admin_accounts
        from hospital.errors import Conflict

        with contextlib.suppress(Conflict):  # made by an earlier sample
            admin_accounts.create_account(None, None, DEV_BACK_OFFICE_USERNAME, DEV_BACK_OFFICE_PASSWORD,
                                          temporary=False, roles=("super_admin",))
        return {"DEV_BACK_OFFICE_USERNAME": DEV_BACK_OFFICE_USERNAME,
                "DEV_BACK_OFFICE_PASSWORD": DEV_BACK_OFFICE_PASSWORD}
    if name == "DEV_CASE_ID":
        from hospital.rescue import intake, models

        body = models.CaseIntake.model_validate(
            {"location": {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "gcj02"}})
        case, _ = intake.create_case(verify_access_token(need("DEV_PATIENT_TOKEN")), body)
        return {"DEV_CASE_ID": case["case_id"]}
    if name == "DEV_VEHICLE_ID":
        import uuid

        from hospital.rescue import dispatch

        vehicle_id = f"DEV-{uuid.uuid4().hex[:6]}"
        dispatch.register_vehicle(vehicle_id, f"沪A{vehicle_id[-5:]}")
        return {"DEV_VEHICLE_ID": vehicle_id}
    if name in ("DEV_ACCEPTED_CASE_ID", "DEV_STAFF_CASE_ID"):
        from hospital.auth import standing
        from hospital.rescue import dispatch

        # As a request would act: with the permissions the dispatcher holds now.
        dispatcher = standing.current(verify_access_token(need("DEV_DISPATCHER_TOKEN")), fresh=True)
        case_id = need("DEV_CASE_ID")
        dispatch.step(dispatcher, "dispatcher", case_id, "accepted")
        if name == "DEV_ACCEPTED_CASE_ID":
            return {name: case_id}
        dispatch.dispatch(dispatcher, case_id, need("DEV_VEHICLE_ID"), [int(need("DEV_STAFF_USER_ID"))])
        return {name: case_id}
    if name == "DEV_STAFF_VEHICLE_ID":
        need("DEV_STAFF_CASE_ID")  # dispatches DEV_VEHICLE_ID with the dev crew
        return {name: need("DEV_VEHICLE_ID")}
    if name in ("DEV_FIX_TIME", "DEV_NEXT_FIX_TIME"):
        # GPS fixes as a crew's phone sends them now: fixes from before the dispatch are dropped.
        import datetime as dt

        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        return {"DEV_FIX_TIME": now.isoformat().replace("+00:00", "Z"),
                "DEV_NEXT_FIX_TIME": (now + dt.timedelta(seconds=10)).isoformat().replace("+00:00", "Z")}
    if name == "DEV_LIVE_CONNECTION_ID":
        # A WebSocket connection of the dev patient, as $connect would have registered it.
        import uuid

        from hospital import live

        connection_id = f"dev{uuid.uuid4().hex[:12]}="
        live.connect(connection_id, verify_access_token(need("DEV_PATIENT_TOKEN")))
        return {name: connection_id}
    if name == "DEV_DISPATCHED_PATIENT_CASE_ID":
        return {name: need("DEV_STAFF_CASE_ID")}  # the dev patient's case, dispatched
    if name in ("DEV_GUIDED_CASE_ID", "DEV_GUIDANCE_SESSION_ID"):
        from hospital.rescue import guidance

        case_id = need("DEV_CASE_ID")
        started = guidance.start(verify_access_token(need("DEV_DISPATCHER_TOKEN")), "dispatcher", case_id, "voice")
        return {"DEV_GUIDED_CASE_ID": case_id, "DEV_GUIDANCE_SESSION_ID": started["session_id"]}
    if name in ("DEV_LINKABLE_PATIENT_TOKEN", "DEV_LINKED_PATIENT_TOKEN"):
        # The same person on the service account and in the mini-program (same unionid);
        # LINKED has already consented to reuse the service-account profile.
        import uuid

        from hospital.rescue import profile_link

        unionid = f"u-local-{uuid.uuid4().hex[:8]}"
        sessions.sign_in_identity(ids["official_account"], f"o-oa-{unionid}", unionid)
        token = sessions.sign_in_identity(ids["mini_program"], f"o-mp-{unionid}", unionid)["access_token"]
        if name == "DEV_LINKED_PATIENT_TOKEN":
            token = profile_link.link(verify_access_token(token))["access_token"]
        return {name: token}
    if name in ("DEV_PAYMENT_PATIENT_TOKEN", "DEV_HIS_BILL_NO"):
        return _payment_patient(ids["mini_program"])
    if name == "DEV_CREDIT_PATIENT_TOKEN":
        from hospital.payments import credit_care

        token = _payment_patient(ids["mini_program"])["DEV_PAYMENT_PATIENT_TOKEN"]
        credit_care.enrol(verify_access_token(token), "credit-care-2026.11")
        return {name: token}
    if name == "DEV_PAYMENT_ORDER_ID":
        from hospital.payments import orders

        principal = verify_access_token(need("DEV_PAYMENT_PATIENT_TOKEN"))
        order, _ = orders.create(principal, "registration", need("DEV_HIS_BILL_NO"))
        return {name: order["order_id"]}
    raise KeyError(f"unknown sample-event placeholder ${{{name}}}")


def main(argv: list[str] | None = None) -> None:
    """Serve one simulator with the local keys until Ctrl-C."""
    import argparse

    from infra.simulators._http import serve_forever

    parser = argparse.ArgumentParser(prog="python -m infra.devenv",
                                     description="Run one simulator alone, with the local keys.")
    simulators = parser.add_subparsers(dest="simulator", required=True)
    simulators.add_parser("wechatpay", help="WeChat Pay (generated dev keys)").add_argument(
        "--port", type=int, default=WECHATPAY_PORT)
    simulators.add_parser("his", help="the HIS gateway").add_argument("--port", type=int, default=HIS_PORT)
    credit = simulators.add_parser("credit", help="the credit-care provider")
    credit.add_argument("--port", type=int, default=CREDIT_PORT)
    credit.add_argument("--callback-url", default=f"http://127.0.0.1:3000{CALLBACK_PATHS['credit']}")
    simulators.add_parser("medical_insurance", help="the medical-insurance platform").add_argument(
        "--port", type=int, default=MED_INS_PORT)
    args = parser.parse_args(argv)
    if args.simulator == "wechatpay":
        serve_forever(wechatpay_simulator(port=args.port), "WeChat Pay simulator")
    elif args.simulator == "his":
        serve_forever(his_simulator(port=args.port), "HIS simulator")
    elif args.simulator == "credit":
        from infra.simulators.credit import CreditSimulator

        serve_forever(CreditSimulator(CREDIT_DEV_KEY, port=args.port, callback_url=args.callback_url),
                      "credit provider simulator")
    else:
        from infra.simulators.medical_insurance import InsuranceSimulator

        serve_forever(InsuranceSimulator(MED_INS_DEV_KEY, port=args.port), "medical-insurance platform simulator")


if __name__ == "__main__":
    main()
