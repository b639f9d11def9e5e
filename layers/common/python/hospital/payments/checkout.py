"""Paying an order: the patient names a channel (WeChat Pay, medical insurance, credit care);
the registry picks the one that serves the order (for WeChat Pay, by the API its merchant
speaks), and the channel opens the payment. One way to pay at a time: a channel refuses an
order another channel is paying.

`pay` is the entry: it reads the order in a short transaction, and the channel opens the
payment (asking its provider with no transaction open)."""
from __future__ import annotations

from hospital import external_calls
from hospital.db import transaction
from hospital.payments import orders
from hospital.payments.channels import registry
from hospital.payments.channels.base import PayRequest


def pay(principal, order_id: str, *, channel: str, client_ip: str, auth_code: str | None = None) -> dict:
    request = PayRequest(channel=channel, client_ip=client_ip, auth_code=auth_code)
    registry.check_request(request)  # before anything is read: an unknown channel, a missing auth code
    with transaction() as conn:
        row = orders.own(conn, principal, order_id)
    orders.ensure_payable(row, principal)
    with external_calls.concerning(order_id=row.id, user_id=row.user_id):
        return registry.for_payment(request.channel, row).pay(principal, row, request)
