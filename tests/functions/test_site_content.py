"""Site content of the hospital's WeChat site (AD3): pages, notices and menus go from draft to
review to publication, each approved by someone other than its author (four eyes); an edit is
a new version based on the latest (a stale base is refused); unpublish; any version restored
as a new draft and reviewed again; bad input names its field and changes nothing; rich text
is sanitised on the way in; the public API serves only published versions, cacheable, with an
ETag and 304; every back-office action is in the audit log."""
from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import re
import uuid

import pytest
import sqlalchemy as sa

from hospital.auth import roles as R
from hospital.auth import sessions
from hospital.db import engine, tables
from tests.conftest import api_event, call, make_patient

ITEMS = "/admin/content/items"
ADMIN = "ContentAdminFunction"
PUBLIC = "ContentPublicFunction"


def token_of(platform, role: str) -> tuple[int, str]:
    from hospital.auth.tokens import Principal, issue_access_token

    user, _ = make_patient(platform)
    if role != R.PATIENT:
        sessions.grant_role(user.user_id, role)
    return user.user_id, issue_access_token(Principal(user_id=user.user_id, roles=frozenset({role})))


@pytest.fixture
def people(db, platform):
    """An author and a reviewer (IT admins both), a super admin, and a patient."""
    return {"author": token_of(platform, R.IT_ADMIN), "reviewer": token_of(platform, R.IT_ADMIN),
            "super": token_of(platform, R.SUPER_ADMIN), "patient": token_of(platform, R.PATIENT)}


def slug(prefix: str = "p") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def admin(functions, method: str, path: str, token: str, body=None, query: dict | None = None):
    resource = re.sub(r"/items/[^/]+", "/items/{item_id}", path)
    resource = re.sub(r"/versions/[^/]+", "/versions/{version}", resource)
    params = {}
    if found := re.search(r"/items/([^/]+)", path):
        params["item_id"] = found.group(1)
    if found := re.search(r"/versions/([^/]+)", path):
        params["version"] = found.group(1)
    event = api_event(method, path, resource=resource, body=body, token=token, path_parameters=params or None)
    if isinstance(body, str):
        event["body"] = body
    if query:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return call(functions, ADMIN, event)


def public(functions, path: str, if_none_match: str | None = None) -> tuple[int, dict, dict | None]:
    """(status, headers, decoded body) of a public read, with no session."""
    resource, params = path, None
    if found := re.fullmatch(r"/content/(pages|notices|menus)/([^/]+)", path):
        resource, params = f"/content/{found.group(1)}/{{slug}}", {"slug": found.group(2)}
    headers = {"If-None-Match": if_none_match} if if_none_match else None
    invocation = functions.invoke(PUBLIC, api_event("GET", path, resource=resource, headers=headers,
                                                    path_parameters=params))
    assert invocation.ok, invocation.error_payload
    result = invocation.result
    body = result.get("body")
    return result["statusCode"], result.get("headers") or {}, (json.loads(body) if body else None)


def page_body(**fields) -> dict:
    return {"kind": "page", "slug": slug(), "title": "探视时间", "body_html": "<p>每日 15:00-20:00</p>", **fields}


def create(functions, token: str, body: dict) -> dict:
    status, answer = admin(functions, "POST", ITEMS, token, body)
    assert status == 201, answer
    return answer


def publish(functions, people, item_id: str, version: int) -> dict:
    status, answer = admin(functions, "POST", f"{ITEMS}/{item_id}/versions/{version}/submit", people["author"][1])
    assert status == 200, answer
    status, answer = admin(functions, "POST", f"{ITEMS}/{item_id}/versions/{version}/approve", people["reviewer"][1])
    assert status == 200, answer
    return answer


def edit(functions, token: str, item_id: str, base: int, **fields):
    body = {"base_version": base, "title": "探视时间", "body_html": "<p>新的</p>", **fields}
    return admin(functions, "POST", f"{ITEMS}/{item_id}/versions", token, body)


def counts() -> tuple[int, int]:
    with engine().connect() as conn:
        return (conn.execute(sa.select(sa.func.count()).select_from(tables.content_items)).scalar_one(),
                conn.execute(sa.select(sa.func.count()).select_from(tables.content_versions)).scalar_one())


def audited(item_id: str) -> list[tuple[str, str, int | None]]:
    c = tables.audit_log.c
    with engine().connect() as conn:
        rows = conn.execute(sa.select(c.action, c.result, c.actor_user_id)
                            .where(c.target_type == "content_item", c.target_id == item_id).order_by(c.seq)).all()
    return [tuple(r) for r in rows]


def states(item: dict) -> dict[int, str]:
    return {v["version"]: v["state"] for v in item["versions"]}


# ---- the workflow -------------------------------------------------------------------------------------

def test_a_page_goes_from_draft_to_review_to_publication_and_edits_wait_for_review_AD3(functions, people):
    body = page_body()
    item = create(functions, people["author"][1], body)
    assert item["status"] == "draft" and item["latest_version"] == 1 and states(item) == {1: "draft"}
    path = f"/content/pages/{body['slug']}"
    assert public(functions, path)[0] == 404

    status, item = admin(functions, "POST", f"{ITEMS}/{item['id']}/versions/1/submit", people["author"][1])
    assert status == 200 and states(item) == {1: "in_review"}
    assert public(functions, path)[0] == 404  # in review is not published

    status, item = admin(functions, "POST", f"{ITEMS}/{item['id']}/versions/1/approve", people["reviewer"][1],
                         {"note": "核对无误"})
    assert status == 200, item
    assert item["status"] == "published" and item["published_version"] == 1 and states(item) == {1: "approved"}
    assert item["published_by"] == people["reviewer"][0]
    status, headers, served = public(functions, path)
    assert status == 200
    assert served["title"] == "探视时间" and served["body_html"] == "<p>每日 15:00-20:00</p>" and served["version"] == 1
    first_etag = headers["ETag"]

    # An edit is a new draft; the public still reads version 1 until version 2 is approved.
    status, item = edit(functions, people["author"][1], item["id"], 1, title="探视时间（调整）")
    assert status == 201, item
    assert states(item) == {1: "approved", 2: "draft"} and item["published_version"] == 1
    status, headers, served = public(functions, path)
    assert served["version"] == 1 and served["title"] == "探视时间" and headers["ETag"] == first_etag
    admin(functions, "POST", f"{ITEMS}/{item['id']}/versions/2/submit", people["author"][1])
    assert public(functions, path)[2]["version"] == 1  # in review: still version 1

    status, item = admin(functions, "POST", f"{ITEMS}/{item['id']}/versions/2/approve", people["reviewer"][1])
    assert status == 200 and item["published_version"] == 2
    status, headers, served = public(functions, path)
    assert served["version"] == 2 and served["title"] == "探视时间（调整）" and headers["ETag"] != first_etag

    assert [a for a, _, _ in audited(item["id"])] == [
        "content.created", "content.submitted", "content.published", "content.edited", "content.submitted",
        "content.published"]


def test_the_author_may_not_approve_or_reject_their_own_version_four_eyes_AD3(functions, people):
    body = page_body()
    item = create(functions, people["author"][1], body)
    admin(functions, "POST", f"{ITEMS}/{item['id']}/versions/1/submit", people["author"][1])
    before = counts()

    for action, payload in (("approve", None), ("reject", {"note": "自己驳回"})):
        status, answer = admin(functions, "POST", f"{ITEMS}/{item['id']}/versions/1/{action}", people["author"][1],
                               payload)
        assert status == 403 and answer["error"]["code"] == "four_eyes" and answer["error"]["field"] == "version"

    status, item = admin(functions, "GET", f"{ITEMS}/{item['id']}", people["author"][1])
    assert item["status"] == "draft" and states(item) == {1: "in_review"} and counts() == before
    assert public(functions, f"/content/pages/{body['slug']}")[0] == 404
    assert ("content.published", "refused", people["author"][0]) in audited(item["id"])
    assert ("content.rejected", "refused", people["author"][0]) in audited(item["id"])


def test_a_rejected_version_needs_a_note_and_an_edit_starts_again_AD3(functions, people):
    item = create(functions, people["author"][1], page_body())
    admin(functions, "POST", f"{ITEMS}/{item['id']}/versions/1/submit", people["author"][1])
    reject = f"{ITEMS}/{item['id']}/versions/1/reject"
    status, answer = admin(functions, "POST", reject, people["reviewer"][1], {})
    assert status == 400 and answer["error"]["field"] == "note"
    status, answer = admin(functions, "POST", reject, people["reviewer"][1], {"note": "   "})
    assert status == 400 and answer["error"]["field"] == "note"

    status, item = admin(functions, "POST", reject, people["reviewer"][1], {"note": "电话号码有误"})
    assert status == 200 and states(item) == {1: "rejected"} and item["status"] == "draft"
    assert item["versions"][0]["review_note"] == "电话号码有误"
    status, again = admin(functions, "POST", reject, people["reviewer"][1], {"note": "again"})
    assert status == 409 and again["error"]["code"] == "wrong_state"
    status, answer = admin(functions, "POST", f"{ITEMS}/{item['id']}/versions/1/approve", people["reviewer"][1])
    assert status == 409 and answer["error"]["code"] == "wrong_state"

    status, item = edit(functions, people["author"][1], item["id"], 1)
    assert status == 201 and states(item) == {1: "rejected", 2: "draft"}


def test_unpublish_then_restore_an_old_version_through_review_again_AD3(functions, people):
    body = page_body(title="第一版")
    item = create(functions, people["author"][1], body)
    publish(functions, people, item["id"], 1)
    edit(functions, people["author"][1], item["id"], 1, title="第二版")
    publish(functions, people, item["id"], 2)
    path = f"/content/pages/{body['slug']}"
    assert public(functions, path)[2]["title"] == "第二版"

    status, item = admin(functions, "POST", f"{ITEMS}/{item['id']}/unpublish", people["reviewer"][1])
    assert status == 200 and item["status"] == "unpublished" and item["published_version"] is None
    assert public(functions, path)[0] == 404
    status, again = admin(functions, "POST", f"{ITEMS}/{item['id']}/unpublish", people["reviewer"][1])
    assert status == 409 and again["error"]["code"] == "not_published"

    status, item = admin(functions, "POST", f"{ITEMS}/{item['id']}/versions/1/restore", people["author"][1],
                         {"base_version": 2})
    assert status == 201, item
    assert states(item) == {1: "approved", 2: "approved", 3: "draft"} and item["versions"][0]["restored_from"] == 1
    assert public(functions, path)[0] == 404  # a restored version is reviewed before it is served
    status, preview = admin(functions, "GET", f"{ITEMS}/{item['id']}/versions/3", people["author"][1])
    assert status == 200 and preview["title"] == "第一版" and preview["published"] is False

    publish(functions, people, item["id"], 3)
    status, _, served = public(functions, path)
    assert status == 200 and served["title"] == "第一版" and served["version"] == 3
    actions = [a for a, _, _ in audited(item["id"])]
    assert "content.unpublished" in actions and "content.restored" in actions and "content.version_previewed" in actions


def test_an_edit_on_a_stale_base_version_is_refused_and_changes_nothing_AD3(functions, people):
    item = create(functions, people["author"][1], page_body())
    status, _ = edit(functions, people["author"][1], item["id"], 1)
    assert status == 201
    before = counts()
    status, answer = edit(functions, people["reviewer"][1], item["id"], 1, title="覆盖")
    assert status == 409 and answer["error"]["field"] == "base_version"
    status, answer = admin(functions, "POST", f"{ITEMS}/{item['id']}/versions/1/restore", people["author"][1],
                           {"base_version": 1})
    assert status == 409 and answer["error"]["field"] == "base_version"
    assert counts() == before
    # Only the latest version moves on: version 1 was superseded by version 2.
    status, answer = admin(functions, "POST", f"{ITEMS}/{item['id']}/versions/1/submit", people["author"][1])
    assert status == 409 and answer["error"]["code"] == "not_latest"
    status, item = admin(functions, "GET", f"{ITEMS}/{item['id']}", people["author"][1])
    assert states(item) == {1: "superseded", 2: "draft"}


def test_two_editors_saving_at_once_one_wins_the_other_is_told_AD3(functions, platform, mysql_db):
    author, reviewer = token_of(platform, R.IT_ADMIN), token_of(platform, R.SUPER_ADMIN)
    item = create(functions, author[1], page_body())
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda who: edit(functions, who[1], item["id"], 1, title=f"由 {who[0]}"),
                                [author, reviewer]))
    assert sorted(status for status, _ in results) == [201, 409]
    [loser] = [answer for status, answer in results if status == 409]
    assert loser["error"]["field"] == "base_version"
    _status, item = admin(functions, "GET", f"{ITEMS}/{item['id']}", author[1])
    assert states(item) == {1: "superseded", 2: "draft"} and item["latest_version"] == 2


def test_approving_twice_publishes_once_AD3(functions, people):
    item = create(functions, people["author"][1], page_body())
    publish(functions, people, item["id"], 1)
    status, answer = admin(functions, "POST", f"{ITEMS}/{item['id']}/versions/1/approve", people["reviewer"][1])
    assert status == 409 and answer["error"]["code"] == "wrong_state"
    assert [a for a, r, _ in audited(item["id"]) if a == "content.published" and r == "ok"] == ["content.published"]


# ---- bad input -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("change,field,status", [
    ({"slug": "Bad Slug"}, "slug", 400),
    ({"slug": "a" * 65}, "slug", 400),
    ({"kind": "banner"}, "kind", 400),
    ({"title": ""}, "title", 400),
    ({"title": "x" * 101}, "title", 400),
    ({"title": "标题\u202e"}, "title", 400),
    ({"body_html": None}, "body_html", 400),
    ({"body_html": "<script>alert(1)</script>"}, "body_html", 400),
    ({"body_html": "<p>" + "长" * 70_000 + "</p>"}, "body_html", 413),
    ({"menu": [{"title": "a", "page": "b"}]}, "menu", 400),
    ({"pinned": True}, "pinned", 400),
    ({"shown_from": "2027-02-01T00:00:00+08:00"}, "shown_from", 400),
    ({"colour": "red"}, "colour", 400),
    ({"kind": "menu", "body_html": None, "menu": [{"title": "挂号", "url": "http://example.org"}]}, "menu.0.url", 400),
    ({"kind": "menu", "body_html": None, "menu": [{"title": "a", "children": [
        {"title": "b", "children": [{"title": "c", "page": "d"}]}]}]}, "menu.0.children.0.children", 400),
    ({"kind": "menu", "menu": [{"title": "a", "page": "b"}]}, "body_html", 400),
    ({"kind": "notice", "shown_from": "2027-02-21T00:00:00+08:00", "shown_until": "2027-02-01T00:00:00+08:00"},
     "shown_until", 400),
    ({"kind": "notice", "shown_from": "2027-02-21T00:00:00"}, "shown_from", 400),
    ({"kind": "notice", "pinned": "yes"}, "pinned", 400),
])
def test_bad_input_names_its_field_and_changes_nothing_AD3(functions, people, change, field, status):
    before = counts()
    body = {k: v for k, v in {**page_body(), **change}.items() if v is not None}
    got, answer = admin(functions, "POST", ITEMS, people["author"][1], body)
    assert got == status, answer
    assert answer["error"]["field"] == field
    assert counts() == before


def test_a_slug_is_unique_per_kind_AD3(functions, people):
    body = page_body()
    create(functions, people["author"][1], body)
    before = counts()
    status, answer = admin(functions, "POST", ITEMS, people["author"][1], {**body, "title": "另一个"})
    assert status == 409 and answer["error"]["field"] == "slug" and answer["error"]["code"] == "slug_taken"
    assert counts() == before
    notice = {**body, "kind": "notice"}  # the same slug as a notice is another item
    assert admin(functions, "POST", ITEMS, people["author"][1], notice)[0] == 201


def test_bad_paths_and_bodies_are_refused_AD3(functions, people):
    token = people["author"][1]
    item = create(functions, token, page_body())
    assert admin(functions, "GET", f"{ITEMS}/{uuid.uuid4().hex}", token)[1]["error"]["field"] == "item_id"
    assert admin(functions, "GET", f"{ITEMS}/not-an-id", token)[0] == 404
    status, answer = admin(functions, "GET", f"{ITEMS}/{item['id']}/versions/0", token)
    assert status == 400 and answer["error"]["field"] == "version"
    status, answer = admin(functions, "GET", f"{ITEMS}/{item['id']}/versions/9", token)
    assert status == 404 and answer["error"]["field"] == "version"
    status, answer = admin(functions, "POST", f"{ITEMS}/{item['id']}/versions", token, "{not json")
    assert status == 400 and answer["error"]["field"] == "body"
    status, answer = edit(functions, token, item["id"], "1")
    assert status == 400 and answer["error"]["field"] == "base_version"
    status, answer = admin(functions, "GET", ITEMS, token, query={"kind": "banner"})
    assert status == 400 and answer["error"]["field"] == "kind"


def test_only_the_back_office_may_manage_content_AD3(functions, people):
    assert admin(functions, "POST", ITEMS, people["patient"][1], page_body())[0] == 403
    assert admin(functions, "GET", ITEMS, people["patient"][1])[0] == 403
    assert call(functions, ADMIN, api_event("GET", ITEMS))[0] == 401


# ---- sanitising ------------------------------------------------------------------------------------------

def test_rich_text_is_sanitised_on_the_way_in_and_served_clean_AD3(functions, people):
    body = page_body(body_html=(
        '<h2>就诊须知</h2><script>alert(1)</script><img src=x onerror=alert(1)>'
        '<a href="javascript:alert(1)">点我</a><svg onload=alert(1)></svg>'
        '<p style="width:expression(alert(1))" onclick="alert(1)">请带好身份证</p>'
        '<a href="&#106;avascript:alert(1)">x</a><iframe src="https://evil.example"></iframe>'
        '<img src="https://cdn.example.org/map.png" alt="地图"><a href="tel:021-12345678">电话</a>'))
    item = create(functions, people["author"][1], body)
    _status, preview = admin(functions, "GET", f"{ITEMS}/{item['id']}/versions/1", people["author"][1])
    stored = preview["body_html"]
    for bad in ("<script", "onerror", "javascript:", "<svg", "onload", "style=", "onclick", "<iframe", 'src="x"'):
        assert bad not in stored.lower(), stored
    assert '<img src="https://cdn.example.org/map.png" alt="地图">' in stored and 'href="tel:021-12345678"' in stored
    publish(functions, people, item["id"], 1)
    assert public(functions, f"/content/pages/{body['slug']}")[2]["body_html"] == stored


# ---- the public API --------------------------------------------------------------------------------------

def test_public_answers_are_cacheable_with_an_etag_and_304_AD3(functions, people):
    body = page_body()
    item = create(functions, people["author"][1], body)
    publish(functions, people, item["id"], 1)
    path = f"/content/pages/{body['slug']}"
    status, headers, _ = public(functions, path)
    assert status == 200
    assert headers["Cache-Control"] == "public, max-age=60, stale-while-revalidate=300"
    etag = headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)

    status, headers, served = public(functions, path, if_none_match=etag)
    assert status == 304 and served is None and headers["ETag"] == etag
    assert headers["Cache-Control"].startswith("public")
    assert public(functions, path, if_none_match=f'"stale", W/{etag}')[0] == 304
    assert public(functions, path, if_none_match='"stale"')[0] == 200

    edit(functions, people["author"][1], item["id"], 1, title="新")
    publish(functions, people, item["id"], 2)
    status, headers, served = public(functions, path, if_none_match=etag)
    assert status == 200 and headers["ETag"] != etag and served["title"] == "新"

    status, headers, _ = public(functions, "/content/pages/no-such-page")
    assert status == 404 and headers["Cache-Control"] == "no-store" and "ETag" not in headers
    assert public(functions, "/content/pages/Bad..Slug")[0] == 404


def test_the_public_api_never_serves_a_draft_or_a_version_in_review_AD3(functions, people):
    body = page_body(title="已发布")
    item = create(functions, people["author"][1], body)
    path = f"/content/pages/{body['slug']}"
    assert public(functions, path)[0] == 404  # never published
    publish(functions, people, item["id"], 1)
    edit(functions, people["author"][1], item["id"], 1, title="草稿", body_html="<p>草稿内容</p>")
    assert public(functions, path)[2]["title"] == "已发布"
    admin(functions, "POST", f"{ITEMS}/{item['id']}/versions/2/submit", people["author"][1])
    _status, _, served = public(functions, path)
    assert served["title"] == "已发布" and "草稿" not in json.dumps(served, ensure_ascii=False)
    admin(functions, "POST", f"{ITEMS}/{item['id']}/versions/2/reject", people["reviewer"][1], {"note": "不行"})
    assert public(functions, path)[2]["version"] == 1
    # A page's slug is not a notice's or a menu's.
    assert public(functions, f"/content/notices/{body['slug']}")[0] == 404
    assert public(functions, f"/content/menus/{body['slug']}")[0] == 404


def notice(functions, people, **fields) -> dict:
    body = {"kind": "notice", "slug": slug("n"), "title": "通知", "body_html": "<p>内容</p>", **fields}
    item = create(functions, people["author"][1], body)
    publish(functions, people, item["id"], 1)
    return body


def iso(moment: dt.datetime) -> str:
    return moment.replace(tzinfo=dt.UTC).isoformat()


def test_current_notices_pinned_first_within_their_window_AD3(functions, people):
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    day = dt.timedelta(days=1)
    plain = notice(functions, people, title="普通", shown_from=iso(now - day))
    pinned = notice(functions, people, title="置顶", pinned=True, shown_until=iso(now + day))
    newer = notice(functions, people, title="较新")
    future = notice(functions, people, title="未来", shown_from=iso(now + day))
    ended = notice(functions, people, title="已结束", shown_from=iso(now - 2 * day), shown_until=iso(now - day))
    draft = {"kind": "notice", "slug": slug("n"), "title": "草稿", "body_html": "<p>x</p>"}
    create(functions, people["author"][1], draft)

    status, headers, listed = public(functions, "/content/notices")
    assert status == 200 and headers["Cache-Control"].startswith("public")
    mine = [n["slug"] for n in listed["items"]
            if n["slug"] in {b["slug"] for b in (plain, pinned, newer, future, ended, draft)}]
    assert mine[0] == pinned["slug"] and mine[1:] == [newer["slug"], plain["slug"]]
    assert "body_html" not in listed["items"][0]

    status, _, shown = public(functions, f"/content/notices/{pinned['slug']}")
    assert status == 200 and shown["pinned"] is True and shown["body_html"] == "<p>内容</p>"
    for hidden in (future, ended, draft):
        assert public(functions, f"/content/notices/{hidden['slug']}")[0] == 404

    assert public(functions, "/content/notices", if_none_match=headers["ETag"])[0] == 304
    notice(functions, people, title="又一条")
    status, again, _ = public(functions, "/content/notices", if_none_match=headers["ETag"])
    assert status == 200 and again["ETag"] != headers["ETag"]


def test_a_menu_is_validated_published_and_served_AD3(functions, people):
    entries = [{"title": "预约挂号", "page": "registration"},
               {"title": "服务", "children": [{"title": "院内导航", "url": "https://map.example.org/h"}]}]
    body = {"kind": "menu", "slug": slug("m"), "title": "主菜单", "menu": entries}
    item = create(functions, people["author"][1], body)
    publish(functions, people, item["id"], 1)
    status, _headers, served = public(functions, f"/content/menus/{body['slug']}")
    assert status == 200 and served["entries"] == entries and served["title"] == "主菜单"
    status, answer = edit(functions, people["author"][1], item["id"], 1, body_html=None,
                          menu=[{"title": "x", "url": "javascript:alert(1)"}])
    assert status == 400 and answer["error"]["field"] == "menu.0.url"


# ---- listing and audit -----------------------------------------------------------------------------------

def test_the_back_office_lists_items_by_kind_status_and_review_state_AD3(functions, people):
    token = people["author"][1]
    waiting = create(functions, token, page_body())
    admin(functions, "POST", f"{ITEMS}/{waiting['id']}/versions/1/submit", token)
    live = create(functions, token, page_body())
    publish(functions, people, live["id"], 1)

    status, listed = admin(functions, "GET", ITEMS, token, query={"kind": "page", "state": "in_review"})
    ids = {i["id"] for i in listed["items"]}
    assert status == 200 and waiting["id"] in ids and live["id"] not in ids
    status, listed = admin(functions, "GET", ITEMS, token, query={"status": "published", "limit": "500"})
    ids = {i["id"] for i in listed["items"]}
    assert live["id"] in ids and waiting["id"] not in ids
    c = tables.audit_log.c
    with engine().connect() as conn:
        assert conn.execute(sa.select(c.id).where(c.action == "content.items_viewed",
                                                  c.actor_user_id == people["author"][0])).first() is not None
    assert ("content.item_viewed", "ok", people["reviewer"][0]) not in audited(live["id"])
    admin(functions, "GET", f"{ITEMS}/{live['id']}", people["reviewer"][1])
    assert ("content.item_viewed", "ok", people["reviewer"][0]) in audited(live["id"])
