"""Ground geometry the validation tests share: the great-circle distance between two nodes of a scenario."""

from __future__ import annotations

import math

from qinternet.network.schema import Scenario

EARTH_RADIUS_KM = 6371.0
"""Mean radius of the Earth (a sphere: within 0.5 % of the ellipsoid's distances)."""


def great_circle_km(scenario: Scenario, a: str, b: str) -> float:
    """Haversine distance between the nodes ``a`` and ``b`` of ``scenario``, km."""
    degrees = [getattr(scenario.node(n), f) for n in (a, b) for f in ("lat_deg", "lon_deg")]
    assert None not in degrees
    lat1, lon1, lat2, lon2 = map(math.radians, degrees)
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))
