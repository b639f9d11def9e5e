"""Reuse of the service-account profile in the rescue mini-program by explicit, recorded
consent: one person, one profile across both entries, no second registration (ER8)."""
import uuid

import sqlalchemy as sa

from hospital.auth import sessions
from hospital.db import engine, tables
from tests.conftest import api_event, call

LOCATION = {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "gcj02"}


def api(functions, token, method, path, body=None):
    return call(functions, "RescueApiFunction", api_event(method, path, body=body, token=token))


def same_person(platform):
    """Registered on the service account; now opens the rescue mini-program (same unionid)."""
    unionid = f"u-{uuid.uuid4().hex[:10]}"
    account = sessions.sign_in_identity(platform.official_account_app_id, f"o-oa-{unionid}", unionid)
    mini = sessions.sign_in_identity(platform.mini_program_app_id, f"o-mp-{unionid}", unionid)
    return account, mini, unionid


def test_profile_is_reused_only_with_explicit_consent_and_the_consent_is_recorded_ER8(db, platform, functions):
    account, mini, unionid = same_person(platform)
    token = mini["access_token"]
    assert mini["user"]["id"] != account["user"]["id"]  # nothing linked without consent
    assert api(functions, token, "GET", "/rescue/profile-link")[1] == {
        "service_account_profile": True, "linked": False, "consented_at": None}
    api(functions, token, "POST", "/rescue/persons", {"name": "王秀英", "relation": "parent"})
    case_id = api(functions, token, "POST", "/rescue/cases", {"location": LOCATION})[1]["case_id"]
    for body in ({}, {"consent": False}, {"consent": "yes"}):
        status, answer = api(functions, token, "POST", "/rescue/profile-link", body)
        assert status == 400
        assert answer["error"]["field"] == "consent"

    status, linked = api(functions, token, "POST", "/rescue/profile-link", {"consent": True})
    assert status == 200
    assert linked["linked_to"] == account["user"]["id"]
    profile_token = linked["access_token"]
    # One person, one profile: the case and the rescue person made before now belong to it.
    assert api(functions, profile_token, "GET", "/rescue/cases")[1]["items"][0]["case_id"] == case_id
    assert [p["name"] for p in api(functions, profile_token, "GET", "/rescue/persons")[1]["items"]] == ["王秀英"]
    # Signing in to the mini-program again lands on the same profile: no second registration.
    again = sessions.sign_in_identity(platform.mini_program_app_id, f"o-mp-{unionid}", unionid)
    assert again["user"]["id"] == account["user"]["id"]
    with engine().connect() as conn:
        consent = conn.execute(
            sa.select(tables.consents).where(tables.consents.c.user_id == account["user"]["id"])).one()
        retired = conn.execute(
            sa.select(tables.users.c.status).where(tables.users.c.id == mini["user"]["id"])).scalar_one()
    assert consent.kind == "rescue_profile_reuse"
    assert consent.granted_via == platform.mini_program_app_id
    assert retired == "merged"
    linked_status = api(functions, profile_token, "GET", "/rescue/profile-link")[1]
    assert linked_status["linked"] is True
    assert linked_status["consented_at"]


def test_without_a_service_account_profile_there_is_nothing_to_link_ER8(db, platform, functions):
    mini = sessions.sign_in_identity(platform.mini_program_app_id, f"o-mp-{uuid.uuid4().hex[:8]}", None)
    assert api(functions, mini["access_token"], "GET", "/rescue/profile-link")[1] == {
        "service_account_profile": False, "linked": False, "consented_at": None}
    status, body = api(functions, mini["access_token"], "POST", "/rescue/profile-link", {"consent": True})
    assert status == 404
    assert body["error"]["field"] == "profile"


def test_linking_may_not_exceed_ten_rescue_persons_ER8_ER10(db, platform, functions):
    account, mini, _ = same_person(platform)
    for n in range(6):
        assert api(functions, account["access_token"], "POST", "/rescue/persons",
                   {"name": f"a{n}", "relation": "other"})[0] == 201
        assert api(functions, mini["access_token"], "POST", "/rescue/persons",
                   {"name": f"m{n}", "relation": "other"})[0] == 201
    status, body = api(functions, mini["access_token"], "POST", "/rescue/profile-link", {"consent": True})
    assert status == 409
    assert body["error"]["code"] == "rescue_person_limit"
    with engine().connect() as conn:  # nothing moved, nothing recorded
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.consents)
                            .where(tables.consents.c.user_id == account["user"]["id"])).scalar_one() == 0


def test_withdrawing_the_consent_gives_the_mini_program_its_own_records_back_and_is_recorded_ER8(
        db, platform, functions):
    account, mini, unionid = same_person(platform)
    api(functions, account["access_token"], "POST", "/rescue/persons", {"name": "张伟", "relation": "spouse"})
    api(functions, mini["access_token"], "POST", "/rescue/persons", {"name": "王秀英", "relation": "parent"})
    brought = api(functions, mini["access_token"], "POST", "/rescue/cases", {"location": LOCATION})[1]["case_id"]
    linked = api(functions, mini["access_token"], "POST", "/rescue/profile-link", {"consent": True})[1]
    profile_token = linked["access_token"]
    api(functions, profile_token, "POST", f"/rescue/cases/{brought}/cancel", {"reason": "other"})
    while_linked = api(functions, profile_token, "POST", "/rescue/cases", {"location": LOCATION})[1]["case_id"]

    status, withdrawn = api(functions, profile_token, "DELETE", "/rescue/profile-link")
    assert status == 200
    assert withdrawn["unlinked_to"] == mini["user"]["id"]
    assert withdrawn["returned"] == {"rescue_persons": 1, "rescue_cases": 1, "patient_cards": 0}
    own_token = withdrawn["access_token"]
    # The mini-program has its own records back; what was made while linked stays with the profile.
    assert [c["case_id"] for c in api(functions, own_token, "GET", "/rescue/cases")[1]["items"]] == [brought]
    assert [p["name"] for p in api(functions, own_token, "GET", "/rescue/persons")[1]["items"]] == ["王秀英"]
    assert [c["case_id"] for c in api(functions, account["access_token"], "GET", "/rescue/cases")[1]["items"]] == [
        while_linked]
    assert [p["name"] for p in api(functions, account["access_token"], "GET", "/rescue/persons")[1]["items"]] == [
        "张伟"]
    # Signing in to the mini-program again lands on its own user, not the profile.
    again = sessions.sign_in_identity(platform.mini_program_app_id, f"o-mp-{unionid}", unionid)
    assert again["user"]["id"] == mini["user"]["id"]
    # The profile's mini-program session ends; its service-account session goes on.
    status, body = call(functions, "AuthFunction",
                        api_event("POST", "/auth/refresh", body={"refresh_token": linked["refresh_token"]}))
    assert status == 401
    status, _ = call(functions, "AuthFunction",
                     api_event("POST", "/auth/refresh", body={"refresh_token": account["refresh_token"]}))
    assert status == 200
    with engine().connect() as conn:
        consent = conn.execute(
            sa.select(tables.consents).where(tables.consents.c.user_id == account["user"]["id"])).one()
        actions = list(conn.execute(sa.select(tables.audit_log.c.action).where(
            tables.audit_log.c.action.like("rescue.profile_reuse%")).order_by(tables.audit_log.c.id)).scalars())
    assert consent.withdrawn_at is not None
    assert actions[-2:] == ["rescue.profile_reuse_consented", "rescue.profile_reuse_withdrawn"]
    # Nothing left to withdraw; the patient may consent again later.
    status, body = api(functions, own_token, "DELETE", "/rescue/profile-link")
    assert status == 404
    assert body["error"]["field"] == "consent"
    assert api(functions, own_token, "GET", "/rescue/profile-link")[1]["linked"] is False
    assert api(functions, own_token, "POST", "/rescue/profile-link", {"consent": True})[0] == 200


def test_a_patient_who_never_consented_has_nothing_to_withdraw_ER8(db, platform, functions):
    account, mini, _ = same_person(platform)
    for token in (account["access_token"], mini["access_token"]):
        status, body = api(functions, token, "DELETE", "/rescue/profile-link")
        assert status == 404
        assert body["error"]["field"] == "consent"
