"""Helpers for the payment tests: a patient with a hospital card and an HIS bill, an order
paid through the WeChat Pay simulator, and delivery of queued messages to their consumers."""
from __future__ import annotations

import contextlib
import json
import uuid

import requests
import sqlalchemy as sa

from hospital.db import engine, tables
from tests.conftest import api_event, call, wait_for

QUEUE_CONSUMERS = {"PaymentEventsQueue": "PaymentEventsFunction", "RefundsQueue": "RefundWorkerFunction",
                   "OutpatientEventsQueue": "OutpatientEventsFunction"}


def patient_with_bill(platform, amount: str = "25.00", bill_type: str = "registration", app: str = "mini"):
    """(principal, token, bill) for a patient holding a card of a new HIS patient id."""
    from hospital import crypto
    from hospital.auth import sessions
    from hospital.auth.tokens import verify_access_token
    from hospital.timeutil import utcnow

    app_id = platform.mini_program_app_id if app == "mini" else platform.official_account_app_id
    issued = sessions.sign_in_identity(app_id, f"o-pay-{uuid.uuid4().hex[:12]}")
    principal, token = verify_access_token(issued["access_token"]), issued["access_token"]
    his_patient_id = f"P{uuid.uuid4().hex[:10].upper()}"
    card_id, card_no = uuid.uuid4().hex, uuid.uuid4().hex[:10]
    with engine().begin() as conn:
        conn.execute(tables.patient_cards.insert().values(
            id=card_id, user_id=principal.user_id, his_patient_id=his_patient_id,
            card_no_enc=crypto.encrypt(card_no, f"patient_cards.card_no:{card_id}"),
            card_no_hash=crypto.lookup_hash(card_no, "card_no"), created_at=utcnow()))
    bill = platform.his.add_bill(his_patient_id, amount, bill_type)
    return principal, token, bill


def api(functions, function, method, path, token=None, body=None, path_parameters=None, resource=None):
    return call(functions, function, api_event(method, path, body=body, token=token, resource=resource,
                                               path_parameters=path_parameters))


def create_order(functions, token, bill):
    return api(functions, "PaymentsApiFunction", "POST", "/payments/orders", token,
               {"kind": bill["bill_type"], "his_ref": bill["bill_no"]})


def pay(functions, token, order_id):
    return api(functions, "PaymentsApiFunction", "POST", f"/payments/orders/{order_id}/pay", token,
               {"channel": "wechat"}, {"order_id": order_id}, "/payments/orders/{order_id}/pay")


def order_row(order_id):
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.payment_orders).where(tables.payment_orders.c.id == order_id)).one()


def ledger_rows(order_id):
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.ledger_entries).where(tables.ledger_entries.c.order_id == order_id)
                            .order_by(tables.ledger_entries.c.id)).all()


def anomalies_of(order_id):
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.payment_anomalies).where(
            tables.payment_anomalies.c.order_id == order_id)).all()


def patient_pays(platform, order_id):
    """The patient confirms in WeChat: the simulator marks it paid and notifies us."""
    answer = requests.post(f"{platform.wechatpay.url}/_sim/pay", json={"mchid": order_row(order_id).mchid,
                                                                        "out_trade_no": order_id}, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()


def deliver_queued(platform, functions, queue: str, until=None, timeout: float = 10.0) -> int:
    """Receive what is on `queue` and hand it to its consumer as Lambda would (the consumers
    are idempotent, so messages of other tests on the shared queue do no harm). With `until`,
    go on (messages are relayed just after their commit) until it holds; else until empty."""
    import time

    sqs = platform.sqs()
    url = platform.queue_url(queue)
    delivered = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                  WaitTimeSeconds=0).get("Messages", [])
        if got:
            records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                        "attributes": m.get("Attributes", {}), "messageAttributes": {},
                        "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{url.rsplit('/', 1)[1]}"} for m in got]
            result = functions.invoke(QUEUE_CONSUMERS[queue], {"Records": records}).result
            failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
            for m in got:
                if m["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            delivered += len(got)
        if until is None and not got:
            return delivered
        if until is not None and until():
            return delivered
        if not got:
            time.sleep(0.05)
    if until is not None:
        raise AssertionError(f"{queue}: condition not met in {timeout} s")
    return delivered


def wait_status(order_id, status, timeout=10.0):
    return wait_for(lambda: order_row(order_id).status == status, timeout=timeout)


def sim(platform, path):
    return requests.get(f"{platform.wechatpay.url}{path}", timeout=5).json()


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)


@contextlib.contextmanager
def wechatpay_secret_restored():
    """The WeChatPaySecret may be changed inside; its value is put back afterwards (the platform
    is shared by the whole session), and this container forgets what it read meanwhile."""
    from hospital import config, settings
    from hospital.aws import client
    from hospital.payments import merchants

    arn = settings.WECHATPAY_SECRET_ARN.get()
    original = client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    try:
        yield arn
    finally:
        client("secretsmanager").put_secret_value(SecretId=arn, SecretString=original)
        config.clear_caches()
        merchants.clear_cache()


def wechatpay_secret() -> dict:
    from hospital import settings
    from hospital.aws import client

    return json.loads(client("secretsmanager").get_secret_value(
        SecretId=settings.WECHATPAY_SECRET_ARN.get())["SecretString"])


def put_wechatpay_secret(document: dict) -> None:
    """Write the secret as an operator would: containers notice when their cache ends, or at
    once for a serial they do not know."""
    from hospital import settings
    from hospital.aws import client

    client("secretsmanager").put_secret_value(SecretId=settings.WECHATPAY_SECRET_ARN.get(),
                                              SecretString=json.dumps(document))


def merchant_entry(document: dict, mchid: str) -> dict:
    return next(e for e in document["merchants"] if e["mchid"] == mchid)


def resign_v3(body: bytes, headers: dict, key, serial: str) -> dict:
    """The notification's headers, signed with `key` and naming `serial`."""
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    message = f"{headers['Wechatpay-Timestamp']}\n{headers['Wechatpay-Nonce']}\n".encode() + body + b"\n"
    signature = base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()
    return {**headers, "Wechatpay-Signature": signature, "Wechatpay-Serial": serial}


def rsa_key():
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_of(key, private: bool = False) -> str:
    from cryptography.hazmat.primitives import serialization

    if private:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def certificate_pem(key, serial_number: int | None = None, days: int = 365) -> str:
    """A self-signed certificate of `key` (a merchant's API certificate or a platform one)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from infra.simulators.wechatpay import new_certificate_serial_number, platform_certificate

    return platform_certificate(key, serial_number or new_certificate_serial_number(), days).public_bytes(
        Encoding.PEM).decode()
