"""Consistency checks' rules, pure (AS4): one function per invariant, in the rules' order; each
finding keeps its first rows and says how many it left out; which checks each role sees."""
import pytest

from hospital.reconciliation import consistency
from hospital.reconciliation import consistency_rules as rules


def test_there_is_one_check_per_invariant_in_the_rules_order_AS4():
    assert [check.__name__ for check in consistency.CHECKS] == list(rules.CHECKS)
    assert set(rules.CHECKS) - {rules.CASE_ENDED_WITH_OPEN_DISPATCH} == rules.MONEY


@pytest.mark.parametrize(("count", "kept", "left_out"), [(0, 0, 0), (1, 1, 0), (50, 50, 0), (51, 50, 1),
                                                         (1000, 50, 950)])
def test_a_finding_keeps_its_first_rows_and_counts_all_of_them_AS4(count, kept, left_out):
    rows = [{"order_id": str(n)} for n in range(count)]
    found = rules.finding(rules.REFUNDS_ABOVE_PAID, count, rows)
    assert found["broken"] is (count > 0)
    assert (found["count"], len(found["rows"]), found["rows_left_out"]) == (count, kept, left_out)
    assert found["rows"] == rows[:kept]


def test_a_finding_names_a_check_of_the_rules_AS4():
    with pytest.raises(ValueError):
        rules.finding("everything_is_fine", 0, [])


def test_the_broken_checks_are_named_in_the_rules_order_AS4():
    findings = [rules.finding(check, count, []) for check, count in
                [(rules.CASE_ENDED_WITH_OPEN_DISPATCH, 2), (rules.LEDGER_VS_ORDERS, 1),
                 (rules.REFUNDS_ABOVE_PAID, 0)]]
    assert rules.broken(findings) == [rules.LEDGER_VS_ORDERS, rules.CASE_ENDED_WITH_OPEN_DISPATCH]


@pytest.mark.parametrize(("roles", "seen"), [
    ({"it_admin"}, set(rules.CHECKS)),
    ({"super_admin"}, set(rules.CHECKS)),
    ({"finance"}, set(rules.MONEY)),
    ({"finance", "it_admin"}, set(rules.CHECKS)),
    ({"dispatcher"}, set()),
    ({"patient"}, set()),
])
def test_it_administration_sees_every_check_and_finance_the_money_s_AS4(roles, seen):
    assert rules.visible(roles) == seen
    findings = [rules.finding(check, 1, [{"id": check}]) for check in reversed(rules.CHECKS)]
    shown = rules.shown(findings, roles)
    assert [f["check"] for f in shown] == [check for check in rules.CHECKS if check in seen]
