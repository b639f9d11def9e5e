"""What the rescue queues' consumers do with each message. Each handler is an entry: it opens
the transactions its step needs (none open during a push) and the services take them."""
from __future__ import annotations

import logging

from hospital import external_calls
from hospital.messaging import Consumer, Delivery
from hospital.rescue import messages

log = logging.getLogger("hospital.rescue")


def _on_rescue_event(message: messages.RescueEvent, delivery: Delivery) -> None:
    """One transaction takes what the message sets off (staff fan-out, the triage forward),
    so they are relayed together on its commit."""
    from hospital import live
    from hospital.rescue import alerts, notify
    from hospital.unit_of_work import unit_of_work

    created = isinstance(message, messages.CaseCreated)
    consoles_alerted = False
    with unit_of_work() as uow:
        if created:
            notify.fan_out(uow, message.case_id)  # deduplicated per person: safe on every delivery
            # By the intake, or an earlier delivery of this message.
            consoles_alerted = alerts.was_alerted(uow.conn, message.case_id, live.ED_CONSOLE)
        if message.to_triage:
            _forward_to_triage(uow, message.case_id)
    if not created:
        return
    if consoles_alerted:
        log.info("consoles already alerted", extra={"case_id": message.case_id, "outbox_id": delivery.message_id})
        return
    _alert_consoles(message.case_id, delivery)


def _forward_to_triage(uow, case_id: str) -> None:
    """Off the intake path: the triage queue's own consumer pushes, retries and records."""
    uow.publish(messages.TriageCaseChanged(case_id=case_id))


def _alert_consoles(case_id: str, delivery: Delivery) -> None:
    """A new case the intake could not show goes live to the ED consoles (on-duty staff hear
    of it by WeChat through their own queue). The consoles' delivery result is a timeline node,
    written last: a crash before it repeats the pushes (consoles show a case once; staff
    messages are deduplicated per person), never loses them; an alert that reached nobody is
    visible, not silent. No transaction is open during the push."""
    from hospital import live
    from hospital.db import transaction
    from hospital.rescue import alerts, visibility

    summary = alerts.alert_summary(case_id)
    delivery_result = live.push(live.ED_CONSOLE, summary)
    with transaction() as conn:
        alerts.record_alerted(conn, case_id, live.ED_CONSOLE, {
            **delivery_result.counts(), "message_id": delivery.message_id, "receive_count": delivery.receive_count,
        }, visibility.pushed(summary, visibility.ED_ALERT_ROLES, delivery_result.recipients))
    if delivery_result.delivered == 0:
        log.warning("new rescue case reached no ED console", extra={"case_id": case_id, **delivery_result.counts()})


def _send_staff_alert(message: messages.StaffAlert, delivery: Delivery) -> None:
    from hospital.rescue import notify

    # The case's, not the staff member's: a user id in the record is the patient's.
    with external_calls.concerning(case_id=message.case_id):
        notify.send_staff_alert(message.case_id, message.user_id, delivery.receive_count)


def _push_to_triage(message: messages.TriageCaseChanged, delivery: Delivery) -> None:
    from hospital.rescue import triage_link

    with external_calls.concerning(case_id=message.case_id):
        triage_link.deliver(message.case_id, delivery.receive_count)


RESCUE_EVENTS = Consumer(messages.RESCUE_EVENTS, {
    cls: _on_rescue_event
    for cls in (messages.CaseCreated, messages.LocationChanged, messages.Dispatched, messages.CaseChanged)})
NOTIFICATIONS = Consumer(messages.NOTIFICATIONS, {messages.StaffAlert: _send_staff_alert})
TRIAGE = Consumer(messages.TRIAGE, {messages.TriageCaseChanged: _push_to_triage})
