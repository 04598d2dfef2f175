"""Plane alignment from gravity and a semantic label guess (floor, ceiling, wall, table, seat)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from arkit.core.trackables import PlaneAlignment

#: Height bands above the floor (metres) of horizontal, upward-facing surfaces.
SEAT_HEIGHT_M = (0.30, 0.62)
TABLE_HEIGHT_M = (0.62, 1.20)
FLOOR_TOLERANCE_M = 0.15
CEILING_MIN_HEIGHT_M = 1.8
WALL_MIN_AREA_M2 = 0.5
WALL_MIN_HEIGHT_M = 1.0


def plane_alignment(normal_world, up_world=(0.0, 1.0, 0.0), tolerance_deg: float = 10.0) -> PlaneAlignment:
    """HORIZONTAL_UP / HORIZONTAL_DOWN / VERTICAL / OTHER from the angle of the normal to ``up_world``.

    >>> plane_alignment([0, 1, 0]).value, plane_alignment([1, 0, 0]).value
    ('HORIZONTAL_UP', 'VERTICAL')
    """
    n = np.asarray(normal_world, np.float64).reshape(3)
    u = np.asarray(up_world, np.float64).reshape(3)
    c = float(n @ u / (np.linalg.norm(n) * np.linalg.norm(u)))
    tol = np.cos(np.radians(tolerance_deg))
    if c >= tol:
        return PlaneAlignment.HORIZONTAL_UP
    if c <= -tol:
        return PlaneAlignment.HORIZONTAL_DOWN
    if abs(c) <= np.sin(np.radians(tolerance_deg)):
        return PlaneAlignment.VERTICAL
    return PlaneAlignment.OTHER


def guess_label(alignment: PlaneAlignment, height_above_floor_m: Optional[float], area_m2: float,
                vertical_extent_m: float = 0.0, is_floor: bool = False) -> str:
    """A semantic guess from geometry alone.

    Parameters
    ----------
    alignment : PlaneAlignment
    height_above_floor_m : float or None
        Height of the plane above the floor plane (None when no floor is known yet).
    area_m2 : float
        Area of the boundary polygon.
    vertical_extent_m : float
        Size of the plane along the up direction (walls are tall).
    is_floor : bool
        The plane is the one chosen as floor.

    Returns
    -------
    str
        ``"floor"``, ``"ceiling"``, ``"wall"``, ``"table"``, ``"seat"`` or ``"unknown"``.
    """
    a = PlaneAlignment(alignment)
    if a == PlaneAlignment.HORIZONTAL_UP:
        if is_floor:
            return "floor"
        if height_above_floor_m is None:
            return "unknown"
        h = height_above_floor_m
        if abs(h) <= FLOOR_TOLERANCE_M:
            return "floor"
        if SEAT_HEIGHT_M[0] <= h < SEAT_HEIGHT_M[1]:
            return "seat"
        if TABLE_HEIGHT_M[0] <= h < TABLE_HEIGHT_M[1]:
            return "table"
        return "unknown"
    if a == PlaneAlignment.HORIZONTAL_DOWN:
        if height_above_floor_m is None or height_above_floor_m >= CEILING_MIN_HEIGHT_M:
            return "ceiling" if area_m2 >= WALL_MIN_AREA_M2 else "unknown"
        return "unknown"
    if a == PlaneAlignment.VERTICAL:
        if area_m2 >= WALL_MIN_AREA_M2 or vertical_extent_m >= WALL_MIN_HEIGHT_M:
            return "wall"
        return "unknown"
    return "unknown"
