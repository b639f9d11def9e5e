"""The permission catalogue and the pure rules of granting (AD2, NF1)."""
from hospital import live
from hospital.auth import permissions as P
from hospital.auth import roles as R
from hospital.auth.permissions import Grant


def test_every_seeded_role_is_a_role_and_holds_only_catalogued_permissions_AD2():
    assert set(P.SEEDED) == R.ALL
    for _, held in P.SEEDED.values():
        assert held <= P.NAMES
    assert P.SEEDED[R.SUPER_ADMIN][1] >= P.SUPER_ADMIN_CORE


def test_only_the_super_admin_is_seeded_with_access_management_AD2():
    assert [r for r, (_, held) in P.SEEDED.items() if held & P.SUPER_ADMIN_CORE] == [R.SUPER_ADMIN]


def test_nobody_grants_what_they_do_not_hold_unless_they_hold_grant_any_AD2():
    finance = P.SEEDED[R.FINANCE][1] | {P.ACCESS_MANAGE}
    assert P.ungrantable(finance, {P.PAYMENTS_READ, P.SESSION_SELF}) == []
    assert P.ungrantable(finance, {P.PAYMENTS_READ, P.AUDIT_READ, P.LOGS_READ}) == [P.AUDIT_READ, P.LOGS_READ]
    assert P.ungrantable(frozenset({P.ACCESS_GRANT_ANY}), P.NAMES) == []


def test_a_department_is_where_a_scoped_role_reaches_and_an_unscoped_one_reaches_everywhere_NF1():
    scoped = (Grant("a", P.OUTPATIENT_SCHEDULE, "0101"), Grant("b", P.OUTPATIENT_SCHEDULE, "0202"))
    assert P.departments(scoped, P.OUTPATIENT_SCHEDULE) == {"0101", "0202"}
    assert P.departments((*scoped, Grant("c", P.OUTPATIENT_SCHEDULE, None)), P.OUTPATIENT_SCHEDULE) is None
    assert P.departments(scoped, P.AUDIT_READ) == frozenset()


def test_only_roles_without_hospital_wide_permissions_can_be_limited_to_a_department_NF1():
    assert P.scope_refusal({P.SESSION_SELF, P.OUTPATIENT_SCHEDULE}) is None
    assert "rescue.console" in (P.scope_refusal({P.OUTPATIENT_SCHEDULE, P.RESCUE_CONSOLE}) or "")
    assert P.scope_refusal(P.SEEDED[R.ED_NURSE][1]) is not None


def test_the_live_console_checks_the_catalogue_s_console_permission():
    assert live.RESCUE_CONSOLE == P.RESCUE_CONSOLE
