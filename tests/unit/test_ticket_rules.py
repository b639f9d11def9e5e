"""Feedback tickets move open -> in_progress -> resolved -> closed, worked by IT; the one who
filed a ticket reopens it from resolved (AS2). Pure rules, no database."""
import typing

import pytest

from hospital.helpdesk import models
from hospital.helpdesk import ticket_rules as rules

FLOW = [(rules.OPEN, rules.IN_PROGRESS), (rules.IN_PROGRESS, rules.RESOLVED), (rules.RESOLVED, rules.CLOSED)]


@pytest.mark.parametrize("current,target", FLOW)
def test_it_works_a_ticket_forward_step_by_step_AS2(current, target):
    assert rules.move_refusal(current, target, worker=True, filer=False) is None
    assert rules.move_refusal(current, target, worker=False, filer=True) == rules.NOT_YOURS


def test_the_filer_reopens_a_resolved_ticket_and_only_that_AS2():
    assert rules.move_refusal(rules.RESOLVED, rules.IN_PROGRESS, worker=False, filer=True) is None
    assert rules.move_refusal(rules.RESOLVED, rules.IN_PROGRESS, worker=True, filer=False) == rules.NOT_YOURS
    for current, target in FLOW:
        assert rules.move_refusal(current, target, worker=False, filer=True) == rules.NOT_YOURS


def test_someone_who_both_works_and_filed_a_ticket_may_do_both_AS2():
    for current, target in [*FLOW, (rules.RESOLVED, rules.IN_PROGRESS)]:
        assert rules.move_refusal(current, target, worker=True, filer=True) is None


@pytest.mark.parametrize("current", rules.STATUSES)
@pytest.mark.parametrize("target", rules.STATUSES)
def test_every_other_move_is_no_move_of_the_flow_AS2(current, target):
    if (current, target) in [*FLOW, (rules.RESOLVED, rules.IN_PROGRESS)]:
        return
    for worker, filer in ((True, True), (True, False), (False, True), (False, False)):
        assert rules.move_refusal(current, target, worker=worker, filer=filer) == rules.NO_SUCH_MOVE


def test_a_closed_ticket_takes_neither_comments_nor_assignment_AS2():
    assert [s for s in rules.STATUSES if rules.takes_comments(s)] == [rules.OPEN, rules.IN_PROGRESS, rules.RESOLVED]
    assert [s for s in rules.STATUSES if rules.takes_assignment(s)] == [rules.OPEN, rules.IN_PROGRESS, rules.RESOLVED]


def test_the_request_model_names_the_rules_reference_types_AS2():
    assert typing.get_args(models.Reference.model_fields["type"].annotation) == rules.REFERENCE_TYPES
