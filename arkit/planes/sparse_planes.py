"""Planes without depth: seeded RANSAC on sparse world points (monocular map points, as ARCore).

:class:`SparsePlaneDetector` finds planes ``normal @ x + offset = 0`` in a cloud of world
points (N, 3). With a gravity direction it first looks for horizontal planes (normal within
``prior_angle_deg`` of up: floor, tables), then vertical ones (walls), each by seeded RANSAC
restricted to that orientation, least-squares refinement and removal of the inliers.
:func:`update_manager_with_sparse_planes` feeds the detected planes (their inlier points) into
an existing :class:`~arkit.planes.manager.PlaneManager`, which gives them stable ids, polygons
and labels exactly as it does for depth planes.

>>> det = SparsePlaneDetector(gravity_up_world=(0, 1, 0), distance_threshold_m=0.02)  # doctest: +SKIP
>>> planes = det.detect(tracker.map.positions[tracker.map.alive_ids()], seed=0)        # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np

from arkit.core.errors import ArkitError
from arkit.core.trackables import TrackableChanges

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SparsePlane:
    """One plane found in sparse points: ``normal @ x + offset = 0``.

    Attributes
    ----------
    normal : (3,) float64
        Unit normal; for horizontal / vertical planes found with gravity it points up (horizontal)
        or is oriented arbitrarily but consistently (vertical).
    offset : float
    inlier_idx : (M,) int64
        Indices of the inlier points in the array given to :meth:`SparsePlaneDetector.detect`.
    centroid : (3,) float64
        Mean of the inliers.
    kind : str
        ``"horizontal"``, ``"vertical"`` or ``"any"`` (the search phase that found it).
    """

    normal: np.ndarray
    offset: float
    inlier_idx: np.ndarray
    centroid: np.ndarray
    kind: str = "any"

    def distance(self, points) -> np.ndarray:
        """Signed distances (N,) float64 of world points (N, 3) to the plane."""
        return np.asarray(points, np.float64).reshape(-1, 3) @ self.normal + self.offset


def _fit_lsq(P: np.ndarray):
    """Least-squares plane of points (N, 3): unit normal (3,), offset, centroid (3,)."""
    c = P.mean(0)
    _, _, vt = np.linalg.svd(P - c, full_matrices=False)
    n = vt[-1]
    return n, float(-n @ c), c


class SparsePlaneDetector:
    """Seeded multi-plane RANSAC with a gravity prior.

    Parameters
    ----------
    gravity_up_world : (3,) float or None
        World "up". None: no prior, planes of any orientation are searched.
    distance_threshold_m : float
        Inlier distance to a plane (in world units; for a monocular map, its own scale).
    min_inliers : int
        Planes with fewer inliers are not reported.
    min_inlier_fraction : float
        ... nor planes holding less than this fraction of the input points.
    prior_angle_deg : float
        Angular tolerance of "horizontal" (normal near up) and "vertical" (normal near
        perpendicular to up).
    iterations : int
        RANSAC hypotheses per search.
    max_horizontal, max_vertical, max_any : int
        Maximum planes per phase.
    refine_iterations : int
        Least-squares refit / re-select rounds after RANSAC.
    contrast_gap, min_contrast : float
        A plane must hold at least ``min_contrast`` times as many points as the mean of the two
        parallel slabs ``contrast_gap * distance_threshold_m`` away (rejects planes that cut
        obliquely through other structure); hypotheses are scored by the same contrast.
    """

    def __init__(self, gravity_up_world=(0.0, 1.0, 0.0), distance_threshold_m: float = 0.02,
                 min_inliers: int = 30, min_inlier_fraction: float = 0.05, prior_angle_deg: float = 10.0,
                 iterations: int = 400, max_horizontal: int = 3, max_vertical: int = 4, max_any: int = 4,
                 refine_iterations: int = 3, contrast_gap: float = 3.0, min_contrast: float = 3.0):
        if gravity_up_world is not None:
            up = np.asarray(gravity_up_world, np.float64).reshape(-1)
            if up.shape != (3,) or not np.all(np.isfinite(up)) or np.linalg.norm(up) < 1e-9:
                raise ArkitError(f"SparsePlaneDetector: gravity_up_world must be a non-zero 3-vector or None, "
                                 f"got {gravity_up_world!r}")
            self.up = up / np.linalg.norm(up)
        else:
            self.up = None
        if not distance_threshold_m > 0:
            raise ArkitError(f"SparsePlaneDetector: distance_threshold_m must be > 0, got {distance_threshold_m!r}")
        if not 0 < prior_angle_deg < 45:
            raise ArkitError(f"SparsePlaneDetector: prior_angle_deg must be in (0, 45), got {prior_angle_deg!r}")
        self.distance_threshold_m = float(distance_threshold_m)
        self.min_inliers = max(3, int(min_inliers))
        self.min_inlier_fraction = float(min_inlier_fraction)
        self.prior_angle_deg = float(prior_angle_deg)
        self.iterations = int(iterations)
        self.max_per_phase = {"horizontal": int(max_horizontal), "vertical": int(max_vertical), "any": int(max_any)}
        self.refine_iterations = int(refine_iterations)
        self.contrast_gap = float(contrast_gap)
        self.min_contrast = float(min_contrast)

    # ------------------------------------------------------------------------------------------
    def detect(self, points_world, seed: int = 0) -> list:
        """Planes in world points.

        Parameters
        ----------
        points_world : (N, 3) float
            Non-finite rows are ignored.
        seed : int
            RANSAC seed (same input and seed -> same planes).

        Returns
        -------
        list of SparsePlane
            Horizontal planes first (largest first), then vertical ones.
        """
        P = np.asarray(points_world, np.float64)
        if P.ndim != 2 or P.shape[1] != 3:
            raise ArkitError(f"SparsePlaneDetector.detect: points_world must have shape (N, 3), got {P.shape}")
        rng = np.random.default_rng(seed)
        remaining = np.flatnonzero(np.all(np.isfinite(P), 1))
        need = max(self.min_inliers, int(np.ceil(self.min_inlier_fraction * len(remaining))))
        phases = ("horizontal", "vertical") if self.up is not None else ("any",)
        planes = []
        for kind in phases:
            for _ in range(self.max_per_phase[kind]):
                if len(remaining) < need:
                    break
                plane = self._search(P, remaining, kind, need, rng)
                if plane is None:
                    break
                planes.append(plane)
                remaining = np.setdiff1d(remaining, plane.inlier_idx, assume_unique=True)
        log.debug("sparse planes: %d from %d points", len(planes), len(P))
        return planes

    # ------------------------------------------------------------------------------------------
    def _orientation_ok(self, normals: np.ndarray, kind: str) -> np.ndarray:
        if kind == "any":
            return np.ones(len(normals), bool)
        c = np.abs(normals @ self.up)
        if kind == "horizontal":
            return c >= np.cos(np.radians(self.prior_angle_deg))
        return c <= np.sin(np.radians(self.prior_angle_deg))

    def _search(self, P, idx, kind, need, rng) -> Optional[SparsePlane]:
        Q = P[idx]
        n_pts = len(Q)
        thr = self.distance_threshold_m
        # hypotheses: random triples (vectorised), filtered by the orientation prior
        tri = rng.integers(0, n_pts, size=(self.iterations, 3))
        a, b, c = Q[tri[:, 0]], Q[tri[:, 1]], Q[tri[:, 2]]
        nrm = np.cross(b - a, c - a)
        ln = np.linalg.norm(nrm, axis=1)
        good = ln > 1e-12
        nrm = nrm[good] / ln[good, None]
        a = a[good]
        ok = self._orientation_ok(nrm, kind)
        nrm, a = nrm[ok], a[ok]
        if len(nrm) == 0:
            return None
        off = -np.einsum("ij,ij->i", nrm, a)
        # score in chunks to bound memory: MSAC-like support of the slab |d| < thr minus the mean
        # support of the two parallel slabs at +-gap. A real surface has empty neighbour slabs;
        # a plane cutting obliquely through other structure (walls, clutter) does not.
        gap = self.contrast_gap * thr

        def support(d):
            return np.where(np.abs(d) < thr, 1.0 - (d / thr) ** 2, 0.0).sum(0)

        best_score, best = -np.inf, None
        for s in range(0, len(nrm), 64):
            d = Q @ nrm[s:s + 64].T + off[s:s + 64]                    # (n_pts, k)
            score = support(d) - 0.5 * (support(d - gap) + support(d + gap))
            j = int(np.argmax(score))
            if score[j] > best_score:
                best_score, best = score[j], s + j
        n, o = nrm[best], off[best]
        inl = np.flatnonzero(np.abs(Q @ n + o) < thr)
        for _ in range(self.refine_iterations):
            if len(inl) < 3:
                return None
            n2, o2, _ = _fit_lsq(Q[inl])
            if n2 @ n < 0:
                n2, o2 = -n2, -o2
            if not self._orientation_ok(n2[None], kind)[0]:
                break
            n, o = n2, o2
            new = np.flatnonzero(np.abs(Q @ n + o) < thr)
            if np.array_equal(new, inl):
                break
            inl = new
        if len(inl) < need:
            return None
        d = Q @ n + o
        side = 0.5 * (np.sum(np.abs(d - gap) < thr) + np.sum(np.abs(d + gap) < thr))
        if len(inl) < self.min_contrast * side:
            log.debug("sparse plane rejected: %d inliers vs %.1f in neighbour slabs", len(inl), side)
            return None
        if kind == "horizontal" and n @ self.up < 0:
            n, o = -n, -o
        return SparsePlane(normal=n, offset=float(o), inlier_idx=idx[inl].astype(np.int64),
                           centroid=Q[inl].mean(0), kind=kind)


def sparse_manager_params(**overrides):
    """:class:`~arkit.planes.manager.PlaneManagerParams` suited to sparse points (map points a
    few centimetres to decimetres apart): coarser outline cells and a wider merge gap.

    Parameters
    ----------
    **overrides
        Any PlaneManagerParams field.
    """
    from arkit.planes.manager import PlaneManagerParams

    opts = dict(outline_cell_m=0.15, simplify_m=0.05, merge_gap_m=0.30, match_distance_m=0.05)
    opts.update(overrides)
    return PlaneManagerParams(**opts)


def update_manager_with_sparse_planes(manager, planes, points_world, state_changes: Optional[TrackableChanges] = None
                                      ) -> TrackableChanges:
    """Feed sparse planes (world points) into a :class:`~arkit.planes.manager.PlaneManager`.

    Each plane's inlier points are associated to the manager's tracked planes with the same rules
    as depth observations (orientation, distance, footprint overlap). Map points are seen again
    and again, so a tracked plane's moment sums are rebuilt from its (voxel-thinned) points
    instead of accumulated.

    Parameters
    ----------
    manager : PlaneManager
        Best built with ``PlaneManager(sparse_manager_params())``.
    planes : sequence of SparsePlane
    points_world : (N, 3) float
        The points ``planes`` were detected in.
    state_changes : TrackableChanges, optional
        Changes already produced this frame (e.g. planes resumed), merged into the result.

    Returns
    -------
    TrackableChanges
    """
    from arkit.planes import manager as mm

    P = np.asarray(points_world, np.float64)
    p = manager.params
    cos_match = np.cos(np.radians(p.match_angle_deg))
    added, touched, removed = [], set(), []
    for sp in planes:
        Pw = P[sp.inlier_idx]
        if len(Pw) < 3:
            continue
        n_w, c_w = np.asarray(sp.normal, float), np.asarray(sp.centroid, float)
        cands = [tp for tp in manager._live.values()
                 if tp.normal @ n_w > cos_match and tp.distance_to(c_w) < p.match_distance_m
                 and tp.overlap_fraction(Pw, p) > 0.02]
        if not cands:
            tp = mm._Tracked(f"plane:{manager._next}", manager._next, n_w, mm.moments_of_points(Pw), Pw)
            manager._next += 1
            manager._live[tp.id] = tp
            added.append(tp.id)
        else:
            cands.sort(key=lambda t: t.serial)
            tp = cands[0]
            tp.add_points(Pw, p)
            for other in cands[1:]:
                manager._absorb(tp, other, removed)
            tp.S = mm.moments_of_points(tp.points)
        tp.refit(p)
        touched.add(tp.id)
    manager._merge_pass(touched, removed)
    for tp in manager._live.values():
        if tp.id in touched:
            tp.S = mm.moments_of_points(tp.points)   # merged planes: de-duplicated points only
    added = [i for i in added if i in manager._live]
    floor_id, floor_h = manager._floor()
    updated = []
    for pid, tp in manager._live.items():
        snap = manager._snapshot(tp, floor_id, floor_h)
        old = manager._snapshots.get(pid)
        manager._snapshots[pid] = snap
        if pid in touched and pid not in added:
            updated.append(pid)
        elif old is not None and pid not in added and old.label != snap.label:
            updated.append(pid)
    if state_changes is not None:
        updated += [i for i in state_changes.updated if i in manager._live and i not in added]
    removed = [i for i in removed if i in manager._snapshots]
    return TrackableChanges(tuple(added), tuple(dict.fromkeys(updated)), tuple(removed))
