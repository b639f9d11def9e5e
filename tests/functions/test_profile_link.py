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
    assert api(functions, token, "GET", "/rescue/profile-link")[1] == {"service_account_profile": True}
    api(functions, token, "POST", "/rescue/persons", {"name": "王秀英", "relation": "parent"})
    case_id = api(functions, token, "POST", "/rescue/cases", {"location": LOCATION})[1]["case_id"]
    for body in ({}, {"consent": False}, {"consent": "yes"}):
        status, answer = api(functions, token, "POST", "/rescue/profile-link", body)
        assert status == 400 and answer["error"]["field"] == "consent"

    status, linked = api(functions, token, "POST", "/rescue/profile-link", {"consent": True})
    assert status == 200 and linked["linked_to"] == account["user"]["id"]
    profile_token = linked["access_token"]
    # One person, one profile: the case and the rescue person made before now belong to it.
    assert api(functions, profile_token, "GET", "/rescue/cases")[1]["items"][0]["case_id"] == case_id
    assert [p["name"] for p in api(functions, profile_token, "GET", "/rescue/persons")[1]["items"]] == ["王秀英"]
    # Signing in to the mini-program again lands on the same profile: no second registration.
    again = sessions.sign_in_identity(platform.mini_program_app_id, f"o-mp-{unionid}", unionid)
    assert again["user"]["id"] == account["user"]["id"]
    with engine().connect() as conn:
        consent = conn.execute(sa.select(tables.consents).where(tables.consents.c.user_id == account["user"]["id"])).one()
        retired = conn.execute(sa.select(tables.users.c.status).where(tables.users.c.id == mini["user"]["id"])).scalar_one()
    assert consent.kind == "rescue_profile_reuse" and consent.granted_via == platform.mini_program_app_id
    assert retired == "merged"
    assert api(functions, profile_token, "GET", "/rescue/profile-link")[1] == {"service_account_profile": False}


def test_without_a_service_account_profile_there_is_nothing_to_link_ER8(db, platform, functions):
    mini = sessions.sign_in_identity(platform.mini_program_app_id, f"o-mp-{uuid.uuid4().hex[:8]}", None)
    assert api(functions, mini["access_token"], "GET", "/rescue/profile-link")[1] == {"service_account_profile": False}
    status, body = api(functions, mini["access_token"], "POST", "/rescue/profile-link", {"consent": True})
    assert status == 404 and body["error"]["field"] == "profile"


def test_linking_may_not_exceed_ten_rescue_persons_ER8_ER10(db, platform, functions):
    account, mini, _ = same_person(platform)
    for n in range(6):
        assert api(functions, account["access_token"], "POST", "/rescue/persons", {"name": f"a{n}", "relation": "other"})[0] == 201
        assert api(functions, mini["access_token"], "POST", "/rescue/persons", {"name": f"m{n}", "relation": "other"})[0] == 201
    status, body = api(functions, mini["access_token"], "POST", "/rescue/profile-link", {"consent": True})
    assert status == 409 and body["error"]["code"] == "rescue_person_limit"
    with engine().connect() as conn:  # nothing moved, nothing recorded
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.consents)
                            .where(tables.consents.c.user_id == account["user"]["id"])).scalar_one() == 0
