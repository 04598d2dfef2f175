"""Keyframe decision, new map points (from depth or by triangulation), point culling and
local bundle adjustment (``scipy.optimize.least_squares`` with a sparse Jacobian).

Runs inside :meth:`VisualTracker.track` whenever a keyframe is inserted, or, with
``VisualTrackerConfig(async_mapping=True)``, the bundle adjustment runs in a background thread
(:mod:`arkit.tracking.vslam.mapping_worker`) through :func:`prepare_local_ba` /
:meth:`LocalBAProblem.solve` / :func:`apply_local_ba`.
"""

from __future__ import annotations

import logging

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.pose import invert
from arkit.tracking.vslam.features import FrameFeatures
from arkit.tracking.vslam.map import KeyFrame, Map

log = logging.getLogger(__name__)


def need_new_keyframe(n_tracked: int, n_ref_tracked: int, frames_since_kf: int, n_close_tracked: int,
                      n_close_untracked: int, *, min_frames: int = 0, max_frames: int = 30,
                      ratio: float = 0.75, depth: bool = True) -> bool:
    """ORB-SLAM's keyframe criteria, simplified.

    A keyframe is inserted when tracking weakens relative to the reference keyframe
    (``n_tracked < ratio * n_ref_tracked``), when too many frames passed, or (RGB-D) when few
    close points are tracked while many close keypoints with depth could become new points.
    """
    if frames_since_kf < min_frames:
        return False
    if frames_since_kf >= max_frames:
        return True
    if n_tracked < ratio * n_ref_tracked:
        return True
    if depth and n_close_tracked < 100 and n_close_untracked > 70:
        return True
    return False


def make_keyframe(m: Map, frame_index: int, T_world_camera: np.ndarray, feats: FrameFeatures,
                  matched_point_ids: np.ndarray) -> KeyFrame:
    """Create and add a keyframe whose keypoint ``i`` observes ``matched_point_ids[i]`` (-1 none)."""
    kid = m.keyframes[-1].id + 1 if m.keyframes else 0
    kf = KeyFrame(kid, frame_index, T_world_camera.copy(), feats.uv.copy(), feats.octave.copy(),
                  feats.desc.copy(), feats.depth_m.copy(), matched_point_ids.astype(np.int64).copy())
    m.add_keyframe(kf)
    return kf


def points_from_depth(m: Map, kf: KeyFrame, K: Intrinsics, min_depth_m: float = 0.1, max_depth_m: float = 4.0,
                      max_new: int = 400) -> np.ndarray:
    """Back-project the keyframe's unmatched keypoints that have depth into new map points.

    The closest ``max_new`` keypoints are used (as ORB-SLAM2 for RGB-D). Returns the new ids."""
    cand = np.flatnonzero((kf.point_ids < 0) & (kf.depth_m > min_depth_m) & (kf.depth_m < max_depth_m))
    if len(cand) == 0:
        return np.zeros(0, np.int64)
    cand = cand[np.argsort(kf.depth_m[cand], kind="stable")[:max_new]]
    Xc = K.unproject(kf.uv[cand], kf.depth_m[cand])
    Xw = Xc @ kf.T_world_camera[:3, :3].T + kf.T_world_camera[:3, 3]
    ids = m.add_points(Xw, kf.desc[cand], kf.id)
    kf.point_ids[cand] = ids
    return ids


def cull_points(m: Map, current_kf_id: int, min_found_ratio: float = 0.25, min_obs: int = 2,
                grace_kfs: int = 2) -> int:
    """ORB-SLAM's recent-point culling. A point created less than ``grace_kfs`` keyframes ago is
    removed when it is found in fewer than ``min_found_ratio`` of the frames that predicted it in
    view; a point exactly ``grace_kfs`` keyframes old must be observed by ``min_obs`` keyframes.
    Older points are kept (bundle adjustment removes their outlier observations).
    Returns the number of points removed."""
    ids = m.alive_ids
    if len(ids) == 0:
        return 0
    age = current_kf_id - m.first_kf[ids]
    recent = age <= grace_kfs
    ids, age = ids[recent], age[recent]
    ratio = m.n_found[ids] / np.maximum(m.n_visible[ids], 1)
    obs = m.observation_counts()[ids]
    bad = (ratio < min_found_ratio) | ((age >= grace_kfs) & (obs < min_obs))
    m.remove_points(ids[bad])
    return int(bad.sum())


def triangulate_from_neighbours(m: Map, kf: KeyFrame, K: Intrinsics, neighbours: list[KeyFrame],
                                level_sigma2: np.ndarray, max_hamming: int = 50, min_parallax_deg: float = 1.0,
                                max_epipolar_px: float = 2.0) -> np.ndarray:
    """Monocular: match the keyframe's unmatched keypoints to each neighbour's unmatched ones
    (brute force, ratio test, epipolar check), triangulate, and keep points in front of both
    cameras with small reprojection error and enough parallax. Returns the new ids."""
    import cv2

    from arkit.tracking.vslam.initializer import triangulate

    new_ids = []
    Kmat = K.K
    Kinv = np.linalg.inv(Kmat)
    for nb in neighbours:
        a = np.flatnonzero(kf.point_ids < 0)
        b = np.flatnonzero(nb.point_ids < 0)
        if len(a) < 8 or len(b) < 8:
            continue
        matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
        knn = matcher.knnMatch(kf.desc[a], nb.desc[b], k=2)
        pairs = [(mm[0].queryIdx, mm[0].trainIdx) for mm in knn
                 if len(mm) == 2 and mm[0].distance <= max_hamming and mm[0].distance < 0.8 * mm[1].distance]
        if len(pairs) < 8:
            continue
        ia = a[[p[0] for p in pairs]]
        ib = b[[p[1] for p in pairs]]
        # epipolar check with the fundamental matrix from the known poses
        T_b_a = nb.T_camera_world @ kf.T_world_camera
        R, t = T_b_a[:3, :3], T_b_a[:3, 3]
        tx = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]])
        F = Kinv.T @ tx @ R @ Kinv
        pa = np.c_[kf.uv[ia], np.ones(len(ia))]
        pb = np.c_[nb.uv[ib], np.ones(len(ib))]
        lines = pa @ F.T
        dist = np.abs((lines * pb).sum(1)) / np.maximum(np.hypot(lines[:, 0], lines[:, 1]), 1e-12)
        ok = dist < max_epipolar_px * np.sqrt(level_sigma2[nb.octave[ib]])
        ia, ib = ia[ok], ib[ok]
        if len(ia) == 0:
            continue
        Xw, good = triangulate(K, kf.T_camera_world, nb.T_camera_world, kf.uv[ia], nb.uv[ib],
                               level_sigma2[kf.octave[ia]], level_sigma2[nb.octave[ib]], min_parallax_deg)
        ia, ib, Xw = ia[good], ib[good], Xw[good]
        if len(ia) == 0:
            continue
        # a keypoint of kf may have been matched in several neighbours: first one wins
        fresh = kf.point_ids[ia] < 0
        ia, ib, Xw = ia[fresh], ib[fresh], Xw[fresh]
        ids = m.add_points(Xw, kf.desc[ia], kf.id)
        kf.point_ids[ia] = ids
        nb.point_ids[ib] = ids
        new_ids.append(ids)
    return np.concatenate(new_ids) if new_ids else np.zeros(0, np.int64)


def local_bundle_adjustment(m: Map, K: Intrinsics, level_sigma2: np.ndarray, center_kf: KeyFrame | None = None,
                            n_local: int = 10, bf: float = 0.0, fixed_kf_ids=(), max_fixed: int = 10,
                            max_nfev: int = 15, chi2: float = 5.991, jacobian: str = "analytic") -> dict:
    """Jointly refine local keyframe poses and their points (ORB-SLAM's LocalBundleAdjustment).

    Local keyframes: ``center_kf`` and its ``n_local`` most covisible keyframes (all keyframes
    when ``center_kf`` is None). Keyframes outside that set that observe the local points enter
    with fixed poses (at most ``max_fixed``), as does the first keyframe (the gauge).
    Residuals are pixel errors (plus the virtual-right-pixel depth residual when ``bf > 0``)
    whitened by the pyramid level; ``least_squares(method="trf", loss="huber")`` with the
    Jacobian's sparsity pattern (each residual touches one pose and one point): ``jacobian=
    "analytic"`` returns the sparse Jacobian directly (pose columns use the left-perturbation
    derivative), ``"finite-difference"`` lets scipy difference it through ``jac_sparsity``.
    Observations still above the chi-square threshold afterwards are removed.

    Returns a dict with ``n_keyframes``, ``n_points``, ``n_obs``, ``cost_before``, ``cost_after``,
    ``n_outliers``.
    """
    problem = prepare_local_ba(m, K, level_sigma2, center_kf, n_local, bf, fixed_kf_ids, max_fixed, max_nfev,
                               chi2, jacobian)
    if problem is None:
        return {}
    return apply_local_ba(m, problem, problem.solve())


class LocalBAProblem:
    """A local bundle adjustment snapshot: built from the map by :func:`prepare_local_ba` (map
    lock held), solved by :meth:`solve` without touching the map (so a mapping thread can run it
    while the tracker works) and written back by :func:`apply_local_ba` (map lock held)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def solve(self):
        """Run the optimiser; returns ``(x, fun, cost, cost_before)``."""
        return self._solve()


def prepare_local_ba(m: Map, K: Intrinsics, level_sigma2: np.ndarray, center_kf: KeyFrame | None = None,
                     n_local: int = 10, bf: float = 0.0, fixed_kf_ids=(), max_fixed: int = 10,
                     max_nfev: int = 15, chi2: float = 5.991, jacobian: str = "analytic"):
    """Snapshot the local BA problem around ``center_kf`` (see :func:`local_bundle_adjustment`);
    None when there is nothing to optimise."""
    from scipy.optimize import least_squares
    from scipy.sparse import lil_matrix

    from arkit.core.pose import rotvec_to_matrix

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
    first_id = m.keyframes[0].id
    fixed_ids = set(fixed_kf_ids) | {first_id}
    free = [k for k in local if k.id not in fixed_ids]
    all_kfs = free + [k for k in local if k.id in fixed_ids] + fixed
    if not free:
        return None
    n_free = len(free)
    pidx = -np.ones(m.n_points, np.int64)
    pidx[point_ids] = np.arange(len(point_ids))
    cams, pts, uvs, w, dinv = [], [], [], [], []
    for ci, kf in enumerate(all_kfs):
        o = np.flatnonzero(kf.point_ids >= 0)
        o = o[pidx[kf.point_ids[o]] >= 0]
        cams.append(np.full(len(o), ci))
        pts.append(pidx[kf.point_ids[o]])
        uvs.append(kf.uv[o])
        w.append(1.0 / np.sqrt(level_sigma2[kf.octave[o]]))
        d = kf.depth_m[o]
        dinv.append(np.where(d > 0, bf / np.where(d > 0, d, 1.0), np.nan) if bf > 0 else np.full(len(o), np.nan))
    cam, pt, uv, w, dinv = (np.concatenate(a) for a in (cams, pts, uvs, w, dinv))
    has_d = np.isfinite(dinv)
    n_obs = len(cam)
    T0 = np.array([k.T_camera_world for k in all_kfs])
    X0 = m.positions[point_ids].copy()
    nres = 3 if bf > 0 else 2

    def unpack(x):
        xi = x[: 6 * n_free].reshape(n_free, 6)
        X = x[6 * n_free:].reshape(-1, 3)
        R = T0[:, :3, :3].copy()
        t = T0[:, :3, 3].copy()
        for i in range(n_free):
            dR = rotvec_to_matrix(xi[i, :3])
            R[i] = dR @ T0[i, :3, :3]
            t[i] = dR @ T0[i, :3, 3] + xi[i, 3:]
        return R, t, X

    def residuals(x):
        R, t, X = unpack(x)
        Xc = np.einsum("nij,nj->ni", R[cam], X[pt]) + t[cam]
        z = np.maximum(Xc[:, 2], 1e-6)
        r = np.empty((n_obs, nres))
        r[:, 0] = (K.fx * Xc[:, 0] / z + K.cx - uv[:, 0]) * w
        r[:, 1] = (K.fy * Xc[:, 1] / z + K.cy - uv[:, 1]) * w
        if nres == 3:
            r[:, 2] = np.where(has_d, (bf / z - np.nan_to_num(dinv)) * w, 0.0)
        return r.ravel()

    n_par = 6 * n_free + 3 * len(point_ids)
    n_res = n_obs * nres
    free_obs = cam < n_free
    # column indices of each observation's pose (6) and point (3) parameters
    cols_pose = 6 * cam[:, None] + np.arange(6)
    cols_pt = 6 * n_free + 3 * pt[:, None] + np.arange(3)

    def jac(x):
        from scipy.sparse import csr_matrix

        R, t, X = unpack(x)
        Rc = R[cam]
        Xc = np.einsum("nij,nj->ni", Rc, X[pt]) + t[cam]
        xx, yy, z = Xc[:, 0], Xc[:, 1], np.maximum(Xc[:, 2], 1e-6)
        iz = 1.0 / z
        Jp = np.zeros((n_obs, nres, 3))
        Jp[:, 0, 0] = K.fx * iz
        Jp[:, 0, 2] = -K.fx * xx * iz * iz
        Jp[:, 1, 1] = K.fy * iz
        Jp[:, 1, 2] = -K.fy * yy * iz * iz
        if nres == 3:
            Jp[:, 2, 2] = np.where(has_d, -bf * iz * iz, 0.0)
        Jp *= w[:, None, None]
        Jx = np.zeros((n_obs, 3, 6))
        Jx[:, 0, 1], Jx[:, 0, 2] = z, -yy
        Jx[:, 1, 0], Jx[:, 1, 2] = -z, xx
        Jx[:, 2, 0], Jx[:, 2, 1] = yy, -xx
        Jx[:, 0, 3] = Jx[:, 1, 4] = Jx[:, 2, 5] = 1.0
        J_pose = Jp @ Jx                      # (n_obs, nres, 6)
        J_pt = Jp @ Rc                        # (n_obs, nres, 3)
        rows = np.arange(n_res).reshape(n_obs, nres)
        r_pose = np.repeat(rows[free_obs][:, :, None], 6, axis=2)
        c_pose = np.repeat(cols_pose[free_obs][:, None, :], nres, axis=1)
        r_pt = np.repeat(rows[:, :, None], 3, axis=2)
        c_pt = np.repeat(cols_pt[:, None, :], nres, axis=1)
        data = np.concatenate([J_pose[free_obs].ravel(), J_pt.ravel()])
        rr = np.concatenate([r_pose.ravel(), r_pt.ravel()])
        cc = np.concatenate([c_pose.ravel(), c_pt.ravel()])
        return csr_matrix((data, (rr, cc)), shape=(n_res, n_par))


    def _solve():
        x0 = np.concatenate([np.zeros(6 * n_free), X0.ravel()])
        r0 = residuals(x0)
        if jacobian == "analytic":
            res = least_squares(residuals, x0, jac=jac, method="trf", loss="huber", f_scale=np.sqrt(chi2),
                                max_nfev=max_nfev, x_scale="jac", tr_solver="lsmr")
        else:
            S = lil_matrix((n_res, n_par), dtype=np.int8)
            rows = np.arange(n_obs)
            for k in range(nres):
                rr = rows * nres + k
                for j in range(6):
                    S[rr[free_obs], cols_pose[free_obs, j]] = 1
                for j in range(3):
                    S[rr, cols_pt[:, j]] = 1
            res = least_squares(residuals, x0, jac_sparsity=S.tocsr(), method="trf", loss="huber",
                                f_scale=np.sqrt(chi2), max_nfev=max_nfev, x_scale="jac", tr_solver="lsmr")
        return res.x, res.fun, float(res.cost), float(0.5 * (r0 ** 2).sum())

    return LocalBAProblem(free=free, all_kfs=all_kfs, point_ids=point_ids, cam=cam, pt=pt, nres=nres, chi2=chi2,
                          n_free=n_free, n_obs=n_obs, unpack=unpack, _solve=_solve)


def apply_local_ba(m: Map, p: LocalBAProblem, solution) -> dict:
    """Write a solved :class:`LocalBAProblem` back: keyframe poses, positions of the points still
    alive, and removal of observations still above the chi-square threshold."""
    x, fun, cost, cost_before = solution
    free, all_kfs, point_ids, cam, pt, nres, chi2 = p.free, p.all_kfs, p.point_ids, p.cam, p.pt, p.nres, p.chi2
    n_free, n_obs, unpack = p.n_free, p.n_obs, p.unpack
    R, t, X = unpack(x)
    for i, kf in enumerate(free):
        T_cw = np.eye(4)
        T_cw[:3, :3], T_cw[:3, 3] = R[i], t[i]
        kf.T_world_camera = invert(T_cw)
    alive = m.alive[point_ids]  # the tracker may have culled some meanwhile
    m.positions[point_ids[alive]] = X[alive]
    r = fun.reshape(n_obs, nres)
    bad = (r * r).sum(1) > (7.815 if nres == 3 else chi2)
    Xc = np.einsum("nij,nj->ni", R[cam], X[pt]) + t[cam]
    bad |= Xc[:, 2] <= 0
    n_out = 0
    if bad.any():
        for ci in np.unique(cam[bad]):
            kf = all_kfs[ci]
            gone = point_ids[pt[bad & (cam == ci)]]
            kf.point_ids[np.isin(kf.point_ids, gone)] = -1
            n_out += len(gone)
    # points no keyframe observes any more are dead
    counts = m.observation_counts()
    orphan = point_ids[counts[point_ids] == 0]
    m.remove_points(orphan)
    return {"n_keyframes": n_free, "n_points": len(point_ids), "n_obs": n_obs,
            "cost_before": cost_before, "cost_after": cost, "n_outliers": n_out}
