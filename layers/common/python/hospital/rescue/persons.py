""""My rescue persons" (ER10): at most MAX_PERSONS per patient, personal data encrypted.

The entries seal before and decrypt after their one transaction (no lock held over a KMS
call); the services in between take the caller's connection and open nothing."""
from __future__ import annotations

import uuid

import sqlalchemy as sa

from hospital import crypto
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Conflict, NotFound
from hospital.rescue import visibility
from hospital.timeutil import iso_utc, utcnow

MAX_PERSONS = 10


def _ctx(person_id: str, column: str) -> str:
    return f"rescue_persons.{column}:{person_id}"


def _sealed(person_id: str, person) -> dict:
    return {
        "name_enc": crypto.encrypt(person.name, _ctx(person_id, "name")),
        "phone_enc": crypto.encrypt(person.phone, _ctx(person_id, "phone")) if person.phone else None,
        "phone_hash": crypto.lookup_hash(person.phone, "phone") if person.phone else None,
        "notes_enc": crypto.encrypt(person.notes, _ctx(person_id, "notes")) if person.notes else None,
        "relation": person.relation,
    }


# ---- entries: each opens one transaction --------------------------------------------------

def create(principal, person) -> dict:
    person_id = uuid.uuid4().hex
    sealed = _sealed(person_id, person)  # before the transaction: no lock held during KMS
    with transaction() as conn:
        add_person(conn, principal, person_id, sealed, utcnow())
    return get(principal, person_id)


def update(principal, person_id: str, person) -> dict:
    sealed = _sealed(person_id, person)
    with transaction() as conn:
        changed = change_person(conn, principal, person_id, sealed, utcnow())
    if not changed:
        raise NotFound("no such rescue person", field="person_id")
    return get(principal, person_id)


def delete(principal, person_id: str) -> None:
    """Soft delete: past cases still name the person they were for."""
    with transaction() as conn:
        changed = remove_person(conn, principal, person_id, utcnow())
    if not changed:
        raise NotFound("no such rescue person", field="person_id")


def get(principal, person_id: str) -> dict:
    with transaction() as conn:
        row = read_own(conn, principal, person_id)
    return _view(row)


def list_own(principal) -> list[dict]:
    with transaction() as conn:
        rows = read_all_own(conn, principal)
    return [_view(r) for r in rows]


# ---- services: each takes the caller's connection and opens nothing --------------------------

def add_person(conn, principal, person_id: str, sealed: dict, now) -> None:
    # The owner's row is the lock: two concurrent adds cannot both see 9 and make 11.
    conn.execute(sa.select(t.users.c.id).where(t.users.c.id == principal.user_id).with_for_update())
    count = conn.execute(sa.select(sa.func.count()).select_from(t.rescue_persons).where(
        t.rescue_persons.c.owner_user_id == principal.user_id,
        t.rescue_persons.c.deleted_at.is_(None))).scalar_one()
    if count >= MAX_PERSONS:
        raise Conflict(f"you already have {MAX_PERSONS} rescue persons, the most allowed; "
                       "remove one before adding another", code="rescue_person_limit")
    conn.execute(t.rescue_persons.insert().values(
        id=person_id, owner_user_id=principal.user_id, created_at=now, updated_at=now, **sealed))


def change_person(conn, principal, person_id: str, sealed: dict, now) -> bool:
    """False if the caller has no such person."""
    return bool(conn.execute(t.rescue_persons.update().where(*_own(principal, person_id))
                             .values(updated_at=now, **sealed)).rowcount)


def remove_person(conn, principal, person_id: str, now) -> bool:
    """False if the caller has no such person."""
    return bool(conn.execute(t.rescue_persons.update().where(*_own(principal, person_id))
                             .values(deleted_at=now)).rowcount)


def read_own(conn, principal, person_id: str):
    """The caller's person (still sealed), its reading audited; 404 for anyone else's."""
    row = conn.execute(sa.select(t.rescue_persons).where(*_own(principal, person_id))).first()
    if row is None:
        raise NotFound("no such rescue person", field="person_id")
    visibility.record_own(conn, principal, "rescue_person", row.id, _fields(row))
    return row


def read_all_own(conn, principal) -> list:
    """The caller's persons (still sealed), oldest first, their reading audited."""
    rows = conn.execute(sa.select(t.rescue_persons).where(
        t.rescue_persons.c.owner_user_id == principal.user_id, t.rescue_persons.c.deleted_at.is_(None))
        .order_by(t.rescue_persons.c.created_at, t.rescue_persons.c.id)).all()
    if rows:
        fields = sorted({name for row in rows for name in _fields(row)})
        visibility.record_own(conn, principal, "rescue_person", None, fields, targets=[r.id for r in rows])
    return list(rows)


def _fields(row) -> list[str]:
    """The personal fields a rescue person's view carries."""
    return [name for name, blob in (("name", row.name_enc), ("phone", row.phone_enc), ("notes", row.notes_enc))
            if blob is not None]


def _own(principal, person_id: str):
    return (t.rescue_persons.c.id == person_id, t.rescue_persons.c.owner_user_id == principal.user_id,
            t.rescue_persons.c.deleted_at.is_(None))


def _view(row) -> dict:
    return {
        "person_id": row.id,
        "name": crypto.decrypt_text(row.name_enc, _ctx(row.id, "name")),
        "relation": row.relation,
        "phone": crypto.decrypt_text(row.phone_enc, _ctx(row.id, "phone")),
        "notes": crypto.decrypt_text(row.notes_enc, _ctx(row.id, "notes")),
        "created_at": iso_utc(row.created_at),
        "updated_at": iso_utc(row.updated_at),
    }
