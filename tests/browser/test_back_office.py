"""The back office in Chromium (AD1, AD2, EA1, NF1): sign-in with the second factor through the
page; the navigation is what the user's permissions allow, a page they may not use says so
without calling the API (and the API refuses it anyway); each page renders its data: dispatch
statistics as SVG charts, reconciliation runs and findings (resolved from the page), abnormal
orders, suspensions and their progress, roles and their holders, site content with its
sanitized preview, the audit log and its chain verification, intact and broken.

The tests share a MariaDB database of their own, seeded once through the real flows."""
from __future__ import annotations

import datetime as dt
import json
import re
import uuid

import pyotp
import pytest
import requests
import sqlalchemy as sa
from playwright.sync_api import expect

from hospital.auth import admin_accounts
from hospital.auth import permissions as P
from hospital.auth import roles as R
from hospital.db import engine, tables
from tests.browser.conftest import screenshot

PASSWORD = "Correct-horse-42"
SESSION_KEY = "hospital.session"
DAYS = ("2025-03-10", "2025-03-11")


@pytest.fixture(scope="module")
def admin_db(own_database):
    return "mysql"


def enrolled(base: str, *roles: str, granted_by: dict | None = None) -> dict:
    """A back-office account holding `roles`, through its first sign-in over HTTP (password,
    TOTP enrolment, a code): its username, user id, secret and a session with the second factor.
    Roles not built in are given by `granted_by` through the API (an account is made with built-in ones)."""
    username = f"ui.{uuid.uuid4().hex[:10]}"
    builtin = [role for role in roles if role in R.ALL]
    created = admin_accounts.create_account(None, None, username, PASSWORD, temporary=False, roles=builtin)
    for role in set(roles) - set(builtin):
        given = requests.put(f"{base}/admin/access/users/{created['user_id']}/roles/{role}", json={}, timeout=10,
                             headers=bearer(granted_by))
        assert given.status_code == 200, given.text
    started = requests.post(f"{base}/auth/admin/login", json={"username": username, "password": PASSWORD},
                            timeout=10).json()
    assert started["second_factor"] == "enrol", started
    secret = requests.post(f"{base}/auth/admin/totp/enrolment", json={"challenge": started["challenge"]},
                           timeout=10).json()["secret"]
    session = requests.post(f"{base}/auth/admin/totp/confirm", timeout=10, json={
        "challenge": started["challenge"], "code": pyotp.TOTP(secret).now()}).json()
    assert "access_token" in session, session
    return {"username": username, "user_id": created["user_id"], "secret": secret, "session": session}


def bearer(who: dict) -> dict:
    return {"Authorization": f"Bearer {who['session']['access_token']}"}


def console(new_page, base: str, who: dict, route: str = ""):
    """The back office opened at `route` with `who`'s session already in the tab, and every
    API path the page called (to show which calls were never made)."""
    page = new_page()
    page.add_init_script(f"if (window === window.top) sessionStorage.setItem({json.dumps(SESSION_KEY)}, "
                         f"{json.dumps(json.dumps(who['session']))})")
    called: list[str] = []
    page.on("request", lambda request: called.append(request.url.removeprefix(base).split("?")[0]))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{base}/console/admin/#/{route}")
    page.wait_for_selector("#nav a")
    page.called, page.errors = called, errors
    return page


# ---- the seed -----------------------------------------------------------------------------------------

def dispatched_cases(functions, platform) -> list[str]:
    """Completed cases on two days and two vehicles, through dispatch and the crew's progress."""
    from tests.functions.test_rescue_admin import BASE, run_case
    from tests.functions.test_rescue_dispatch import staff_member, vehicle

    _, dispatcher = staff_member(platform, "dispatcher")
    crew, crew_token = staff_member(platform, "staff")
    first, second = vehicle(), vehicle()
    plan = [(first, 0, 60), (first, 0, 120), (second, 0, 300), (second, 1, 90)]
    for vehicle_id, day, call_to_dispatch in plan:
        case_id = run_case(functions, platform, dispatcher, crew, crew_token, vehicle_id, {
            "call_received": 0, "dispatched": call_to_dispatch, "en_route": call_to_dispatch + 90,
            "on_scene": call_to_dispatch + 600, "left_scene": call_to_dispatch + 1500,
            "at_hospital": call_to_dispatch + 2400, "handed_over": call_to_dispatch + 2700 + call_to_dispatch,
            "back_in_service": call_to_dispatch + 4000})
        if day:
            shift = dt.timedelta(days=day)
            with engine().begin() as conn:
                conn.execute(tables.rescue_cases.update().where(tables.rescue_cases.c.id == case_id)
                             .values(created_at=BASE + shift))
                events = tables.rescue_events
                for event_id, at in conn.execute(sa.select(events.c.id, events.c.occurred_at)
                                                 .where(events.c.case_id == case_id)).all():
                    conn.execute(events.update().where(events.c.id == event_id).values(occurred_at=at + shift))
    return [first, second]


def reconciled_day(functions, platform) -> dict:
    """A bill file with a trade we never had, reconciled: one open finding of that day."""
    from tests.reconciliation.support import a_day, admin_call, finance_token
    from tests.reconciliation.test_reconciliation_back_office import bill_file

    day, trade = a_day(), f"STRAY-{uuid.uuid4().hex[:8].upper()}"
    body = bill_file(day, [{"out_trade_no": trade, "fen": 990, "appid": platform.mini_program_app_id}])
    status, _, text = admin_call(functions, "POST", "/admin/reconciliation/uploads", finance_token(platform),
                                 query={"date": day.isoformat()}, body=body.decode(),
                                 headers={"Content-Type": "text/csv"})
    assert status == 201, text
    return {"day": day.isoformat(), "trade": trade, "run_id": json.loads(text)["run_id"]}


@pytest.fixture(scope="module")
def seeded(admin_db, platform, functions):
    from tests.outpatient.support import doctor_with_slots, hospital_today
    from tests.outpatient.test_suspensions import patient_booked, run_through
    from tests.payments.test_strict_input import open_anomaly

    base = platform.api.url
    root = enrolled(base, R.SUPER_ADMIN)
    vehicles = dispatched_cases(functions, platform)
    reconciled = reconciled_day(functions, platform)
    anomaly_id = open_anomaly()
    doctor = doctor_with_slots(platform, hospital_today() + dt.timedelta(days=2))
    patient_booked(platform, functions, doctor, 0)
    suspension = requests.post(f"{base}/admin/outpatient/suspensions", headers=bearer(root), timeout=10, json={
        "doctor_code": doctor["doctor_code"], "visit_date": doctor["day"].isoformat(),
        "slot_ids": doctor["slots"][:1], "reason": "外出会诊"})
    assert suspension.status_code == 201, suspension.text
    run_through(platform, functions, root["session"]["access_token"], suspension.json()["suspension_id"])
    item = requests.post(f"{base}/admin/content/items", headers=bearer(root), timeout=10, json={
        "kind": "page", "slug": f"visiting-{uuid.uuid4().hex[:6]}", "title": "探视须知",
        "body_html": "<p>探视时间<strong>每日15:00-19:00</strong></p><script>window.parent.hacked = 1</script>"})
    assert item.status_code == 201, item.text
    return {"base": base, "root": root, "vehicles": vehicles, "reconciled": reconciled, "anomaly_id": anomaly_id,
            "doctor": doctor, "suspension_id": suspension.json()["suspension_id"], "item": item.json()}


# ---- sign-in -----------------------------------------------------------------------------------------

def sign_in_form(page, username: str, password: str = PASSWORD) -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#signin-submit")
    page.wait_for_selector("#code", state="visible")


def test_sign_in_with_the_second_factor_through_the_page_then_again_with_a_code_NF1(admin_db, platform, new_page):
    from tests.functions.test_admin_sign_in import code_for

    base = platform.api.url
    username = f"ui.{uuid.uuid4().hex[:10]}"
    created = admin_accounts.create_account(None, None, username, PASSWORD, temporary=False, roles=(R.IT_ADMIN,))
    page = new_page()
    page.goto(f"{base}/console/admin/")
    page.fill("#username", username)
    page.fill("#password", "Wrong-horse-42")
    page.click("#signin-submit")
    page.wait_for_function("document.querySelector('#signin-error').textContent.length > 0")
    assert page.locator("#signin-error").inner_text() == "用户名或密码错误"  # refused, in words
    sign_in_form(page, username)
    setup = page.locator("#totp-setup").inner_text()
    secret = re.search(r"[A-Z2-7]{16,}", setup).group(0)
    page.fill("#code", "000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    page.click("#signin-submit")
    page.wait_for_function("document.querySelector('#signin-error').textContent.includes('验证码')")
    screenshot(page, "admin-signin")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("#signin-submit")
    page.wait_for_selector("#nav a")
    # An IT admin: dispatch statistics, content and the audit log; no money, no roles.
    shown = set(page.locator("#nav a").evaluate_all("links => links.map(a => a.id)"))
    assert shown == {"nav-dispatches", "nav-content", "nav-audit"}
    assert page.url.endswith("#/dispatches")

    page.click("#sign-out")
    page.wait_for_selector("#signin")
    assert page.evaluate(f"sessionStorage.getItem({json.dumps(SESSION_KEY)})") is None
    sign_in_form(page, username)
    assert page.locator("#totp-setup").is_hidden()  # enrolled already: a code, no new secret
    page.fill("#code", code_for(secret, created["user_id"]))
    page.click("#signin-submit")
    page.wait_for_selector("#nav-audit")
    session = json.loads(page.evaluate(f"sessionStorage.getItem({json.dumps(SESSION_KEY)})"))
    assert session["user"]["id"] == created["user_id"]


# ---- permissions -------------------------------------------------------------------------------------

def test_a_finance_clerk_without_reconciliation_neither_sees_it_nor_reaches_its_api_AD2(seeded, new_page):
    base, root = seeded["base"], seeded["root"]
    clerk_permissions = sorted(P.SEEDED[R.FINANCE][1] - {P.RECONCILIATION_READ, P.RECONCILIATION_MANAGE})
    role = f"clerk_{uuid.uuid4().hex[:6]}"
    made = requests.post(f"{base}/admin/access/roles", headers=bearer(root), timeout=10,
                         json={"name": role, "label": "收费员", "permissions": clerk_permissions})
    assert made.status_code == 201, made.text
    clerk, finance = enrolled(base, role, granted_by=root), enrolled(base, R.FINANCE)

    page = console(new_page, base, clerk, "reconciliation")
    refusal = page.locator("#no-permission")
    expect(refusal).to_contain_text("没有权限")
    expect(refusal).to_contain_text("reconciliation.read")
    shown = set(page.locator("#nav a").evaluate_all("links => links.map(a => a.id)"))
    assert shown == {"nav-anomalies"}
    assert not [path for path in page.called if path.startswith("/admin/reconciliation")]
    screenshot(page, "admin-no-permission")
    page.click("#nav-anomalies")
    page.wait_for_selector(f"tr[data-anomaly='{seeded['anomaly_id']}']")
    assert page.errors == []

    # The server refuses it anyway; the seeded finance role reaches it.
    for path in ("/admin/reconciliation/runs", "/admin/reconciliation/findings"):
        refused = requests.get(f"{base}{path}", headers=bearer(clerk), timeout=10)
        assert refused.status_code == 403 and refused.json()["error"]["code"], refused.text
        assert requests.get(f"{base}{path}", headers=bearer(finance), timeout=10).status_code == 200
    finding_id = requests.get(f"{base}/admin/reconciliation/findings", headers=bearer(finance), timeout=10,
                              params={"date": seeded["reconciled"]["day"]}).json()["items"][0]["id"]
    refused = requests.post(f"{base}/admin/reconciliation/findings/{finding_id}/resolve", headers=bearer(clerk),
                            json={"resolution": "x"}, timeout=10)
    assert refused.status_code == 403
    page = console(new_page, base, finance, "reconciliation")
    page.wait_for_selector(f"tr[data-finding='{finding_id}']")


# ---- the pages ---------------------------------------------------------------------------------------

def test_dispatch_statistics_draw_counts_per_day_and_vehicle_and_interval_histograms_EA1(seeded, new_page):
    first, second = seeded["vehicles"]
    page = console(new_page, seeded["base"], seeded["root"], f"dispatches?from={DAYS[0]}&to={DAYS[1]}")
    page.wait_for_selector("#dispatch-count")
    report = requests.get(f"{seeded['base']}/admin/rescue/dispatches", headers=bearer(seeded["root"]),
                          params={"from": DAYS[0], "to": DAYS[1]}, timeout=10).json()
    assert report["count"] >= 4 and f"共 {report['count']} 次" in page.locator("#dispatch-count").inner_text()
    charts = page.locator("svg.chart")
    per_day = charts.nth(0).locator("rect.bar").evaluate_all(
        "bars => bars.map(b => [b.dataset.label, Number(b.dataset.value)])")
    assert per_day == [list(day) for day in sorted(report["per_day"].items())] and dict(per_day)[DAYS[1]] >= 1
    per_vehicle = dict(charts.nth(1).locator("rect.bar").evaluate_all(
        "bars => bars.map(b => [b.dataset.label, Number(b.dataset.value)])"))
    assert per_vehicle[first] == 2 and per_vehicle[second] == 2
    call_to_dispatch = page.locator("[data-interval=call_to_dispatch]")
    assert call_to_dispatch.locator("rect.bar").count() >= 2
    assert call_to_dispatch.locator("line.mark.median").count() == 1
    assert call_to_dispatch.locator("line.mark.p90").count() == 1
    # 60, 90, 120 and 300 s: the median (nearest rank) 90 s, p90 300 s, in 30 s bins from 0.
    assert report["intervals"]["call_to_dispatch"] == {"n": 4, "median_s": 90.0, "p90_s": 300.0}
    assert call_to_dispatch.locator("text.mark-label").all_text_contents() == ["中位数 1:30", "P90 5m"]
    counts = [0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1]
    edges = ["0s", "30s", "1m", "1:30", "2m", "2:30", "3m", "3:30", "4m", "4:30", "5m", "5:30"]
    assert call_to_dispatch.locator("rect.bar").evaluate_all("bars => bars.map(b => b.textContent)") == [
        f"{edges[i]}–{edges[i + 1]}：{n}" for i, n in enumerate(counts)]
    assert page.errors == []
    screenshot(page, "admin-dispatches")

    # No cancelled case: every chart says so rather than drawing nothing.
    page.goto(f"{seeded['base']}/console/admin/#/dispatches?from={DAYS[0]}&to={DAYS[1]}&outcome=cancelled")
    expect(page.locator("#dispatch-count")).to_contain_text("共 0 次")
    assert page.locator("svg.chart rect.bar").count() == 0
    assert page.locator("svg.chart text.none").count() == 2 + 6

    page.goto(f"{seeded['base']}/console/admin/#/dispatches?from={DAYS[1]}&to={DAYS[0]}")
    expect(page.locator("#dispatch-report .error")).not_to_be_empty()  # the 400, in words


def test_a_finding_of_a_run_is_shown_and_resolved_with_a_note_AD1(seeded, new_page):
    reconciled = seeded["reconciled"]
    page = console(new_page, seeded["base"], seeded["root"], f"reconciliation?date={reconciled['day']}")
    row = page.locator("tr[data-finding]", has_text=reconciled["trade"])
    row.wait_for()
    assert "我方无记录" in row.inner_text()
    page.click(f"tr[data-run='{reconciled['run_id']}'] button")
    expect(page.locator("#run-detail")).to_contain_text("上传账单", timeout=5000)
    screenshot(page, "admin-reconciliation")
    row.locator("input.note").fill("渠道多记一笔，已与微信支付核实")
    row.locator("button", has_text="标记已处理").click()
    expect(row).to_contain_text("已处理：渠道多记一笔", timeout=5000)
    finding_id = row.get_attribute("data-finding")
    with engine().connect() as conn:
        stored = conn.execute(sa.select(tables.reconciliation_findings).where(
            tables.reconciliation_findings.c.id == int(finding_id))).one()
    assert (stored.status, stored.resolution) == ("resolved", "渠道多记一笔，已与微信支付核实")
    # Open findings only, by default: the resolved one is gone from the list.
    page.reload()
    page.wait_for_selector("#findings table, #findings .empty")
    assert page.locator(f"tr[data-finding='{finding_id}']").count() == 0
    assert page.errors == []


def test_the_abnormal_order_list_shows_its_actions_and_resolves_with_a_note_AD1(seeded, new_page):
    page = console(new_page, seeded["base"], seeded["root"], "anomalies")
    row = page.locator(f"tr[data-anomaly='{seeded['anomaly_id']}']")
    row.wait_for()
    assert "unknown_order" in row.inner_text() and "¥1.00" in row.inner_text()
    listed = requests.get(f"{seeded['base']}/admin/payments/anomalies", headers=bearer(seeded["root"]),
                          timeout=10).json()["items"]
    actions = next(a["actions"] for a in listed if a["id"] == seeded["anomaly_id"])
    assert row.locator("button[data-action]").evaluate_all("bs => bs.map(b => b.dataset.action)") == actions
    screenshot(page, "admin-anomalies")
    row.locator("button[data-action=resolve]").click()
    expect(row).to_contain_text("请填写处理说明", timeout=5000)  # nothing sent without a note
    row.locator("input.note").fill("已线下退款")
    row.locator("button[data-action=resolve]").click()
    expect(row).to_contain_text("已处理：已线下退款", timeout=5000)
    assert page.errors == []


def test_suspensions_are_listed_with_their_progress_OS1(seeded, new_page):
    page = console(new_page, seeded["base"], seeded["root"], "suspensions")
    row = page.locator(f"tr[data-suspension='{seeded['suspension_id']}']")
    row.wait_for()
    assert "外出会诊" in row.inner_text()
    row.locator("button").click()
    progress = page.locator("#suspension-progress")
    expect(progress).to_contain_text(seeded["doctor"]["doctor_code"], timeout=5000)
    # One paid registration in the suspended slot: found, told, cancelled and refunded.
    tiles = progress.locator(".tile").evaluate_all(
        "tiles => tiles.map(t => [t.classList[1], t.querySelector('b').textContent])")
    assert tiles == [["found", "1"], ["notified", "1"], ["notice_failed", "0"], ["cancelled", "1"], ["refunded", "1"],
                     ["failed", "0"]]
    assert "需电话联系的患者" in progress.inner_text()
    assert page.errors == []
    screenshot(page, "admin-suspensions")


def test_roles_show_their_permissions_and_holders_and_a_role_is_given_AD2(seeded, new_page):
    base, root = seeded["base"], seeded["root"]
    someone = admin_accounts.create_account(None, None, f"ui.{uuid.uuid4().hex[:10]}", PASSWORD, temporary=False)
    page = console(new_page, base, root, "access")
    page.locator("tr[data-role=finance] button").click()
    page.wait_for_selector("#grant-form")
    held = page.locator("#role-detail input[type=checkbox]:checked").evaluate_all("cs => cs.map(c => c.name)")
    assert sorted(held) == sorted(P.SEEDED[R.FINANCE][1])
    page.fill("#grant-user", someone["username"])
    page.locator("#grant-form button").click()
    page.locator("#holders tr", has_text=someone["username"]).wait_for()
    user = requests.get(f"{base}/admin/access/users/{someone['user_id']}", headers=bearer(root), timeout=10).json()
    assert [g["role"] for g in user["roles"]] == [R.FINANCE]
    page.fill("#grant-user", "nobody.here")
    page.locator("#grant-form button").click()
    expect(page.locator("#grant-form")).to_contain_text("没有后台账号 nobody.here", timeout=5000)
    assert page.errors == []
    screenshot(page, "admin-access")
    page.locator("#holders tr", has_text=someone["username"]).locator("button").click()
    page.locator("#holders tr", has_text=someone["username"]).wait_for(state="detached")
    user = requests.get(f"{base}/admin/access/users/{someone['user_id']}", headers=bearer(root), timeout=10).json()
    assert user["roles"] == []


def test_content_is_previewed_sanitized_in_a_sandbox_edited_and_submitted_CM1(seeded, new_page):
    item = seeded["item"]
    page = console(new_page, seeded["base"], seeded["root"], f"content?item={item['id']}")
    frame = page.locator("#preview-frame")
    frame.wait_for()
    assert frame.get_attribute("sandbox") == ""
    srcdoc = frame.get_attribute("srcdoc")
    assert "每日15:00-19:00" in srcdoc and "<script" not in srcdoc  # the API's sanitized HTML
    assert page.frame_locator("#preview-frame").locator("strong").inner_text() == "每日15:00-19:00"
    assert page.evaluate("window.hacked") is None
    page.fill("#edit-body", "<p>探视时间改为<em>每日14:00-18:00</em></p>")
    page.click("#save-draft")
    page.wait_for_function("document.querySelector('#preview-frame')?.srcdoc.includes('14:00-18:00')")
    page.click("#submit-review")
    page.wait_for_selector("#own-version")  # nobody reviews their own version: no approve button
    assert page.locator("#approve").count() == 0
    screenshot(page, "admin-content")
    assert page.errors == []

    reviewer = enrolled(seeded["base"], R.IT_ADMIN)
    page = console(new_page, seeded["base"], reviewer, f"content?item={item['id']}")
    page.fill("#review-note", "同意发布")
    page.click("#approve")
    page.wait_for_function("document.querySelector('#content-detail h4')?.textContent.includes('已发布')")
    detail = requests.get(f"{seeded['base']}/admin/content/items/{item['id']}", headers=bearer(seeded["root"]),
                          timeout=10).json()
    assert (detail["status"], detail["published_version"], detail["versions"][0]["state"]) == (
        "published", 2, "approved")
    assert page.errors == []


def test_the_audit_log_is_searched_and_its_chain_verified_intact_and_broken_NF1(seeded, new_page):
    from tests.functions.test_audit_chain import triggers_dropped

    base, root = seeded["base"], seeded["root"]
    page = console(new_page, base, root, "audit?action=payments.anomaly_resolved")
    page.wait_for_selector("#audit-results table, #audit-results .empty")
    actions = set(page.locator("#audit-results tbody tr td:nth-child(4)").all_inner_texts())
    assert actions <= {"payments.anomaly_resolved"}
    page.goto(f"{base}/console/admin/#/audit")
    page.wait_for_selector("#audit-results tr[data-seq]")
    page.click("#verify-chain")
    result = page.locator("#chain-result")
    expect(result).to_contain_text("哈希链完整", timeout=10000)
    screenshot(page, "admin-audit")
    assert page.locator("#audit-results tr[data-seq]").count() == 50 and page.locator("#audit-more").is_visible()
    page.click("#audit-more")
    page.wait_for_function("document.querySelectorAll('#audit-results tr[data-seq]').length > 50")
    seqs = page.locator("#audit-results tr[data-seq]").evaluate_all("rows => rows.map(r => Number(r.dataset.seq))")
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs)  # the next page, no repeats

    log = tables.audit_log
    with engine().connect() as conn:
        altered = conn.execute(sa.select(log).order_by(log.c.seq).limit(1).offset(2)).one()
    with triggers_dropped("mysql"), engine().begin() as conn:
        conn.execute(log.update().where(log.c.id == altered.id).values(result="refused"))
    try:
        page.goto(f"{base}/console/admin/#/audit?action=audit.verified")
        page.wait_for_selector("#audit-results tr[data-seq]")
        page.click("#verify-chain")
        page.wait_for_selector("#chain-result.alarm")
        assert f"序号 {altered.seq}" in result.inner_text() and altered.entry_hash in result.inner_text()
        screenshot(page, "admin-audit-broken")
    finally:
        with triggers_dropped("mysql"), engine().begin() as conn:
            conn.execute(log.update().where(log.c.id == altered.id).values(result=altered.result))
    assert page.errors == []
