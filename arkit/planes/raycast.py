"""Ray casts against tracked planes (as ARKit / ARCore hit tests).

>>> import numpy as np
>>> from arkit.core.trackables import PlaneTrackable
>>> floor = PlaneTrackable("plane:0", "plane", np.eye(4), polygon_xz=[[-1, -1], [1, -1], [1, 1], [-1, 1]])
>>> hit = raycast([floor], [0, 1.5, 0], [0, -1, 0])[0]
>>> hit.trackable_id, round(hit.distance_m, 3), hit.point_world.tolist()
('plane:0', 1.5, [0.0, 0.0, 0.0])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import ArkitError
from arkit.core.pose import as_transform, readonly
from arkit.planes.polygon import points_in_polygon


@dataclass(frozen=True)
class RaycastHit:
    """Where a ray meets a plane.

    Parameters
    ----------
    distance_m : float
        Along the (normalised) ray from its origin.
    point_world : (3,) float64
    T_world_hit : (4, 4) float64
        Pose at the hit: the plane's orientation (+Y = plane normal) at ``point_world``.
    trackable_id : str
    """

    distance_m: float
    point_world: np.ndarray
    T_world_hit: np.ndarray
    trackable_id: str

    def __post_init__(self):
        object.__setattr__(self, "point_world", readonly(np.asarray(self.point_world, np.float64).reshape(3)))
        object.__setattr__(self, "T_world_hit", readonly(as_transform(self.T_world_hit, "T_world_hit")))


def raycast(planes, ray_origin_world, ray_dir_world, *, infinite: bool = False, max_distance_m: float = np.inf) -> list:
    """Intersect one ray with planes.

    Parameters
    ----------
    planes : iterable of PlaneTrackable
        Stopped (subsumed) planes are skipped.
    ray_origin_world, ray_dir_world : (3,) float
        The direction need not be normalised.
    infinite : bool
        Treat every plane as infinite; otherwise the hit must lie inside its ``polygon_xz``.
    max_distance_m : float

    Returns
    -------
    list of RaycastHit
        Nearest first.
    """
    o = np.asarray(ray_origin_world, np.float64).reshape(3)
    d = np.asarray(ray_dir_world, np.float64).reshape(3)
    nd = np.linalg.norm(d)
    if not (np.isfinite(nd) and nd > 0) or not np.all(np.isfinite(o)):
        raise ArkitError(f"ray needs a finite origin and a non-zero direction, got origin {o} direction {d}")
    d = d / nd
    hits = []
    for pl in planes:
        if getattr(pl, "subsumed_by", None) is not None or getattr(pl.state, "value", pl.state) == "STOPPED":
            continue
        T = pl.T_world_local
        n, c = T[:3, 1], T[:3, 3]
        den = float(n @ d)
        if abs(den) < 1e-12:
            continue
        t = float(n @ (c - o)) / den
        if not (0.0 <= t <= max_distance_m):
            continue
        x = o + t * d
        if not infinite:
            poly = pl.polygon_xz
            if poly is None or len(poly) < 3:
                continue
            local = T[:3, :3].T @ (x - c)
            if not points_in_polygon(local[[0, 2]][None], poly)[0]:
                continue
        Th = np.array(T, dtype=np.float64)
        Th[:3, 3] = x
        hits.append(RaycastHit(t, x, Th, pl.id))
    hits.sort(key=lambda h: h.distance_m)
    return hits


def raycast_pixel(u_px: float, v_px: float, intrinsics: Intrinsics, T_world_camera, planes, *,
                  infinite: bool = False) -> list:
    """Ray cast through pixel ``(u_px, v_px)`` of a camera at ``T_world_camera`` (OpenCV axes).

    Returns
    -------
    list of RaycastHit
        Nearest first; ``distance_m`` is measured along the ray from the camera centre.
    """
    T = as_transform(T_world_camera, "T_world_camera")
    ray_c = intrinsics.unproject([[float(u_px), float(v_px)]])[0]
    return raycast(planes, T[:3, 3], T[:3, :3] @ ray_c, infinite=infinite)
