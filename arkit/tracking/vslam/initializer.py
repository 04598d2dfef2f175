"""The first map: from one RGB-D frame (back-projected keypoints) or from two monocular views
(homography / essential matrix model selection, cheirality and parallax checks, triangulation)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.tracking.vslam.features import FrameFeatures

log = logging.getLogger(__name__)


def triangulate(K: Intrinsics, T_cw_a: np.ndarray, T_cw_b: np.ndarray, uv_a: np.ndarray, uv_b: np.ndarray,
                sigma2_a: np.ndarray, sigma2_b: np.ndarray, min_parallax_deg: float = 1.0,
                chi2: float = 5.991):
    """Linear (DLT) triangulation with cheirality, reprojection and parallax checks.

    Parameters
    ----------
    T_cw_a, T_cw_b : (4, 4) float64
        World -> camera poses of the two views.
    uv_a, uv_b : (N, 2) float64
        Matched pixels.
    sigma2_a, sigma2_b : (N,) float64
        Pixel variance of each observation (pyramid level).

    Returns
    -------
    X_world : (N, 3) float64
    good : (N,) bool
    """
    import cv2

    n = len(uv_a)
    if n == 0:
        return np.zeros((0, 3)), np.zeros(0, bool)
    Pa = K.K @ T_cw_a[:3]
    Pb = K.K @ T_cw_b[:3]
    Xh = cv2.triangulatePoints(Pa, Pb, uv_a.T.astype(np.float64), uv_b.T.astype(np.float64)).T
    w = Xh[:, 3]
    good = np.abs(w) > 1e-12
    X = Xh[:, :3] / np.where(good, w, 1.0)[:, None]
    good &= np.all(np.isfinite(X), axis=1)
    for T, uv, s2 in ((T_cw_a, uv_a, sigma2_a), (T_cw_b, uv_b, sigma2_b)):
        Xc = X @ T[:3, :3].T + T[:3, 3]
        z = Xc[:, 2]
        good &= z > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            du = K.fx * Xc[:, 0] / z + K.cx - uv[:, 0]
            dv = K.fy * Xc[:, 1] / z + K.cy - uv[:, 1]
        good &= (du * du + dv * dv) < chi2 * s2
    Ca = -T_cw_a[:3, :3].T @ T_cw_a[:3, 3]
    Cb = -T_cw_b[:3, :3].T @ T_cw_b[:3, 3]
    ra, rb = X - Ca, X - Cb
    cosp = (ra * rb).sum(1) / np.maximum(np.linalg.norm(ra, axis=1) * np.linalg.norm(rb, axis=1), 1e-12)
    good &= cosp < np.cos(np.radians(min_parallax_deg))
    return X, good


@dataclass
class TwoViewResult:
    """A monocular two-view initialisation.

    ``T_cw_cur`` is the current camera's world->camera pose with the reference camera at the
    origin; ``idx_ref``/``idx_cur`` index the triangulated keypoints; ``X_world`` (K, 3);
    ``model`` is ``"homography"`` or ``"essential"``; scale: median scene depth = 1."""

    T_cw_cur: np.ndarray
    idx_ref: np.ndarray
    idx_cur: np.ndarray
    X_world: np.ndarray
    model: str
    median_parallax_deg: float


def match_two_views(a: FrameFeatures, b: FrameFeatures, max_hamming: int = 50, ratio: float = 0.8):
    """Brute-force mutual-ratio matching; returns index arrays (ia, ib)."""
    import cv2

    if len(a) < 2 or len(b) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    knn = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(a.desc, b.desc, k=2)
    pairs = [(m[0].queryIdx, m[0].trainIdx) for m in knn
             if len(m) == 2 and m[0].distance <= max_hamming and m[0].distance < ratio * m[1].distance]
    if not pairs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    p = np.array(pairs, np.int64)
    # unique keypoints in b
    _, first = np.unique(p[:, 1], return_index=True)
    p = p[np.sort(first)]
    return p[:, 0], p[:, 1]


def initialize_two_view(K: Intrinsics, ref: FrameFeatures, cur: FrameFeatures, level_sigma2: np.ndarray,
                        seed: int = 0, min_matches: int = 100, min_points: int = 50,
                        min_parallax_deg: float = 1.0):
    """Try to build the first map from a reference and a current monocular view.

    Scores a homography and an essential matrix (RANSAC inlier counts) and picks the homography
    when ``n_H / (n_H + n_E) > 0.45`` (planar or low-parallax scenes), as ORB-SLAM.

    Returns
    -------
    (TwoViewResult or None, reason str)
    """
    import cv2

    ia, ib = match_two_views(ref, cur)
    if len(ia) < min_matches:
        return None, f"too few initialisation matches ({len(ia)} < {min_matches})"
    pa, pb = ref.uv[ia], cur.uv[ib]
    cv2.setRNGSeed(int(seed))
    H, mask_h = cv2.findHomography(pa, pb, cv2.RANSAC, 2.5, maxIters=500, confidence=0.999)
    E, mask_e = cv2.findEssentialMat(pa, pb, K.K, cv2.RANSAC, 0.999, 1.0)
    nh = int(mask_h.sum()) if mask_h is not None else 0
    ne = int(mask_e.sum()) if (mask_e is not None and E is not None and E.shape == (3, 3)) else 0
    if nh + ne == 0:
        return None, "no two-view geometry found"
    s2a, s2b = level_sigma2[ref.octave[ia]], level_sigma2[cur.octave[ib]]
    candidates = []
    if nh / (nh + ne) > 0.45 and H is not None:
        model = "homography"
        _, Rs, ts, _ = cv2.decomposeHomographyMat(H, K.K)
        for R, t in zip(Rs, ts):
            candidates.append((R, t.ravel()))
    else:
        model = "essential"
        if ne == 0:
            return None, "essential matrix estimation failed"
        R1, R2, t = cv2.decomposeEssentialMat(E[:3])
        t = t.ravel()
        candidates = [(R1, t), (R1, -t), (R2, t), (R2, -t)]
    best, scores = None, []
    for R, t in candidates:
        nt = np.linalg.norm(t)
        if nt < 1e-9:
            scores.append(0)
            continue
        T_cw = np.eye(4)
        T_cw[:3, :3], T_cw[:3, 3] = R, t / nt
        X, good = triangulate(K, np.eye(4), T_cw, pa, pb, s2a, s2b, min_parallax_deg=0.0, chi2=4 * 5.991)
        scores.append(int(good.sum()))
        if best is None or good.sum() > best[2].sum():
            best = (T_cw, X, good)
    scores = sorted(scores, reverse=True)
    if best is None or scores[0] < min_points:
        return None, f"too few triangulated points ({scores[0] if scores else 0} < {min_points})"
    if len(scores) > 1 and scores[1] > 0.75 * scores[0]:
        return None, f"ambiguous {model} decomposition ({scores[0]} vs {scores[1]} points)"
    T_cw, X, good = best
    Ca, Cb = np.zeros(3), -T_cw[:3, :3].T @ T_cw[:3, 3]
    ra, rb = X[good] - Ca, X[good] - Cb
    cosp = (ra * rb).sum(1) / (np.linalg.norm(ra, axis=1) * np.linalg.norm(rb, axis=1))
    par = float(np.degrees(np.median(np.arccos(np.clip(cosp, -1, 1)))))
    if par < min_parallax_deg:
        return None, f"not enough parallax ({par:.2f} < {min_parallax_deg} deg)"
    # keep points with individual parallax and normalise scale: median depth 1
    keep = np.flatnonzero(good)
    keep = keep[np.degrees(np.arccos(np.clip(cosp, -1, 1))) > 0.5 * min_parallax_deg]
    if len(keep) < min_points:
        return None, f"too few points with parallax ({len(keep)} < {min_points})"
    med = float(np.median(X[keep, 2]))
    if not med > 0:
        return None, "degenerate depth after triangulation"
    T_cw = T_cw.copy()
    T_cw[:3, 3] /= med
    return TwoViewResult(T_cw, ia[keep], ib[keep], X[keep] / med, model, par), ""
