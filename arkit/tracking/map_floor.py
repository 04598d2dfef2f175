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
        Offset of the floor (the largest qualifying plane).
    num_inliers : int
        Map points on the floor.
    num_points : int
        Map points searched.
    tilt_deg : float
        Mean angle between ``up_world`` and the keyframes' own up (``-y``) directions.
    num_planes : int
        Parallel horizontal planes (floor, table tops) the normal was fitted to.
    """

    up_world: np.ndarray
    offset: float
    num_inliers: int
    num_points: int
    tilt_deg: float
    num_planes: int = 1


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
                      min_inliers: int = 80, min_keyframes: int = 5, max_planes: int = 8,
                      iterations: int = 500, parallel_deg: float = 5.0, seed: int = 0) -> Optional[MapFloor]:
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
    min_keyframes : int
        Fewer keyframes: None (a young monocular map is too distorted to trust its floor).
    max_planes : int
        Planes searched (largest first).
    iterations : int
        RANSAC hypotheses per plane.
    parallel_deg : float
        Other qualifying planes within this angle of the floor (table tops) are refitted with it
        (one normal, own offsets).
    seed : int
        RANSAC seed.
    """
    from arkit.planes.sparse_planes import SparsePlaneDetector

    P = np.asarray(points_world, np.float64).reshape(-1, 3)
    P = P[np.all(np.isfinite(P), axis=1)]
    T = np.asarray(T_world_cameras, np.float64).reshape(-1, 4, 4)
    if len(T) < max(1, min_keyframes) or len(P) < max(3, min_inliers):
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
    thr = rel_threshold * scale
    cands = []                                               # (inliers, n, o) of every qualifying plane
    for pl in det.detect(P, seed=seed):
        n, o = np.asarray(pl.normal, np.float64), float(pl.offset)
        side = centres @ n + o
        if np.median(side) < 0:                              # orient towards the camera centres
            n, o, side = -n, -o, -side
        if np.mean(side > 0) < 0.9 or np.median(cam_up @ n) < cos_max:   # cameras above, roughly upright
            continue
        cands.append((len(pl.inlier_idx), n, o))
    if not cands:
        return None
    cands.sort(key=lambda c: -c[0])
    count, n0, _ = cands[0]
    # the floor and the horizontal surfaces parallel to it (table tops) share one normal: refit
    # it jointly (each plane with its own offset), which is steadier than the floor alone
    group = [(n, o) for _, n, o in cands if n @ n0 >= np.cos(np.radians(parallel_deg))]
    n, offsets = _refine_parallel_planes(P, n0, [o for _, o in group], thr)
    tilt = float(np.degrees(np.mean(np.arccos(np.clip(cam_up @ n, -1.0, 1.0)))))
    best = MapFloor(n, offsets[0], int(count), int(len(P)), tilt, len(group))
    log.debug("map floor: %d of %d points (%d parallel planes), tilt %.1f deg", best.num_inliers, best.num_points,
              best.num_planes, best.tilt_deg)
    return best


def _refine_parallel_planes(P: np.ndarray, n: np.ndarray, offsets, threshold: float, iterations: int = 5):
    """Tukey-biweighted joint refit of parallel planes ``n @ x + o_k = 0`` to points (N, 3):
    one normal (3,), one offset per plane; points near a plane count most, structure touching
    it (a wall's foot, clutter) little."""
    offsets = [float(o) for o in offsets]
    for _ in range(iterations):
        S = np.zeros((3, 3))
        cents = []
        for o in offsets:
            w = np.clip(1.0 - ((P @ n + o) / (2.0 * threshold)) ** 2, 0.0, None) ** 2
            if np.count_nonzero(w) < 3:
                cents.append(None)
                continue
            c = (w[:, None] * P).sum(0) / w.sum()
            Q = P - c
            S += (w[:, None] * Q).T @ Q
            cents.append(c)
        if not any(c is not None for c in cents):
            break
        vecs = np.linalg.eigh(S)[1]
        n = vecs[:, 0] if vecs[:, 0] @ n >= 0 else -vecs[:, 0]
        offsets = [o if c is None else float(-n @ c) for o, c in zip(offsets, cents)]
    return n, offsets
