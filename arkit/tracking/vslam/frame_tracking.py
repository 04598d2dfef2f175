"""Per-frame pose: constant-velocity prediction, search by projection, PnP RANSAC and
motion-only Gauss-Newton optimisation with a robust (Huber) kernel.

Poses inside the optimiser are ``T_camera_world`` (world -> camera), the direction used by
projection; the tracker converts to ``T_world_camera`` at its boundary.
"""

from __future__ import annotations

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.pose import invert, matrix_to_rotvec, rotvec_to_matrix
from arkit.tracking.vslam.features import FrameFeatures, hamming

#: chi-square 95% thresholds for 2 (pixel) and 3 (pixel + virtual right pixel) residual dims
CHI2_MONO = 5.991
CHI2_STEREO = 7.815


def predict_constant_velocity(T_world_camera_last: np.ndarray, T_world_camera_prev: np.ndarray | None) -> np.ndarray:
    """Constant-velocity motion model: apply the last inter-frame motion once more.

    Returns the predicted (4, 4) ``T_world_camera`` (the last pose when there is no previous one)."""
    if T_world_camera_prev is None:
        return T_world_camera_last.copy()
    T_prev_last = invert(T_world_camera_prev) @ T_world_camera_last
    return T_world_camera_last @ T_prev_last


def exp_se3(xi: np.ndarray) -> np.ndarray:
    """(6,) twist ``[rotvec, translation]`` -> (4, 4) transform (rotation and translation applied separately)."""
    T = np.eye(4)
    T[:3, :3] = rotvec_to_matrix(xi[:3])
    T[:3, 3] = xi[3:]
    return T


def project_points(K: Intrinsics, T_camera_world: np.ndarray, X_world: np.ndarray):
    """Project world points (N, 3) -> (uv (N, 2), z (N,)) with an ideal pinhole (no distortion)."""
    Xc = X_world @ T_camera_world[:3, :3].T + T_camera_world[:3, 3]
    z = Xc[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = np.stack([K.fx * Xc[:, 0] / z + K.cx, K.fy * Xc[:, 1] / z + K.cy], axis=1)
    return uv, z


def search_by_projection(K: Intrinsics, T_camera_world: np.ndarray, X_world: np.ndarray, point_desc: np.ndarray,
                         feats: FrameFeatures, tree, radius_px: float, level_scale: np.ndarray,
                         taken: np.ndarray | None = None, max_hamming: int = 80, ratio: float = 0.9,
                         k_candidates: int = 8):
    """Match map points to keypoints near their projection.

    Parameters
    ----------
    X_world : (M, 3) float64
    point_desc : (M, 32) uint8
    feats : FrameFeatures
    tree : scipy.spatial.cKDTree over ``feats.uv``
    radius_px : float
        Search radius at pyramid level 0; a candidate at level l accepts ``radius_px * scale^l``.
    level_scale : (L,) float64
        Scale of each pyramid level.
    taken : (N,) bool, optional
        Keypoints already matched (skipped).

    Returns
    -------
    point_idx : (K,) int64
        Index into ``X_world`` of each match.
    kp_idx : (K,) int64
        Keypoint index of each match (unique).
    """
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    if len(X_world) == 0 or len(feats) == 0:
        return empty
    uv, z = project_points(K, T_camera_world, X_world)
    vis = (z > 0.05) & (uv[:, 0] >= 0) & (uv[:, 0] < K.width) & (uv[:, 1] >= 0) & (uv[:, 1] < K.height)
    vidx = np.flatnonzero(vis)
    if len(vidx) == 0:
        return empty
    k = min(k_candidates, len(feats))
    r_max = radius_px * float(level_scale[-1])
    dist_px, cand = tree.query(uv[vidx], k=k, distance_upper_bound=r_max)
    dist_px = dist_px.reshape(len(vidx), k)
    cand = cand.reshape(len(vidx), k)
    valid = cand < len(feats)
    cand_c = np.where(valid, cand, 0)
    valid &= dist_px <= radius_px * level_scale[feats.octave[cand_c]]
    if taken is not None:
        valid &= ~taken[cand_c]
    hd = hamming(point_desc[vidx][:, None, :], feats.desc[cand_c])
    hd = np.where(valid, hd, 10_000)
    order = np.argsort(hd, axis=1)
    best = np.take_along_axis(hd, order[:, :1], axis=1)[:, 0]
    second = np.take_along_axis(hd, order[:, 1:2], axis=1)[:, 0] if k > 1 else np.full(len(best), 10_000)
    best_kp = np.take_along_axis(cand_c, order[:, :1], axis=1)[:, 0]
    best_px = np.take_along_axis(dist_px, order[:, :1], axis=1)[:, 0]
    ok = (best <= max_hamming) & (best < ratio * second)
    pi, kpi, d = vidx[ok], best_kp[ok], best_px[ok]
    if len(pi) == 0:
        return empty
    # one map point per keypoint: keep the one projecting closest (duplicates of a physical
    # point made from drifted keyframes project farther than the freshest copy)
    o = np.lexsort((d, kpi))
    kpi_s = kpi[o]
    first = np.ones(len(o), bool)
    first[1:] = kpi_s[1:] != kpi_s[:-1]
    sel = o[first]
    return pi[sel].astype(np.int64), kpi[sel].astype(np.int64)


def optimize_pose(K: Intrinsics, T_camera_world: np.ndarray, X_world: np.ndarray, uv: np.ndarray,
                  inv_sigma2: np.ndarray, depth_m: np.ndarray | None = None, bf: float = 0.0,
                  rounds: int = 4, iterations: int = 10):
    """Motion-only optimisation of ``T_camera_world`` from 3D-2D matches (ORB-SLAM's PoseOptimization).

    Gauss-Newton on a left-multiplied SE(3) increment with a Huber kernel; after each round,
    matches whose chi-square exceeds the 95% threshold are marked outliers and left out of the
    next round (and may come back if the pose improves).

    Parameters
    ----------
    X_world : (N, 3) float64
    uv : (N, 2) float64
        Observed keypoints.
    inv_sigma2 : (N,) float64
        Information of each observation (``1 / scale^(2 level)``).
    depth_m : (N,) float64, optional
        Measured depth (0 = none). With ``bf > 0`` each match with depth gets a third residual,
        the "virtual right image" coordinate ``u - bf / z`` (ORB-SLAM2's RGB-D model).
    bf : float
        Virtual baseline times fx, pixels * metres.

    Returns
    -------
    T_camera_world : (4, 4) float64
    inliers : (N,) bool
    """
    n = len(X_world)
    T = T_camera_world.copy()
    inl = np.ones(n, bool)
    if n < 3:
        return T, np.zeros(n, bool)
    has_d = (depth_m > 0) & (bf > 0) if depth_m is not None else np.zeros(n, bool)
    inv_d = np.where(has_d, bf / np.where(has_d, depth_m, 1.0), 0.0)
    fx, fy, cx, cy = K.fx, K.fy, K.cx, K.cy
    for rnd in range(rounds):
        delta_h = np.sqrt(CHI2_STEREO) if bf > 0 else np.sqrt(CHI2_MONO)
        for _ in range(iterations):
            Xc = X_world @ T[:3, :3].T + T[:3, 3]
            x, y, z = Xc[:, 0], Xc[:, 1], np.maximum(Xc[:, 2], 1e-6)
            iz = 1.0 / z
            u = fx * x * iz + cx
            v = fy * y * iz + cy
            r = np.zeros((n, 3))
            r[:, 0] = u - uv[:, 0]
            r[:, 1] = v - uv[:, 1]
            r[:, 2] = np.where(has_d, bf * iz - inv_d, 0.0)
            # d(u,v,bf/z)/dXc
            # J = d(u, v, bf/z)/dXc @ dXc/d[omega, tau], with dXc/d[omega, tau] = [-[Xc]x, I]
            # for Xc' = exp(xi) Xc, written out per row
            a, b, c = fx * iz, -fx * x * iz * iz, fy * iz
            d = -fy * y * iz * iz
            e = np.where(has_d, -bf * iz * iz, 0.0)
            J = np.empty((n, 3, 6))
            J[:, 0, 0], J[:, 0, 1], J[:, 0, 2] = b * y, a * z - b * x, -a * y
            J[:, 0, 3], J[:, 0, 4], J[:, 0, 5] = a, 0.0, b
            J[:, 1, 0], J[:, 1, 1], J[:, 1, 2] = -c * z + d * y, -d * x, c * x
            J[:, 1, 3], J[:, 1, 4], J[:, 1, 5] = 0.0, c, d
            J[:, 2, 0], J[:, 2, 1], J[:, 2, 2] = e * y, -e * x, 0.0
            J[:, 2, 3], J[:, 2, 4], J[:, 2, 5] = 0.0, 0.0, e
            e2 = (r * r).sum(1) * inv_sigma2
            e = np.sqrt(e2)
            w = np.where(e <= delta_h, 1.0, delta_h / np.maximum(e, 1e-12)) * inv_sigma2 * inl
            Jf = J.reshape(-1, 6)
            Jw = (J * w[:, None, None]).reshape(-1, 6)
            H = Jw.T @ Jf
            g = Jw.T @ r.reshape(-1)
            try:
                dx = -np.linalg.solve(H + 1e-9 * np.eye(6), g)
            except np.linalg.LinAlgError:
                break
            T = exp_se3(dx) @ T
            if np.linalg.norm(dx) < 1e-7:
                break
        Xc = X_world @ T[:3, :3].T + T[:3, 3]
        z = Xc[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            ru = fx * Xc[:, 0] / z + cx - uv[:, 0]
            rv = fy * Xc[:, 1] / z + cy - uv[:, 1]
            rd = np.where(has_d, bf / z - inv_d, 0.0)
        chi2 = (ru * ru + rv * rv + rd * rd) * inv_sigma2
        thr = np.where(has_d, CHI2_STEREO, CHI2_MONO)
        inl = (chi2 < thr) & (z > 0)
        if inl.sum() < 3:
            break
    return T, inl


def pnp_ransac(K: Intrinsics, X_world: np.ndarray, uv: np.ndarray, seed: int = 0,
               reproj_px: float = 4.0, iterations: int = 200):
    """PnP RANSAC (OpenCV EPnP minimal sets, seeded RNG).

    Returns ``(T_camera_world (4, 4) or None, inlier mask (N,) bool)``."""
    import cv2

    n = len(X_world)
    if n < 6:
        return None, np.zeros(n, bool)
    cv2.setRNGSeed(int(seed))
    ok, rvec, tvec, idx = cv2.solvePnPRansac(
        X_world.astype(np.float64), uv.astype(np.float64), K.K, None, iterationsCount=iterations,
        reprojectionError=reproj_px, confidence=0.99, flags=cv2.SOLVEPNP_EPNP)
    mask = np.zeros(n, bool)
    if not ok or idx is None:
        return None, mask
    mask[idx.ravel()] = True
    T = np.eye(4)
    T[:3, :3] = rotvec_to_matrix(rvec.ravel())
    T[:3, 3] = tvec.ravel()
    return T, mask


def rotation_translation_delta(T_a: np.ndarray, T_b: np.ndarray) -> tuple:
    """(angle_rad, distance_m) between two poses."""
    D = invert(T_a) @ T_b
    return float(np.linalg.norm(matrix_to_rotvec(D[:3, :3]))), float(np.linalg.norm(D[:3, 3]))
