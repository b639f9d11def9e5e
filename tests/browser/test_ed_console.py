"""The ED console in headless Chromium against the local API and WebSocket API (ER3, ER5, ER6,
EA4): sign-in; a patient's call rings within 2 s and keeps ringing until acknowledged, and an
acknowledgement on one console stops the ring on every console; a dispatch shows on the
timeline and the ambulance's pushed positions on the track; a guidance session is started and
ended; a refusal is shown in words; a
lost connection is shown, healed by itself, and the calls taken meanwhile appear (HTTP
catch-up). A screenshot of each state is kept in .artefacts/screenshots/."""
from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import pyotp
import pytest
import requests

from tests.browser.conftest import screenshot
from tests.conftest import make_patient

PASSWORD = "Correct-horse-42"
LOCATION = {"latitude": 31.2390, "longitude": 121.4810, "coord_system": "gcj02", "accuracy_m": 20.0}
# Counts the tones the console starts and keeps the connection states it went through, so a
# test can tell the ring was sounded and the drop was shown.
PROBES = """
window.__tones = 0;
const start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) { window.__tones += 1; return start.apply(this, args); };
window.__connection = [];
document.addEventListener("DOMContentLoaded", () => {
  const note = () => {
    const state = document.body.dataset.connection;
    if (window.__connection.at(-1) !== state) window.__connection.push(state);
  };
  note();
  new MutationObserver(note).observe(document.body, {attributes: true, attributeFilter: ["data-connection"]});
});
"""


@pytest.fixture
def api(platform, own_database):
    return platform.api.url


def back_office_account(role: str) -> dict:
    from hospital.auth import admin_accounts

    username = f"ed.{uuid.uuid4().hex[:10]}"
    created = admin_accounts.create_account(None, None, username, PASSWORD, temporary=False, roles=(role,))
    return {"username": username, "user_id": created["user_id"]}


def signed_in(api: str, role: str) -> tuple[dict, int]:
    """A back-office session of a new account holding `role`, through the real sign-in."""
    account = back_office_account(role)
    started = requests.post(f"{api}/auth/admin/login", json={"username": account["username"], "password": PASSWORD},
                            timeout=10).json()
    secret = requests.post(f"{api}/auth/admin/totp/enrolment", json={"challenge": started["challenge"]},
                           timeout=10).json()["secret"]
    session = requests.post(f"{api}/auth/admin/totp/confirm",
                            json={"challenge": started["challenge"], "code": pyotp.TOTP(secret).now()}, timeout=10)
    assert session.status_code == 200, session.text
    return session.json(), account["user_id"]


def open_console(new_page, api: str, role: str = "ed_nurse"):
    """A console page already signed in (the session put where sign-in keeps it), connected."""
    session, user_id = signed_in(api, role)
    page = new_page()
    page.add_init_script(f"sessionStorage.setItem('hospital.session', {json.dumps(json.dumps(session))});")
    page.add_init_script(PROBES)
    page.goto(f"{api}/console/ed/")
    page.wait_for_selector("body[data-connection='online']", timeout=10_000)
    page.user_id = user_id
    return page


def call_for_help(api: str, platform, address: str = "南京东路200号") -> str:
    """A patient's one-click call, as the mini-program sends it."""
    _, token = make_patient(platform)
    answer = requests.post(f"{api}/rescue/cases", json={"location": LOCATION, "address_text": address},
                           headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["case_id"]


def row(page, case_id: str) -> str:
    return f"tr.case-row[data-case-id='{case_id}']"


def test_an_ed_nurse_signs_in_with_password_and_a_second_factor_ER3_NF1(platform, api, new_page):
    account = back_office_account("ed_nurse")
    page = new_page()
    page.goto(f"{api}/console/ed/")
    page.fill("#username", account["username"])
    page.fill("#password", PASSWORD)
    screenshot(page, "ed-sign-in")
    page.click("#signin-submit")
    page.wait_for_selector("#totp-setup:not(.hidden)")
    secret = page.text_content("#totp-setup").split("密钥 ")[1].split("，")[0].strip()
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("#signin-submit")
    page.wait_for_selector("#case-list", timeout=10_000)
    page.wait_for_selector("body[data-connection='online']", timeout=10_000)
    assert page.text_content("#connection") == "已连接"
    assert page.is_hidden("#offline-banner")
    screenshot(page, "ed-console-signed-in")


def test_a_wrong_password_is_refused_in_words_NF1(platform, api, new_page):
    account = back_office_account("ed_nurse")
    page = new_page()
    page.goto(f"{api}/console/ed/")
    page.fill("#username", account["username"])
    page.fill("#password", "not-the-password")
    page.click("#signin-submit")
    page.wait_for_selector("#signin-error:not(:empty)")
    assert page.is_visible("#signin")  # still signing in
    assert page.text_content("#signin-error")


def test_a_new_call_rings_within_2_s_until_acknowledged_and_stops_on_every_console_ER3(platform, api, new_page):
    nurse = open_console(new_page, api, "ed_nurse")
    dispatcher = open_console(new_page, api, "dispatcher")
    assert nurse.get_attribute("body", "data-ringing") == "false"

    case_id = call_for_help(api, platform)
    called = time.monotonic()
    for page in (nurse, dispatcher):
        page.wait_for_selector(f"{row(page, case_id)}[data-ringing='true']", timeout=2_000)
    assert time.monotonic() - called < 2.0
    for page in (nurse, dispatcher):
        assert page.get_attribute("body", "data-ringing") == "true"
        assert page.is_visible("#alarm") and "新的急救呼叫" in page.text_content("#alarm")
    nurse.wait_for_function("window.__tones > 0", timeout=2_000)  # the tone was started
    screenshot(nurse, "ed-ringing")

    # It keeps ringing: a few seconds on, and after the console read the list again, still.
    nurse.wait_for_timeout(2_500)
    assert nurse.get_attribute(row(nurse, case_id), "data-ringing") == "true"
    tones = nurse.evaluate("window.__tones")
    nurse.wait_for_timeout(1_600)
    assert nurse.evaluate("window.__tones") > tones

    nurse.click(f"{row(nurse, case_id)} button.acknowledge")
    for page in (nurse, dispatcher):  # the other console hears it by push, well before its next poll
        page.wait_for_selector("body[data-ringing='false']", timeout=3_000)
        assert page.get_attribute(row(page, case_id), "data-ringing") == "false"
        assert page.is_hidden("#alarm")
    tones = dispatcher.evaluate("window.__tones")
    dispatcher.wait_for_timeout(1_600)
    assert dispatcher.evaluate("window.__tones") == tones  # silent now
    screenshot(dispatcher, "ed-acknowledged-elsewhere")


def test_a_dispatch_shows_on_the_timeline_and_the_ambulance_on_the_track_ER5_ER6_ER9_EA4(platform, api, new_page):
    from hospital.rescue import dispatch
    from tests.functions.test_rescue_dispatch import staff_member

    page = open_console(new_page, api, "dispatcher")
    case_id = call_for_help(api, platform, "人民大道185号")
    page.wait_for_selector(row(page, case_id))
    page.click(row(page, case_id))
    page.wait_for_selector("#timeline li[data-node='call_received']")
    assert "人民大道185号" in page.text_content("#caller-details")  # the dispatcher may see the address

    page.click("#do-accept")
    page.wait_for_selector("#timeline li[data-node='accepted']")
    page.click("#do-accept")  # accepted already: the state machine refuses, in words
    page.wait_for_selector("#action-error:not(:empty)")
    assert page.text_content("#action-error").startswith("当前状态不允许此操作：")
    screenshot(page, "ed-refusal")

    page.select_option("#guidance-mode", "phone")
    page.click("#do-guidance")
    page.wait_for_selector("#timeline li[data-node='guidance_started']")
    page.click(".guidance-open button.end-guidance")
    page.wait_for_selector("#timeline li[data-node='guidance_ended']")
    assert page.query_selector(".guidance-open") is None

    vehicle_id = f"V-{uuid.uuid4().hex[:6]}"
    dispatch.register_vehicle(vehicle_id, f"沪A{vehicle_id[-5:]}")
    crew, crew_token = staff_member(platform, "staff")
    page.fill("#dispatch-vehicle", vehicle_id)
    page.fill("#dispatch-crew", str(crew.user_id))
    page.click("#do-dispatch")
    page.wait_for_selector("#timeline li[data-node='dispatched']")
    assert vehicle_id in page.text_content("#timeline li[data-node='dispatched']")
    assert page.text_content("#case-status") == "已派车"
    assert page.text_content("#action-error") == ""

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    points = [{"latitude": 31.2330 + 0.0012 * i, "longitude": 121.4750 + 0.0011 * i, "coord_system": "gcj02",
               "accuracy_m": 8.0, "device_time": (now + dt.timedelta(seconds=10 * i)).isoformat()}
              for i in range(4)]
    posted = requests.post(f"{api}/staff/vehicles/{vehicle_id}/positions", json={"points": points[:3]},
                           headers={"Authorization": f"Bearer {crew_token}"}, timeout=10)
    assert posted.status_code == 200 and posted.json()["accepted"] == 3, posted.text
    page.click(row(page, case_id))  # read again: the track over HTTP
    page.wait_for_selector("svg.track-plot polyline.track")
    assert len(page.get_attribute("svg.track-plot polyline.track", "points").split()) == 3
    requests.post(f"{api}/staff/vehicles/{vehicle_id}/positions", json={"points": points[3:]},
                  headers={"Authorization": f"Bearer {crew_token}"}, timeout=10).raise_for_status()
    page.wait_for_function(  # the pushed position extends the drawn track
        "document.querySelector('svg.track-plot polyline.track').getAttribute('points').split(' ').length === 4",
        timeout=3_000)
    for marker in ("hospital", "caller", "ambulance"):
        assert page.is_visible(f"svg.track-plot .marker.{marker}")
    screenshot(page, "ed-case-dispatched-track")


def test_a_lost_connection_is_shown_healed_and_loses_no_call_ER3(platform, api, new_page):
    from hospital import live

    page = open_console(new_page, api, "ed_nurse")
    context = page.context

    context.set_offline(True)
    page.wait_for_selector("body[data-connection='offline']", timeout=3_000)
    assert page.is_visible("#offline-banner")
    assert page.text_content("#connection").startswith("未连接")
    missed = [call_for_help(api, platform, "离线期间的呼叫一"), call_for_help(api, platform, "离线期间的呼叫二")]
    page.wait_for_timeout(500)
    for case_id in missed:
        assert page.query_selector(row(page, case_id)) is None  # nothing can reach it now
    screenshot(page, "ed-offline")

    context.set_offline(False)
    for case_id in missed:  # caught up over HTTP once the link is back, and ringing
        page.wait_for_selector(f"{row(page, case_id)}[data-ringing='true']", timeout=10_000)
    page.wait_for_selector("body[data-connection='online']", timeout=10_000)
    assert page.is_hidden("#offline-banner")
    screenshot(page, "ed-reconnected")

    # The server closes the socket: the console notices, reconnects by itself, and a call taken
    # meanwhile still appears.
    before = page.evaluate("window.__connection.length")
    assert live.close_for(page.user_id) == 1
    late = call_for_help(api, platform, "断线期间的呼叫")
    page.wait_for_selector(f"{row(page, late)}[data-ringing='true']", timeout=10_000)
    page.wait_for_selector("body[data-connection='online']", timeout=10_000)
    assert page.evaluate("window.__connection")[before:] == ["offline", "online"]
    # Connected again: the next call is pushed, not polled.
    pushed = call_for_help(api, platform)
    page.wait_for_selector(f"{row(page, pushed)}[data-ringing='true']", timeout=2_000)
