"""Credit care (OC1, OC2): the patient enrols with a credit provider by explicit, recorded
consent, sees the limit and status, and may withdraw; registration and outpatient fees are
then paid on credit (the visit goes ahead, a debt is recorded), settled later by the
provider's callback, reversed on refund; an overdue debt is visible to patient and finance.

Paying on credit is the credit channel (hospital.payments.channels.credit), booked like any
payment (ledger channel "credit": the hospital's claim on the provider), so orders, HIS
confirmation, refunds and the ledger check work unchanged. This module keeps the enrolments
and the debts.

The entries (enrol, status, withdraw, the provider's callback, finance's list of debts) open
their own short transactions, never one across a call to the provider; the services take the
caller's connection.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import uuid

import sqlalchemy as sa

from hospital import audit, crypto, external_calls, settings
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Conflict, NotFound, UpstreamUnavailable
from hospital.payments import anomalies
from hospital.timeutil import iso_utc, utcnow

log = logging.getLogger("hospital.payments")
CHANNEL = "credit"  # recorded on orders paid on credit and on their refunds
CONSENT_KIND = "credit_care"
OPEN, OVERDUE, SETTLED, REVERSED = "open", "overdue", "settled", "reversed"


def active_enrolment(conn, user_id: int, for_update: bool = False):
    query = sa.select(t.credit_enrolments).where(t.credit_enrolments.c.active_user_id == user_id)
    return conn.execute(query.with_for_update() if for_update else query).first()


def latest_enrolment(conn, user_id: int):
    """The user's newest enrolment, withdrawn or not: the one a charge was made under."""
    return conn.execute(sa.select(t.credit_enrolments).where(t.credit_enrolments.c.user_id == user_id)
                        .order_by(t.credit_enrolments.c.created_at.desc())).first()


@external_calls.concerning_caller
def enrol(principal, consent_version: str) -> tuple[dict, bool]:
    """Enrol with the patient's consent; enrolling again while enrolled returns the enrolment."""
    from hospital.adapters import credit

    with transaction() as conn:
        existing = active_enrolment(conn, principal.user_id)
    if existing is not None:
        return status(principal), False
    now = utcnow()
    # An opaque member reference: the provider learns no name, phone or id number from us.
    member_ref = crypto.lookup_hash(str(principal.user_id), "credit_member")
    try:
        answer = credit.client().enrol(member_ref, consent_version, iso_utc(now))
    except credit.CreditRefused as exc:
        raise Conflict(f"the credit provider declined the enrolment ({exc.code})", code="credit_declined") from None
    with transaction() as conn:
        record_enrolment(conn, principal, consent_version, answer, now)
    return status(principal), True


def record_enrolment(conn, principal, consent_version: str, answer: dict, now) -> None:
    """The provider enrolled the patient: their consent, the enrolment and its audit record."""
    consent_id = conn.execute(t.consents.insert().values(
        user_id=principal.user_id, kind=CONSENT_KIND, granted_at=now, granted_via=principal.app_id or "unknown",
        details={"consent_version": consent_version})).inserted_primary_key[0]
    try:
        conn.execute(t.credit_enrolments.insert().values(
            id=uuid.uuid4().hex, user_id=principal.user_id, active_user_id=principal.user_id,
            provider_enrolment_id=answer["enrolment_id"], status="active", limit_fen=int(answer["limit_fen"]),
            consent_id=consent_id, created_at=now, updated_at=now))
    except sa.exc.IntegrityError:
        raise Conflict("an enrolment was made at the same moment; read it again", code="already_enrolled") from None
    audit.add(conn, principal, "credit.enrolled", "user", str(principal.user_id), "ok",
              {"consent_version": consent_version, "limit_fen": int(answer["limit_fen"])})


@external_calls.concerning_caller
def status(principal) -> dict:
    from hospital.adapters import credit

    with transaction() as conn:
        enrolment = active_enrolment(conn, principal.user_id)
        debts = conn.execute(sa.select(t.credit_debts).where(t.credit_debts.c.user_id == principal.user_id)
                             .order_by(t.credit_debts.c.created_at.desc()).limit(50)).all()
    if enrolment is None:
        return {"enrolled": False, "debts": [debt_view(d) for d in debts]}
    live = {}
    try:
        live = credit.client().enrolment(enrolment.provider_enrolment_id)
    except (UpstreamUnavailable, credit.CreditRefused):
        log.warning("credit provider status unavailable", extra={"enrolment_id": enrolment.id})
    return {"enrolled": True, "enrolment_id": enrolment.id, "status": live.get("status", enrolment.status),
            "limit_fen": int(live.get("limit_fen", enrolment.limit_fen)),
            "available_fen": live.get("available_fen"), "overdue_fen": live.get("overdue_fen"),
            "enrolled_at": iso_utc(enrolment.created_at), "debts": [debt_view(d) for d in debts]}


@external_calls.concerning_caller
def withdraw(principal) -> dict:
    from hospital.adapters import credit

    with transaction() as conn:
        enrolment = active_enrolment(conn, principal.user_id)
    if enrolment is None:
        raise NotFound("you are not enrolled in credit care", field="enrolment")
    try:
        credit.client().withdraw(enrolment.provider_enrolment_id)
    except credit.CreditRefused as exc:
        if exc.code == "E_OUTSTANDING_DEBT":
            raise Conflict("settle the outstanding credit-care debt before withdrawing",
                           code="outstanding_debt") from None
        raise UpstreamUnavailable(f"the credit provider refused the withdrawal ({exc.code})") from None
    now = utcnow()
    with transaction() as conn:
        record_withdrawal(conn, principal, enrolment, now)
    return {"enrolled": False, "withdrawn_at": iso_utc(now)}


def record_withdrawal(conn, principal, enrolment, now) -> None:
    """The provider let the patient go: the enrolment and the consent end, audited."""
    conn.execute(t.credit_enrolments.update().where(t.credit_enrolments.c.id == enrolment.id).values(
        status="withdrawn", active_user_id=None, withdrawn_at=now, updated_at=now))
    conn.execute(t.consents.update().where(t.consents.c.id == enrolment.consent_id).values(withdrawn_at=now))
    audit.add(conn, principal, "credit.withdrawn", "user", str(principal.user_id), "ok")


def record_debt(conn, order, enrolment, charge_id: str, due: str | None, now) -> None:
    """The debt of an order just paid on credit, in the transaction that made it paid."""
    conn.execute(t.credit_debts.insert().values(
        order_id=order.id, enrolment_id=enrolment.id, user_id=order.user_id, charge_id=charge_id,
        amount_fen=order.amount_fen, status=OPEN, due_date=dt.date.fromisoformat(due) if due else None,
        created_at=now, updated_at=now))


def on_refunded(conn, order_id: str, amount_fen: int, now) -> None:
    """A refund of a credit order succeeded: the debt shrinks (and is gone when all is back)."""
    debt = conn.execute(sa.select(t.credit_debts).where(t.credit_debts.c.order_id == order_id)
                        .with_for_update()).first()
    if debt is None:
        return
    reversed_fen = debt.reversed_fen + amount_fen
    conn.execute(t.credit_debts.update().where(t.credit_debts.c.order_id == order_id).values(
        reversed_fen=reversed_fen, status=REVERSED if reversed_fen >= debt.amount_fen else debt.status,
        updated_at=now))


def handle_callback(headers: dict, body: bytes) -> tuple[int, dict]:
    """The provider's settlement and overdue callbacks: verified, applied once."""
    from hospital import config
    from hospital.adapters import credit

    try:
        credit.verify_callback(headers, body, config.secret_value(settings.CREDIT_SECRET_ARN, "api_key"))
        event = json.loads(body)
        kind, charge_no = str(event["event"]), str(event["charge_no"])
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("credit callback refused", extra={"reason": str(exc)[:80]})
        return 401, {"code": "FAIL", "message": "verification failed"}
    with transaction() as conn:
        known = take_debt_news(conn, kind, charge_no, event, utcnow())
    if known:
        log.info("credit callback", extra={"event": kind[:32], "order_id": charge_no[:64]})
    return 200, {"code": "SUCCESS"}


def take_debt_news(conn, kind: str, charge_no: str, event: dict, now) -> bool:
    """A debt settled or overdue, applied once under the debt's row lock; news of a charge we
    do not know goes to finance (and False is returned)."""
    debt = conn.execute(sa.select(t.credit_debts).where(t.credit_debts.c.order_id == charge_no)
                        .with_for_update()).first()
    if debt is None:
        anomalies.record(conn, source="credit", reason="unknown_credit_charge", order_id=charge_no[:64],
                         amount_fen=event.get("settled_fen") if isinstance(event.get("settled_fen"), int) else None,
                         dedupe_key=f"credit:unknown:{charge_no}:{kind}")
        return False
    if kind == "charge.settled" and debt.status in (OPEN, OVERDUE):
        conn.execute(t.credit_debts.update().where(t.credit_debts.c.order_id == charge_no).values(
            status=SETTLED, settled_by=str(event.get("settled_by") or "patient")[:16], settled_at=now,
            updated_at=now))
    elif kind == "charge.overdue" and debt.status == OPEN:
        conn.execute(t.credit_debts.update().where(t.credit_debts.c.order_id == charge_no).values(
            status=OVERDUE, updated_at=now))
    return True


def debts_for_finance(principal, status_filter: str | None, limit: int) -> dict:
    query = sa.select(t.credit_debts).order_by(t.credit_debts.c.updated_at.desc()).limit(limit)
    if status_filter:
        query = query.where(t.credit_debts.c.status == status_filter)
    with transaction() as conn:
        rows = conn.execute(query).all()
        audit.add(conn, principal, "credit.debts_viewed", "report", None, "ok",
                  {"status": status_filter, "count": len(rows)})
    return {"items": [{**debt_view(r), "user_id": r.user_id} for r in rows]}


def debt_view(row) -> dict:
    return {"order_id": row.order_id, "amount_fen": row.amount_fen, "reversed_fen": row.reversed_fen,
            "status": row.status, "due_date": row.due_date.isoformat() if row.due_date else None,
            "settled_by": row.settled_by, "settled_at": iso_utc(row.settled_at), "created_at": iso_utc(row.created_at)}
