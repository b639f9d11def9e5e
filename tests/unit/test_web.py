"""The HTTP conventions every function shares: access declared per route, JSON errors."""
import json

import pytest

from hospital import answer_base, api_contract, web
from tests.conftest import api_event


class Value(answer_base.Answer):
    value: int | str | None


def invoke(app, event):
    result = app(event, None)
    return result["statusCode"], json.loads(result["body"]), result["headers"]


def test_a_route_must_declare_its_access_NF1():
    app = web.create_app("t", needs=())
    with pytest.raises(ValueError):
        web.route(app, "/x", methods=["GET"])(lambda: None)
    with pytest.raises(ValueError):
        web.route(app, "/x", methods=["GET"], permission="rescue.call", public=True)(lambda: None)
    with pytest.raises(ValueError, match="unknown permission"):
        web.route(app, "/x", methods=["GET"], permission="rescue.cal")(lambda: None)


def test_a_route_registered_around_the_rule_fails_closed_NF1():
    app = web.create_app("t", needs=())

    @app.route("/sneaky")
    def sneaky():
        return {"secret": 1}

    status, body, _ = invoke(app, api_event("GET", "/sneaky"))
    assert status == 500 and "secret" not in json.dumps(body)


def test_public_route_errors_are_json_with_correlation_id():
    app = web.create_app("t", needs=())

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
    app = web.create_app("t", needs=())

    @web.route(app, "/only-json", methods=["POST"], public=True)
    def only_json():
        return {}

    status, body, _ = invoke(app, api_event("POST", "/only-json", body="a=1",
                                            headers={"Content-Type": "application/x-www-form-urlencoded"}))
    assert status == 415
    assert body["error"]["code"] == "unsupported_media_type"
    assert body["error"]["field"] == "Content-Type"


def query_app():
    """A public route that reads each kind of query value the functions use."""
    app = web.create_app("t", needs=())

    @web.route(app, "/q", methods=["GET"], public=True, response=Value,
               query=(web.Choice("kind", ("int", "date", "time", "text")),
                      web.Int("limit", default=20, low=1, high=100), web.Date("from", required=False),
                      web.Time("since"), web.Text("q", max_length=5)))
    def read():
        args = web.args()
        if args.kind == "int":
            return web.respond({"value": args.limit})
        if args.kind == "date":
            return web.respond({"value": args.__dict__["from"].isoformat()})
        if args.kind == "text":
            return web.respond({"value": args.q})
        return web.respond({"value": args.since.isoformat() if args.since else None})

    return app


def ask(kind, **params):
    event = api_event("GET", "/q")
    event["queryStringParameters"] = {"kind": kind, **params}
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in event["queryStringParameters"].items()}
    status, body, _ = invoke(query_app(), event)
    return status, body


@pytest.mark.parametrize("raw", ["²", "١٢", "１２", "12.0", "0", "101", "9" * 5000])
def test_a_query_number_in_anything_but_ascii_digits_is_400_naming_it_NF5(raw):
    status, body = ask("int", limit=raw)
    assert status == 400 and body["error"]["field"] == "limit"


def test_a_query_number_in_ascii_digits_is_read_NF5():
    assert ask("int", limit="100") == (200, {"value": 100})
    assert ask("int") == (200, {"value": 20})


@pytest.mark.parametrize("raw", ["0001-01-01", "9999-12-31", "1999-12-31", "2100-01-01"])
def test_a_query_date_outside_2000_to_2099_is_400_naming_it_NF5(raw):
    status, body = ask("date", **{"from": raw})
    assert status == 400 and body["error"]["field"] == "from"


def test_query_dates_at_the_edges_are_read_NF5():
    assert ask("date", **{"from": "2000-01-01"}) == (200, {"value": "2000-01-01"})
    assert ask("date", **{"from": "2099-12-31"}) == (200, {"value": "2099-12-31"})


@pytest.mark.parametrize("raw", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1999-12-31T23:59:59Z"])
def test_a_query_time_that_overflows_or_is_implausible_is_400_naming_it_NF5(raw):
    status, body = ask("time", since=raw)
    assert status == 400 and body["error"]["field"] == "since"


def test_query_times_in_range_are_read_NF5():
    assert ask("time", since="2099-12-31T15:00:00-08:00") == (200, {"value": "2099-12-31T15:00:00-08:00"})
    assert ask("time") == (200, {"value": None})


@pytest.mark.parametrize("raw", ["abcdef", "a\u202eb", "a\x00"])
def test_query_text_too_long_or_with_control_characters_is_400_naming_it_NF5(raw):
    status, body = ask("text", q=raw)
    assert status == 400 and body["error"]["field"] == "q"


def test_an_unknown_choice_is_400_naming_it_and_undeclared_parameters_are_ignored_NF5():
    status, body = ask("nope")
    assert status == 400 and body["error"]["field"] == "kind"
    assert ask("text", q="abc", _t="1700000000") == (200, {"value": "abc"})


class Note(answer_base.Answer):
    text: str


def contract_app(answer, status=200):
    from pydantic import BaseModel

    class Post(BaseModel):
        text: str

    app = web.create_app("t", needs=())

    @web.route(app, "/c", methods=["POST"], public=True, body=Post, response=Note, errors=(409,))
    def post():
        """Post a note.

        It answers with the note."""
        if web.body().text == "conflict":
            from hospital.errors import Conflict
            raise Conflict("taken")
        return web.respond(answer, status=status)

    return app


def post_note(app, text="hi"):
    return invoke(app, api_event("POST", "/c", body={"text": text}))


def test_the_declared_body_model_is_what_the_handler_reads_NF5():
    status, body, _ = invoke(contract_app({"text": "x"}), api_event("POST", "/c", body={"txt": "x"}))
    assert status == 400 and body["error"]["field"] in ("text", "txt")


def test_an_answer_keeping_to_its_contract_passes_the_check(monkeypatch):
    monkeypatch.setenv(api_contract.CHECK_ENV, "1")
    assert post_note(contract_app({"text": "x"}))[:2] == (200, {"text": "x"})
    assert post_note(contract_app({"text": "x"}), "conflict")[0] == 409  # declared in errors=


@pytest.mark.parametrize("answer,status", [({"text": "x", "secret": 1}, 200), ({"text": 5}, 200),
                                           ({"text": "x"}, 202)])
def test_an_answer_breaking_its_contract_is_a_500_naming_the_breach_under_the_check(monkeypatch, answer, status):
    monkeypatch.setenv(api_contract.CHECK_ENV, "1")
    got, body, _ = post_note(contract_app(answer, status))
    assert got == 500 and body["error"]["code"] == "contract_breach"
    monkeypatch.delenv(api_contract.CHECK_ENV)
    assert post_note(contract_app(answer, status))[0] == status  # production does not pay for the check


def test_a_contract_lists_the_statuses_its_kind_of_route_may_answer():
    contract = contract_app({}).routes["/c"]["POST"].view_function.contract
    assert contract.statuses() == (200, 400, 409, 413, 415, 500, 503)
    assert contract.summary == "Post a note." and contract.description == "It answers with the note."


def test_a_route_with_a_body_to_answer_must_name_its_model():
    app = web.create_app("t", needs=())
    with pytest.raises(ValueError, match="response="):
        web.route(app, "/x", methods=["GET"], public=True, success=(200,))(lambda: None)
    with pytest.raises(ValueError, match="one method"):
        web.route(app, "/x", methods=["GET", "POST"], public=True)(lambda: None)


def strict_app():
    app = web.create_app("t", needs=())

    @web.route(app, "/s", methods=["GET"], public=True, response=Value, strict_query=True,
               query=(web.Text("q"),))
    def search():
        return web.respond({"value": web.args().q})

    return app


@pytest.mark.parametrize("name,field", [("qq", "qq"), ("", "query")])
def test_a_strict_query_refuses_an_unknown_parameter_naming_it_NF5(name, field):
    def with_query(params):
        event = api_event("GET", "/s")
        event["queryStringParameters"] = params
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in params.items()}
        return event

    status, body, _ = invoke(strict_app(), with_query({"q": "a", name: "1"}))
    assert status == 400 and body["error"]["field"] == field
    assert invoke(strict_app(), with_query({"q": "a"}))[:2] == (200, {"value": "a"})
