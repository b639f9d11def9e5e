"""Hospital cards, the start of every outpatient flow: a patient binds one after the HIS found
their archive by name, identity card number and phone (all three must match), unbinds it,
and holds at most MAX_CARDS_PER_USER bound. A card is bound to one WeChat user at a time
(`bound_card_hash`, unique while bound), so a card bound to someone else is refused.

What the archive was found by is kept encrypted (hospital.crypto), the identity card number
also as a lookup hash. The HIS is asked, and told of the binding, with no transaction open;
each entry's own writes are one transaction, sealed before it and opened after it.
"""
from __future__ import annotations

import logging
import uuid

import sqlalchemy as sa

from hospital import crypto, external_calls, settings
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Conflict, NotFound, UpstreamUnavailable
from hospital.outpatient import his_answers, registrations
from hospital.outpatient import registration_rules as rules
from hospital.timeutil import iso_utc, utcnow

log = logging.getLogger("hospital.outpatient")


def _ctx(card_id: str, column: str) -> str:
    return f"patient_cards.{column}:{card_id}"


def identity_of(card) -> tuple[str | None, str | None]:
    """(ID number, phone) a card was bound with, decrypted; None where the card holds none."""
    id_no = crypto.decrypt_text(card.id_no_enc, _ctx(card.id, "id_no")) if card.id_no_enc else None
    phone = crypto.decrypt_text(card.phone_enc, _ctx(card.id, "phone")) if card.phone_enc else None
    return id_no, phone


def _channel_user(principal) -> str:
    # Our user id, not the openid: the HIS needs to tell our users apart, not WeChat's.
    return f"user:{principal.user_id}"


# ---- entries ------------------------------------------------------------------------------

@external_calls.concerning_caller
def bind(principal, binding) -> tuple[dict, bool]:
    """Bind the card of the HIS archive `binding` (name, id_no, phone) names. Returns (card,
    created); binding a card the caller already holds returns it unchanged."""
    from hospital.adapters import his

    hospital = his.client()
    archive = his_answers.ask(lambda: hospital.find_archive(binding.name, binding.id_no, binding.phone),
                              "the archive lookup", {
        "E_NO_ARCHIVE": NotFound("the hospital has no record with this identity card number; please register at a "
                                 "hospital window first", field="id_no", code="no_archive"),
        "E_ARCHIVE_MISMATCH": Conflict("the name or phone number does not match the hospital's record", field="name",
                                       code="archive_mismatch")})
    card_hash = crypto.lookup_hash(archive.card_no, "card_no")
    with transaction() as conn:
        held, earlier_id = _bindable(conn, principal, card_hash)
    if held is not None:
        return _view(held), False
    his_answers.ask(lambda: hospital.bind_card(archive.patient_id, archive.card_no, _channel_user(principal)),
                    "to bind the card", {  # E_NO_ARCHIVE: the archive it just found is not one it will bind
        "E_NO_ARCHIVE": Conflict("the hospital would not bind this card; please ask at a hospital window",
                                 field="id_no", code="card_not_bindable")})
    # The same card bound once and unbound since keeps its row (and id): sealed for that id.
    card_id = earlier_id or uuid.uuid4().hex
    sealed = {"card_no_enc": crypto.encrypt(archive.card_no, _ctx(card_id, "card_no")),
              "name_enc": crypto.encrypt(binding.name, _ctx(card_id, "name")),
              "id_no_enc": crypto.encrypt(binding.id_no, _ctx(card_id, "id_no")),
              "id_no_hash": crypto.lookup_hash(binding.id_no, "id_number"),
              "phone_enc": crypto.encrypt(binding.phone, _ctx(card_id, "phone"))}
    try:
        with transaction() as conn:
            row = _bind(conn, principal, card_id, archive.patient_id, card_hash, sealed)
    except Conflict:
        _tell_his_unbound(archive.patient_id, archive.card_no, principal)  # ours lost a race: undo theirs
        raise
    return _view(row), True


@external_calls.concerning_caller
def unbind(principal, card_id: str) -> None:
    with transaction() as conn:
        card = conn.execute(sa.select(t.patient_cards).where(
            t.patient_cards.c.id == card_id, t.patient_cards.c.user_id == principal.user_id,
            t.patient_cards.c.unbound_at.is_(None)).with_for_update()).first()
        if card is None:
            raise NotFound("no such card bound to you", field="card_id")
        if _has_live_registration(conn, card_id):
            raise Conflict("this card has a registration that is not over; cancel it or wait until it is",
                           field="card_id", code="card_has_registrations")
        conn.execute(t.patient_cards.update().where(t.patient_cards.c.id == card_id).values(
            unbound_at=utcnow(), bound_card_hash=None))
    card_no = crypto.decrypt_text(card.card_no_enc, _ctx(card_id, "card_no"))
    _tell_his_unbound(card.his_patient_id, card_no or "", principal)


def list_own(principal) -> list[dict]:
    with transaction() as conn:
        rows = conn.execute(sa.select(t.patient_cards).where(
            t.patient_cards.c.user_id == principal.user_id, t.patient_cards.c.unbound_at.is_(None))
            .order_by(t.patient_cards.c.created_at)).all()
    return [_view(row) for row in rows]


def bound_card(conn, principal, card_id: str):
    """In the caller's transaction: the caller's bound card `card_id`, or NotFound."""
    card = conn.execute(sa.select(t.patient_cards).where(
        t.patient_cards.c.id == card_id, t.patient_cards.c.user_id == principal.user_id,
        t.patient_cards.c.unbound_at.is_(None))).first()
    if card is None:
        raise NotFound("no such card bound to you", field="card_id")
    return card


# ---- in the caller's transaction ----------------------------------------------------------

def _bindable(conn, principal, card_hash: str):
    """(the caller's bound card with this number or None, the id of the caller's unbound row of
    this card or None), after refusing what cannot be bound: a card bound to another user, one
    card too many."""
    bound = conn.execute(sa.select(t.patient_cards).where(t.patient_cards.c.bound_card_hash == card_hash)).first()
    if bound is not None:
        if bound.user_id == principal.user_id:
            return bound, None
        raise Conflict("this hospital card is bound to another WeChat user; it must be unbound there first",
                       field="id_no", code="card_bound_elsewhere")
    _refuse_one_too_many(conn, principal)
    earlier = conn.execute(sa.select(t.patient_cards.c.id).where(
        t.patient_cards.c.user_id == principal.user_id, t.patient_cards.c.card_no_hash == card_hash)).first()
    return None, earlier.id if earlier else None


def _refuse_one_too_many(conn, principal) -> None:
    limit = settings.MAX_CARDS_PER_USER.get()
    count = conn.execute(sa.select(sa.func.count()).select_from(t.patient_cards).where(
        t.patient_cards.c.user_id == principal.user_id, t.patient_cards.c.unbound_at.is_(None))).scalar_one()
    if count >= limit:
        raise Conflict(f"at most {limit} hospital cards can be bound; unbind one first", code="card_limit")


def _bind(conn, principal, card_id: str, his_patient_id: str, card_hash: str, sealed: dict):
    # The user's row, locked: two bindings of one user at once are counted one after the other.
    conn.execute(sa.select(t.users.c.id).where(t.users.c.id == principal.user_id).with_for_update())
    held, earlier_id = _bindable(conn, principal, card_hash)
    if held is not None:
        return held
    if earlier_id is not None and earlier_id != card_id:  # unbound since we sealed: sealed for another id
        raise Conflict("the card changed while it was being bound; try again", code="card_changed")
    try:
        if earlier_id is not None:
            # A new binding of the same card: its time is when consents for the card can start.
            conn.execute(t.patient_cards.update().where(t.patient_cards.c.id == card_id).values(
                his_patient_id=his_patient_id, bound_card_hash=card_hash, unbound_at=None, created_at=utcnow(),
                **sealed))
        else:
            conn.execute(t.patient_cards.insert().values(
                id=card_id, user_id=principal.user_id, his_patient_id=his_patient_id, card_no_hash=card_hash,
                bound_card_hash=card_hash, created_at=utcnow(), **sealed))
    except sa.exc.IntegrityError:
        raise Conflict("this hospital card was bound to another WeChat user at the same moment",
                       field="id_no", code="card_bound_elsewhere") from None
    return conn.execute(sa.select(t.patient_cards).where(t.patient_cards.c.id == card_id)).one()


def _has_live_registration(conn, card_id: str) -> bool:
    """A registration of the card not over yet: its visit still to come (a past visit's stays
    booked for good, and must not keep the card bound)."""
    now = utcnow()
    return any(rules.holds_its_place(row.status, row.order_status, row.updated_at, now)
               for row in registrations.live_candidates(conn, t.registrations.c.card_id == card_id,
                                                        t.registrations.c.visit_date >= rules.hospital_day(now)))


def _tell_his_unbound(his_patient_id: str, card_no: str, principal) -> None:
    from hospital.adapters import his

    try:
        his.client().unbind_card(his_patient_id, card_no, _channel_user(principal))
    except (his.HisRefused, UpstreamUnavailable) as exc:
        # Ours is what counts (nothing is booked on a card we do not hold bound); the HIS's
        # record of the channel is informational, and a later bind sets it again.
        log.warning("the HIS was not told of an unbinding", extra={"error": str(exc)[:200]})


def _view(card) -> dict:
    name = crypto.decrypt_text(card.name_enc, _ctx(card.id, "name")) if card.name_enc else None
    card_no = crypto.decrypt_text(card.card_no_enc, _ctx(card.id, "card_no")) or ""
    return {"card_id": card.id, "card_no": "*" * max(0, len(card_no) - 4) + card_no[-4:],
            "name": (name[0] + "*" * (len(name) - 1)) if name else None,
            "bound_at": iso_utc(card.created_at)}
