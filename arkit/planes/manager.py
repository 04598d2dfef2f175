"""Temporal plane tracking: depth planes of each frame -> world planes with stable ids.

Each frame's :class:`~arkit.planes.depth_extractor.DepthPlane` observations are moved to the
world with ``T_world_camera`` and associated to tracked planes (same orientation, small
point-to-plane distance, overlapping footprint). A tracked plane keeps running moment sums
(refit every update), a voxel-thinned set of its world points, and a boundary polygon in its
own frame (+Y normal, X/Z in the plane). Coplanar tracked planes whose footprints touch are
merged: the older plane absorbs the newer one, which is reported removed with ``subsumed_by``
(as ARCore). Every frame returns :class:`~arkit.core.trackables.TrackableChanges`; snapshots are
:class:`~arkit.core.trackables.PlaneTrackable`.

>>> mgr = PlaneManager()                                    # doctest: +SKIP
>>> changes = mgr.update(depth_m, intrinsics, T_world_camera)  # doctest: +SKIP
>>> [p.label for p in mgr.planes()]                         # doctest: +SKIP
['floor', 'wall', 'table']
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.pose import as_transform
from arkit.core.trackables import PlaneAlignment, PlaneTrackable, TrackableChanges, TrackableState
from arkit.planes.depth_extractor import DepthPlaneExtractor, DepthPlaneParams
from arkit.planes.labels import guess_label, plane_alignment
from arkit.planes.plane_fit import fit_plane_from_moments, moments_of_points, transform_plane
from arkit.planes.polygon import outline_xz, plane_rotation, polygon_area, to_plane_xz

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlaneManagerParams:
    """Tuning of :class:`PlaneManager`.

    Parameters
    ----------
    up_world : (3,) float
        Gravity "up" in world coordinates (arkit worlds are +Y up once gravity is known).
    match_angle_deg : float
        Maximum angle between an observation's normal and a tracked plane's normal.
    match_distance_m : float
        Maximum distance of an observation's centroid to a tracked plane (raised to three
        times the depth noise of far observations).
    merge_gap_m : float
        Footprints closer than this count as overlapping (association and merging).
    outline_cell_m, simplify_m : float
        Raster resolution and Douglas-Peucker tolerance of the boundary polygon.
    concave : bool
        Concave outline of the footprint (else its convex hull).
    sample_step_px : int
        Inlier pixels are sub-sampled on this grid before going to the world.
    voxel_m : float
        Accumulated footprint points are thinned to one per voxel.
    max_points : int
        Cap of accumulated points per plane.
    min_inliers_px : int
        Smaller observations are ignored.
    alignment_tolerance_deg : float
        Angular tolerance of HORIZONTAL / VERTICAL alignment.
    min_floor_area_m2 : float
        The floor is the lowest upward horizontal plane at least this large.
    """

    up_world: tuple = (0.0, 1.0, 0.0)
    match_angle_deg: float = 10.0
    match_distance_m: float = 0.05
    merge_gap_m: float = 0.10
    outline_cell_m: float = 0.05
    simplify_m: float = 0.03
    concave: bool = True
    sample_step_px: int = 4
    voxel_m: float = 0.03
    max_points: int = 40000
    min_inliers_px: int = 1500
    alignment_tolerance_deg: float = 10.0
    min_floor_area_m2: float = 0.5


class _Tracked:
    """Mutable state of one tracked plane (private to the manager)."""

    def __init__(self, pid: str, serial: int, normal, S, points):
        self.id = pid
        self.serial = serial
        self.S = S.copy()
        self.normal = np.asarray(normal, float)
        self.offset = 0.0
        self.points = points
        self.state = TrackableState.TRACKING
        self.R = np.eye(3)
        self.origin = np.zeros(3)
        self.polygon = np.zeros((0, 2))
        self.occ = None                       # (lo (2,), occupancy (H, W) bool) for overlap tests
        self.shape_facts = None               # (alignment, area, vertical extent), see PlaneManager._facts
        self.snapshot_stale = True            # geometry changed since the last snapshot

    def refit(self, p: PlaneManagerParams):
        nrm, off, mu = fit_plane_from_moments(self.S, self.normal)
        self.normal, self.offset, self.centroid = nrm, float(off), mu
        self.R = plane_rotation(self.normal, p.up_world)
        origin = self.centroid - (self.normal @ self.centroid + self.offset) * self.normal
        xz = to_plane_xz(self.points, self.R, origin)
        poly = outline_xz(xz, p.outline_cell_m, p.concave, p.simplify_m)
        if len(poly):
            centre = 0.5 * (poly.min(0) + poly.max(0))
            poly = poly - centre
            origin = origin + self.R @ np.array([centre[0], 0.0, centre[1]])
            xz = xz - centre
        self.origin, self.polygon = origin, poly
        self.shape_facts, self.snapshot_stale = None, True
        self._build_occupancy(xz, p)

    def _build_occupancy(self, xz, p: PlaneManagerParams):
        import cv2

        cell = p.outline_cell_m
        gap = int(np.ceil(p.merge_gap_m / cell))
        lo = xz.min(0) - (gap + 1) * cell
        ij = np.floor((xz - lo) / cell).astype(np.int64)
        occ = np.zeros((int(ij[:, 1].max()) + gap + 2, int(ij[:, 0].max()) + gap + 2), np.uint8)
        occ[ij[:, 1], ij[:, 0]] = 1
        if gap > 0:
            occ = cv2.dilate(occ, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * gap + 1, 2 * gap + 1)))
        self.occ = (lo, occ.astype(bool))

    def overlap_fraction(self, points_world, p: PlaneManagerParams) -> float:
        """Fraction of world points (N, 3) that fall on this plane's dilated footprint."""
        if self.occ is None or len(points_world) == 0:
            return 0.0
        lo, occ = self.occ
        ij = np.floor((to_plane_xz(points_world, self.R, self.origin) - lo) / p.outline_cell_m).astype(np.int64)
        ok = (ij[:, 0] >= 0) & (ij[:, 1] >= 0) & (ij[:, 0] < occ.shape[1]) & (ij[:, 1] < occ.shape[0])
        hit = np.zeros(len(ij), bool)
        hit[ok] = occ[ij[ok, 1], ij[ok, 0]]
        return float(hit.mean())

    def distance_to(self, point) -> float:
        return float(abs(self.normal @ point + self.offset))

    def add_points(self, P, p: PlaneManagerParams):
        """Add the points of ``P`` whose voxel (``p.voxel_m``) holds no point yet, first one per
        voxel, keeping the stored order (old points first); thinned to ``p.max_points``.

        The sorted voxel keys of the stored points are cached, so a frame costs O(M log N) for M
        new points instead of re-sorting all N stored ones."""
        P = np.asarray(P, np.float64).reshape(-1, 3)
        old_sorted = self._sorted_keys(p)
        key = _voxel_keys(P, p.voxel_m)
        if len(old_sorted):
            pos = np.minimum(np.searchsorted(old_sorted, key), len(old_sorted) - 1)
            fresh = old_sorted[pos] != key
            P, key = P[fresh], key[fresh]
        _, first = np.unique(key, return_index=True)
        first.sort()
        P, key = P[first], key[first]
        pts = np.vstack([self.points, P]) if len(self.points) else P
        keys = np.concatenate([self._keys, key]) if len(self.points) else key
        if len(pts) > p.max_points:
            step = int(np.ceil(len(pts) / p.max_points))
            pts, keys = pts[::step], keys[::step]
        self.points = pts
        self._keys, self._keys_sorted, self._keys_of = keys, np.sort(keys), (pts, p.voxel_m)

    def _sorted_keys(self, p: PlaneManagerParams) -> np.ndarray:
        """Sorted voxel keys of ``self.points``; when the points were set from outside, they are
        first reduced to one point per voxel (the first, order kept)."""
        of = getattr(self, "_keys_of", None)
        if of is None or of[0] is not self.points or of[1] != p.voxel_m:
            pts = np.asarray(self.points, np.float64).reshape(-1, 3)
            key = _voxel_keys(pts, p.voxel_m)
            _, first = np.unique(key, return_index=True)
            first.sort()
            self.points, self._keys = pts[first], key[first]
            self._keys_sorted, self._keys_of = np.sort(self._keys), (self.points, p.voxel_m)
        return self._keys_sorted


def _voxel_keys(P: np.ndarray, voxel_m: float) -> np.ndarray:
    """(N,) int64 hash of the voxel of each point of ``P`` (N, 3)."""
    v = np.floor(P / voxel_m).astype(np.int64)
    return (v[:, 0] * 73856093) ^ (v[:, 1] * 19349663) ^ (v[:, 2] * 83492791)


class PlaneManager:
    """Turns per-frame depth planes into world planes with stable ids ``"plane:<n>"``.

    Parameters
    ----------
    params : PlaneManagerParams, optional
    extractor_params : DepthPlaneParams, optional
        Used when :meth:`update` extracts the planes itself.
    """

    def __init__(self, params: Optional[PlaneManagerParams] = None,
                 extractor_params: Optional[DepthPlaneParams] = None):
        self.params = params or PlaneManagerParams()
        self.extractor_params = extractor_params or DepthPlaneParams()
        self._extractors = {}
        self._live = {}                        # id -> _Tracked
        self._snapshots = {}                   # id -> last PlaneTrackable (incl. removed ones)
        self._next = 0

    # -- queries --------------------------------------------------------------------------------
    def planes(self) -> tuple:
        """Snapshots (PlaneTrackable) of every live plane, oldest first."""
        return tuple(self._snapshots[i] for i in self._live)

    def get(self, trackable_id: str) -> Optional[PlaneTrackable]:
        """The last snapshot of a plane (also of removed / subsumed ones), or None."""
        return self._snapshots.get(trackable_id)

    # -- updates --------------------------------------------------------------------------------
    def update_frame(self, frame, camera) -> TrackableChanges:
        """Session entry point: a :class:`~arkit.core.frame.Frame` and its :class:`CameraState`.

        Planes pause while the camera is not tracking; frames without depth change nothing."""
        if not camera.is_tracking:
            return self._set_state(TrackableState.PAUSED)
        resumed = self._set_state(TrackableState.TRACKING)
        if frame.depth_m is None:
            return resumed
        ch = self.update(frame.depth_m, frame.intrinsics, camera.T_world_camera)
        upd = tuple(dict.fromkeys(ch.updated + tuple(i for i in resumed.updated if i in self._live and i not in ch.added)))
        return TrackableChanges(ch.added, upd, ch.removed)

    def update(self, depth_m, intrinsics: Intrinsics, T_world_camera, depth_planes=None) -> TrackableChanges:
        """Add one depth frame.

        Parameters
        ----------
        depth_m : (H, W) float32
            Metres, 0 = invalid.
        intrinsics : Intrinsics
        T_world_camera : (4, 4) float64
        depth_planes : sequence of DepthPlane, optional
            Planes already extracted from ``depth_m`` (otherwise they are extracted here).

        Returns
        -------
        TrackableChanges
        """
        p = self.params
        T = as_transform(T_world_camera, "T_world_camera")
        if depth_planes is None:
            ex = self._extractors.get(intrinsics)
            if ex is None:
                ex = self._extractors[intrinsics] = DepthPlaneExtractor(intrinsics, self.extractor_params)
            depth_planes = ex.extract(depth_m).planes
        depth = np.asarray(depth_m, np.float32)
        cos_match = np.cos(np.radians(p.match_angle_deg))
        added, touched, removed = [], set(), []
        s = p.sample_step_px
        for dp in depth_planes:
            if dp.num_inliers < p.min_inliers_px:
                continue
            vv, uu = dp.inlier_pixels(s)
            uv = np.stack([uu * s, vv * s], 1).astype(np.float64)
            z = depth[vv * s, uu * s]
            if len(uv) < 10:
                continue
            Pw = intrinsics.unproject(uv, z) @ T[:3, :3].T + T[:3, 3]
            n_w, _ = transform_plane(T, dp.normal, dp.offset)
            c_w = T[:3, :3] @ dp.centroid + T[:3, 3]
            sigma = float(self.extractor_params.sigma_m(dp.centroid[2]))
            dist_thr = max(p.match_distance_m, 3.0 * sigma)
            live = list(self._live.values())
            if len(live) > 8:
                # one array test first (real scenes keep dozens of planes), then the exact
                # per-plane test on the few that pass it with a rounding margin
                nrm = np.array([tp.normal for tp in live])
                off = np.array([tp.offset for tp in live])
                near = (nrm @ n_w > cos_match - 1e-9) & (np.abs(nrm @ c_w + off) < dist_thr + 1e-9)
                live = [tp for tp, ok in zip(live, near) if ok]
            cands = [tp for tp in live
                     if tp.normal @ n_w > cos_match and tp.distance_to(c_w) < dist_thr
                     and tp.overlap_fraction(Pw, p) > 0.02]
            S_obs = moments_of_points(Pw)
            if not cands:
                tp = _Tracked(f"plane:{self._next}", self._next, n_w, S_obs, Pw)
                self._next += 1
                self._live[tp.id] = tp
                added.append(tp.id)
                tp.refit(p)
            else:
                cands.sort(key=lambda t: t.serial)
                tp = cands[0]
                tp.S += S_obs
                tp.add_points(Pw, p)
                for other in cands[1:]:
                    self._absorb(tp, other, removed)
                tp.refit(p)
            touched.add(tp.id)
        self._merge_pass(touched, removed)
        added = [i for i in added if i in self._live]
        # labels depend on the floor, so every live plane gets a fresh snapshot when it changes
        floor_id, floor_h = self._floor()
        updated = []
        for pid, tp in self._live.items():
            old = self._snapshots.get(pid)
            snap = self._snapshot(tp, floor_id, floor_h, old)
            self._snapshots[pid] = snap
            if pid in touched and pid not in added:
                updated.append(pid)
            elif old is not None and pid not in added and (old.label != snap.label):
                updated.append(pid)
        removed = [i for i in removed if i in self._snapshots]
        return TrackableChanges(tuple(added), tuple(updated), tuple(removed))

    # -- internals ------------------------------------------------------------------------------
    def _absorb(self, keep: _Tracked, gone: _Tracked, removed: list):
        keep.S = keep.S + gone.S
        keep.add_points(gone.points, self.params)
        del self._live[gone.id]
        old = self._snapshots.get(gone.id)
        if old is not None:
            self._snapshots[gone.id] = replace(old, state=TrackableState.STOPPED, subsumed_by=keep.id)
            removed.append(gone.id)
        log.debug("%s subsumed by %s", gone.id, keep.id)

    def _merge_pass(self, touched: set, removed: list):
        """Merge coplanar live planes whose footprints overlap (older absorbs newer)."""
        p = self.params
        cos_match = np.cos(np.radians(p.match_angle_deg))
        changed = True
        while changed:
            changed = False
            live = sorted(self._live.values(), key=lambda t: t.serial)
            hot = [j for j, t in enumerate(live) if t.id in touched]
            for i, a in enumerate(live):
                # pairs with at least one touched plane, in the same order as all pairs
                later = live[i + 1:] if a.id in touched else [live[j] for j in hot if j > i]
                for b in later:
                    if a.normal @ b.normal < cos_match:
                        continue
                    if a.distance_to(b.centroid) > p.match_distance_m or b.distance_to(a.centroid) > p.match_distance_m:
                        continue
                    if max(a.overlap_fraction(b.points, p), b.overlap_fraction(a.points, p)) < 0.02:
                        continue
                    self._absorb(a, b, removed)
                    a.refit(p)
                    touched.add(a.id)
                    changed = True
                    break
                if changed:
                    break

    def _height(self, tp: _Tracked) -> float:
        return float(np.asarray(self.params.up_world, float) @ tp.centroid)

    def _floor(self):
        p = self.params
        best = (None, None)
        for tp in self._live.values():
            align, area, _ = self._facts(tp)
            if align != PlaneAlignment.HORIZONTAL_UP or area < p.min_floor_area_m2:
                continue
            h = self._height(tp)
            if best[1] is None or h < best[1]:
                best = (tp.id, h)
        return best

    def _facts(self, tp: _Tracked) -> tuple:
        """``(alignment, polygon area, vertical extent of the points)`` of a plane, computed
        once per refit (the floor test and the snapshots read them on every update)."""
        if tp.shape_facts is None:
            p = self.params
            up = np.asarray(p.up_world, float)
            tp.shape_facts = (plane_alignment(tp.normal, p.up_world, p.alignment_tolerance_deg),
                              polygon_area(tp.polygon),
                              float(np.ptp(tp.points @ up)) if len(tp.points) else 0.0)
        return tp.shape_facts

    def _snapshot(self, tp: _Tracked, floor_id, floor_h, old: Optional[PlaneTrackable] = None) -> PlaneTrackable:
        """The plane as a PlaneTrackable; ``old`` (its last snapshot) is returned as it is when
        neither the plane's geometry (a refit marks ``tp.snapshot_stale``), state nor label changed."""
        align, area, vext = self._facts(tp)
        if tp.snapshot_stale:
            old, tp.snapshot_stale = None, False
        h = None if floor_h is None else self._height(tp) - floor_h
        label = guess_label(align, h, area, vext, is_floor=tp.id == floor_id)
        if old is not None and old.state == tp.state and old.label == label:
            return old
        T = np.eye(4)
        T[:3, :3] = tp.R
        T[:3, 3] = tp.origin
        ext = tuple(float(v) for v in np.ptp(tp.polygon, axis=0)) if len(tp.polygon) else (0.0, 0.0)
        return PlaneTrackable(id=tp.id, kind="plane", T_world_local=T, state=tp.state, alignment=align,
                              label=label, extent_xz=ext, polygon_xz=tp.polygon)

    def _set_state(self, state: TrackableState) -> TrackableChanges:
        changed = []
        for pid, tp in self._live.items():
            if tp.state != state:
                tp.state = state
                self._snapshots[pid] = replace(self._snapshots[pid], state=state)
                changed.append(pid)
        return TrackableChanges(updated=tuple(changed))
