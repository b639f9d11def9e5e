"""Alerts of a new case and their delivery results (ER3): what the ED console is shown, the
intake's own push to the consoles, and the `alerted` node each channel records once.

A channel is `ed_console` (the live push) or `wechat:<user id>` (rescue.notify); the node's
dedupe key makes a redelivered or republished message record nothing twice.

`record_alerted` and `was_alerted` work in the caller's transaction; the entries (the intake's
`alert_consoles_now`, the consumers) open one after each push, never around it.
"""
from __future__ import annotations

import logging

from hospital.db import transaction
from hospital.rescue import case_store, views, visibility

log = logging.getLogger("hospital.rescue")


def _dedupe_key(channel: str) -> str:
    return f"alerted:{channel}"


def summary_of(view: dict) -> dict:
    """What the ED console shows for a new case (the console reads the rest over HTTP)."""
    return {"type": "rescue.alert", "case_id": view["case_id"], "source": view["source"], "status": view["status"],
            "created_at": view["created_at"], "location": view["location"], "address_text": view["address_text"],
            "complaint": view["complaint"]}


def alert_summary(case_id: str) -> dict:
    return summary_of(views.load_view(case_id))


def record_alerted(conn, case_id: str, channel: str, details: dict, disclosure=None) -> bool:
    """Note the delivery result of one alert channel, once per case and channel however often
    the message is delivered or republished; in the caller's transaction, with the audit record
    of the personal fields the alert carried to its recipients (a rescue.visibility.Disclosure)."""
    from hospital import metrics
    from hospital.timeutil import utcnow

    if disclosure is not None:
        visibility.record_pushed(conn, case_id, disclosure)
    recorded = case_store.append_node(conn, case_id, "alerted", source=channel, actor_role="system",
                                      details={"channel": channel, **details}, dedupe_key=_dedupe_key(channel))
    if recorded:  # once per case and channel: what the alarms on undelivered and slow alerts count
        metrics.alert_recorded(channel, result_of(details),
                               metrics.latency_ms(case_store.created_at(conn, case_id), utcnow()))
    return recorded


def result_of(details: dict) -> str:
    """A channel's result in a few words: a WeChat message's own (sent, refused, failed), or
    whether the console push reached anyone (delivered, none)."""
    return str(details.get("result") or ("delivered" if details.get("delivered") else "none"))


def was_alerted(conn, case_id: str, channel: str) -> bool:
    return case_store.has_node(conn, case_id, dedupe_key=_dedupe_key(channel))


def alert_consoles_now(case_id: str, summary: dict, consoles: list) -> None:
    """Entry (after the intake's commit): the ED consoles (`live.listeners`, read in the intake's
    transaction) hear of a new case straight from the intake, not a queue hop later; the result
    is recorded once the push is done. Best effort: the rescue-events consumer still alerts (and
    records) any case this missed."""
    from hospital import live

    try:
        delivery = live.deliver(consoles, summary, [live.ED_CONSOLE])
        if delivery.delivered:
            with transaction() as conn:
                record_alerted(conn, case_id, live.ED_CONSOLE, {**delivery.counts(), "path": "intake"},
                               visibility.pushed(summary, visibility.ED_ALERT_ROLES, delivery.recipients))
    except Exception as exc:  # noqa: BLE001 - the case is saved; the consumer is the guarantee
        log.warning("intake alert not pushed", extra={"case_id": case_id, "error": type(exc).__name__})


CASE_CHANGED = "rescue.case_changed"


def tell_consoles(case_id: str, node: str) -> None:
    """Entry (after a step's commit): a hint to the ED consoles that the case moved, so every
    open console updates (an acknowledged case stops ringing on all of them). It names the case
    and the node only, nothing personal: a console reads the case over HTTP. Best effort, like
    every push: a console that missed it catches up over HTTP."""
    from hospital import live

    try:
        live.push(live.ED_CONSOLE, {"type": CASE_CHANGED, "case_id": case_id, "node": node})
    except Exception as exc:  # noqa: BLE001 - the step is committed; a lost hint is caught up over HTTP
        log.warning("case change not pushed", extra={"case_id": case_id, "error": type(exc).__name__})
