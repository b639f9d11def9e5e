"""Feedback tickets (AS2): the front desk files a ticket (category, text, an optional reference
to an order, a registration or a rescue case, checked to exist), IT works it open ->
in_progress -> resolved -> closed with a note at each move, the filer may reopen it once
resolved. The front desk sees and comments on its own tickets only; IT sees every ticket and
assigns it. The text is encrypted at rest; every action is audited; a retried create with the
same request_id makes one ticket; bad input names its field and changes nothing."""
from __future__ import annotations

import concurrent.futures
import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from hospital.auth import roles as R
from hospital.db import engine, tables
from hospital.helpdesk import models, tickets
from tests.conftest import api_event, call
from tests.functions.test_external_calls import token_of

FN = "HelpdeskFunction"
TICKET = "/admin/feedback/tickets/{ticket_id}"
LOCATION = {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "gcj02", "accuracy_m": 20.0}
_t = tables.feedback_tickets.c


def api(functions, method: str, path: str, token: str, body=None, query: dict | None = None,
        resource: str | None = None, params: dict | None = None) -> tuple[int, dict]:
    event = api_event(method, path, token=token, body=body, resource=resource, path_parameters=params)
    if query:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return call(functions, FN, event)


def file(functions, token: str, **fields) -> tuple[int, dict]:
    body = {"request_id": str(uuid.uuid4()), "category": "payment_refund", "text": "患者张三反映退费未到账", **fields}
    return api(functions, "POST", "/admin/feedback/tickets", token, body)


def on_ticket(functions, method: str, ticket_id, token: str, action: str = "", body=None) -> tuple[int, dict]:
    resource = TICKET + (f"/{action}" if action else "")
    return api(functions, method, resource.format(ticket_id=ticket_id), token, body, resource=resource,
               params={"ticket_id": str(ticket_id)})


def move(functions, ticket_id, token: str, status: str, note: str = "处理中") -> tuple[int, dict]:
    return on_ticket(functions, "POST", ticket_id, token, "status", {"status": status, "note": note})


def listing(functions, token: str, **query) -> tuple[int, dict]:
    return api(functions, "GET", "/admin/feedback/tickets", token, query=query or None)


def state() -> tuple[int, int, int]:
    """Tickets, their events and audit entries: what a refused request must leave unchanged."""
    with engine().connect() as conn:
        return tuple(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                     for table in (tables.feedback_tickets, tables.feedback_ticket_events, tables.audit_log))


def audits(target_id) -> list[tuple[str, int, str]]:
    c = tables.audit_log.c
    with engine().connect() as conn:
        return [tuple(row) for row in conn.execute(
            sa.select(c.action, c.actor_user_id, c.result).where(c.target_type == "feedback_ticket",
                                                                 c.target_id == str(target_id)).order_by(c.seq))]


def a_case(platform) -> str:
    from hospital.rescue import intake
    from hospital.rescue import models as rescue_models
    from tests.conftest import make_patient

    patient, _ = make_patient(platform)
    case, _ = intake.create_case(patient, rescue_models.CaseIntake.model_validate({"location": LOCATION}))
    return case["case_id"]


def a_booking(platform, functions) -> dict:
    """A registration held for tomorrow, and the order that pays it."""
    from tests.outpatient.support import book, doctor_with_slots, hospital_today, patient_with_card

    _, token, card, _ = patient_with_card(platform, functions)
    status, held = book(functions, token, card["card_id"], doctor_with_slots(platform, hospital_today()
                                                                              + dt.timedelta(days=1)))
    assert status == 201, held
    return held


# ---- the flow -----------------------------------------------------------------------------------------

def test_the_front_desk_files_and_it_works_the_ticket_to_closed_AS2(db, platform, functions):
    desk_id, desk = token_of(platform, R.FRONT_DESK)
    it_id, it = token_of(platform, R.IT_ADMIN)
    case_id = a_case(platform)
    status, ticket = file(functions, desk, category="rescue", text="患者李四（电话13800000000）说急救定位不准",
                          reference={"type": "case", "id": case_id})
    assert status == 201, ticket
    number = ticket["id"]
    assert ticket["status"] == "open" and ticket["filed_by"] == desk_id and ticket["assignee_user_id"] is None
    assert ticket["reference"] == {"type": "case", "id": case_id}
    with engine().connect() as conn:
        sealed = conn.execute(sa.select(_t.text_enc).where(_t.id == number)).scalar_one()
    assert b"13800000000" not in sealed and "李四".encode() not in sealed  # encrypted at rest

    status, page = listing(functions, it, status="open")
    assert status == 200 and number in [item["id"] for item in page["items"]], page
    status, seen = on_ticket(functions, "GET", number, it)
    assert status == 200 and seen["text"] == "患者李四（电话13800000000）说急救定位不准", seen
    assert seen["next_statuses"] == ["in_progress"] and seen["may_comment"] is True

    assert on_ticket(functions, "PUT", number, it, "assignee", {"assignee_user_id": it_id})[0] == 200
    assert move(functions, number, it, "in_progress", "已联系定位服务商")[0] == 200
    status, resolved = move(functions, number, it, "resolved", "已修复，请前台回访")
    assert status == 200 and resolved["status"] == "resolved", resolved
    status, reopened = move(functions, number, desk, "in_progress", "患者说仍不准")
    assert status == 200 and reopened["status"] == "in_progress", reopened
    status, commented = on_ticket(functions, "POST", number, desk, "comments", {"note": "患者下午再来电"})
    assert status == 201, commented
    assert move(functions, number, it, "resolved", "第二次修复")[0] == 200
    status, closed = move(functions, number, it, "closed", "回访确认")
    assert status == 200 and closed["status"] == "closed" and closed["next_statuses"] == [], closed

    assert [(e["kind"], e["from_status"], e["to_status"], e["actor_user_id"], e["note"]) for e in closed["events"]] == [
        ("filed", None, "open", desk_id, None),
        ("assigned", None, None, it_id, None),
        ("status", "open", "in_progress", it_id, "已联系定位服务商"),
        ("status", "in_progress", "resolved", it_id, "已修复，请前台回访"),
        ("status", "resolved", "in_progress", desk_id, "患者说仍不准"),
        ("comment", None, None, desk_id, "患者下午再来电"),
        ("status", "in_progress", "resolved", it_id, "第二次修复"),
        ("status", "resolved", "closed", it_id, "回访确认"),
    ]
    assert closed["assignee_user_id"] == it_id
    assert audits(number) == [
        ("feedback.ticket_filed", desk_id, "ok"), ("feedback.ticket_viewed", it_id, "ok"),
        ("feedback.ticket_assigned", it_id, "ok"), ("feedback.ticket_moved", it_id, "ok"),
        ("feedback.ticket_moved", it_id, "ok"), ("feedback.ticket_moved", desk_id, "ok"),
        ("feedback.ticket_commented", desk_id, "ok"), ("feedback.ticket_moved", it_id, "ok"),
        ("feedback.ticket_moved", it_id, "ok")]


def test_the_front_desk_sees_only_the_tickets_it_filed_AS2(db, platform, functions):
    _, desk = token_of(platform, R.FRONT_DESK)
    other_id, other = token_of(platform, R.FRONT_DESK)
    _, it = token_of(platform, R.IT_ADMIN)
    _, mine = file(functions, desk)
    _, theirs = file(functions, other, text="另一位前台的工单")
    status, page = listing(functions, desk)
    assert status == 200 and [item["id"] for item in page["items"]] == [mine["id"]], page
    status, page = listing(functions, desk, mine="false")  # the front desk cannot widen it
    assert [item["id"] for item in page["items"]] == [mine["id"]], page
    before = state()
    for method, action, body in (("GET", "", None), ("POST", "comments", {"note": "看看"}),
                                 ("POST", "status", {"status": "in_progress", "note": "x"})):
        status, answer = on_ticket(functions, method, theirs["id"], desk, action, body)
        assert (status, answer["error"]["field"]) == (404, "ticket_id"), (action, answer)
    assert state() == before
    status, page = listing(functions, it, limit="100")
    assert {mine["id"], theirs["id"]} <= {item["id"] for item in page["items"]}
    assert on_ticket(functions, "GET", theirs["id"], it)[1]["filed_by"] == other_id


# ---- who moves what ----------------------------------------------------------------------------------

def test_only_it_works_a_ticket_and_only_the_filer_reopens_it_AS2(db, platform, functions):
    _, desk = token_of(platform, R.FRONT_DESK)
    _, it = token_of(platform, R.IT_ADMIN)
    _, ticket = file(functions, desk)
    number = ticket["id"]
    before = state()
    status, answer = move(functions, number, desk, "in_progress")
    assert (status, answer["error"]["field"]) == (403, "status"), answer
    status, answer = move(functions, number, it, "closed")
    assert (status, answer["error"]["code"], answer["error"]["field"]) == (409, "invalid_transition", "status")
    status, answer = on_ticket(functions, "PUT", number, desk, "assignee", {"assignee_user_id": 1})
    assert status == 403, answer
    status, answer = on_ticket(functions, "PUT", number, it, "assignee", {"assignee_user_id": ticket["filed_by"]})
    assert (status, answer["error"]["field"]) == (400, "assignee_user_id"), answer
    assert state() == before

    move(functions, number, it, "in_progress")
    move(functions, number, it, "resolved")
    status, answer = move(functions, number, it, "in_progress")  # reopening is the filer's
    assert (status, answer["error"]["field"]) == (403, "status"), answer
    assert move(functions, number, it, "closed")[0] == 200
    it_two_id, it_two = token_of(platform, R.IT_ADMIN)
    before = state()
    status, answer = move(functions, number, desk, "in_progress")  # closed is final
    assert (status, answer["error"]["code"]) == (409, "invalid_transition"), answer
    status, answer = on_ticket(functions, "POST", number, desk, "comments", {"note": "还有问题"})
    assert (status, answer["error"]["code"]) == (409, "ticket_closed"), answer
    status, answer = on_ticket(functions, "PUT", number, it_two, "assignee", {"assignee_user_id": it_two_id})
    assert (status, answer["error"]["code"]) == (409, "ticket_closed"), answer
    assert state() == before


def test_a_repeated_move_changes_nothing_twice_AS2(db, platform, functions):
    _, desk = token_of(platform, R.FRONT_DESK)
    _, it = token_of(platform, R.IT_ADMIN)
    _, ticket = file(functions, desk)
    assert move(functions, ticket["id"], it, "in_progress")[0] == 200
    before = state()
    status, answer = move(functions, ticket["id"], it, "in_progress")
    assert (status, answer["error"]["code"]) == (409, "invalid_transition"), answer
    assert state() == before


@pytest.mark.parametrize("role", sorted(R.ALL))
def test_who_may_file_list_and_work_tickets_AS2(db, platform, functions, role):
    _, token = token_of(platform, role)
    filed = file(functions, token)[0]
    assert filed == (201 if role in (R.FRONT_DESK, R.SUPER_ADMIN) else 403), role
    listed = listing(functions, token)[0]
    assert listed == (200 if role in (R.FRONT_DESK, R.IT_ADMIN, R.SUPER_ADMIN) else 403), role


# ---- input ----------------------------------------------------------------------------------------------

BAD_TICKETS = [
    ({"request_id": None}, "request_id"),
    ({"request_id": "not-a-uuid"}, "request_id"),
    ({"category": "complaint"}, "category"),
    ({"text": "   "}, "text"),
    ({"text": "退" * 2001}, "text"),
    ({"text": "退费\u202e未到账"}, "text"),
    ({"reference": {"type": "invoice", "id": "a" * 32}}, "reference.type"),
    ({"reference": {"type": "order", "id": "ORDER-1"}}, "reference.id"),
    ({"reference": {"type": "order"}}, "reference.id"),
    ({"priority": "high"}, "priority"),
]


def test_bad_input_names_the_field_and_changes_nothing_AS2(db, platform, functions):
    _, desk = token_of(platform, R.FRONT_DESK)
    before = state()
    for fields, field in BAD_TICKETS:
        body = {"request_id": str(uuid.uuid4()), "category": "other", "text": "退费未到账", **fields}
        body = {k: v for k, v in body.items() if v is not None}
        status, answer = api(functions, "POST", "/admin/feedback/tickets", desk, body)
        assert (status, answer["error"]["field"]) == (400, field), (fields, answer)
    status, answer = api(functions, "POST", "/admin/feedback/tickets", desk, "not json")
    assert (status, answer["error"]["field"]) == (400, "body"), answer
    for query, field in (({"status": "done"}, "status"), ({"category": "x"}, "category"), ({"mine": "yes"}, "mine"),
                         ({"limit": "0"}, "limit"), ({"before": "-1"}, "before"), ({"owner": "1"}, "owner")):
        status, answer = listing(functions, desk, **query)
        assert (status, answer["error"]["field"]) == (400, field), (query, answer)
    status, answer = on_ticket(functions, "GET", "abc", desk)
    assert (status, answer["error"]["field"]) == (400, "ticket_id"), answer
    status, answer = on_ticket(functions, "POST", "1", desk, "status", {"status": "done", "note": "x"})
    assert (status, answer["error"]["field"]) == (400, "status"), answer
    status, answer = on_ticket(functions, "POST", "1", desk, "comments", {"note": ""})
    assert (status, answer["error"]["field"]) == (400, "note"), answer
    assert state() == before


def test_a_reference_must_name_a_record_that_exists_AS2(db, platform, functions):
    _, desk = token_of(platform, R.FRONT_DESK)
    held = a_booking(platform, functions)
    for kind, record_id in (("order", held["order_id"]), ("registration", held["registration_id"]),
                            ("case", a_case(platform))):
        status, ticket = file(functions, desk, reference={"type": kind, "id": record_id})
        assert status == 201 and ticket["reference"] == {"type": kind, "id": record_id}, ticket
    before = state()
    for kind in ("order", "registration", "case"):
        status, answer = file(functions, desk, reference={"type": kind, "id": uuid.uuid4().hex})
        assert (status, answer["error"]["code"], answer["error"]["field"]) == (404, "unknown_reference",
                                                                                 "reference.id"), answer
    assert state() == before


# ---- idempotent create ---------------------------------------------------------------------------------

def test_a_retried_create_makes_one_ticket_AS2(db, platform, functions):
    desk_id, desk = token_of(platform, R.FRONT_DESK)
    _, other = token_of(platform, R.FRONT_DESK)
    body = {"request_id": str(uuid.uuid4()), "category": "registration", "text": "挂号页面打不开"}
    status, first = api(functions, "POST", "/admin/feedback/tickets", desk, body)
    assert status == 201, first
    status, again = api(functions, "POST", "/admin/feedback/tickets", desk, body)
    assert (status, again) == (200, first)
    with engine().connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.feedback_tickets)
                            .where(_t.filed_by == desk_id)).scalar_one() == 1
    tickets_before, events_before, _ = state()
    for token, changed in ((desk, {"text": "另一件事"}), (desk, {"category": "other"}), (other, {})):
        status, answer = api(functions, "POST", "/admin/feedback/tickets", token, {**body, **changed})
        assert (status, answer["error"]["code"], answer["error"]["field"]) == (409, "request_id_reused",
                                                                                 "request_id"), answer
    assert state()[:2] == (tickets_before, events_before)
    assert [result for action, _, result in audits(first["id"])] == ["ok", "replayed", "refused", "refused",
                                                                       "refused"]


def test_concurrent_retries_make_one_ticket_AS2(mysql_db, platform):
    from hospital.auth.tokens import verify_access_token

    desk_id, desk = token_of(platform, R.FRONT_DESK)
    principal = verify_access_token(desk)
    body = models.NewTicket.model_validate({"request_id": str(uuid.uuid4()), "category": "other",
                                            "text": "同时提交两次"})
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: tickets.create(principal, body), range(4)))
    assert len({ticket["id"] for ticket, _ in answers}) == 1
    assert sorted(created for _, created in answers) == [False, False, False, True]
    with engine().connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.feedback_tickets)
                            .where(_t.filed_by == desk_id)).scalar_one() == 1


# ---- listing ------------------------------------------------------------------------------------------

def test_listing_filters_and_pages_newest_first_AS2(db, platform, functions):
    _, desk = token_of(platform, R.FRONT_DESK)
    it_id, it = token_of(platform, R.IT_ADMIN)
    filed = [file(functions, desk, category=category)[1]["id"]
             for category in ("registration", "payment_refund", "registration", "content", "registration")]
    seen, before = [], None
    while True:
        query = {"limit": "2", **({"before": str(before)} if before else {})}
        status, page = listing(functions, desk, **query)
        assert status == 200, page
        seen += [item["id"] for item in page["items"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == filed[::-1]
    status, page = listing(functions, desk, category="registration")
    assert [item["id"] for item in page["items"]] == [filed[4], filed[2], filed[0]]
    on_ticket(functions, "PUT", filed[1], it, "assignee", {"assignee_user_id": it_id})
    move(functions, filed[3], it, "in_progress")
    status, page = listing(functions, it, mine="true")
    assert [item["id"] for item in page["items"]] == [filed[1]], page
    status, page = listing(functions, desk, status="in_progress")
    assert [item["id"] for item in page["items"]] == [filed[3]], page
    c = tables.audit_log.c
    with engine().connect() as conn:
        last = conn.execute(sa.select(c.action, c.details).where(c.actor_user_id == it_id)
                            .order_by(c.seq.desc()).limit(1)).one()
    assert last.action == "feedback.tickets_listed" and last.details == {"filters": {"mine": True, "limit": 20},
                                                                         "count": 1}


# ---- the role ---------------------------------------------------------------------------------------

def test_the_front_desk_role_is_granted_by_the_operator_and_sees_no_rescue_case_AS2(db, platform, functions):
    from hospital.auth import sessions
    from hospital.auth.tokens import verify_access_token
    from infra import manage

    user_id = sessions.sign_in_identity(platform.mini_program_app_id, f"o-desk-{uuid.uuid4().hex[:8]}")["user"]["id"]
    assert manage.main(["grant-role", str(user_id), "front_desk"]) == 0
    with engine().connect() as conn:
        held = conn.execute(sa.select(tables.user_roles.c.role).where(tables.user_roles.c.user_id == user_id)).all()
    assert "front_desk" in {role for role, in held}
    _, desk = token_of(platform, R.FRONT_DESK)
    assert verify_access_token(desk).roles == frozenset({R.FRONT_DESK})
    case_id = a_case(platform)
    resource = "/admin/rescue/cases/{case_id}"
    status, answer = call(functions, "RescueAdminFunction", api_event(
        "GET", resource.format(case_id=case_id), resource=resource, token=desk, path_parameters={"case_id": case_id}))
    assert status == 403, answer
    # The desk may name the case on a ticket: its id, nothing of its content.
    status, ticket = file(functions, desk, category="rescue", reference={"type": "case", "id": case_id})
    assert status == 201 and ticket["reference"] == {"type": "case", "id": case_id}, ticket
