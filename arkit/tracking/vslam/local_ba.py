"""Local bundle adjustment over the map (ORB-SLAM's LocalBundleAdjustment).

:func:`prepare_local_ba` snapshots the problem around a keyframe (map lock held),
:meth:`LocalBAProblem.solve` optimises the snapshot without touching the map (so the mapping
thread can run it while the tracker works), :func:`apply_local_ba` writes the result back (map
lock held). :func:`local_bundle_adjustment` does all three. The optimiser is
:func:`arkit.tracking.vslam.bundle_adjustment.solve_bundle_adjustment` (LM + Schur complement).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.pose import invert
from arkit.tracking.vslam.bundle_adjustment import BAResult, solve_bundle_adjustment
from arkit.tracking.vslam.map import KeyFrame, Map

#: chi-square 95% thresholds for 2 (pixel) and 3 (pixel + virtual right pixel) residual dims
CHI2_MONO = 5.991
CHI2_STEREO = 7.815


@dataclass
class LocalBAProblem:
    """Snapshot of a local BA: keyframes (the first ``n_free`` are optimised), point ids and
    the observation arrays (see :func:`solve_bundle_adjustment` for their meaning)."""

    K: Intrinsics
    all_kfs: list
    n_free: int
    point_ids: np.ndarray
    T_camera_world: np.ndarray
    points: np.ndarray
    cam: np.ndarray
    pt: np.ndarray
    uv: np.ndarray
    inv_sigma: np.ndarray
    depth_term: np.ndarray
    bf: float
    chi2: float
    iterations: int
    rounds: int = 2

    @property
    def free(self) -> list:
        return self.all_kfs[: self.n_free]

    def solve(self) -> BAResult:
        """Run the optimiser on the snapshot (does not touch the map)."""
        return solve_bundle_adjustment(self.K, self.T_camera_world, self.n_free, self.points, self.cam, self.pt,
                                       self.uv, self.inv_sigma, self.depth_term, self.bf, self.chi2,
                                       iterations=self.iterations, rounds=self.rounds)


def prepare_local_ba(m: Map, K: Intrinsics, level_sigma2: np.ndarray, center_kf: KeyFrame | None = None,
                     n_local: int = 10, bf: float = 0.0, fixed_kf_ids=(), max_fixed: int = 10,
                     max_nfev: int = 15, chi2: float = CHI2_MONO) -> LocalBAProblem | None:
    """Snapshot the local BA problem around ``center_kf``; None when there is nothing to optimise.

    Local keyframes: ``center_kf`` and its ``n_local`` most covisible keyframes (all keyframes
    when ``center_kf`` is None). Keyframes outside that set that observe the local points enter
    with fixed poses (at most ``max_fixed``), as does the first keyframe (the gauge) and every
    id in ``fixed_kf_ids``. ``max_nfev`` bounds the LM iterations per round.
    """
    if center_kf is None:
        local = list(m.keyframes)
    else:
        pids = center_kf.point_ids[center_kf.point_ids >= 0]
        local = [center_kf] + [k for k in m.covisible_keyframes(pids, n_local + 1) if k.id != center_kf.id][:n_local]
    if not local:
        return None
    point_ids = np.unique(np.concatenate([k.point_ids[k.point_ids >= 0] for k in local]))
    point_ids = point_ids[m.alive[point_ids]]
    if len(point_ids) == 0:
        return None
    local_set = {k.id for k in local}
    fixed = [k for k in m.covisible_keyframes(point_ids, len(m.keyframes)) if k.id not in local_set][:max_fixed]
    fixed_ids = set(fixed_kf_ids) | {m.keyframes[0].id}
    free = [k for k in local if k.id not in fixed_ids]
    if not free:
        return None
    all_kfs = free + [k for k in local if k.id in fixed_ids] + fixed
    pidx = -np.ones(m.n_points, np.int64)
    pidx[point_ids] = np.arange(len(point_ids))
    cams, pts, uvs, w, dterm = [], [], [], [], []
    for ci, kf in enumerate(all_kfs):
        o = np.flatnonzero(kf.point_ids >= 0)
        o = o[pidx[kf.point_ids[o]] >= 0]
        cams.append(np.full(len(o), ci))
        pts.append(pidx[kf.point_ids[o]])
        uvs.append(kf.uv[o])
        w.append(1.0 / np.sqrt(level_sigma2[kf.octave[o]]))
        d = kf.depth_m[o]
        dterm.append(np.where(d > 0, bf / np.where(d > 0, d, 1.0), np.nan) if bf > 0 else np.full(len(o), np.nan))
    return LocalBAProblem(K, all_kfs, len(free), point_ids, np.array([k.T_camera_world for k in all_kfs]),
                          m.positions[point_ids].copy(), *(np.concatenate(a) for a in (cams, pts, uvs, w, dterm)),
                          bf=bf, chi2=chi2, iterations=max_nfev)


def apply_local_ba(m: Map, p: LocalBAProblem, res: BAResult) -> dict:
    """Write a solved :class:`LocalBAProblem` back: keyframe poses, positions of the points still
    alive (the tracker may have culled some meanwhile), and removal of observations still above
    the chi-square threshold or behind their camera."""
    for i, kf in enumerate(p.free):
        kf.T_world_camera = invert(res.T_camera_world[i])
    alive = m.alive[p.point_ids]
    m.positions[p.point_ids[alive]] = res.points[alive]
    has_d = np.isfinite(p.depth_term) & (p.bf > 0)
    chi = (res.residuals ** 2).sum(1)
    bad = chi > np.where(has_d, CHI2_STEREO, p.chi2)
    T = res.T_camera_world
    z = np.einsum("nj,nj->n", T[p.cam, 2, :3], res.points[p.pt]) + T[p.cam, 2, 3]
    bad |= z <= 0
    n_out = 0
    for ci in np.unique(p.cam[bad]):
        kf = p.all_kfs[ci]
        gone = p.point_ids[p.pt[bad & (p.cam == ci)]]
        kf.point_ids[np.isin(kf.point_ids, gone)] = -1
        n_out += len(gone)
    counts = m.observation_counts()  # points no keyframe observes any more are dead
    m.remove_points(p.point_ids[counts[p.point_ids] == 0])
    return {"n_keyframes": p.n_free, "n_points": len(p.point_ids), "n_obs": len(p.cam),
            "cost_before": res.cost_before, "cost_after": res.cost_after, "n_outliers": n_out,
            "iterations": res.iterations}


def local_bundle_adjustment(m: Map, K: Intrinsics, level_sigma2: np.ndarray, center_kf: KeyFrame | None = None,
                            n_local: int = 10, bf: float = 0.0, fixed_kf_ids=(), max_fixed: int = 10,
                            max_nfev: int = 15, chi2: float = CHI2_MONO) -> dict:
    """Jointly refine local keyframe poses and their points (see :func:`prepare_local_ba`).

    Returns a dict with ``n_keyframes``, ``n_points``, ``n_obs``, ``cost_before``, ``cost_after``,
    ``n_outliers``, ``iterations`` (empty when there was nothing to optimise).
    """
    problem = prepare_local_ba(m, K, level_sigma2, center_kf, n_local, bf, fixed_kf_ids, max_fixed, max_nfev, chi2)
    if problem is None:
        return {}
    return apply_local_ba(m, problem, problem.solve())
