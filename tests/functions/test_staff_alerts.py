"""New cases reach on-duty staff by WeChat subscribe message through the notifications
queue; every result, including a refusal, is on the timeline (ER3, ES1)."""
import json
import uuid

import sqlalchemy as sa

from hospital.db import engine, tables
from tests.conftest import api_event, call, make_patient
from tests.functions.test_rescue_dispatch import staff_member

LOCATION = {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "gcj02"}


def duty(functions, token, on):
    return call(functions, "RescueStaffFunction", api_event("PUT", "/staff/duty", body={"on_duty": on}, token=token))


def new_case_alerted(platform, functions):
    """A patient's case, and the rescue-events consumer's step for it (ED push + fan-out)."""
    _, token = make_patient(platform)
    case = call(functions, "RescueApiFunction", api_event(
        "POST", "/rescue/cases", body={"location": LOCATION, "address_text": "人民大道200号"}, token=token))[1]
    record = {"messageId": str(uuid.uuid4()), "receiptHandle": "rh", "attributes": {"ApproximateReceiveCount": "1"},
              "messageAttributes": {},
              "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:hospital-dev-rescue-events",
              "body": json.dumps({"message_id": f"m-{uuid.uuid4().hex}", "type": "rescue.case_created",
                                  "data": {"case_id": case["case_id"]}})}
    assert functions.invoke("RescueEventsFunction", {"Records": [record]}).result == {"batchItemFailures": []}
    return case["case_id"]


def drain_notifications(platform, case_id):
    sqs, url = platform.sqs(), platform.queue_url("NotificationsQueue")
    mine = []
    for _ in range(10):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
        for m in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            if case_id in m["Body"]:
                mine.append(m)
        if not got:
            break
    return mine


def deliver(functions, messages):
    records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                "attributes": m["Attributes"], "messageAttributes": {},
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:hospital-dev-notifications"} for m in messages]
    return functions.invoke("NotificationsFunction", {"Records": records}).result


def known_to_wechat(platform, user_id):
    """The staff member has opened the mini-program, so WeChat knows their openid for it."""
    with engine().connect() as conn:
        openid = conn.execute(sa.select(tables.wechat_identities.c.openid)
                              .where(tables.wechat_identities.c.user_id == user_id)).scalar_one()
    platform.wechat.mint_login_code(platform.mini_program_app_id, openid=openid)
    return openid


def alerted_nodes(case_id):
    with engine().connect() as conn:
        rows = conn.execute(sa.select(tables.rescue_events.c.details).where(
            tables.rescue_events.c.case_id == case_id, tables.rescue_events.c.node == "alerted")).scalars().all()
    return {d["channel"]: d for d in rows}


def test_on_duty_staff_get_the_alert_and_a_refusal_is_visible_ER3_ES1(mysql_db, platform, functions):
    with engine().begin() as conn:  # this test owns the duty roster
        conn.execute(tables.on_duty.delete())
    on_duty, on_token = staff_member(platform, "staff")
    refusing, refusing_token = staff_member(platform, "staff")
    _off_duty, off_token = staff_member(platform, "staff")
    assert duty(functions, on_token, True)[0] == 200
    assert duty(functions, refusing_token, True)[0] == 200
    assert duty(functions, off_token, True)[0] == 200
    assert duty(functions, off_token, False)[1]["on_duty"] is False
    openids = {member.user_id: known_to_wechat(platform, member.user_id) for member in (on_duty, refusing)}
    platform.wechat.refuse(openids[refusing.user_id])
    case_id = new_case_alerted(platform, functions)
    messages = drain_notifications(platform, case_id)
    assert sorted(json.loads(m["Body"])["data"]["user_id"] for m in messages) == sorted(
        [on_duty.user_id, refusing.user_id])
    assert deliver(functions, messages) == {"batchItemFailures": []}
    assert deliver(functions, messages) == {"batchItemFailures": []}  # redelivered: nothing sent twice
    nodes = alerted_nodes(case_id)
    assert nodes[f"wechat:{on_duty.user_id}"]["result"] == "sent"
    assert nodes[f"wechat:{refusing.user_id}"]["result"] == "refused"
    assert nodes["ed_console"]["delivered"] == 0  # no console connected: visible, not silent
    sent = [m for m in platform.wechat.messages(touser=openids[on_duty.user_id])
            if case_id in (m["body"].get("page") or "")]
    assert len(sent) == 1
    assert sent[0]["body"]["data"]["thing3"]["value"] == "人民大道200号"
    with engine().begin() as conn:
        conn.execute(tables.on_duty.delete())


def test_wechat_down_retries_the_staff_alert_ER3(mysql_db, platform, functions):
    with engine().begin() as conn:
        conn.execute(tables.on_duty.delete())
    member, token = staff_member(platform, "staff")
    known_to_wechat(platform, member.user_id)
    duty(functions, token, True)
    case_id = new_case_alerted(platform, functions)
    messages = drain_notifications(platform, case_id)
    platform.wechat.inject_fault("/cgi-bin/message/subscribe/send", "http500", count=1)
    assert len(deliver(functions, messages)["batchItemFailures"]) == 1  # back to the queue
    assert f"wechat:{member.user_id}" not in alerted_nodes(case_id)
    assert deliver(functions, messages) == {"batchItemFailures": []}
    assert alerted_nodes(case_id)[f"wechat:{member.user_id}"]["result"] == "sent"
    with engine().begin() as conn:
        conn.execute(tables.on_duty.delete())


def test_a_connected_console_hears_of_a_case_from_the_intake_itself_and_staff_are_still_told_ER3(
        mysql_db, platform, functions):
    """The intake pushes to the ED consoles straight after its commit (no queue hop); the
    consumer then sees the console alerted, does not push again, and still tells the staff."""
    from websockets.sync.client import connect

    from hospital.auth.tokens import Principal, issue_access_token

    with engine().begin() as conn:
        conn.execute(tables.on_duty.delete())
    member, member_token = staff_member(platform, "staff")
    assert duty(functions, member_token, True)[0] == 200
    known_to_wechat(platform, member.user_id)
    nurse, _ = staff_member(platform, "ed_nurse")
    token = issue_access_token(Principal(nurse.user_id, frozenset({"ed_nurse"})))
    with connect(f"{platform.live.url.rstrip('/')}/dev?token={token}", open_timeout=5) as console:
        _, patient_token = make_patient(platform)
        case = call(functions, "RescueApiFunction", api_event(
            "POST", "/rescue/cases", body={"location": LOCATION}, token=patient_token))[1]
        alert = json.loads(console.recv(timeout=2))  # already there when the intake answered
        assert alert["type"] == "rescue.alert"
        assert alert["case_id"] == case["case_id"]
        nodes = alerted_nodes(case["case_id"])
        assert nodes["ed_console"]["path"] == "intake"
        assert nodes["ed_console"]["delivered"] == 1
        record = {"messageId": str(uuid.uuid4()), "receiptHandle": "rh", "attributes": {"ApproximateReceiveCount": "1"},
                  "messageAttributes": {},
                  "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:hospital-dev-rescue-events",
                  "body": json.dumps({"message_id": f"m-{uuid.uuid4().hex}", "type": "rescue.case_created",
                                      "data": {"case_id": case["case_id"]}})}
        assert functions.invoke("RescueEventsFunction", {"Records": [record]}).result == {"batchItemFailures": []}
        try:
            again = console.recv(timeout=1)
        except TimeoutError:
            again = None
        assert again is None  # not pushed twice
    assert [json.loads(m["Body"])["data"]["user_id"] for m in drain_notifications(platform, case["case_id"])] == \
        [member.user_id]
    with engine().begin() as conn:
        conn.execute(tables.on_duty.delete())


def test_every_alert_carrying_personal_data_is_audited_with_its_recipients_EA3_ES1(mysql_db, platform, functions):
    """The WeChat alert shows the on-duty member the start of the address: one audit record
    per alert sent, naming the field and the recipient. Someone whose staff role is gone is
    not alerted at all, whatever the duty roster still says."""
    from hospital.auth import sessions

    with engine().begin() as conn:
        conn.execute(tables.on_duty.delete())
    member, token = staff_member(platform, "staff")
    former, former_token = staff_member(platform, "staff")
    for who, its_token in ((member, token), (former, former_token)):
        assert duty(functions, its_token, True)[0] == 200
        known_to_wechat(platform, who.user_id)
    with engine().begin() as conn:  # the role ends by a path that does not touch the roster
        conn.execute(tables.user_roles.delete().where(tables.user_roles.c.user_id == former.user_id,
                                                      tables.user_roles.c.role == "staff"))
    case_id = new_case_alerted(platform, functions)
    messages = drain_notifications(platform, case_id)
    assert [json.loads(m["Body"])["data"]["user_id"] for m in messages] == [member.user_id]
    assert deliver(functions, messages) == {"batchItemFailures": []}
    with engine().connect() as conn:
        pushed = conn.execute(sa.select(tables.audit_log.c.details).where(
            tables.audit_log.c.action == "rescue.personal_data_pushed",
            tables.audit_log.c.target_id == case_id)).scalars().all()
    assert [(p["fields"], p["recipients"]) for p in pushed] == [(["address_text"], [member.user_id])]
    # Taking the role away through the operators' path also takes the member off duty.
    sessions.revoke_role(member.user_id, "staff")
    with engine().connect() as conn:
        assert conn.execute(sa.select(tables.on_duty.c.user_id)).scalars().all() == [former.user_id]
    with engine().begin() as conn:
        conn.execute(tables.on_duty.delete())
