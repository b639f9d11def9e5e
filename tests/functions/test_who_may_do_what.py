"""The README's authorisation matrix and personal-data visibility table are what the code
does (NF1, AD2, EA3, ES1): both tables are read from README.md, compared with the routes of
template.yaml, their declared permissions and the roles a fresh database is seeded with, and
walked with every role through real events; every answer that shows someone else's personal
data leaves one audit record naming the fields."""
import datetime as dt
import re
import tempfile
import uuid

import pytest
import sqlalchemy as sa

from hospital.auth import permissions, sessions
from hospital.auth import roles as R
from hospital.db import engine, tables
from hospital.rescue import visibility
from hospital.timeutil import utcnow
from infra.local.template import Template
from tests.conftest import ROOT, api_event, call, make_patient
from tests.functions.test_rescue_dispatch import CALL, d, vehicle

ROLE_COLUMNS = ("patient", "staff", "dispatcher", "ed_nurse", "finance", "it_admin", "super_admin", "front_desk")


def readme_table(heading: str, *, leading: int = 1) -> list[list[str]]:
    """The rows (cells stripped) of the first table under a README heading, whose columns after
    the `leading` ones are the roles."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    rows = []
    for line in section.splitlines():
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    header, _rule, *body = rows
    assert tuple(header[leading:]) == ROLE_COLUMNS, header
    return body


def readme_matrix() -> dict[tuple[str, str], object]:
    """(method, path) -> "public" or (the permission named, the frozenset of roles marked ✓)."""
    matrix = {}
    for route, permission, *cells in readme_table("### Authorisation matrix", leading=2):
        method, path = route.strip("`").split(" ", 1)
        if set(cells) == {"public"}:
            assert permission == "public", route
            matrix[(method, path)] = "public"
        else:
            assert set(cells) <= {"✓", "·"}, route
            matrix[(method, path)] = (permission.strip("`"),
                                      frozenset(r for r, cell in zip(ROLE_COLUMNS, cells, strict=True) if cell == "✓"))
    return matrix


def allowed_roles(method: str, path: str) -> frozenset[str]:
    return readme_matrix()[(method, path)][1]


def readme_visibility() -> dict[str, frozenset[str]]:
    """role -> the personal fields the README says it may see."""
    seen: dict[str, set[str]] = {role: set() for role in ROLE_COLUMNS}
    for field_cell, *cells in readme_table("### Personal data: who sees which field of a rescue case"):
        name = re.match(r"`(\w+)`", field_cell).group(1)
        for role, cell in zip(ROLE_COLUMNS, cells, strict=True):
            assert cell in ("✓", "·", "own cases", "assigned crew"), (name, role, cell)
            if cell != "·":
                seen[role].add(name)
    return {role: frozenset(fields) for role, fields in seen.items()}


def template_routes():
    template = Template.from_file(ROOT / "template.yaml")
    for lid, resource in template.resources.items():
        if resource.type != "AWS::Serverless::Function":
            continue
        for event in resource.properties.get("Events", {}).values():
            if event["Type"] == "Api":
                yield lid, event["Properties"]["Method"].upper(), event["Properties"]["Path"]


ROUTES = sorted(template_routes())


def test_the_readme_matrix_lists_every_route_with_its_declared_permission_NF1_AD2(db, functions):
    matrix = readme_matrix()
    assert set(matrix) == {(method, path) for _, method, path in ROUTES}
    for lid, method, path in ROUTES:
        declared = functions.load(lid).routes[path][method].view_function.access  # the Chalice app
        expected = matrix[(method, path)]
        assert declared == (expected if expected == "public" else expected[0]), (method, path)


def test_the_roles_marked_are_the_seeded_roles_holding_the_route_s_permission_AD2():
    for route, entry in readme_matrix().items():
        if entry != "public":
            permission, marked = entry
            assert marked == {role for role, (_, held) in permissions.SEEDED.items() if permission in held}, route


def test_a_fresh_database_is_seeded_with_exactly_the_catalogue_s_roles_AD2(db):
    """The migrations write the seeded roles (a copy, as migrations must not change later): the
    same roles with the same permissions as hospital.auth.permissions.SEEDED, all built in."""
    from infra import devenv

    url = f"sqlite:///{tempfile.mkdtemp()}/fresh.db"
    devenv.migrate(url)
    fresh = sa.create_engine(url)
    with fresh.connect() as conn:
        seeded = {row.name: (row.label, bool(row.builtin)) for row in conn.execute(sa.select(tables.roles))}
        held: dict[str, set[str]] = {}
        for row in conn.execute(sa.select(tables.role_permissions)):
            held.setdefault(row.role, set()).add(row.permission)
    fresh.dispose()
    assert seeded == {role: (label, True) for role, (label, _) in permissions.SEEDED.items()}
    assert held == {role: set(perms) for role, (_, perms) in permissions.SEEDED.items()}


def test_the_readme_visibility_table_is_the_code_s_EA3():
    assert readme_visibility() == {role: visibility.BY_ROLE[role] for role in ROLE_COLUMNS}
    assert set(visibility.BY_ROLE) == set(ROLE_COLUMNS) == R.ALL


def single_role_user(role: str) -> str:
    """A token of a new user holding `role` alone."""
    from hospital.auth.tokens import Principal, issue_access_token

    with engine().begin() as conn:
        user_id = conn.execute(tables.users.insert().values(status="active", created_at=utcnow())
                               ).inserted_primary_key[0]
    sessions.grant_role(user_id, role)
    return issue_access_token(Principal(user_id=user_id, roles=frozenset({role})))


@pytest.mark.parametrize("function,method,path", [r for r in ROUTES if readme_matrix()[(r[1], r[2])] != "public"])
def test_each_role_reaches_only_the_routes_the_matrix_gives_it_NF1(db, platform, functions, function, method, path):
    allowed = allowed_roles(method, path)
    params = {name: uuid.uuid4().hex for name in re.findall(r"{(\w+)}", path)}
    concrete = path.format(**params)
    for role in sorted(R.ALL):
        token = single_role_user(role)
        status, body = call(functions, function, api_event(method, concrete, resource=path, token=token,
                                                           body={} if method in ("POST", "PUT") else None,
                                                           path_parameters=params or None))
        if role in allowed:
            assert status != 403, (role, status, body)
            assert status < 500, (role, status, body)
        else:
            assert status == 403, (role, status, body)


def test_a_token_role_the_user_no_longer_holds_reaches_nothing_NF1(db, platform, functions):
    """The matrix counts roles the user holds now, not roles a token once carried."""
    from hospital.auth.tokens import Principal, issue_access_token

    user, _ = make_patient(platform)
    token = issue_access_token(Principal(user_id=user.user_id, roles=frozenset({R.DISPATCHER})))
    status, _ = d(functions, token, "POST", body=CALL)
    assert status == 403


# --- personal data, walked per role ------------------------------------------------------------

def personal(view: dict) -> frozenset[str]:
    return frozenset(visibility.shown(view))


def viewed_audits(case_id: str, user_id: int) -> list[dict]:
    with engine().connect() as conn:
        return [row.details for row in conn.execute(
            sa.select(tables.audit_log.c.details).where(
                tables.audit_log.c.action == visibility.VIEWED, tables.audit_log.c.target_id == case_id,
                tables.audit_log.c.actor_user_id == user_id).order_by(tables.audit_log.c.id))]


def holder_of(platform, role):
    from hospital.auth.tokens import Principal, issue_access_token

    user, _ = make_patient(platform)
    if role != R.PATIENT:
        sessions.grant_role(user.user_id, role)
    return user, issue_access_token(Principal(user_id=user.user_id, roles=frozenset({role})))


def reads_of(role: str, case_id: str) -> list[tuple[str, dict]]:
    """Every route a role reads a rescue case by, as (function, event) with the token left out."""
    def event(path, resource):
        return api_event("GET", path, resource=resource, path_parameters={"case_id": case_id})

    dispatch_view = ("RescueDispatchFunction", event(f"/dispatch/cases/{case_id}", "/dispatch/cases/{case_id}"))
    admin_view = ("RescueAdminFunction", event(f"/admin/rescue/cases/{case_id}", "/admin/rescue/cases/{case_id}"))
    return {
        R.STAFF: [("RescueStaffFunction", event(f"/staff/cases/{case_id}", "/staff/cases/{case_id}"))],
        R.DISPATCHER: [dispatch_view],
        R.ED_NURSE: [dispatch_view, admin_view],
        R.IT_ADMIN: [admin_view],
        R.SUPER_ADMIN: [admin_view],
    }.get(role, [])


def with_token(event: dict, token: str) -> dict:
    """A copy of `event` carrying `token`."""
    return {**event, "headers": {**event["headers"], "Authorization": f"Bearer {token}"},
            "multiValueHeaders": {**event["multiValueHeaders"], "Authorization": [f"Bearer {token}"]}}


@pytest.mark.parametrize("role", sorted(R.ALL - {R.PATIENT}))
def test_each_role_sees_exactly_its_fields_of_a_phone_call_and_each_view_is_audited_EA3_ES1(
        db, platform, functions, role):
    """A phone intake has every personal field (location, address, complaint, caller's phone).
    Each role reads it by every route it has, sees exactly what the README gives it, and each
    read that shows anything leaves one audit record naming exactly those fields."""
    _, dtoken = holder_of(platform, R.DISPATCHER)
    user, token = holder_of(platform, role)
    case_id = d(functions, dtoken, "POST", body=CALL)[1]["case_id"]
    d(functions, dtoken, "POST", case_id, "/accept", {})
    if role == R.STAFF:  # the crew of the case's dispatch; other staff do not see it at all
        assert d(functions, dtoken, "POST", case_id, "/dispatch",
                 {"vehicle_id": vehicle(), "crew_user_ids": [user.user_id]})[0] == 200
    expected = readme_visibility()[role]
    reads = reads_of(role, case_id)
    if not reads:  # finance: no route to a rescue case
        assert readme_visibility()[role] == frozenset()
    for number, (function, event) in enumerate(reads, start=1):
        status, view = call(functions, function, with_token(event, token))
        assert status == 200, (role, function, view)
        assert personal(view) == expected, (role, function)
        audits = viewed_audits(case_id, user.user_id)
        if expected:
            assert len(audits) == number
            assert set(audits[-1]["fields"]) == expected
            assert role in audits[-1]["roles"]
        else:
            assert audits == []


def test_the_patient_sees_their_own_case_and_no_one_else_s_EA3(db, platform, functions):
    owner, owner_token = make_patient(platform)
    other, other_token = make_patient(platform)
    body = {"location": {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "gcj02"},
            "address_text": "人民大道200号", "complaint": "胸痛"}
    case_id = call(functions, "RescueApiFunction", api_event("POST", "/rescue/cases", body=body,
                                                             token=owner_token))[1]["case_id"]
    event = api_event("GET", f"/rescue/cases/{case_id}", resource="/rescue/cases/{case_id}",
                      path_parameters={"case_id": case_id})
    status, view = call(functions, "RescueApiFunction", with_token(event, owner_token))
    assert status == 200
    assert personal(view) == readme_visibility()[R.PATIENT] - {visibility.CALLER_PHONE}
    assert call(functions, "RescueApiFunction", with_token(event, other_token))[0] == 404
    # The intake's answer and the read each left one record, with the patient's role.
    audits = viewed_audits(case_id, owner.user_id)
    assert len(audits) == 2
    assert all(a["roles"] == ["patient"] for a in audits)
    assert all(set(a["fields"]) == {"location", "address_text", "complaint"} for a in audits)
    assert viewed_audits(case_id, other.user_id) == []


def test_a_patient_s_rescue_persons_are_audited_when_shown_EA3_ER10(db, platform, functions):
    owner, token = make_patient(platform)
    status, person = call(functions, "RescueApiFunction", api_event(
        "POST", "/rescue/persons", body={"name": "王秀英", "relation": "parent", "phone": "13912345678"}, token=token))
    assert status == 201
    call(functions, "RescueApiFunction", api_event("GET", "/rescue/persons", token=token))
    with engine().connect() as conn:
        rows = conn.execute(sa.select(tables.audit_log.c.target_id, tables.audit_log.c.details).where(
            tables.audit_log.c.action == visibility.VIEWED, tables.audit_log.c.target_type == "rescue_person",
            tables.audit_log.c.actor_user_id == owner.user_id).order_by(tables.audit_log.c.id)).all()
    assert [(r.target_id, r.details["fields"]) for r in rows] == [(person["person_id"], ["name", "phone"]),
                                                                  (None, ["name", "phone"])]
    assert rows[1].details["targets"] == [person["person_id"]]


def test_crew_lose_the_case_and_the_phone_when_their_dispatch_has_been_closed_a_while_ES1(
        db, platform, functions):
    from hospital.rescue import dispatch

    _, dtoken = holder_of(platform, R.DISPATCHER)
    crew, ctoken = holder_of(platform, R.STAFF)
    case_id = d(functions, dtoken, "POST", body=CALL)[1]["case_id"]
    d(functions, dtoken, "POST", case_id, "/accept", {})
    d(functions, dtoken, "POST", case_id, "/dispatch", {"vehicle_id": vehicle(), "crew_user_ids": [crew.user_id]})
    function, event = reads_of(R.STAFF, case_id)[0]
    # Closed just now: still within the grace, the crew finish their notes.
    with engine().begin() as conn:
        conn.execute(tables.dispatches.update().where(tables.dispatches.c.case_id == case_id)
                     .values(closed_at=utcnow()))
    status, view = call(functions, function, with_token(event, ctoken))
    assert status == 200
    assert view["caller_phone"] == CALL["caller_phone"]
    # Closed longer ago than the grace: the case is no longer theirs.
    with engine().begin() as conn:
        conn.execute(tables.dispatches.update().where(tables.dispatches.c.case_id == case_id)
                     .values(closed_at=utcnow() - dispatch.CREW_GRACE - dt.timedelta(seconds=1)))
    status, _ = call(functions, function, with_token(event, ctoken))
    assert status == 404


def test_a_dispatcher_may_assign_only_active_staff_ES1(db, platform, functions):
    _, dtoken = holder_of(platform, R.DISPATCHER)
    nurse, _ = holder_of(platform, R.ED_NURSE)
    patient, _ = make_patient(platform)
    crew, _ = holder_of(platform, R.STAFF)
    case_id = d(functions, dtoken, "POST", body=CALL)[1]["case_id"]
    d(functions, dtoken, "POST", case_id, "/accept", {})
    for not_crew in (nurse.user_id, patient.user_id):
        status, body = d(functions, dtoken, "POST", case_id, "/dispatch",
                         {"vehicle_id": vehicle(), "crew_user_ids": [crew.user_id, not_crew]})
        assert status == 400
        assert body["error"]["field"] == "crew_user_ids"
    sessions.set_disabled(crew.user_id, True)
    status, body = d(functions, dtoken, "POST", case_id, "/dispatch",
                     {"vehicle_id": vehicle(), "crew_user_ids": [crew.user_id]})
    assert status == 400
    assert body["error"]["field"] == "crew_user_ids"
    with engine().connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.dispatches)
                            .where(tables.dispatches.c.case_id == case_id)).scalar_one() == 0

