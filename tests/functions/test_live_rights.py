"""A live connection is a right that ends (ER3, NF1): it keeps its session token's expiry and
is closed at once when the user's role is removed, the account disabled or the session
signed out; after that the ED console receives nothing more. Real WebSocket clients against
the local WebSocket API, real sessions."""
import datetime as dt
import json
import uuid

import pytest
import sqlalchemy as sa
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from hospital.auth import sessions
from hospital.db import engine, tables
from hospital.timeutil import utcnow
from tests.conftest import api_event, call, make_patient

LOCATION = {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "gcj02"}


def console_user(platform, role="ed_nurse"):
    """A signed-in user holding `role`, with a session that carries it (sign-in, grant, refresh)."""
    issued = sessions.sign_in_identity(platform.mini_program_app_id, f"o-live-{uuid.uuid4().hex[:10]}")
    sessions.grant_role(issued["user"]["id"], role)
    return sessions.refresh(issued["refresh_token"])


def open_console(platform, token):
    return connect(f"{platform.live.url.rstrip('/')}/dev?token={token}", open_timeout=5)


def new_case(platform, functions):
    _, token = make_patient(platform)
    status, case = call(functions, "RescueApiFunction", api_event("POST", "/rescue/cases", body={"location": LOCATION},
                                                                 token=token))
    assert status == 201
    return case["case_id"]


def next_alert_for(console, case_id, timeout=2.0):
    """The alert of `case_id` (other tests' cases may reach this console too)."""
    while True:
        message = json.loads(console.recv(timeout=timeout))
        if message.get("type") == "rescue.alert" and message["case_id"] == case_id:
            return message


def connections_of(user_id):
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.live_connections.c.connection_id)
                            .where(tables.live_connections.c.user_id == user_id)).scalars().all()


def assert_hears_nothing_more(platform, functions, console, user_id):
    new_case(platform, functions)
    with pytest.raises(ConnectionClosed):
        while True:  # anything already in flight may still be read; then the socket is closed
            message = json.loads(console.recv(timeout=2))
            assert message.get("type") != "rescue.alert", message
    assert connections_of(user_id) == []


def revoke_role(session):
    sessions.revoke_role(session["user"]["id"], "ed_nurse")


def disable(session):
    sessions.set_disabled(session["user"]["id"], True)


def sign_out_over_http(session, functions):
    status, _ = call(functions, "AuthFunction", api_event("POST", "/auth/logout", body={},
                                                         token=session["access_token"]))
    assert status == 200


@pytest.mark.parametrize("end_right", ["role removed", "account disabled", "signed out"])
def test_a_console_receives_nothing_more_once_its_right_ends_ER3_NF1(db, platform, functions, end_right):
    session = console_user(platform)
    with open_console(platform, session["access_token"]) as console:
        case_id = new_case(platform, functions)
        assert next_alert_for(console, case_id)["case_id"] == case_id  # it works before
        if end_right == "role removed":
            revoke_role(session)
        elif end_right == "account disabled":
            disable(session)
        else:
            sign_out_over_http(session, functions)
        assert_hears_nothing_more(platform, functions, console, session["user"]["id"])
    if end_right == "role removed":  # still a patient: it may connect, but is no ED console
        with open_console(platform, session["access_token"]) as again:
            case_id = new_case(platform, functions)
            with pytest.raises(TimeoutError):
                next_alert_for(again, case_id, timeout=1)
    else:  # the same token cannot open a new one
        with pytest.raises(InvalidStatus):
            open_console(platform, session["access_token"]).close()


def test_a_push_skips_and_closes_a_connection_whose_token_ran_out_ER3(db, platform, functions):
    session = console_user(platform)
    with open_console(platform, session["access_token"]) as console:
        with engine().begin() as conn:  # as if its token's 15 minutes had passed
            expired = conn.execute(tables.live_connections.update().where(
                tables.live_connections.c.user_id == session["user"]["id"])
                .values(expires_at=utcnow() - dt.timedelta(seconds=1)))
            assert expired.rowcount == 1  # its one open connection is now past its token's expiry
        assert_hears_nothing_more(platform, functions, console, session["user"]["id"])


def test_a_console_renews_its_connection_with_a_fresh_token_ER3(db, platform, functions):
    session = console_user(platform)
    with open_console(platform, session["access_token"]) as console:
        with engine().begin() as conn:  # about to run out
            conn.execute(tables.live_connections.update().where(
                tables.live_connections.c.user_id == session["user"]["id"])
                .values(expires_at=utcnow() + dt.timedelta(seconds=1)))
        fresh = sessions.refresh(session["refresh_token"])
        console.send(json.dumps({"action": "renew", "token": fresh["access_token"]}))
        renewed = json.loads(console.recv(timeout=2))
        while renewed.get("type") != "renewed":
            renewed = json.loads(console.recv(timeout=2))
        assert renewed["ok"] is True
        with engine().connect() as conn:
            expires = conn.execute(sa.select(tables.live_connections.c.expires_at).where(
                tables.live_connections.c.user_id == session["user"]["id"])).scalar_one()
        assert (expires - utcnow()).total_seconds() > 60
        case_id = new_case(platform, functions)
        assert next_alert_for(console, case_id)["case_id"] == case_id
        # Someone else's token does not renew it.
        other = console_user(platform)
        console.send(json.dumps({"action": "renew", "token": other["access_token"]}))
        answer = json.loads(console.recv(timeout=2))
        while answer.get("type") != "renewed":
            answer = json.loads(console.recv(timeout=2))
        assert answer["ok"] is False


def test_a_push_checks_the_right_itself_so_a_role_removed_by_any_path_ends_the_console_ER3_NF1(
        db, platform, functions):
    """Not only the revocation functions: a role row deleted by any other path (a back-office
    screen, an operator's SQL) stops the pushes at the next one."""
    session = console_user(platform)
    with open_console(platform, session["access_token"]) as console:
        with engine().begin() as conn:
            removed = conn.execute(tables.user_roles.delete().where(
                tables.user_roles.c.user_id == session["user"]["id"], tables.user_roles.c.role == "ed_nurse"))
            assert removed.rowcount == 1  # the role the console was opened with is gone, by no revocation function
        assert_hears_nothing_more(platform, functions, console, session["user"]["id"])
