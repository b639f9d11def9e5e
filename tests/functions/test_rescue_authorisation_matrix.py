"""The authorisation matrix of every rescue route, walked with every role (issue 3, item 9;
NF1). The expected table is written out here, independent of the route declarations, and
every rescue route of template.yaml must appear in it."""
import re
import uuid

import pytest

from hospital.auth import roles as R
from infra.local.template import Template
from tests.conftest import ROOT, api_event, call, make_patient

PATIENT, DISPATCHER, STAFF, NURSE = {R.PATIENT}, {R.DISPATCHER}, {R.STAFF}, {R.ED_NURSE}
BACK_OFFICE = {R.SUPER_ADMIN, R.IT_ADMIN, R.ED_NURSE}
EXPECTED = {
    ("POST", "/rescue/cases"): PATIENT,
    ("GET", "/rescue/cases"): PATIENT,
    ("GET", "/rescue/cases/{case_id}"): PATIENT,
    ("POST", "/rescue/cases/{case_id}/location"): PATIENT,
    ("POST", "/rescue/cases/{case_id}/cancel"): PATIENT,
    ("GET", "/rescue/cases/{case_id}/ambulance"): PATIENT,
    ("GET", "/rescue/profile-link"): PATIENT,
    ("POST", "/rescue/profile-link"): PATIENT,
    ("DELETE", "/rescue/profile-link"): PATIENT,
    ("GET", "/rescue/persons"): PATIENT,
    ("POST", "/rescue/persons"): PATIENT,
    ("GET", "/rescue/persons/{person_id}"): PATIENT,
    ("PUT", "/rescue/persons/{person_id}"): PATIENT,
    ("DELETE", "/rescue/persons/{person_id}"): PATIENT,
    ("POST", "/dispatch/cases"): DISPATCHER,
    ("GET", "/dispatch/cases/{case_id}"): DISPATCHER | NURSE,
    ("POST", "/dispatch/cases/{case_id}/acknowledge"): DISPATCHER | NURSE,
    ("POST", "/dispatch/cases/{case_id}/accept"): DISPATCHER | NURSE,
    ("POST", "/dispatch/cases/{case_id}/decision"): DISPATCHER,
    ("POST", "/dispatch/cases/{case_id}/dispatch"): DISPATCHER,
    ("POST", "/dispatch/cases/{case_id}/cancel"): DISPATCHER,
    ("POST", "/dispatch/cases/{case_id}/complete"): DISPATCHER,
    ("POST", "/dispatch/cases/{case_id}/guidance"): DISPATCHER | NURSE,
    ("POST", "/dispatch/cases/{case_id}/guidance/{session_id}/end"): DISPATCHER | NURSE,
    ("GET", "/staff/cases/{case_id}"): STAFF,
    ("POST", "/staff/cases/{case_id}/progress"): STAFF,
    ("POST", "/staff/vehicles/{vehicle_id}/positions"): STAFF,
    ("PUT", "/staff/duty"): STAFF | NURSE,
    ("GET", "/admin/rescue/dispatches"): BACK_OFFICE,
    ("GET", "/admin/rescue/cases/{case_id}"): BACK_OFFICE,
}
RESCUE_PREFIXES = ("/rescue/", "/dispatch/", "/staff/", "/admin/rescue/")


def template_routes():
    template = Template.from_file(ROOT / "template.yaml")
    for lid, resource in template.resources.items():
        if resource.type != "AWS::Serverless::Function":
            continue
        for event in resource.properties.get("Events", {}).values():
            props = event["Properties"]
            if event["Type"] == "Api" and props["Path"].startswith(RESCUE_PREFIXES):
                yield lid, props["Method"].upper(), props["Path"]


def test_every_rescue_route_is_in_the_matrix():
    assert {(m, p) for _, m, p in template_routes()} == set(EXPECTED)


@pytest.mark.parametrize("function,method,path", sorted(template_routes()))
def test_each_role_reaches_only_its_rescue_routes_NF1(db, platform, functions, function, method, path):
    from hospital.auth.tokens import Principal, issue_access_token

    user, _ = make_patient(platform)  # a real user, so allowed calls can reach the database
    params = {name: uuid.uuid4().hex for name in re.findall(r"{(\w+)}", path)}
    concrete = path.format(**params)
    for role in sorted(R.ALL):
        token = issue_access_token(Principal(user_id=user.user_id, roles=frozenset({role})))
        status, body = call(functions, function, api_event(method, concrete, resource=path, token=token,
                                                           body={} if method in ("POST", "PUT") else None,
                                                           path_parameters=params or None))
        if role in EXPECTED[(method, path)]:
            assert status != 403 and status < 500, (role, status, body)
        else:
            assert status == 403, (role, status, body)
