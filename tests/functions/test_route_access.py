"""Every route of template.yaml requires a session unless it is one of the declared public
sign-in routes (WeChat, and the back office's password and second-factor steps), a payment
callback that verifies the platform's signature, a read of the WeChat site's published
content, or a monitor's health probe (ER1, NF1, AD3)."""
import re

import pytest

from infra.local.template import Template
from tests.conftest import ROOT, api_event, call

PUBLIC = {("POST", "/auth/wechat/mini-program"), ("POST", "/auth/wechat/oauth"), ("POST", "/auth/refresh"),
          # back-office sign-in: the password step, and the second factor carried by its challenge
          ("POST", "/auth/admin/login"), ("POST", "/auth/admin/totp/enrolment"), ("POST", "/auth/admin/totp/confirm"),
          ("POST", "/auth/admin/login/verify")}
# Platform callbacks have no session: they verify the platform's signature instead.
VERIFIED = {("POST", "/callbacks/wechatpay/v3"), ("POST", "/callbacks/wechatpay/v2/payment"),
            ("POST", "/callbacks/wechatpay/v2/refund"), ("POST", "/callbacks/credit"),
            ("POST", "/callbacks/medical-insurance")}

# The WeChat site's published content is public: whatever Authorization comes, it is not read.
PUBLIC_READS = {("GET", "/content/pages/{slug}"), ("GET", "/content/notices"), ("GET", "/content/notices/{slug}"),
                ("GET", "/content/menus/{slug}"),
                # A monitor's probe: no session, nothing but which dependencies answered.
                ("GET", "/health")}


def routes():
    template = Template.from_file(ROOT / "template.yaml")
    for lid, resource in template.resources.items():
        if resource.type != "AWS::Serverless::Function":
            continue
        for name, event in resource.properties.get("Events", {}).items():
            if event["Type"] == "Api":
                yield pytest.param(lid, event["Properties"]["Method"].upper(), event["Properties"]["Path"],
                                   id=f"{lid}.{name}")


@pytest.mark.parametrize("function,method,path", list(routes()))
@pytest.mark.parametrize("authorization", [None, "Bearer not.a.token", "Basic dXNlcjpwYXNz"])
def test_route_refuses_calls_without_a_valid_session_unless_public_NF1(
        functions, db, function, method, path, authorization):
    params = {name: "0" * 32 for name in re.findall(r"{(\w+)}", path)}
    concrete = re.sub(r"{(\w+)}", "0" * 32, path)
    headers = {"Authorization": authorization} if authorization else {}
    if (method, path) in VERIFIED:  # an unsigned call is refused in the platform's own format
        result = functions.invoke(function, api_event(method, concrete, resource=path, body={}, headers=headers)).result
        assert result["statusCode"] == 401
        assert ("FAIL" in result["body"] or '"infcode":-1' in result["body"])
        return
    status, body = call(functions, function,
                        api_event(method, concrete, resource=path, body={} if method == "POST" else None,
                                  headers=headers, path_parameters=params or None))
    if (method, path) in PUBLIC_READS:
        assert status in (200, 404), body  # the notices shown now, or no such published item; health
    elif (method, path) in PUBLIC:
        assert status == 400  # reaches validation: the empty body names its missing field
    else:
        assert status == 401
        assert body["error"]["code"] in ("unauthenticated", "invalid_session")
