"""The rescue case's state machine (EA4, ES3), pure: every node against every status, allowed
or refused with its reason. The table below is written out by hand, not read from the rules,
so changing a rule (allowing `cancelled` after `dispatched`, say) fails here in seconds."""
import pytest

from hospital.rescue.timeline import NODES, STATUSES, may_follow, refusal

OPEN = ["received", "alerted", "accepted", "decided", "dispatched", "en_route", "on_scene", "patient_contact",
        "left_scene", "at_hospital", "handed_over", "back_in_service"]
CLOSED = ["completed", "cancelled"]
EVERY = OPEN + CLOSED
BEFORE_DISPATCH = ["received", "alerted", "accepted", "decided"]
TRIP = ["dispatched", "en_route", "on_scene", "patient_contact", "left_scene", "at_hospital", "handed_over"]

# node -> the statuses it may follow; every other status refuses it.
ALLOWED = {
    "call_received": [],  # a case starts with it; it is never appended
    "alerted": EVERY,  # an alert's delivery is recorded whatever the case has become
    "acknowledged": EVERY,
    "accepted": ["received", "alerted"],
    "guidance_started": OPEN,
    "guidance_ended": OPEN,
    "decided": ["accepted"],
    "dispatched": ["accepted", "decided"],
    "en_route": ["dispatched"],
    "on_scene": ["dispatched", "en_route"],
    "patient_contact": ["dispatched", "en_route", "on_scene"],
    "left_scene": ["dispatched", "en_route", "on_scene", "patient_contact"],
    "at_hospital": ["dispatched", "en_route", "on_scene", "patient_contact", "left_scene"],
    "handed_over": ["dispatched", "en_route", "on_scene", "patient_contact", "left_scene", "at_hospital"],
    "back_in_service": TRIP,
    "completed": [*BEFORE_DISPATCH, "back_in_service"],
    "cancelled": BEFORE_DISPATCH,
    "location_changed": OPEN,
}
PAIRS = [(node, status) for node in ALLOWED for status in EVERY]


def test_the_table_covers_every_node_and_every_status_ES2():
    assert set(ALLOWED) == set(NODES)
    assert list(STATUSES) == EVERY


@pytest.mark.parametrize(("node", "status"), [p for p in PAIRS if p[1] in ALLOWED[p[0]]],
                         ids=[f"{n}-after-{s}" for n, s in PAIRS if s in ALLOWED[n]])
def test_allowed_transition_EA4(node, status):
    assert refusal(node, status) is None
    assert may_follow(node, status)


@pytest.mark.parametrize(("node", "status"), [p for p in PAIRS if p[1] not in ALLOWED[p[0]]],
                         ids=[f"{n}-after-{s}" for n, s in PAIRS if s not in ALLOWED[n]])
def test_refused_transition_says_why_EA4(node, status):
    why = refusal(node, status)
    assert why is not None
    assert why.endswith(f"(the case is {status})")
    assert not may_follow(node, status)


@pytest.mark.parametrize("status", ["dispatched", "en_route", "on_scene", "patient_contact", "left_scene",
                                    "at_hospital", "handed_over", "back_in_service", "completed", "cancelled"])
def test_a_case_cannot_be_cancelled_once_a_vehicle_is_dispatched_EA4(status):
    assert refusal("cancelled", status) == (
        f"a case can be cancelled only before a vehicle is dispatched (the case is {status})")


@pytest.mark.parametrize("status", BEFORE_DISPATCH)
def test_a_case_can_be_cancelled_before_dispatch_EA4(status):
    assert refusal("cancelled", status) is None


def test_a_dispatched_case_completes_only_after_the_vehicle_is_back_EA4():
    assert refusal("completed", "at_hospital") == (
        "a dispatched case completes only after the vehicle is back in service (the case is at_hospital)")
    assert refusal("completed", "back_in_service") is None
    assert refusal("completed", "decided") is None  # decided not to send anyone


def test_one_vehicle_per_case_and_no_dispatch_before_acceptance_EA4():
    assert refusal("dispatched", "dispatched") == (
        "a vehicle can be dispatched only to an accepted, undispatched case (the case is dispatched)")
    assert refusal("dispatched", "received") is not None


def test_trip_steps_may_skip_forward_but_never_go_back_ES3():
    assert refusal("on_scene", "dispatched") is None  # the crew forgot to press "en route"
    assert refusal("en_route", "on_scene") == (
        "en route must follow the dispatch and earlier trip steps (the case is on_scene)")


def test_a_closed_case_takes_alerts_and_acknowledgements_only_ES3():
    for status in CLOSED:
        assert [node for node in NODES if refusal(node, status) is None] == ["alerted", "acknowledged"]


def test_an_unknown_node_or_status_is_an_error_not_a_refusal():
    with pytest.raises(ValueError, match="unknown timeline node"):
        refusal("teleported", "received")
    with pytest.raises(ValueError, match="unknown case status"):
        refusal("accepted", "lost")
