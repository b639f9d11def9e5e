"""What the rescue-events queue consumer does with each message."""
from __future__ import annotations

import logging

from hospital.rescue import cases

log = logging.getLogger("hospital.rescue")


# Case changes the ED triage system must hear about (ER7): new, location, status.
TRIAGE_WORTHY = {cases.CASE_CREATED, "rescue.location_changed", "rescue.cancelled", "rescue.accepted",
                 "rescue.dispatched", "rescue.completed", "rescue.on_scene", "rescue.left_scene",
                 "rescue.at_hospital", "rescue.handed_over"}


def handle_message(message: dict, record: dict) -> None:
    kind = message.get("type") or ""
    handler = HANDLERS.get(kind)
    if handler is not None:
        handler(message, record)
    if kind in TRIAGE_WORTHY:
        _forward_to_triage(message)
    elif handler is None and not kind.startswith("rescue."):
        log.warning("ignored message of unknown type", extra={"message_type": kind})


def _forward_to_triage(message: dict) -> None:
    """Off the intake path: the triage queue's own consumer pushes, retries and records."""
    from hospital.rescue import triage_link
    from hospital.unit_of_work import unit_of_work

    with unit_of_work() as uow:
        uow.publish("triage", triage_link.MESSAGE, {"case_id": message["data"]["case_id"]})


def _alert(message: dict, record: dict) -> None:
    """A new case goes live to the ED consoles and, through their own queue, to on-duty staff
    by WeChat. The consoles' delivery result is a timeline node, written last: a crash before
    it repeats the pushes (consoles show a case once; staff messages are deduplicated per
    person), never loses them; an alert that reached nobody is visible, not silent."""
    from hospital import live
    from hospital.rescue import notify, visibility
    from hospital.unit_of_work import unit_of_work

    case_id = message["data"]["case_id"]
    with unit_of_work() as uow:
        notify.fan_out(uow, case_id)  # deduplicated per person: safe on every delivery
    if cases.was_alerted(case_id, live.ED_CONSOLE):  # by the intake itself, or an earlier delivery
        log.info("consoles already alerted", extra={"case_id": case_id, "outbox_id": message["message_id"]})
        return
    summary = cases.alert_summary(case_id)
    delivery = live.push(live.ED_CONSOLE, summary)
    cases.record_alerted(case_id, live.ED_CONSOLE, {
        **delivery.counts(), "message_id": message["message_id"],
        "receive_count": int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1)),
    }, visibility.pushed(summary, visibility.ED_ALERT_ROLES, delivery.recipients))
    if delivery.delivered == 0:
        log.warning("new rescue case reached no ED console", extra={"case_id": case_id, **delivery.counts()})


HANDLERS = {cases.CASE_CREATED: _alert}


def handle_notification(message: dict, record: dict) -> None:
    from hospital.rescue import notify

    if message.get("type") != notify.MESSAGE:
        log.warning("ignored message of unknown type", extra={"message_type": message.get("type")})
        return
    notify.send_staff_alert(message["data"]["case_id"], int(message["data"]["user_id"]))


def handle_triage_message(message: dict, record: dict) -> None:
    from hospital.rescue import triage_link

    if message.get("type") != triage_link.MESSAGE:
        log.warning("ignored message of unknown type", extra={"message_type": message.get("type")})
        return
    receives = int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1))
    triage_link.deliver(message["data"]["case_id"], receives)
