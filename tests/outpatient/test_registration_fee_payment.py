"""A hold's registration fee paid through the payments we have: the order is for the hold's
bill (amount from the HIS), and the HIS confirmation that follows the payment completes the
registration; a hold gone before the confirmation is refused by the HIS and the money goes back."""
import datetime as dt
import itertools
import uuid

from hospital.adapters import his
from tests.payments.support import (
    create_order,
    deliver_queued,
    order_row,
    patient_pays,
    patient_with_bill,
    pay,
    wait_status,
)

CST = dt.timezone(dt.timedelta(hours=8))
_id_numbers = itertools.count(1)


def held_slot(platform):
    """(token, hold) of a signed-in patient holding a free slot tomorrow at the platform's HIS."""
    _, token, bill = patient_with_bill(platform)  # a card of a new HIS patient id (its bill stays unused)
    patient_id = bill["patient_id"]
    platform.his.add_archive("张三", f"3101011990010{next(_id_numbers):05d}", "13800138000", patient_id=patient_id)
    tomorrow = dt.datetime.fromtimestamp(platform.his.now(), CST).date() + dt.timedelta(days=1)
    client = his.client()
    # Another doctor each time: one registration per patient, doctor and day, and tests share the HIS.
    for doctor in ("DOC002", "DOC004", "DOC006", "DOC001", "DOC003", "DOC005"):
        free = [slot for slot in client.slots(doctor, tomorrow, tomorrow) if slot.status == "free"]
        if free:
            return token, client.hold_slot(free[0].slot_id, patient_id, uuid.uuid4().hex)
    raise AssertionError("no free slot tomorrow")


def paid_order(platform, functions, hold, token):
    status, order = create_order(functions, token, {"bill_type": "registration", "bill_no": hold.bill_no})
    assert status == 201, order
    assert order["amount_fen"] == hold.fee_fen
    assert pay(functions, token, order["order_id"])[0] == 200
    patient_pays(platform, order["order_id"])
    wait_status(order["order_id"], "paid")
    return order["order_id"]


def test_paying_a_held_slots_fee_books_the_registration(db, platform, functions):
    token, hold = held_slot(platform)
    order_id = paid_order(platform, functions, hold, token)
    deliver_queued(platform, functions, "PaymentEventsQueue", until=lambda: order_row(order_id).status == "confirmed")
    [registration] = [r for r in platform.his.registration_list() if r["bill_no"] == hold.bill_no]
    assert (registration["slot_id"], registration["status"]) == (hold.slot_id, "booked")
    assert platform.his.bills[hold.bill_no]["pay_order_no"] == order_id


def test_a_hold_released_before_the_confirmation_is_refused_and_refunded(db, platform, functions):
    token, hold = held_slot(platform)
    order_id = paid_order(platform, functions, hold, token)
    his.client().release_hold(hold.hold_id)  # the slot is no longer the patient's
    deliver_queued(platform, functions, "PaymentEventsQueue", until=lambda: order_row(order_id).status != "paid")
    row = order_row(order_id)
    assert row.status == "his_failed" and "E_HOLD_EXPIRED" in row.his_error
    deliver_queued(platform, functions, "RefundsQueue", until=lambda: order_row(order_id).status == "refunded")
    assert not [r for r in platform.his.registration_list() if r["bill_no"] == hold.bill_no]
