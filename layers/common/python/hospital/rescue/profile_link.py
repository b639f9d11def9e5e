"""Reuse of the service-account profile in the rescue mini-program (ER8).

A patient registered on the hospital's service account (official account) opens the rescue
mini-program: WeChat gives both identities the same unionid. With the patient's explicit,
recorded consent the mini-program identity joins the service-account user, so there is one
person and one profile (cards, rescue persons, cases) across both entries, and no second
registration. Without consent nothing is linked.
"""
from __future__ import annotations

import sqlalchemy as sa

from hospital import audit, config
from hospital.auth import sessions
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Conflict, NotFound
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
        t.wechat_identities.c.app_id == config.env("WECHAT_OFFICIAL_ACCOUNT_APP_ID"),
        t.wechat_identities.c.user_id != principal.user_id)).scalar_one_or_none()


def status(principal) -> dict:
    with transaction() as conn:
        owner = _profile_owner(conn, principal)
    return {"service_account_profile": owner is not None}


def link(principal) -> dict:
    """Join the caller's mini-program identity to their service-account profile, with consent.
    Returns new sessions for the joined profile (the caller's old user is retired)."""
    now = utcnow()
    with transaction() as conn:
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
        conn.execute(t.consents.insert().values(user_id=owner, kind=CONSENT_KIND, granted_at=now,
                                                granted_via=principal.app_id or "unknown",
                                                details={"joined_user_id": principal.user_id}))
        # Everything of the mini-program user moves to the profile; the identity follows.
        for table, column in ((t.rescue_persons, "owner_user_id"), (t.rescue_cases, "patient_user_id"),
                              (t.patient_cards, "user_id"), (t.live_connections, "user_id")):
            conn.execute(table.update().where(table.c[column] == principal.user_id).values({column: owner}))
        conn.execute(t.wechat_identities.update().where(t.wechat_identities.c.user_id == principal.user_id)
                     .values(user_id=owner))
        conn.execute(t.refresh_tokens.update().where(t.refresh_tokens.c.user_id == principal.user_id,
                                                     t.refresh_tokens.c.revoked_at.is_(None)).values(revoked_at=now))
        conn.execute(t.users.update().where(t.users.c.id == principal.user_id).values(status="merged"))
        audit.record(principal, "rescue.profile_reuse_consented", "user", str(owner), "ok",
                     {"joined_user_id": principal.user_id}, conn=conn)
        profile = sessions.principal_of(conn, owner, principal.app_id)
    return {"linked_to": owner, **sessions.issue(profile)}
