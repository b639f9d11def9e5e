"""Case status derived from timeline nodes (ES2, ES3)."""
import itertools

import pytest

from hospital.rescue.timeline import NODES, derive_status, status_after


def test_new_case_is_received_ES2():
    assert derive_status(["call_received"]) == "received"


def test_alerted_moves_status_and_informative_nodes_do_not_ES2():
    assert derive_status(["call_received", "alerted"]) == "alerted"
    assert derive_status(["call_received", "alerted", "location_changed", "guidance_started"]) == "alerted"


def test_a_late_duplicate_alert_does_not_move_status_back_ES3():
    assert derive_status(["call_received", "accepted", "alerted"]) == "accepted"


def test_terminal_state_wins_and_stays_ES3():
    assert derive_status(["call_received", "cancelled", "alerted"]) == "cancelled"


def test_unknown_node_and_empty_timeline_are_refused():
    with pytest.raises(ValueError):
        derive_status(["call_received", "teleported"])
    with pytest.raises(ValueError):
        derive_status([])


def test_every_spec_node_is_known_ES2():
    spec_nodes = {
        "call_received", "alerted", "accepted", "guidance_started", "guidance_ended", "decided",
        "dispatched", "en_route", "on_scene", "patient_contact", "left_scene", "at_hospital",
        "handed_over", "back_in_service", "completed", "cancelled", "location_changed",
    }
    assert set(NODES) == spec_nodes | {"acknowledged"}  # the ED's acknowledgement of an alert (ER3)


def test_one_step_from_the_status_is_the_status_of_the_whole_timeline():
    # status_after lets a writer holding the stored status skip re-reading the timeline; it must
    # agree with derive_status after every timeline of up to four nodes.
    nodes = sorted(NODES)
    timelines = [["call_received", *rest] for rest in itertools.product(nodes, repeat=2)]
    disagreements = [(timeline, node) for timeline in timelines for node in nodes
                     if status_after(derive_status(timeline), node) != derive_status([*timeline, node])]
    assert disagreements == []
    assert len(timelines) * len(nodes) > 1000


def test_a_step_with_an_unknown_node_is_refused():
    with pytest.raises(ValueError, match="teleported"):
        status_after("received", "teleported")
