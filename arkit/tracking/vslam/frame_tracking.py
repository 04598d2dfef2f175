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
    return orthonormalize(T_world_camera_last @ T_prev_last)


def orthonormalize(T: np.ndarray) -> np.ndarray:
    """Project the rotation block of a (4, 4) transform onto SO(3) (nearest rotation, SVD).

    Chained products of poses (``invert`` transposes the rotation) otherwise let rounding
    errors grow from frame to frame: the constant-velocity prediction doubles them."""
    U, _, Vt = np.linalg.svd(T[:3, :3])
    out = T.copy()
    R = U @ Vt
    if np.linalg.det(R) < 0:
        U[:, -1] *= -1
        R = U @ Vt
    out[:3, :3] = R
    return out


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
                  rounds: int = 4, iterations: int = 10, tol: float = 1e-5):
    """Motion-only optimisation of ``T_camera_world`` from 3D-2D matches (ORB-SLAM's PoseOptimization).

    Gauss-Newton on a left-multiplied SE(3) increment with a Huber kernel (vectorised numpy, one
    6x6 solve per iteration); after each round, matches whose chi-square exceeds the 95%
    threshold are marked outliers and left out of the next round (and may come back if the pose
    improves). A round stops when the step is below ``tol`` (radians / metres); the rounds stop
    when the inlier set no longer changes.

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
    if n < 3:
        return T, np.zeros(n, bool)
    X_world = np.ascontiguousarray(X_world, np.float64)
    has_d = (depth_m > 0) & (bf > 0) if depth_m is not None else np.zeros(n, bool)
    inv_d = np.where(has_d, bf / np.where(has_d, depth_m, 1.0), 0.0)
    fx, fy, cx, cy = K.fx, K.fy, K.cx, K.cy
    delta2 = CHI2_STEREO if bf > 0 else CHI2_MONO
    thr = np.where(has_d, CHI2_STEREO, CHI2_MONO)
    hd = has_d.astype(np.float64)
    inl = np.ones(n, bool)
    J = np.empty((3, n, 6))
    r = np.empty((3, n))
    for rnd in range(rounds):
        for _ in range(iterations):
            Xc = X_world @ T[:3, :3].T + T[:3, 3]
            x, y = Xc[:, 0], Xc[:, 1]
            iz = 1.0 / np.maximum(Xc[:, 2], 1e-6)
            z = Xc[:, 2]
            r[0] = fx * x * iz + cx - uv[:, 0]
            r[1] = fy * y * iz + cy - uv[:, 1]
            r[2] = (bf * iz - inv_d) * hd
            a, c = fx * iz, fy * iz
            b, d = -a * x * iz, -c * y * iz
            e = -bf * iz * iz * hd
            J[0, :, 0], J[0, :, 1], J[0, :, 2], J[0, :, 3], J[0, :, 4], J[0, :, 5] = b * y, a * z - b * x, -a * y, a, 0.0, b
            J[1, :, 0], J[1, :, 1], J[1, :, 2], J[1, :, 3], J[1, :, 4], J[1, :, 5] = -c * z + d * y, -d * x, c * x, 0.0, c, d
            J[2, :, 0], J[2, :, 1], J[2, :, 2], J[2, :, 3], J[2, :, 4], J[2, :, 5] = e * y, -e * x, 0.0, 0.0, 0.0, e
            e2 = (r * r).sum(0) * inv_sigma2
            w = np.where(e2 <= delta2, 1.0, np.sqrt(delta2 / np.maximum(e2, 1e-24))) * inv_sigma2 * inl
            Jw = J * w[:, None]
            H = Jw.reshape(-1, 6).T @ J.reshape(-1, 6)
            g = Jw.reshape(-1, 6).T @ r.reshape(-1)
            try:
                dx = -np.linalg.solve(H + 1e-9 * np.eye(6), g)
            except np.linalg.LinAlgError:
                break
            T = _exp_left(dx) @ T
            if dx @ dx < tol * tol:
                break
        Xc = X_world @ T[:3, :3].T + T[:3, 3]
        z = Xc[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            ru = fx * Xc[:, 0] / z + cx - uv[:, 0]
            rv = fy * Xc[:, 1] / z + cy - uv[:, 1]
            rd = np.where(has_d, bf / z - inv_d, 0.0)
        chi2 = (ru * ru + rv * rv + rd * rd) * inv_sigma2
        new_inl = (chi2 < thr) & (z > 0)
        if new_inl.sum() < 3:
            inl = new_inl
            break
        if rnd > 0 and np.array_equal(new_inl, inl):
            break
        inl = new_inl
    return orthonormalize(T), inl


def _exp_left(xi: np.ndarray) -> np.ndarray:
    """(6,) ``[omega, tau]`` -> (4, 4) with Rodrigues rotation and translation ``tau`` (inline, no checks)."""
    wx, wy, wz = xi[0], xi[1], xi[2]
    th2 = wx * wx + wy * wy + wz * wz
    Kx = np.array([[0.0, -wz, wy], [wz, 0.0, -wx], [-wy, wx, 0.0]])
    if th2 < 1e-16:
        A, B = 1.0, 0.5
    else:
        th = np.sqrt(th2)
        A, B = np.sin(th) / th, (1.0 - np.cos(th)) / th2
    T = np.eye(4)
    T[:3, :3] += A * Kx + B * (Kx @ Kx)
    T[:3, 3] = xi[3:]
    return T


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
