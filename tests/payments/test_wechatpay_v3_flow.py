"""Paying a registration with WeChat Pay v3 end to end through the simulator: order against
the HIS bill, prepay with signed wx.requestPayment parameters, the signed and encrypted
notification applied once, the HIS confirmation, the ledger (OC1-OC2 money side, OP2)."""
import base64

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from infra import devenv
from tests.payments.support import (
    create_order,
    deliver_queued,
    ledger_rows,
    order_row,
    patient_pays,
    patient_with_bill,
    pay,
    sim,
    wait_status,
)


def test_a_registration_is_paid_confirmed_with_the_his_and_booked_once_OP2(db, platform, functions):
    _, token, bill = patient_with_bill(platform, amount="25.00")
    status, order = create_order(functions, token, bill)
    assert status == 201
    assert order["amount_fen"] == 2500
    assert order["status"] == "created"
    # Asking again for the same bill returns the same open order: one bill, one order.
    assert create_order(functions, token, bill) == (200, order)

    status, paying = pay(functions, token, order["order_id"])
    assert status == 200, paying
    params = paying["request_payment"]
    assert params["signType"] == "RSA"
    assert params["package"].startswith("prepay_id=")
    # paySign verifies with the merchant's public key over appId, timeStamp, nonceStr, package.
    message = f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n".encode()
    devenv.wechatpay_dev_keys()["merchant_key"].public_key().verify(
        base64.b64decode(params["paySign"]), message, padding.PKCS1v15(), hashes.SHA256())
    # A second tap re-signs the same prepay instead of opening another payment.
    assert pay(functions, token, order["order_id"])[1]["request_payment"]["package"] == params["package"]

    patient_pays(platform, order["order_id"])
    wait_status(order["order_id"], "paid")
    row = order_row(order["order_id"])
    assert row.paid_fen == 2500
    assert row.transaction_id.startswith("42000")
    deliver_queued(platform, functions, "PaymentEventsQueue",
                   until=lambda: order_row(order["order_id"]).status == "confirmed")
    assert platform.his.bills[bill["bill_no"]]["status"] == "paid"
    entries = ledger_rows(order["order_id"])
    assert [(e.entry_type, e.channel, e.amount_fen) for e in entries] == [("payment", "wechat", 2500)]
    # Paying again is refused, and the bill cannot get a second order while this one is open.
    assert pay(functions, token, order["order_id"])[0] == 409
    notified = [n for n in sim(platform, "/_sim/notifications") if n["key"] == order["order_id"]]
    assert notified
    assert notified[-1]["accepted"] is True
    assert notified[-1]["status"] == 204
