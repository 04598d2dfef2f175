"""Gravity ("up") from the floor found in a monocular tracker's sparse map (no depth, no IMU).

:func:`floor_up_from_map` runs seeded RANSAC plane detection
(:class:`arkit.planes.sparse_planes.SparsePlaneDetector`, without a gravity prior) on the map
points and picks the floor under the same assumption as
:func:`arkit.tracking.scale_sources.floor_up_camera`: the camera is held roughly upright (its
own up, ``-y``, within ``max_tilt_deg`` of the true up on the keyframes), and the floor is the
largest plane whose normal, oriented towards the camera centres, is within ``max_tilt_deg`` of
the keyframes' up directions. Tables and other large horizontal surfaces under the camera give
the same up. The map's units are arbitrary: the plane distance threshold is relative to the
median camera-to-point distance.

>>> est = floor_up_from_map(*map_points_and_cameras(visual_tracker))       # doctest: +SKIP
>>> est.up_world, est.num_inliers                                           # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np

from arkit.core.errors import ArkitError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MapFloor:
    """A floor plane ``up_world @ x + offset = 0`` found in map points.

    Attributes
    ----------
    up_world : (3,) float64
        Unit normal pointing up (towards the camera centres), map coordinates.
    offset : float
    num_inliers : int
        Map points on the plane.
    num_points : int
        Map points searched.
    tilt_deg : float
        Mean angle between ``up_world`` and the keyframes' own up (``-y``) directions.
    """

    up_world: np.ndarray
    offset: float
    num_inliers: int
    num_points: int
    tilt_deg: float


def map_points_and_cameras(tracker):
    """Live map points (N, 3) and keyframe poses (K, 4, 4) of a tracker with a ``map`` such as
    :class:`arkit.tracking.vslam.VisualTracker` (``map.positions``, ``map.alive_ids``,
    ``map.keyframes[i].T_world_camera``), copied.

    Raises
    ------
    ArkitError
        The tracker has no such map.
    """
    m = getattr(tracker, "map", None)
    if m is None or not all(hasattr(m, a) for a in ("positions", "alive_ids", "keyframes")):
        raise ArkitError(f"gravity 'map_floor' needs a tracker with a point map (VisualTracker), "
                         f"got {type(tracker).__name__}")
    ids = np.asarray(m.alive_ids)
    points = np.array(m.positions[ids], np.float64).reshape(-1, 3)
    kfs = list(m.keyframes)
    poses = np.array([np.asarray(kf.T_world_camera, np.float64) for kf in kfs]).reshape(-1, 4, 4)
    return points, poses


def floor_up_from_map(points_world, T_world_cameras, max_tilt_deg: float = 50.0, rel_threshold: float = 0.01,
                      min_inliers: int = 40, max_planes: int = 8, iterations: int = 500,
                      seed: int = 0) -> Optional[MapFloor]:
    """The floor in sparse map points, or None when no plane qualifies.

    Parameters
    ----------
    points_world : (N, 3) float
        Map points (any units; non-finite rows ignored).
    T_world_cameras : (K, 4, 4) float
        Camera poses in the same world (keyframes), K >= 1.
    max_tilt_deg : float
        Largest angle between the floor normal and a camera's own up (``-y``) on the median
        keyframe; also the assumed limit of the camera's pitch and roll.
    rel_threshold : float
        Plane inlier distance as a fraction of the median camera-to-point distance.
    min_inliers : int
        Smallest floor (map points).
    max_planes : int
        Planes searched (largest first).
    iterations : int
        RANSAC hypotheses per plane.
    seed : int
        RANSAC seed.
    """
    from arkit.planes.sparse_planes import SparsePlaneDetector

    P = np.asarray(points_world, np.float64).reshape(-1, 3)
    P = P[np.all(np.isfinite(P), axis=1)]
    T = np.asarray(T_world_cameras, np.float64).reshape(-1, 4, 4)
    if len(T) == 0 or len(P) < max(3, min_inliers):
        return None
    centres = T[:, :3, 3]
    cam_up = -T[:, :3, 1]                                   # each camera's -y axis in the world
    c_mean = centres.mean(axis=0)
    scale = float(np.median(np.linalg.norm(P - c_mean, axis=1)))
    if not scale > 0:
        return None
    det = SparsePlaneDetector(gravity_up_world=None, distance_threshold_m=rel_threshold * scale,
                              min_inliers=min_inliers, min_inlier_fraction=0.02, iterations=iterations,
                              max_any=max_planes)
    cos_max = np.cos(np.radians(max_tilt_deg))
    best = None
    for pl in det.detect(P, seed=seed):
        n, o = np.asarray(pl.normal, np.float64), float(pl.offset)
        side = centres @ n + o
        if np.median(side) < 0:                              # orient towards the camera centres
            n, o, side = -n, -o, -side
        if np.mean(side > 0) < 0.9:                          # the cameras must be above it
            continue
        cos_t = cam_up @ n
        if np.median(cos_t) < cos_max:
            continue
        if best is None or len(pl.inlier_idx) > best.num_inliers:
            tilt = float(np.degrees(np.mean(np.arccos(np.clip(cos_t, -1.0, 1.0)))))
            best = MapFloor(n, o, int(len(pl.inlier_idx)), int(len(P)), tilt)
    if best is not None:
        log.debug("map floor: %d of %d points, tilt %.1f deg", best.num_inliers, best.num_points, best.tilt_deg)
    return best
