"""The caller as things stand now (NF1): the pure decision behind every authenticated call."""
import pytest

from hospital.auth.permissions import Grant
from hospital.auth.standing import Standing, resolve
from hospital.auth.tokens import Principal
from hospital.errors import Unauthenticated

TOKEN = Principal(user_id=7, roles=frozenset({"patient", "dispatcher"}), app_id="wx-app", session_id="f" * 32)


def test_the_roles_held_now_count_whatever_the_token_carried_AD2():
    assert resolve(TOKEN, Standing("active", frozenset({"patient"}))).roles == {"patient"}
    assert resolve(TOKEN, Standing("active", frozenset({"patient", "dispatcher", "finance"}))).roles == \
        {"patient", "dispatcher", "finance"}  # a role granted since counts from the next request


def test_the_permissions_are_those_of_the_roles_held_now_with_their_departments_AD2(monkeypatch):
    monkeypatch.setenv("BACK_OFFICE_SIGN_IN", "any")
    grants = (Grant("finance", "payments.read", None), Grant("scheduler", "outpatient.schedule", "0101"),
              Grant("scheduler", "session.self", "0101"))
    caller = resolve(TOKEN, Standing("active", frozenset({"finance", "scheduler"}), grants=grants))
    assert caller.permissions == {"payments.read", "outpatient.schedule", "session.self"}
    assert caller.may("payments.read") and not caller.may("payments.manage")
    assert caller.departments("payments.read") is None
    assert caller.departments("outpatient.schedule") == {"0101"}
    assert caller.departments("audit.read") == frozenset()


@pytest.mark.parametrize("standing,code", [
    (Standing("disabled", frozenset({"patient"})), "account_disabled"),
    (Standing("merged", frozenset({"patient"})), "account_merged"),
    (Standing(None, frozenset()), "account_disabled"),
    (Standing("active", frozenset({"patient"}), session_revoked=True), "session_revoked"),
])
def test_a_user_who_may_no_longer_act_is_refused(standing, code):
    with pytest.raises(Unauthenticated) as refused:
        resolve(TOKEN, standing)
    assert refused.value.code == code


def test_the_rest_of_the_principal_is_kept():
    kept = resolve(TOKEN, Standing("active", frozenset({"patient", "dispatcher"})))
    assert (kept.user_id, kept.app_id, kept.session_id) == (7, "wx-app", "f" * 32)


@pytest.mark.parametrize("policy,amr,usable", [
    ("second_factor", ("wechat",), {"session.self", "faq.read"}),
    ("second_factor", None, {"session.self", "faq.read"}),
    ("second_factor", ("pwd", "otp"), {"session.self", "faq.read", "payments.read"}),
    ("second_factor", ("pwd", "recovery_code"), {"session.self", "faq.read", "payments.read"}),
    ("any", ("wechat",), {"session.self", "faq.read", "payments.read"}),
])
def test_back_office_permissions_need_a_second_factor_unless_the_policy_says_any_NF1(monkeypatch, policy, amr,
                                                                                     usable):
    monkeypatch.setenv("BACK_OFFICE_SIGN_IN", policy)
    grants = tuple(Grant("finance", p, None) for p in ("session.self", "faq.read", "payments.read"))
    caller = resolve(Principal(user_id=7, roles=frozenset(), auth_method=amr),
                     Standing("active", frozenset({"finance"}), grants=grants))
    assert caller.permissions == usable
    assert caller.withheld == {"session.self", "faq.read", "payments.read"} - usable
