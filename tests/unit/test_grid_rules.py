"""The home grid's states (OV1, OH1), without a database."""
from hospital.links import grid_rules as G

ALL = frozenset(G.LINKED)


def states(**changes) -> dict:
    situation = G.Situation(**{"cards": (), "consented": frozenset(), "credit_enrolled": False, "connected": ALL,
                               **changes})
    return {e["entry"]: (e["state"], e.get("reason")) for e in G.grid(situation)}


def test_imaging_needs_a_card_then_a_consent_for_that_card_OI1():
    assert states()["cloud_imaging"] == ("unavailable", "no_card")
    assert states(cards=("a", "b"))["cloud_imaging"] == ("needs_consent", None)
    assert states(cards=("a", "b"), consented=frozenset({("cloud_imaging", "c")}))["cloud_imaging"] == \
        ("needs_consent", None)  # a consent for a card no longer bound opens nothing
    entry = G.entry("cloud_imaging", G.Situation(("a", "b"), frozenset({("cloud_imaging", "b")}), False, ALL))
    assert (entry["state"], entry["cards_consented"]) == ("ready", ["b"])


def test_exam_insurance_and_credit_open_with_their_consent_PE1_OV2():
    grid = states(cards=("a",), consented=frozenset({("physical_exam", "a"), ("insurance_voucher", None)}),
                  credit_enrolled=True)
    assert grid["physical_exam"] == grid["insurance_voucher"] == grid["credit_care"] == ("ready", None)
    assert states(cards=("a",))["physical_exam"] == ("needs_consent", None)
    assert states()["physical_exam"] == ("unavailable", "no_card")  # an exam is a card's person's


def test_an_unreached_system_is_unavailable_whatever_the_patient_holds_OV1():
    grid = states(connected=frozenset(), cards=("a",), consented=frozenset({("cloud_imaging", "a")}))
    assert {name for name, (state, reason) in grid.items() if reason == "not_connected"} == G.LINKED
    assert grid["rescue"] == grid["registration"] == ("ready", None)
