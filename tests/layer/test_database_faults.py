"""Database faults (NF2): a pooled connection the server closed while it sat idle is replaced
before any statement runs on it, so the next request works; when the database cannot be
reached, callers get 503 with Retry-After and the platforms their own failure answer, so
everyone retries, and the log names the cause."""
import hashlib
import os
import secrets
import uuid

import sqlalchemy as sa

from infra import devenv
from tests.conftest import api_event, call, make_patient, wait_for
from tests.payments.test_callback_hardening import signed_v3_payment


def list_cases(functions, token):
    return call(functions, "RescueApiFunction", api_event("GET", "/rescue/cases", token=token))


def test_pooled_connections_killed_while_idle_are_replaced_before_use_NF2(mysql_db, platform, functions):
    from hospital.db import engine

    _, token = make_patient(platform)
    for _ in range(3):  # warm several pooled connections
        assert list_cases(functions, token)[0] == 200
    database = engine().url.database
    admin = sa.create_engine(engine().url.set(database=None))
    with admin.connect() as conn:
        ours = conn.execute(sa.text("SELECT id FROM information_schema.processlist "
                                    "WHERE db = :db AND id <> CONNECTION_ID()"), {"db": database}).scalars().all()
        assert ours, "the pool should hold connections to the test database"
        for connection_id in ours:
            conn.execute(sa.text(f"KILL {int(connection_id)}"))

        def gone():
            left = conn.execute(sa.text("SELECT id FROM information_schema.processlist WHERE db = :db"),
                                {"db": database}).scalars().all()
            return not set(left) & set(ours)

        wait_for(gone, timeout=5)
    admin.dispose()
    for _ in range(3):
        status, body = list_cases(functions, token)
        assert status == 200, body


def test_an_api_call_gets_503_with_retry_after_when_the_database_is_down_NF2(platform, functions, caplog, db):
    _, token = make_patient(platform)
    with _down(db):
        result = functions.invoke("RescueApiFunction", api_event("GET", "/rescue/cases", token=token)).result
    assert result["statusCode"] == 503
    assert result["headers"]["Retry-After"] == "5"
    assert '"code":"database_unavailable"' in result["body"]
    assert any(r.getMessage() == "database unavailable" and getattr(r, "error", None) for r in caplog.records)


def test_a_v3_notification_gets_wechat_s_failure_answer_when_the_database_is_down_NF2(platform, functions, db):
    body, headers = signed_v3_payment(uuid.uuid4().hex, 2500, devenv.DEV_V3_MCHID, platform.mini_program_app_id)
    event = api_event("POST", "/callbacks/wechatpay/v3", headers=headers)
    event["body"] = body.decode()
    with _down(db):
        result = functions.invoke("PaymentCallbacksFunction", event).result
    assert result["statusCode"] == 503
    assert result["headers"]["Retry-After"] == "5"
    assert result["headers"]["Content-Type"].startswith("application/json")
    assert '"code": "FAIL"' in result["body"]


def test_a_v2_notification_gets_wechat_s_failure_answer_when_the_database_is_down_NF2(platform, functions, db):
    fields = {"appid": platform.mini_program_app_id, "mch_id": devenv.DEV_V2_MCHID, "nonce_str": secrets.token_hex(8),
              "openid": "o-v2", "trade_type": "JSAPI", "bank_type": "OTHERS", "total_fee": "2500", "cash_fee": "2500",
              "transaction_id": "4200" + secrets.token_hex(10), "out_trade_no": uuid.uuid4().hex,
              "time_end": "20261201100000", "return_code": "SUCCESS", "result_code": "SUCCESS"}
    signed = "&".join(f"{k}={fields[k]}" for k in sorted(fields)) + f"&key={devenv.wechatpay_dev_keys()['v2_api_key']}"
    fields["sign"] = hashlib.md5(signed.encode()).hexdigest().upper()
    xml = "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()) + "</xml>"
    event = api_event("POST", "/callbacks/wechatpay/v2/payment", headers={"Content-Type": "text/xml"})
    event["body"] = xml
    with _down(db):
        result = functions.invoke("PaymentCallbacksFunction", event).result
    assert result["statusCode"] == 503
    assert result["headers"]["Content-Type"].startswith("text/xml")
    assert "<return_code><![CDATA[FAIL]]></return_code>" in result["body"]


class _down:
    """The function's database cannot be reached for the duration (MySQL: nothing listens on
    the port; SQLite: the file's folder does not exist); afterwards it is back."""

    def __init__(self, kind: str):
        self.kind = kind

    def __enter__(self):
        from hospital.auth import standing
        from hospital.db import reset_engine

        self.saved = os.environ["DATABASE_URL"]
        os.environ["DATABASE_URL"] = ("mysql+pymysql://root@127.0.0.1:9/nowhere" if self.kind == "mysql"
                                      else f"sqlite:////nonexistent-{uuid.uuid4().hex}/hospital.db")
        reset_engine()
        standing.forget_all()
        return self

    def __exit__(self, *exc):
        from hospital.db import reset_engine

        os.environ["DATABASE_URL"] = self.saved
        reset_engine()
        return False
