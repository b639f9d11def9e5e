"""The FAQ (AS2): finance and the front desk (and the super admin) keep its entries, every
back-office and staff role reads and searches them. An edit names the version it was made
from; a stale one is refused (409) and changes nothing. Chinese search works the same on
MariaDB and SQLite: query terms are character bigrams (single characters for a one-character
query) and whole words; entries holding more of them rank first, question hits above answer
hits, then the most recently updated."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from hospital.auth import roles as R
from hospital.db import engine, tables
from tests.conftest import api_event, call
from tests.functions.test_external_calls import token_of

FN = "HelpdeskFunction"
ENTRY = "/admin/faq/entries/{entry_id}"


def api(functions, method: str, path: str, token: str, body=None, query: dict | None = None,
        resource: str | None = None, params: dict | None = None) -> tuple[int, dict]:
    event = api_event(method, path, token=token, body=body, resource=resource, path_parameters=params)
    if query:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return call(functions, FN, event)


def create(functions, token: str, question: str, answer: str = "请到一楼服务台咨询。", **fields) -> tuple[int, dict]:
    return api(functions, "POST", "/admin/faq/entries", token,
               {"question": question, "answer": answer, "category": "other", **fields})


def on_entry(functions, method: str, entry_id, token: str, body=None, query=None) -> tuple[int, dict]:
    return api(functions, method, ENTRY.format(entry_id=entry_id), token, body, query, resource=ENTRY,
               params={"entry_id": str(entry_id)})


def search(functions, token: str, q: str | None = None, **query) -> tuple[int, dict]:
    return api(functions, "GET", "/admin/faq/entries", token, query={**({"q": q} if q is not None else {}), **query})


def questions(page: dict) -> list[str]:
    return [item["question"] for item in page["items"]]


def state() -> tuple:
    """The FAQ as stored, its index and the audit log's length: what a refusal leaves alone."""
    with engine().connect() as conn:
        return (conn.execute(sa.select(tables.faq_entries).order_by(tables.faq_entries.c.id)).all(),
                conn.execute(sa.select(tables.faq_terms).order_by(tables.faq_terms.c.entry_id,
                                                                  tables.faq_terms.c.term)).all(),
                conn.execute(sa.select(sa.func.count()).select_from(tables.audit_log)).scalar_one())


@pytest.fixture
def empty_faq(db):
    """Search ranks the whole FAQ: each search test starts from none."""
    with engine().begin() as conn:
        conn.execute(tables.faq_terms.delete())
        conn.execute(tables.faq_entries.delete())


# ---- keeping the FAQ ----------------------------------------------------------------------------------

def test_finance_and_the_front_desk_keep_an_entry_with_versions_AS2(db, platform, functions):
    finance_id, finance = token_of(platform, R.FINANCE)
    desk_id, desk = token_of(platform, R.FRONT_DESK)
    status, entry = create(functions, finance, "挂号后如何退费？", "在“我的挂号”中取消，原路退回。",
                           category="payment_refund", tags=["退费"])
    assert status == 201, entry
    assert (entry["version"], entry["updated_by"], entry["tags"]) == (1, finance_id, ["退费"])
    number = entry["id"]
    edit = {"question": "挂号后如何办理退费？", "answer": "在“我的挂号”中取消并退费，1至3个工作日到账。",
            "category": "payment_refund", "tags": ["退费", "挂号"], "version": 1}
    status, edited = on_entry(functions, "PUT", number, desk, edit)
    assert status == 200, edited
    assert (edited["version"], edited["updated_by"], edited["created_by"]) == (2, desk_id, finance_id)

    before = state()
    status, answer = on_entry(functions, "PUT", number, finance, {**edit, "answer": "旧版本上的修改"})
    assert (status, answer["error"]["code"], answer["error"]["field"]) == (409, "stale_version", "version"), answer
    status, answer = on_entry(functions, "DELETE", number, finance, query={"version": "1"})
    assert (status, answer["error"]["code"]) == (409, "stale_version"), answer
    assert state() == before
    status, read = on_entry(functions, "GET", number, desk)
    assert status == 200 and read == edited

    assert on_entry(functions, "DELETE", number, finance, query={"version": "2"})[0] == 204
    assert on_entry(functions, "GET", number, desk)[0] == 404
    assert on_entry(functions, "PUT", number, desk, {**edit, "version": 2})[1]["error"]["field"] == "entry_id"
    with engine().connect() as conn:
        assert conn.execute(sa.select(tables.faq_terms).where(tables.faq_terms.c.entry_id == number)).all() == []
        c = tables.audit_log.c
        logged = conn.execute(sa.select(c.action, c.actor_user_id, c.details["version"]).where(
            c.target_type == "faq_entry", c.target_id == str(number)).order_by(c.seq)).all()
    assert [(action, actor) for action, actor, _ in logged] == [
        ("faq.entry_created", finance_id), ("faq.entry_updated", desk_id), ("faq.entry_deleted", finance_id)]


def test_an_edit_re_indexes_the_entry_AS2(empty_faq, platform, functions):
    _, finance = token_of(platform, R.FINANCE)
    _, entry = create(functions, finance, "发票在哪里打印", "自助机可打印。")
    assert questions(search(functions, finance, "发票")[1]) == ["发票在哪里打印"]
    on_entry(functions, "PUT", entry["id"], finance, {"question": "检查报告在哪里取", "answer": "自助机可打印。",
                                                      "category": "visiting", "version": 1})
    assert questions(search(functions, finance, "发票")[1]) == []
    assert questions(search(functions, finance, "报告")[1]) == ["检查报告在哪里取"]


BAD_ENTRIES = [
    ({"question": "  "}, "question"),
    ({"question": "问" * 201}, "question"),
    ({"question": "第一行\n第二行"}, "question"),
    ({"answer": ""}, "answer"),
    ({"answer": "答" * 5001}, "answer"),
    ({"category": "finance"}, "category"),
    ({"tags": ["标签"] * 11}, "tags"),
    ({"tags": ["长" * 21]}, "tags.0"),
    ({"tags": "退费"}, "tags"),
    ({"votes": 3}, "votes"),
]


def test_bad_input_names_the_field_and_changes_nothing_AS2(db, platform, functions):
    _, finance = token_of(platform, R.FINANCE)
    _, entry = create(functions, finance, "取药窗口在哪里", "门诊一楼。")
    before = state()
    good = {"question": "取药窗口在哪里？", "answer": "门诊一楼西侧。", "category": "visiting"}
    for fields, field in BAD_ENTRIES:
        status, answer = api(functions, "POST", "/admin/faq/entries", finance, {**good, **fields})
        assert (status, answer["error"]["field"]) == (400, field), (fields, answer)
        status, answer = on_entry(functions, "PUT", entry["id"], finance, {**good, "version": 1, **fields})
        assert (status, answer["error"]["field"]) == (400, field), (fields, answer)
    for version in (None, "0", 1.0, "1"):
        body = {**good, **({"version": version} if version is not None else {})}
        status, answer = on_entry(functions, "PUT", entry["id"], finance, body)
        assert (status, answer["error"]["field"]) == (400, "version"), (version, answer)
    for query in ({}, {"version": "x"}):
        status, answer = on_entry(functions, "DELETE", entry["id"], finance, query=query)
        assert (status, answer["error"]["field"]) == (400, "version"), answer
    assert on_entry(functions, "GET", "abc", finance)[1]["error"]["field"] == "entry_id"
    for query, field in (({"q": "，。！"}, "q"), ({"category": "x"}, "category"), ({"limit": "51"}, "limit"),
                         ({"sort": "new"}, "sort")):
        status, answer = api(functions, "GET", "/admin/faq/entries", finance, query=query)
        assert (status, answer["error"]["field"]) == (400, field), (query, answer)
    assert state() == before


@pytest.mark.parametrize("role", sorted(R.ALL))
def test_every_staff_role_reads_and_finance_and_the_front_desk_edit_AS2(db, platform, functions, role):
    _, token = token_of(platform, role)
    assert search(functions, token, "挂号")[0] == (403 if role == R.PATIENT else 200), role
    editors = (R.FINANCE, R.FRONT_DESK, R.SUPER_ADMIN)
    assert create(functions, token, f"测试问题{uuid.uuid4().hex[:6]}")[0] == (201 if role in editors else 403), role


# ---- search -------------------------------------------------------------------------------------------

def test_chinese_search_finds_by_bigrams_AS2(empty_faq, platform, functions):
    _, desk = token_of(platform, R.FRONT_DESK)
    for question, answer in (("如何办理挂号后的退费", "在我的挂号中取消。"),
                             ("医保卡怎么绑定", "在个人中心绑定医保电子凭证。"),
                             ("商业保险能报销吗", "请咨询您的保险公司。"),
                             ("WeChat 支付失败怎么办", "请检查零钱余额。")):
        assert create(functions, desk, question, answer)[0] == 201
    _, staff = token_of(platform, R.STAFF)
    status, page = search(functions, staff, "挂号退费")
    assert status == 200 and questions(page) == ["如何办理挂号后的退费"], page
    assert page["terms"] == ["挂号", "号退", "退费"] and page["items"][0]["matched"] == 2
    assert questions(search(functions, staff, "医保")[1]) == ["医保卡怎么绑定"]  # not 保险
    assert questions(search(functions, staff, "挂号，退费！")[1]) == ["如何办理挂号后的退费"]
    assert questions(search(functions, staff, "ＷＥＣＨＡＴ")[1]) == ["WeChat 支付失败怎么办"]
    assert set(questions(search(functions, staff, "保")[1])) == {"医保卡怎么绑定", "商业保险能报销吗"}
    assert questions(search(functions, staff, "住院")[1]) == []


def test_ranking_more_terms_then_question_hits_then_recency_AS2(empty_faq, platform, functions):
    _, finance = token_of(platform, R.FINANCE)
    create(functions, finance, "退费需要多久", "一般三天。")                      # 退费 in the question
    create(functions, finance, "缴费常见问题", "退费一般三天到账。")               # 退费 in the answer
    create(functions, finance, "退费到账时间", "原路退回，三天到账。")             # 退费 and 到账
    create(functions, finance, "退费找谁", "服务台。", category="payment_refund")  # newer than the first
    _, desk = token_of(platform, R.FRONT_DESK)
    status, page = search(functions, desk, "退费到账")
    assert status == 200
    assert questions(page) == ["退费到账时间", "缴费常见问题", "退费找谁", "退费需要多久"], page
    assert questions(search(functions, desk, "退费", category="payment_refund")[1]) == ["退费找谁"]
    assert questions(search(functions, desk, "退费", limit="2")[1]) == ["退费找谁", "退费到账时间"]


def test_without_a_query_the_entries_page_newest_first_AS2(empty_faq, platform, functions):
    _, finance = token_of(platform, R.FINANCE)
    made = [create(functions, finance, f"问题{n}")[1]["id"] for n in range(5)]
    seen, before = [], None
    while True:
        status, page = search(functions, finance, limit="2", **({"before": str(before)} if before else {}))
        assert status == 200, page
        seen += [item["id"] for item in page["items"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == made[::-1]
