"""Reuse of the service-account profile in the rescue mini-program (ER8).

A patient registered on the hospital's service account (official account) opens the rescue
mini-program: WeChat gives both identities the same unionid. With the patient's explicit,
recorded consent the mini-program identity joins the service-account user, so there is one
person and one profile (cards, rescue persons, cases) across both entries, and no second
registration. Without consent nothing is linked.

The consent can be withdrawn (PIPL art. 15): the mini-program identity then leaves the
profile again, gets its own retired user back, and takes back exactly the records it brought
(recorded in the consent). What was created while linked stays with the profile: it was
created as that person's profile, and medical records are not split after the fact.

The entries (`status`, `link`, `withdraw`) open one transaction for their service; only after
it commits do the retired user's rights end and the new sessions get issued.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import sqlalchemy as sa

from hospital import audit, settings
from hospital.auth import sessions
from hospital.auth.tokens import Principal
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Conflict, NotFound
from hospital.rescue import case_store
from hospital.rescue.persons import MAX_PERSONS
from hospital.timeutil import utcnow

CONSENT_KIND = "rescue_profile_reuse"


def _profile_owner(conn, principal) -> int | None:
    """The service-account user who is the same person as the caller (same unionid), if any."""
    me = conn.execute(sa.select(t.wechat_identities.c.unionid_hash).where(
        t.wechat_identities.c.user_id == principal.user_id,
        t.wechat_identities.c.app_id == principal.app_id)).scalar_one_or_none()
    if not me:
        return None
    return conn.execute(sa.select(t.wechat_identities.c.user_id).where(
        t.wechat_identities.c.unionid_hash == me,
        t.wechat_identities.c.app_id == settings.WECHAT_OFFICIAL_ACCOUNT_APP_ID.get(),
        t.wechat_identities.c.user_id != principal.user_id)).scalar_one_or_none()


class _Holding(NamedTuple):
    """What a user holds of one kind: the ids, and handing them (all, or `only` some) over."""

    ids_of: Callable  # (conn, user_id) -> ids
    move: Callable  # (conn, from_user_id, to_user_id, only=None) -> how many moved


def _owned_rows(name: str, column: str) -> _Holding:
    """Rows of a table that belong to a user by one column."""
    table = t.metadata.tables[name]

    def ids_of(conn, user_id):
        return list(conn.execute(sa.select(table.c.id).where(table.c[column] == user_id)).scalars())

    def move(conn, from_user_id, to_user_id, only=None):
        query = table.update().where(table.c[column] == from_user_id)
        if only is not None:
            query = query.where(table.c.id.in_(only))
        return conn.execute(query.values({column: to_user_id})).rowcount

    return _Holding(ids_of, move)


# What moves with the mini-program user when it joins the profile, and back on withdrawal,
# under the names the consent records.
_MOVED = (("rescue_persons", _owned_rows("rescue_persons", "owner_user_id")),
          ("rescue_cases", _Holding(case_store.patient_case_ids, case_store.move_patient_cases)),
          ("patient_cards", _owned_rows("patient_cards", "user_id")))


def _active_consent(conn, principal, for_update: bool = False):
    """The caller's consent to reuse the profile in the app they are using now, if in force."""
    c = t.consents.c
    query = sa.select(t.consents).where(c.user_id == principal.user_id, c.kind == CONSENT_KIND,
                                        c.granted_via == (principal.app_id or "unknown"),
                                        c.withdrawn_at.is_(None))
    return conn.execute(query.with_for_update() if for_update else query).first()


# ---- entries: each opens one transaction ----------------------------------------------------

def status(principal) -> dict:
    with transaction() as conn:
        owner, consent = link_status(conn, principal)
    return {"service_account_profile": owner is not None or consent is not None, "linked": consent is not None,
            "consented_at": consent.granted_at.isoformat() if consent else None}


def link(principal) -> dict:
    """Join the caller's mini-program identity to their service-account profile, with consent.
    Returns new sessions for the joined profile (the caller's old user is retired)."""
    with transaction() as conn:
        owner, profile = join_profile(conn, principal, utcnow())
    # The joined user's sessions are revoked: its tokens and live connections end now.
    sessions.rights_ended(principal.user_id)
    return {"linked_to": owner, **sessions.issue(profile)}


def withdraw(principal) -> dict:
    """Withdraw the consent: the caller's identity in this app leaves the profile for its own
    user again, with the records it brought. Returns new sessions for that user."""
    with transaction() as conn:
        done = leave_profile(conn, principal, utcnow())
    sessions.rights_ended(principal.user_id, sessions=done.ended_sessions)
    return {"unlinked_to": done.own_user_id, "returned": done.returned, **sessions.issue(done.restored)}


# ---- services: each takes the caller's connection and opens nothing --------------------------

def link_status(conn, principal) -> tuple:
    """(the service-account user who is the caller, if any; the caller's consent in force, if any)."""
    return _profile_owner(conn, principal), _active_consent(conn, principal)


def join_profile(conn, principal, now) -> tuple[int, Principal]:
    """The mini-program user's records and identity move to the profile, under a recorded
    consent; the user is retired. Returns (the profile's user id, the profile as the caller)."""
    owner = _profile_owner(conn, principal)
    if owner is None:
        raise NotFound("no service-account profile of yours to reuse", field="profile")
    # Both users locked, lowest id first, so two links cannot interleave.
    for user_id in sorted((owner, principal.user_id)):
        conn.execute(sa.select(t.users.c.id).where(t.users.c.id == user_id).with_for_update())
    persons = t.rescue_persons.c
    total = conn.execute(sa.select(sa.func.count()).select_from(t.rescue_persons).where(
        persons.owner_user_id.in_((owner, principal.user_id)), persons.deleted_at.is_(None))).scalar_one()
    if total > MAX_PERSONS:
        raise Conflict(f"together the two profiles have {total} rescue persons; remove some so at most "
                       f"{MAX_PERSONS} remain, then link again", code="rescue_person_limit")
    # Everything of the mini-program user moves to the profile; the identity follows. The ids
    # are kept with the consent so a withdrawal gives back exactly these.
    moved = {}
    for name, rows in _MOVED:
        moved[name] = rows.ids_of(conn, principal.user_id)
        rows.move(conn, principal.user_id, owner)
    conn.execute(t.consents.insert().values(user_id=owner, kind=CONSENT_KIND, granted_at=now,
                                            granted_via=principal.app_id or "unknown",
                                            details={"joined_user_id": principal.user_id, "moved": moved}))
    conn.execute(t.wechat_identities.update().where(t.wechat_identities.c.user_id == principal.user_id)
                 .values(user_id=owner))
    conn.execute(t.refresh_tokens.update().where(t.refresh_tokens.c.user_id == principal.user_id,
                                                 t.refresh_tokens.c.revoked_at.is_(None)).values(revoked_at=now))
    from hospital.auth import access

    access.keep_a_super_admin(conn, principal.user_id)  # a merged account acts no more
    conn.execute(t.users.update().where(t.users.c.id == principal.user_id).values(status="merged"))
    audit.add(conn, principal, "rescue.profile_reuse_consented", "user", str(owner), "ok",
              {"joined_user_id": principal.user_id})
    return owner, sessions.principal_of(conn, owner, principal.app_id)


class Withdrawal(NamedTuple):
    """What a withdrawal did: the user the identity went back to, the records it took back,
    the sessions of this app that ended, and that user as the caller."""

    own_user_id: int
    returned: dict
    ended_sessions: list
    restored: Principal


def leave_profile(conn, principal, now) -> Withdrawal:
    """The consent withdrawn: the identity in this app goes back to its own user, with exactly
    the records it brought, and the profile's sessions opened in this app end."""
    app_id = principal.app_id or "unknown"
    consent = _active_consent(conn, principal, for_update=True)
    if consent is None:
        raise NotFound("there is no consent in force to withdraw", field="consent")
    own = int((consent.details or {})["joined_user_id"])
    for user_id in sorted((own, principal.user_id)):
        conn.execute(sa.select(t.users.c.id).where(t.users.c.id == user_id).with_for_update())
    conn.execute(t.consents.update().where(t.consents.c.id == consent.id).values(withdrawn_at=now))
    conn.execute(t.users.update().where(t.users.c.id == own).values(status="active"))
    conn.execute(t.wechat_identities.update().where(t.wechat_identities.c.user_id == principal.user_id,
                                                    t.wechat_identities.c.app_id == app_id)
                 .values(user_id=own))
    returned = {}
    for name, rows in _MOVED:
        ids = (consent.details.get("moved") or {}).get(name) or []
        returned[name] = rows.move(conn, principal.user_id, own, only=ids) if ids else 0
    # Sessions and live connections opened in this app now belong to the other user: the
    # profile's ones end here.
    in_this_app = (t.refresh_tokens.c.user_id == principal.user_id, t.refresh_tokens.c.app_id == app_id,
                   t.refresh_tokens.c.revoked_at.is_(None))
    ended = list(conn.execute(sa.select(t.refresh_tokens.c.family_id).where(*in_this_app).distinct()).scalars())
    conn.execute(t.refresh_tokens.update().where(*in_this_app).values(revoked_at=now))
    audit.add(conn, principal, "rescue.profile_reuse_withdrawn", "user", str(principal.user_id), "ok",
              {"restored_user_id": own, "returned": returned})
    return Withdrawal(own, returned, ended, sessions.principal_of(conn, own, principal.app_id))
