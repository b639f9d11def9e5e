"""The HTTP conventions every function shares: access declared per route, JSON errors."""
import json

import pytest

from hospital import web
from tests.conftest import api_event


def invoke(app, event):
    result = app(event, None)
    return result["statusCode"], json.loads(result["body"]), result["headers"]


def test_a_route_must_declare_its_access_NF1():
    app = web.create_app("t")
    with pytest.raises(ValueError):
        web.route(app, "/x", methods=["GET"])(lambda: None)
    with pytest.raises(ValueError):
        web.route(app, "/x", methods=["GET"], allow={"patient"}, public=True)(lambda: None)


def test_a_route_registered_around_the_rule_fails_closed_NF1():
    app = web.create_app("t")

    @app.route("/sneaky")
    def sneaky():
        return {"secret": 1}

    status, body, _ = invoke(app, api_event("GET", "/sneaky"))
    assert status == 500 and "secret" not in json.dumps(body)


def test_public_route_errors_are_json_with_correlation_id():
    app = web.create_app("t")

    @web.route(app, "/boom", methods=["POST"], public=True)
    def boom():
        raise RuntimeError("database password is hunter2")

    event = api_event("POST", "/boom", body={}, headers={"X-Correlation-Id": "corr-abc"})
    status, body, headers = invoke(app, event)
    assert status == 500
    assert body == {"error": {"code": "internal_error", "message": "internal error", "field": None}}
    assert headers["X-Correlation-Id"] == "corr-abc"
    assert headers["Cache-Control"] == "no-store"


def test_chalice_own_refusals_take_our_error_shape():
    app = web.create_app("t")

    @web.route(app, "/only-json", methods=["POST"], public=True)
    def only_json():
        return {}

    status, body, _ = invoke(app, api_event("POST", "/only-json", body="a=1",
                                            headers={"Content-Type": "application/x-www-form-urlencoded"}))
    assert status == 415
    assert body["error"]["code"] == "unsupported_media_type"
    assert body["error"]["field"] == "Content-Type"
