"""What a record of an external call keeps (AS3), decided without I/O: its outcome from the
transport, its operation without the query string or the host, codes cut to code characters."""
import pytest

from hospital.external_calls import call_rules as rules


@pytest.mark.parametrize("status, timed_out, outcome", [
    (200, False, "ok"), (201, False, "ok"), (204, False, "ok"), (302, False, "ok"),
    (400, False, "refused"), (401, False, "refused"), (404, False, "refused"), (499, False, "refused"),
    (500, False, "error"), (503, False, "error"), (None, False, "error"), (None, True, "timeout"),
])
def test_the_transport_alone_decides_the_outcome_at_first_AS3(status, timed_out, outcome):
    assert rules.outcome_of(status, timed_out=timed_out) == outcome


@pytest.mark.parametrize("method, url, operation", [
    ("post", "https://api.mch.weixin.qq.com/v3/pay/transactions/jsapi", "POST /v3/pay/transactions/jsapi"),
    ("GET", "https://api.weixin.qq.com/sns/jscode2session?appid=wx1&secret=s3cr3t&js_code=c0de",
     "GET /sns/jscode2session"),
    ("POST", "http://127.0.0.1:7001/cgi-bin/message/subscribe/send?access_token=T0KEN#frag",
     "POST /cgi-bin/message/subscribe/send"),
    ("GET", "https://host.example", "GET /"),
    ("GET", "https://host.example?token=x", "GET /"),
    ("PUT", "/api/v1/prehospital-cases/abc", "PUT /api/v1/prehospital-cases/abc"),
])
def test_the_operation_is_the_method_and_path_only_AS3(method, url, operation):
    assert rules.operation_of(method, url) == operation


def test_a_long_path_is_cut_to_its_column_AS3():
    assert len(rules.operation_of("GET", "https://h/" + "a" * 500)) == rules.OPERATION_LENGTH


@pytest.mark.parametrize("given, kept", [
    ("E_NO_BILL", "E_NO_BILL"), (40001, "40001"), (-1, "-1"), ("ORDER_NOT_EXIST", "ORDER_NOT_EXIST"),
    ("bad code\n<script>", "badcodescript"), ("x" * 100, "x" * rules.CODE_LENGTH), ("", None), (None, None),
    ("  ", None),
])
def test_a_code_keeps_only_code_characters_AS3(given, kept):
    assert rules.code(given) == kept


def test_search_names_are_checked_by_shape_AS3():
    assert rules.SYSTEM.match("wechatpay_v3") and rules.SYSTEM.match("his")
    assert not any(rules.SYSTEM.match(name) for name in ("HIS", "his gateway", "", "1his", "a" * 33))
    assert rules.REFERENCE.match("0f" * 16) and rules.REFERENCE.match("RF-1_2")
    assert not any(rules.REFERENCE.match(ref) for ref in ("", "x" * 33, "a;b", "../x", "a b"))
