"""Coordinate systems and the ambulance track filter (ER6)."""
import datetime as dt
import math

import pytest

from hospital.geo import (
    Point,
    TrackPoint,
    distance_m,
    filter_track,
    time_window,
    to_bd09,
    to_gcj02,
    to_wgs84,
)

UTC = dt.UTC
T0 = dt.datetime(2024, 5, 1, 8, 0, 0, tzinfo=UTC)

CITIES_WGS84 = {
    "beijing": (39.90872, 116.39748),
    "shanghai": (31.2304, 121.4737),
    "chengdu": (30.5728, 104.0668),
    "urumqi": (43.8256, 87.6168),
    "harbin": (45.8038, 126.5349),
}


# --- conversions -------------------------------------------------------------

def test_tiananmen_wgs84_to_gcj02_matches_reference_ER6():
    gcj = to_gcj02(Point(39.90872, 116.39748, "wgs84"))
    assert gcj.coord_system == "gcj02"
    assert gcj.latitude == pytest.approx(39.91012, abs=2e-5)
    assert gcj.longitude == pytest.approx(116.40372, abs=2e-5)


def test_gcj02_offset_in_beijing_is_hundreds_of_metres_north_east_ER6():
    wgs = Point(39.90872, 116.39748, "wgs84")
    gcj = to_gcj02(wgs)
    # Same numbers read as WGS-84: the physical shift a mixed-up map would show.
    offset = distance_m(wgs, Point(gcj.latitude, gcj.longitude, "wgs84"))
    assert 400 <= offset <= 700
    assert gcj.latitude > wgs.latitude and gcj.longitude > wgs.longitude
    # Mostly eastward.
    assert (gcj.longitude - wgs.longitude) > (gcj.latitude - wgs.latitude)


@pytest.mark.parametrize("city", sorted(CITIES_WGS84))
def test_round_trip_wgs_gcj_wgs_is_within_half_a_metre_ER6(city):
    wgs = Point(*CITIES_WGS84[city], "wgs84")
    gcj = to_gcj02(wgs)
    assert distance_m(wgs, Point(gcj.latitude, gcj.longitude, "wgs84")) > 50  # really shifted
    back = to_wgs84(gcj)
    assert back.coord_system == "wgs84"
    assert distance_m(wgs, back) < 0.5


def test_inverse_is_iterative_not_the_one_step_approximation_ER6():
    # The one-step inverse (gcj - offset(gcj)) errs by a metre or more; ours must not.
    wgs = Point(*CITIES_WGS84["shanghai"], "wgs84")
    gcj = to_gcj02(wgs)
    once = to_gcj02(Point(gcj.latitude, gcj.longitude, "wgs84"))
    one_step = Point(2 * gcj.latitude - once.latitude, 2 * gcj.longitude - once.longitude, "wgs84")
    assert distance_m(wgs, one_step) > 0.5
    assert distance_m(wgs, to_wgs84(gcj)) < 0.01


@pytest.mark.parametrize("lat,lon", [(35.6762, 139.6503), (51.5074, -0.1278)])  # Tokyo, London
def test_outside_china_gcj02_equals_wgs84_ER6(lat, lon):
    gcj = to_gcj02(Point(lat, lon, "wgs84"))
    assert (gcj.latitude, gcj.longitude, gcj.coord_system) == (lat, lon, "gcj02")
    back = to_wgs84(Point(lat, lon, "gcj02"))
    assert (back.latitude, back.longitude, back.coord_system) == (lat, lon, "wgs84")


@pytest.mark.parametrize("city", sorted(CITIES_WGS84))
def test_bd09_round_trip_within_one_metre_ER6(city):
    gcj = to_gcj02(Point(*CITIES_WGS84[city], "wgs84"))
    bd = to_bd09(gcj)
    assert bd.coord_system == "bd09"
    assert distance_m(gcj, Point(bd.latitude, bd.longitude, "gcj02")) > 100  # really shifted
    assert distance_m(gcj, to_gcj02(bd)) < 1.0
    wgs = Point(*CITIES_WGS84[city], "wgs84")
    assert distance_m(wgs, to_wgs84(to_bd09(wgs))) < 1.0


@pytest.mark.parametrize("convert,system", [(to_gcj02, "gcj02"), (to_wgs84, "wgs84"), (to_bd09, "bd09")])
def test_converting_to_the_same_system_returns_the_point_unchanged_ER6(convert, system):
    p = Point(39.9, 116.4, system)
    assert convert(p) is p


# --- distance ----------------------------------------------------------------

def test_distance_beijing_shanghai_is_about_1067_km_ER6():
    d = distance_m(Point(39.9042, 116.4074, "wgs84"), Point(31.2304, 121.4737, "wgs84"))
    assert d == pytest.approx(1_067_000, abs=5_000)
    assert distance_m(Point(39.9042, 116.4074, "wgs84"), Point(39.9042, 116.4074, "wgs84")) == 0.0


def test_distance_converts_mixed_systems_first_ER6():
    wgs = Point(*CITIES_WGS84["beijing"], "wgs84")
    assert distance_m(wgs, to_gcj02(wgs)) < 0.5
    assert distance_m(to_bd09(wgs), wgs) < 1.0


# --- validation --------------------------------------------------------------

@pytest.mark.parametrize(
    "lat,lon,system",
    [
        (90.1, 0.0, "wgs84"),
        (-91.0, 0.0, "wgs84"),
        (0.0, 180.5, "wgs84"),
        (0.0, -181.0, "gcj02"),
        (math.nan, 116.0, "wgs84"),
        (39.9, math.inf, "wgs84"),
        (39.9, 116.4, "WGS84x"),
        (39.9, 116.4, "gps"),
    ],
)
def test_invalid_points_are_refused_ER6(lat, lon, system):
    with pytest.raises(ValueError):
        Point(lat, lon, system)
    with pytest.raises(ValueError):
        TrackPoint(lat, lon, system, 10.0, None, None, T0)


def test_track_point_needs_aware_time_and_sane_accuracy_ER6():
    with pytest.raises(ValueError):
        TrackPoint(39.9, 116.4, "gcj02", 10.0, None, None, T0.replace(tzinfo=None))
    with pytest.raises(ValueError):
        TrackPoint(39.9, 116.4, "gcj02", -1.0, None, None, T0)
    with pytest.raises(ValueError):
        TrackPoint(39.9, 116.4, "gcj02", math.nan, None, None, T0)


# --- track filter ------------------------------------------------------------

BASE_LAT, BASE_LON = 30.6586, 104.0647  # Chengdu, GCJ-02


def _north_of(metres: float) -> float:
    """Latitude `metres` north of BASE_LAT along the meridian (sphere)."""
    return BASE_LAT + math.degrees(metres / 6371008.8)


def tp(seconds: float, north_m: float = 0.0, accuracy: float | None = 10.0) -> TrackPoint:
    return TrackPoint(
        _north_of(north_m), BASE_LON, "gcj02", accuracy, None, None, T0 + dt.timedelta(seconds=seconds)
    )


def test_five_km_jump_in_ten_seconds_is_dropped_and_next_normal_point_kept_ER6():
    start = tp(0)
    jump = tp(10, 5_000)  # network-only fix
    normal = tp(20, 200)  # 10 m/s from start: an ambulance in traffic
    kept, dropped = filter_track(start, [jump, normal])
    assert kept == [normal]
    assert dropped == [(jump, "impossible_jump")]
    assert sum(1 for _, reason in dropped if reason == "impossible_jump") == 1


def test_a_jump_does_not_become_the_reference_ER6():
    # If the jump became the reference, the point after it (back on the road) would look
    # like a 5 km jump back and be dropped too.
    kept, dropped = filter_track(None, [tp(0), tp(10, 5_000), tp(20, 150), tp(30, 300)])
    assert [p.device_time for p in kept] == [T0 + dt.timedelta(seconds=s) for s in (0, 20, 30)]
    assert [reason for _, reason in dropped] == ["impossible_jump"]


def test_points_are_sorted_and_out_of_order_points_dropped_ER6():
    a, b, c = tp(0), tp(10, 100), tp(20, 200)
    kept, dropped = filter_track(None, [c, a, b])
    assert kept == [a, b, c]
    assert dropped == []
    # Not after the last kept point: older than `previous`, or the same instant.
    older, same = tp(-5, 10), tp(20, 210)
    kept, dropped = filter_track(c, [older, same])
    assert kept == []
    assert dropped == [(older, "out_of_order"), (same, "out_of_order")]


def test_inaccurate_points_are_dropped_with_reason_ER6():
    start = tp(0)
    vague = tp(10, 50, accuracy=1_500.0)
    edge = tp(20, 100, accuracy=500.0)  # exactly at the limit: kept
    unknown = tp(30, 150, accuracy=None)  # accuracy not reported: not dropped for it
    kept, dropped = filter_track(start, [vague, edge, unknown])
    assert kept == [edge, unknown]
    assert dropped == [(vague, "inaccurate")]


def test_accuracy_is_allowed_for_before_calling_a_jump_ER6():
    # 1 km in 10 s is 100 m/s, but with two 300 m error circles only 400 m is certain (40 m/s).
    kept, dropped = filter_track(tp(0, accuracy=300.0), [tp(10, 1_000, accuracy=300.0)])
    assert len(kept) == 1 and dropped == []
    kept, dropped = filter_track(tp(0, accuracy=5.0), [tp(10, 1_000, accuracy=5.0)])
    assert kept == [] and [r for _, r in dropped] == ["impossible_jump"]


def test_a_point_exactly_at_max_speed_is_kept_and_just_over_is_dropped_ER6():
    start, nxt = tp(0, accuracy=None), tp(10, 550, accuracy=None)
    speed = distance_m(start.point, nxt.point) / 10.0
    assert speed == pytest.approx(55.0)
    kept, dropped = filter_track(start, [nxt], max_speed_mps=speed)
    assert kept == [nxt] and dropped == []
    kept, dropped = filter_track(start, [nxt], max_speed_mps=math.nextafter(speed, 0.0))
    assert kept == [] and dropped == [(nxt, "impossible_jump")]


def test_default_speed_limit_edges_ER6():
    # Default 55 m/s over 10 s: 549 m (54.9 m/s) kept, 551 m (55.1 m/s) dropped.
    kept, _ = filter_track(tp(0, accuracy=None), [tp(10, 549, accuracy=None)])
    assert len(kept) == 1
    kept, dropped = filter_track(tp(0, accuracy=None), [tp(10, 551, accuracy=None)])
    assert kept == [] and [r for _, r in dropped] == ["impossible_jump"]


def test_first_point_without_previous_is_kept_and_empty_batch_is_fine_ER6():
    p = tp(0)
    assert filter_track(None, [p]) == ([p], [])
    assert filter_track(p, []) == ([], [])


# --- time window: a fix must belong to this dispatch and not lie ahead of the server ---

def test_a_fix_exactly_two_minutes_ahead_of_the_server_is_kept_and_just_over_is_dropped_ER6():
    now = T0
    _, not_after = time_window(now - dt.timedelta(minutes=5), now)
    assert not_after == now + dt.timedelta(minutes=2)
    edge = tp(120)
    kept, dropped = filter_track(None, [edge], not_after=not_after)
    assert kept == [edge] and dropped == []
    over = TrackPoint(BASE_LAT, BASE_LON, "gcj02", 10.0, None, None, not_after + dt.timedelta(microseconds=1))
    kept, dropped = filter_track(None, [over], not_after=not_after)
    assert kept == [] and dropped == [(over, "future_time")]


def test_a_fix_up_to_30_seconds_before_the_dispatch_is_kept_and_earlier_is_dropped_ER6():
    not_before, _ = time_window(T0, T0 + dt.timedelta(minutes=5))
    assert not_before == T0 - dt.timedelta(seconds=30)
    edge, early = tp(-30), tp(-30.001)
    kept, dropped = filter_track(None, [early, edge], not_before=not_before)
    assert kept == [edge] and dropped == [(early, "before_dispatch")]


def test_a_far_future_fix_does_not_become_the_reference_and_later_real_fixes_are_kept_ER6():
    not_before, not_after = time_window(T0, T0 + dt.timedelta(seconds=60))
    bogus = TrackPoint(BASE_LAT, BASE_LON, "gcj02", 10.0, None, None, dt.datetime(2099, 1, 1, tzinfo=UTC))
    first, second = tp(10), tp(20, 100)
    kept, dropped = filter_track(None, [first, bogus, second], not_before=not_before, not_after=not_after)
    assert kept == [first, second] and dropped == [(bogus, "future_time")]


def test_the_time_window_is_checked_before_accuracy_order_and_speed_ER6():
    # Outside the dispatch's time, nothing else about the fix matters: one reason, the time.
    not_before, not_after = time_window(T0, T0)
    vague_and_early = tp(-600, accuracy=5_000.0)
    jump_and_ahead = tp(600, 50_000)
    kept, dropped = filter_track(tp(0), [vague_and_early, jump_and_ahead], not_before=not_before,
                                 not_after=not_after)
    assert kept == [] and dropped == [(vague_and_early, "before_dispatch"), (jump_and_ahead, "future_time")]


def test_without_a_window_nothing_is_dropped_for_its_time_ER6():
    far = TrackPoint(BASE_LAT, BASE_LON, "gcj02", 10.0, None, None, dt.datetime(2099, 1, 1, tzinfo=UTC))
    assert filter_track(None, [far]) == ([far], [])
