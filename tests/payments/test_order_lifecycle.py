"""Unpaid orders expire and their WeChat prepay is closed first, so a patient can never pay
twice for one bill; lost notifications are made good by query; bad input changes nothing."""
import datetime as dt

import pytest
import requests

from hospital.timeutil import utcnow
from infra import devenv
from tests.payments.support import api, create_order, ledger_rows, order_row, patient_with_bill, pay


def sweep(minutes: float):
    from hospital.payments import sweeper

    return sweeper.run(now=utcnow() + dt.timedelta(minutes=minutes))


def test_an_expired_order_is_closed_at_wechat_then_here_and_cannot_be_paid(db, platform, functions):
    _, token, bill = patient_with_bill(platform)
    order_id = create_order(functions, token, bill)[1]["order_id"]
    assert pay(functions, token, order_id)[0] == 200
    assert sweep(16)["closed"] >= 1
    assert order_row(order_id).status == "closed"
    assert platform.wechatpay.orders[(devenv.DEV_V3_MCHID, order_id)]["trade_state"] == "CLOSED"
    answer = requests.post(f"{platform.wechatpay.url}/_sim/pay", timeout=5,
                           json={"mchid": devenv.DEV_V3_MCHID, "out_trade_no": order_id})
    assert answer.status_code == 400  # the patient's late tap: WeChat refuses
    assert pay(functions, token, order_id)[0] == 409
    # The bill is free for a new order.
    status, again = create_order(functions, token, bill)
    assert status == 201
    assert again["order_id"] != order_id


def test_paid_at_wechat_just_before_expiry_is_taken_as_paid_not_closed(db, platform, functions):
    _, token, bill = patient_with_bill(platform)
    order_id = create_order(functions, token, bill)[1]["order_id"]
    assert pay(functions, token, order_id)[0] == 200
    platform.wechatpay.pay(devenv.DEV_V3_MCHID, order_id, notify=False)  # the notification is lost
    sweep(16)
    row = order_row(order_id)
    assert row.status == "paid"
    assert row.paid_fen == 2500
    assert len(ledger_rows(order_id)) == 1


def test_a_payment_whose_notification_never_came_is_found_by_query(db, platform, functions):
    _, token, bill = patient_with_bill(platform)
    order_id = create_order(functions, token, bill)[1]["order_id"]
    assert pay(functions, token, order_id)[0] == 200
    platform.wechatpay.pay(devenv.DEV_V3_MCHID, order_id, notify=False)
    assert sweep(2)["queried"] >= 1
    assert order_row(order_id).status == "paid"


@pytest.mark.parametrize("body,field", [({"kind": "registration"}, "his_ref"), ({"his_ref": "B1"}, "kind"),
                                        ({"kind": "lab", "his_ref": "B1"}, "kind"),
                                        ({"kind": "registration", "his_ref": "B 1; drop"}, "his_ref"),
                                        ({"kind": "registration", "his_ref": "B1", "amount_fen": 1}, "amount_fen")])
def test_bad_order_input_is_400_naming_the_field(db, platform, functions, body, field):
    _, token, _ = patient_with_bill(platform)
    status, answer = api(functions, "PaymentsApiFunction", "POST", "/payments/orders", token, body)
    assert status == 400
    assert answer["error"]["field"] == field


def test_a_patient_cannot_order_or_see_another_patients_bill_or_order(db, platform, functions):
    _, owner_token, bill = patient_with_bill(platform)
    _, other_token, _ = patient_with_bill(platform)
    status, answer = create_order(functions, other_token, bill)
    assert status == 404
    assert answer["error"]["field"] == "his_ref"
    order_id = create_order(functions, owner_token, bill)[1]["order_id"]
    for method, path, body in (("GET", f"/payments/orders/{order_id}", None),
                               ("POST", f"/payments/orders/{order_id}/pay", {"channel": "wechat"})):
        resource = "/payments/orders/{order_id}" + ("/pay" if method == "POST" else "")
        status, _ = api(functions, "PaymentsApiFunction", method, path, other_token, body, {"order_id": order_id},
                        resource)
        assert status == 404
    assert order_row(order_id).status == "created"


def test_the_demo_data_of_make_run_gives_a_card_holder_with_an_unpaid_bill(db, platform, functions):
    import json

    filled = json.loads(devenv.fill_placeholders(
        '{"token": "${DEV_PAYMENT_PATIENT_TOKEN}", "bill": "${DEV_HIS_BILL_NO}"}'))
    bill = platform.his.bills[filled["bill"]]
    status, order = create_order(functions, filled["token"], bill)
    assert status == 201
    assert order["amount_fen"] == 2500


def test_another_patients_bill_is_not_confirmed_even_by_a_wrong_kind(db, platform, functions):
    _, _, bill = patient_with_bill(platform)
    _, other_token, _ = patient_with_bill(platform)
    status, answer = api(functions, "PaymentsApiFunction", "POST", "/payments/orders", other_token,
                         {"kind": "outpatient", "his_ref": bill["bill_no"]})
    assert status == 404
    assert answer["error"]["field"] == "his_ref"
