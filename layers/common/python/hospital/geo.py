"""Coordinates and ambulance tracks (ER6).

wx.getLocation answers in WGS-84 by default, WeChat's map components and Chinese map
services expect GCJ-02, Baidu uses BD-09; mixing them puts a patient hundreds of metres
off. So every point carries its coordinate system and is converted once, here, to what
the consumer needs (GCJ-02 for the maps). Pure stdlib so it stays cheap to import.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

WGS84, GCJ02, BD09 = "wgs84", "gcj02", "bd09"
COORD_SYSTEMS = frozenset({WGS84, GCJ02, BD09})

# GCJ-02 is defined on the Krasovsky 1940 ellipsoid.
_A = 6378245.0
_EE = 0.00669342162296594323
# BD-09 adds its own rotation/offset on top of GCJ-02.
_X_PI = math.pi * 3000.0 / 180.0
# Mean Earth radius (IUGG); haversine on a sphere is within ~0.5 % of the ellipsoid,
# plenty for "how far is the ambulance".
EARTH_RADIUS_M = 6371008.8

# The inverse GCJ-02 transform converges by ~1e-9 degrees (< 1 mm) in a few steps.
_INVERSE_TOLERANCE_DEG = 1e-9
_INVERSE_MAX_ITERATIONS = 10


def _check(latitude: float, longitude: float, coord_system: str) -> None:
    if coord_system not in COORD_SYSTEMS:
        raise ValueError(f"unknown coordinate system {coord_system!r}")
    if isinstance(latitude, bool) or isinstance(longitude, bool):
        raise ValueError("coordinates must be numbers, not booleans")
    if not (isinstance(latitude, (int, float)) and math.isfinite(latitude) and -90.0 <= latitude <= 90.0):
        raise ValueError(f"latitude out of range: {latitude!r}")
    if not (isinstance(longitude, (int, float)) and math.isfinite(longitude) and -180.0 <= longitude <= 180.0):
        raise ValueError(f"longitude out of range: {longitude!r}")


@dataclass(frozen=True)
class Point:
    latitude: float
    longitude: float
    coord_system: str

    def __post_init__(self) -> None:
        _check(self.latitude, self.longitude, self.coord_system)


# --- GCJ-02 -----------------------------------------------------------------

def _out_of_china(lat: float, lon: float) -> bool:
    # The usual rough bounding box; outside it GCJ-02 is defined as WGS-84.
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _gcj_offset(lat: float, lon: float) -> tuple[float, float]:
    """(dlat, dlon) in degrees that GCJ-02 adds to a WGS-84 point (no bounding-box check)."""
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = math.radians(lat)
    magic = 1.0 - _EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * math.cos(radlat) * math.pi)
    return dlat, dlon


def _wgs_to_gcj(lat: float, lon: float) -> tuple[float, float]:
    if _out_of_china(lat, lon):
        return lat, lon
    dlat, dlon = _gcj_offset(lat, lon)
    return lat + dlat, lon + dlon


def _gcj_to_wgs(lat: float, lon: float) -> tuple[float, float]:
    # The one-step inverse (gcj - offset(gcj)) is off by up to a few metres; iterate
    # wgs <- wgs - (forward(wgs) - gcj) instead, which converges to well under 1 mm.
    if _out_of_china(lat, lon):
        return lat, lon
    wlat, wlon = lat, lon
    for _ in range(_INVERSE_MAX_ITERATIONS):
        dlat, dlon = _gcj_offset(wlat, wlon)
        err_lat = wlat + dlat - lat
        err_lon = wlon + dlon - lon
        wlat -= err_lat
        wlon -= err_lon
        if abs(err_lat) < _INVERSE_TOLERANCE_DEG and abs(err_lon) < _INVERSE_TOLERANCE_DEG:
            break
    return wlat, wlon


# --- BD-09 ------------------------------------------------------------------

def _gcj_to_bd(lat: float, lon: float) -> tuple[float, float]:
    z = math.hypot(lon, lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.sin(theta) + 0.006, z * math.cos(theta) + 0.0065


def _bd_to_gcj(lat: float, lon: float) -> tuple[float, float]:
    x, y = lon - 0.0065, lat - 0.006
    z = math.hypot(x, y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    return z * math.sin(theta), z * math.cos(theta)


# --- public conversions -----------------------------------------------------

def _check_point(point: Point) -> None:
    # Re-check: a duck-typed or mutated object must not slip through unvalidated.
    _check(point.latitude, point.longitude, point.coord_system)


def to_gcj02(point: Point) -> Point:
    _check_point(point)
    if point.coord_system == GCJ02:
        return point
    if point.coord_system == WGS84:
        lat, lon = _wgs_to_gcj(point.latitude, point.longitude)
    else:
        lat, lon = _bd_to_gcj(point.latitude, point.longitude)
    return Point(lat, lon, GCJ02)


def to_wgs84(point: Point) -> Point:
    _check_point(point)
    if point.coord_system == WGS84:
        return point
    gcj = to_gcj02(point)
    lat, lon = _gcj_to_wgs(gcj.latitude, gcj.longitude)
    return Point(lat, lon, WGS84)


def to_bd09(point: Point) -> Point:
    _check_point(point)
    if point.coord_system == BD09:
        return point
    gcj = to_gcj02(point)
    lat, lon = _gcj_to_bd(gcj.latitude, gcj.longitude)
    return Point(lat, lon, BD09)


def distance_m(a: Point, b: Point) -> float:
    """Great-circle distance in metres (haversine)."""
    _check_point(a)
    _check_point(b)
    if a.coord_system != b.coord_system:
        # Compare like with like, else the datum offset (~500 m) is counted as distance.
        a, b = to_gcj02(a), to_gcj02(b)
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat = lat2 - lat1
    dlon = math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2.0) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


# --- ambulance track filter -------------------------------------------------

# An ambulance rarely exceeds ~150 km/h even on an expressway; 55 m/s (~200 km/h)
# leaves headroom so a real fast run is never dropped, while network-only fixes that
# jump kilometres in seconds are.
DEFAULT_MAX_SPEED_MPS = 55.0
# GPS fixes are typically 5-50 m; network (cell/Wi-Fi) fixes are often 500 m to several
# km. Beyond 500 m a point cannot place the ambulance on the right street.
DEFAULT_MAX_ACCURACY_M = 500.0

# A phone's clock may run a little ahead of the server's. A fix further ahead is a broken
# clock (or a forged point); kept, it would be the newest point for good, and every real fix
# after it would look out of order.
MAX_AHEAD_OF_SERVER = timedelta(minutes=2)
# A fix from before the ambulance was sent belongs to no part of this trip; the crew's phone
# and the server may disagree by some seconds.
DISPATCH_CLOCK_SKEW = timedelta(seconds=30)

INACCURATE = "inaccurate"
OUT_OF_ORDER = "out_of_order"
IMPOSSIBLE_JUMP = "impossible_jump"
FUTURE_TIME = "future_time"
BEFORE_DISPATCH = "before_dispatch"


@dataclass(frozen=True)
class TrackPoint:
    latitude: float
    longitude: float
    coord_system: str
    accuracy_m: float | None
    speed_mps: float | None
    heading: float | None
    device_time: datetime  # aware; compared as an instant

    def __post_init__(self) -> None:
        _check(self.latitude, self.longitude, self.coord_system)
        if self.accuracy_m is not None and not (math.isfinite(self.accuracy_m) and self.accuracy_m >= 0):
            raise ValueError(f"accuracy_m must be a finite non-negative number: {self.accuracy_m!r}")
        if not isinstance(self.device_time, datetime) or self.device_time.utcoffset() is None:
            raise ValueError("device_time must be a timezone-aware datetime (UTC)")

    @property
    def point(self) -> Point:
        return Point(self.latitude, self.longitude, self.coord_system)


def time_window(dispatched_at: datetime, server_now: datetime) -> tuple[datetime, datetime]:
    """(not_before, not_after): the device times a fix of a dispatch may carry (both aware)."""
    return dispatched_at - DISPATCH_CLOCK_SKEW, server_now + MAX_AHEAD_OF_SERVER


def filter_track(
    previous: TrackPoint | None,
    points: list[TrackPoint],
    max_speed_mps: float = DEFAULT_MAX_SPEED_MPS,
    max_accuracy_m: float = DEFAULT_MAX_ACCURACY_M,
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> tuple[list[TrackPoint], list[tuple[TrackPoint, str]]]:
    """Drop physically implausible ambulance fixes; return (kept, [(point, reason)]).

    `previous` is the last point kept from an earlier batch of the same dispatch (the
    reference to start from; None for a new dispatch). A dropped point never becomes the
    reference, so one bad fix cannot make the next good one look like a jump back or out of
    order. Device times outside [not_before, not_after] (aware; see time_window) are
    dropped first, whatever else is wrong with the fix. Unknown accuracy (None) is neither
    dropped nor allowed for.
    """
    kept: list[TrackPoint] = []
    dropped: list[tuple[TrackPoint, str]] = []
    reference = previous
    for p in sorted(points, key=lambda tp: tp.device_time):
        if not_after is not None and p.device_time > not_after:
            dropped.append((p, FUTURE_TIME))
            continue
        if not_before is not None and p.device_time < not_before:
            dropped.append((p, BEFORE_DISPATCH))
            continue
        if p.accuracy_m is not None and p.accuracy_m > max_accuracy_m:
            dropped.append((p, INACCURATE))
            continue
        if reference is not None:
            dt = (p.device_time - reference.device_time).total_seconds()
            if dt <= 0:
                dropped.append((p, OUT_OF_ORDER))
                continue
            # Give both fixes the benefit of their stated accuracy: only movement that
            # cannot be explained by either fix's error circle counts towards speed.
            slack = (reference.accuracy_m or 0.0) + (p.accuracy_m or 0.0)
            speed = max(0.0, distance_m(reference.point, p.point) - slack) / dt
            if speed > max_speed_mps:
                dropped.append((p, IMPOSSIBLE_JUMP))
                continue
        kept.append(p)
        reference = p
    return kept, dropped
