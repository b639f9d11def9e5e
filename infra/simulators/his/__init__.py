"""HIS simulator: the hospital information system's gateway (see hospital.adapters.his for the
wire format of every trade code), holding bills and an outpatient department that tests and
`make run` create and steer. Its clock is the movable one of the shared server (`now()`,
`POST /_sim/clock`): holds expire on it and "today" is its date in Asia/Shanghai.

    POST /his/gateway                 every trade code, signed with the shared key
    POST /_sim/bills {"bill_no", "patient_id", "bill_type", "amount": "25.00", "title"}
    POST /_sim/bills/{bill_no}/cancel the bill is withdrawn (a later PAY_CONFIRM is refused)
    GET  /_sim/bills, /_sim/confirmations
    POST /_sim/outpatient/seed {"days": 7, "today": "YYYY-MM-DD"}   departments D001-D003,
                                      doctors DOC001-DOC006, slots DOC001-20261202-0900 ...
    GET  /_sim/outpatient, /_sim/slots?doctor_code=&visit_date=
    POST /_sim/archives {"name", "id_no", "phone", "patient_id", "card_no"}
    POST /_sim/registrations/{reg_no}/seen | /charges | /forget
    POST /_sim/suspensions {"doctor_code", "visit_date", "slot_ids", "reason", "suspension_id"}
    POST /_sim/suspensions/{suspension_id}/repeat   the feed delivers the entry again
    POST /_sim/his/faults {"trade_code", "mode", "count", "seconds"}   one trade code only
    GET  /_sim/holds, /_sim/registrations, /_sim/cancellations, /_sim/bindings
    /_sim/statement-edits (infra.simulators.statement_edits): a day's DAILY_LEDGER drops, changes or
                                      adds entries: {"kind": "payment" | "refund", "bill_no",
                                      "pay_order_no", "transaction_id", "amount" (yuan), "receipt_no",
                                      "channel", "reg_no", "refund_ref", "at" (epoch seconds)}
The daily ledger books a payment when PAY_CONFIRM takes it and a refund when REG_CANCEL cancels
a paid registration, each on the hospital's date of that moment on the simulator's clock.
Faults of the whole gateway (down, slow) through the shared /_sim/faults with path /his/gateway;
an "errcode" fault answers E_SYSTEM (the HIS failing inside).

Run alone: python -m infra.devenv his --port 7004
"""
from infra.simulators.his.server import GATEWAY_PATH, TRADES, HisSimulator, trade_key

__all__ = ["GATEWAY_PATH", "TRADES", "HisSimulator", "trade_key"]
