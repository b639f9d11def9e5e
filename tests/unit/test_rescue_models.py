"""Validation of the rescue intake body (ER2, ER4, ER5): 400 with the field named."""
import pytest

from hospital.errors import ValidationFailed
from hospital.rescue.models import CaseIntake
from hospital.web import validate

GOOD = {"location": {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "gcj02", "accuracy_m": 20}}


def field_of(data):
    with pytest.raises(ValidationFailed) as err:
        validate(CaseIntake, data)
    return err.value.field


def test_minimal_intake_without_card_or_person_is_valid_ER2_ER4():
    intake = validate(CaseIntake, GOOD)
    assert intake.hospital_card_id is None and intake.rescue_person_id is None
    assert intake.location.coord_system == "gcj02"


@pytest.mark.parametrize("lat,lon", [(90, 180), (-90, -180), (0, 0)])
def test_coordinate_edges_accepted_ER5(lat, lon):
    validate(CaseIntake, {"location": {"latitude": lat, "longitude": lon, "coord_system": "wgs84"}})


@pytest.mark.parametrize("location,field", [
    ({"longitude": 121.4, "coord_system": "wgs84"}, "location.latitude"),
    ({"latitude": 90.0001, "longitude": 121.4, "coord_system": "wgs84"}, "location.latitude"),
    ({"latitude": 31.2, "longitude": -180.5, "coord_system": "wgs84"}, "location.longitude"),
    ({"latitude": "31.2", "longitude": 121.4, "coord_system": "wgs84"}, "location.latitude"),
    ({"latitude": 31.2, "longitude": 121.4, "coord_system": "wgs"}, "location.coord_system"),
    ({"latitude": 31.2, "longitude": 121.4}, "location.coord_system"),
    ({"latitude": 31.2, "longitude": 121.4, "coord_system": "wgs84", "accuracy_m": 0}, "location.accuracy_m"),
    ({"latitude": float("nan"), "longitude": 121.4, "coord_system": "wgs84"}, "location.latitude"),
])
def test_bad_location_names_the_field_ER5(location, field):
    assert field_of({"location": location}) == field


def test_missing_location_unknown_field_and_bad_ids_ER5():
    assert field_of({}) == "location"
    assert field_of({**GOOD, "priority": "high"}) == "priority"
    assert field_of({**GOOD, "rescue_person_id": "../../etc"}) == "rescue_person_id"
    assert field_of({**GOOD, "address_text": "x" * 201}) == "address_text"
