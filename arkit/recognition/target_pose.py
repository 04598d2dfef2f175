"""Geometry of a planar image target: its local frame, homography fit and checks, metric pose.

Local frame (same as markers and planes): origin at the image centre, +X along the image's top
edge to the right, +Z towards its bottom edge, +Y out of the image face (towards a viewer
looking at it). Target pixel ``(u, v)`` (pixel-centre convention, image ``w x h`` px, physical
width ``width_m``) lies at ``x = (u - (w - 1) / 2) * s``, ``y = 0``, ``z = (v - (h - 1) / 2) * s``
with ``s = width_m / w`` metres per pixel.
"""

from __future__ import annotations

import numpy as np

from arkit.core.camera import Intrinsics


def corners_target_px(width_px: int, height_px: int) -> np.ndarray:
    """The four outer image corners in target pixels: (4, 2) float64, TL, TR, BR, BL."""
    w, h = float(width_px), float(height_px)
    return np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])


def target_px_to_local(points_px, width_px: int, height_px: int, width_m: float) -> np.ndarray:
    """Target pixels (N, 2) to points (N, 3) float64 in the target's local frame (metres, y=0)."""
    p = np.asarray(points_px, dtype=np.float64).reshape(-1, 2)
    s = float(width_m) / float(width_px)
    out = np.zeros((len(p), 3))
    out[:, 0] = (p[:, 0] - (width_px - 1) / 2.0) * s
    out[:, 2] = (p[:, 1] - (height_px - 1) / 2.0) * s
    return out


def homography_from_pose(T_camera_target, K, width_px: int, height_px: int, width_m: float) -> np.ndarray:
    """(3, 3) homography mapping target pixels to (undistorted) frame pixels for a pose."""
    T = np.asarray(T_camera_target, dtype=np.float64)
    s = float(width_m) / float(width_px)
    A = np.array([[s, 0.0, -s * (width_px - 1) / 2.0], [0.0, s, -s * (height_px - 1) / 2.0], [0.0, 0.0, 1.0]])
    M = np.stack([T[:3, 0], T[:3, 2], T[:3, 3]], axis=1)
    H = np.asarray(K, dtype=np.float64) @ M @ A
    return H / H[2, 2]


def apply_homography(H, points) -> np.ndarray:
    """Map (N, 2) points with a (3, 3) homography; returns (N, 2) float64."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    q = np.concatenate([p, np.ones((len(p), 1))], axis=1) @ np.asarray(H, dtype=np.float64).T
    with np.errstate(divide="ignore", invalid="ignore"):
        return q[:, :2] / q[:, 2:3]


def quad_is_sane(corners_px, min_area_px: float = 400.0, max_side_ratio: float = 12.0,
                 frame_size: tuple | None = None) -> tuple:
    """Check that projected target corners form a plausible view of a planar rectangle.

    Parameters
    ----------
    corners_px : (4, 2) float
        TL, TR, BR, BL in the frame.
    min_area_px : float
        Smallest accepted quad area.
    max_side_ratio : float
        Largest accepted ratio between opposite sides (perspective foreshortening limit).
    frame_size : (W, H), optional
        When given, the quad must overlap the frame and not be absurdly larger than it.

    Returns
    -------
    (ok, reason) : (bool, str)
    """
    c = np.asarray(corners_px, dtype=np.float64).reshape(4, 2)
    if not np.all(np.isfinite(c)):
        return False, "corners are not finite"
    e = np.roll(c, -1, axis=0) - c
    cross = e[:, 0] * np.roll(e, -1, axis=0)[:, 1] - e[:, 1] * np.roll(e, -1, axis=0)[:, 0]
    if not np.all(cross > 0):
        # image y points down, so a non-mirrored quad TL->TR->BR->BL turns clockwise on screen,
        # which is a positive cross product in these coordinates
        return False, "corners do not form a convex, non-mirrored quad"
    area = 0.5 * abs(np.sum(c[:, 0] * np.roll(c[:, 1], -1) - np.roll(c[:, 0], -1) * c[:, 1]))
    if area < min_area_px:
        return False, f"quad area {area:.0f} px^2 is below {min_area_px:.0f}"
    sides = np.linalg.norm(e, axis=1)
    for i, j in ((0, 2), (1, 3)):
        r = max(sides[i], sides[j]) / max(min(sides[i], sides[j]), 1e-9)
        if r > max_side_ratio:
            return False, f"opposite sides differ by a factor {r:.1f} (> {max_side_ratio})"
    if frame_size is not None:
        W, H = frame_size
        if area > 25.0 * W * H:
            return False, "quad is far larger than the frame"
        lo, hi = c.min(axis=0), c.max(axis=0)
        if hi[0] < 0 or hi[1] < 0 or lo[0] > W or lo[1] > H:
            return False, "quad lies outside the frame"
    return True, ""


def pose_from_correspondences(points_local, points_px, intrinsics: Intrinsics, T_guess=None):
    """Metric pose of a planar target from 3D-2D correspondences.

    Parameters
    ----------
    points_local : (N, 3) float64
        Points on the target plane (y = 0) in its local frame, N >= 4.
    points_px : (N, 2) float
        Their observed pixel positions (distorted, as in the image).
    intrinsics : Intrinsics
    T_guess : (4, 4), optional
        Previous pose to start from (tracking); otherwise IPPE gives the initial pose.

    Returns
    -------
    T_camera_target : (4, 4) float64 or None
        None when the solve fails or puts the target behind the camera.
    rms_px : float
        RMS reprojection error of the given points.
    """
    import cv2

    obj = np.ascontiguousarray(points_local, dtype=np.float64).reshape(-1, 3)
    img = np.ascontiguousarray(points_px, dtype=np.float64).reshape(-1, 2)
    if len(obj) < 4:
        return None, float("inf")
    K, dist = intrinsics.K, intrinsics.dist_coeffs
    if intrinsics.model != "pinhole":
        und = intrinsics.unproject(img)[:, :2]
        img = und * [intrinsics.fx, intrinsics.fy] + [intrinsics.cx, intrinsics.cy]
        dist = np.zeros(4)
    try:
        if T_guess is not None:
            rvec0, _ = cv2.Rodrigues(np.asarray(T_guess)[:3, :3])
            tvec0 = np.asarray(T_guess)[:3, 3].reshape(3, 1).copy()
            ok, rvec, tvec = cv2.solvePnP(obj, img, K, dist, rvec0, tvec0, True, cv2.SOLVEPNP_ITERATIVE)
        else:
            ok, rvec, tvec = cv2.solvePnP(obj, img, K, dist, flags=cv2.SOLVEPNP_IPPE)
            if ok:
                rvec, tvec = cv2.solvePnPRefineLM(obj, img, K, dist, rvec, tvec)
    except cv2.error:
        return None, float("inf")
    if not ok or tvec[2, 0] <= 0:
        return None, float("inf")
    R, _ = cv2.Rodrigues(rvec)
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, tvec.ravel()
    proj, _ = cv2.projectPoints(obj, rvec, tvec, K, dist)
    rms = float(np.sqrt(np.mean(np.sum((proj.reshape(-1, 2) - img) ** 2, axis=1))))
    return T, rms


def usac_params(threshold_px: float, seed: int, *, max_iterations: int = 2000, prosac: bool = False):
    """Seeded USAC parameters (MAGSAC scoring, sigma local optimisation, LSQ polish).

    ``prosac=True`` samples matches best first (they must be sorted by quality)."""
    import cv2

    p = cv2.UsacParams()
    p.threshold = float(threshold_px)
    p.confidence = 0.999
    p.maxIterations = int(max_iterations)
    p.randomGeneratorState = int(seed)
    p.sampler = cv2.SAMPLING_PROSAC if prosac else cv2.SAMPLING_UNIFORM
    p.score = cv2.SCORE_METHOD_MAGSAC
    p.loMethod = cv2.LOCAL_OPTIM_SIGMA
    p.loIterations = 10
    p.loSampleSize = 20
    p.final_polisher = cv2.LSQ_POLISHER
    p.final_polisher_iterations = 3
    return p


def robust_homography(src_px, dst_px, threshold_px: float = 4.0, seed: int = 0):
    """USAC-MAGSAC homography ``dst ~ H @ src`` (seeded).

    Returns ``(H (3, 3) float64 or None, inlier mask (N,) bool)``."""
    import cv2

    src = np.ascontiguousarray(src_px, np.float32).reshape(-1, 2)
    dst = np.ascontiguousarray(dst_px, np.float32).reshape(-1, 2)
    if len(src) < 4:
        return None, np.zeros(len(src), bool)
    try:
        H, mask = cv2.findHomography(src, dst, usac_params(threshold_px, seed))
    except cv2.error:
        return None, np.zeros(len(src), bool)
    if H is None or mask is None:
        return None, np.zeros(len(src), bool)
    return H / H[2, 2], mask.ravel().astype(bool)
