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


def refine_two_view(K: Intrinsics, T_cw_b: np.ndarray, X: np.ndarray, uv_a: np.ndarray, uv_b: np.ndarray,
                    sigma2_a: np.ndarray, sigma2_b: np.ndarray, iterations: int = 100, chi2: float = 5.991):
    """Two-view bundle adjustment: refine camera b's pose and the points, camera a fixed at the origin.

    Levenberg-Marquardt on the whitened reprojection errors in both views with a Huber kernel
    (``sqrt(chi2)``), solved through the Schur complement (3x3 point blocks eliminated, a 5x5
    pose system left). Camera b's translation keeps its length (the scale gauge): each step
    moves its direction in the tangent plane; the rotation takes a left increment.

    Parameters
    ----------
    T_cw_b : (4, 4) float64
        World (= camera a) -> camera b.
    X : (N, 3) float64
        Points in camera a's frame.
    uv_a, uv_b : (N, 2) float64
    sigma2_a, sigma2_b : (N,) float64
        Pixel variances (pyramid level).

    Returns
    -------
    T_cw_b : (4, 4) float64
    X : (N, 3) float64
    """
    from arkit.core.pose import rotvec_to_matrix

    R, t = T_cw_b[:3, :3].copy(), T_cw_b[:3, 3].copy()
    P = np.asarray(X, np.float64).copy()
    n, L = len(P), float(np.linalg.norm(t))
    if n < 6 or L < 1e-12:
        return T_cw_b.copy(), P
    ia, ib = 1.0 / sigma2_a, 1.0 / sigma2_b
    fx, fy, cx, cy = K.fx, K.fy, K.cx, K.cy
    delta = np.sqrt(chi2)

    def project(Xc, uv):
        z = np.where(np.abs(Xc[:, 2]) > 1e-9, Xc[:, 2], 1e-9)
        r = np.stack([fx * Xc[:, 0] / z + cx, fy * Xc[:, 1] / z + cy], 1) - uv
        J = np.zeros((len(Xc), 2, 3))
        J[:, 0, 0], J[:, 0, 2] = fx / z, -fx * Xc[:, 0] / (z * z)
        J[:, 1, 1], J[:, 1, 2] = fy / z, -fy * Xc[:, 1] / (z * z)
        return r, J

    def huber_cost(e2):
        e = np.sqrt(e2)
        return np.where(e <= delta, e2, 2 * delta * e - delta * delta)

    def cost(R, t, P):
        ra, _ = project(P, uv_a)
        rb, _ = project(P @ R.T + t, uv_b)
        return float(huber_cost((ra * ra).sum(1) * ia).sum() + huber_cost((rb * rb).sum(1) * ib).sum())

    lam, c = 1e-3, cost(R, t, P)
    for _ in range(iterations):
        ra, Ja = project(P, uv_a)
        RX = P @ R.T
        rb, Jb = project(RX + t, uv_b)
        # robust weights (IRLS form of the Huber kernel) times the information
        wa = ia * np.minimum(1.0, delta / np.maximum(np.sqrt((ra * ra).sum(1) * ia), 1e-12))
        wb = ib * np.minimum(1.0, delta / np.maximum(np.sqrt((rb * rb).sum(1) * ib), 1e-12))
        d = t / L
        e1 = np.cross(d, [1.0, 0, 0] if abs(d[0]) < 0.9 else [0, 1.0, 0])
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(d, e1)
        skew = np.zeros((n, 3, 3))                              # d(R X)/domega = -[R X]x
        skew[:, 0, 1], skew[:, 0, 2] = RX[:, 2], -RX[:, 1]
        skew[:, 1, 0], skew[:, 1, 2] = -RX[:, 2], RX[:, 0]
        skew[:, 2, 0], skew[:, 2, 1] = RX[:, 1], -RX[:, 0]
        Jp = np.concatenate([Jb @ skew, Jb @ (L * np.stack([e1, e2], 1))], axis=2)   # (n, 2, 5)
        JXb = Jb @ R
        Hpp = np.einsum("nki,n,nkj->ij", Jp, wb, Jp)
        HpX = np.einsum("nki,n,nkj->nij", Jp, wb, JXb)                              # (n, 5, 3)
        HXX = np.einsum("nki,n,nkj->nij", Ja, wa, Ja) + np.einsum("nki,n,nkj->nij", JXb, wb, JXb)
        gp = np.einsum("nki,n,nk->i", Jp, wb, rb)
        gX = np.einsum("nki,n,nk->ni", Ja, wa, ra) + np.einsum("nki,n,nk->ni", JXb, wb, rb)
        improved = False
        for _try in range(6):
            HXXd = HXX + lam * (HXX * np.eye(3)) + 1e-12 * np.eye(3)
            Hppd = Hpp + lam * np.diag(np.diag(Hpp)) + 1e-12 * np.eye(5)
            try:
                HXXinv = np.linalg.inv(HXXd)
                M = HpX @ HXXinv                                                    # (n, 5, 3)
                S = Hppd - np.einsum("nij,nkj->ik", M, HpX)
                bvec = gp - np.einsum("nij,nj->i", M, gX)
                dp = -np.linalg.solve(S, bvec)
            except np.linalg.LinAlgError:
                lam *= 10
                continue
            dX = -np.einsum("nij,nj->ni", HXXinv, gX + np.einsum("nji,j->ni", HpX, dp))
            R_new = rotvec_to_matrix(dp[:3]) @ R
            v = d + dp[3] * e1 + dp[4] * e2
            t_new = L * v / np.linalg.norm(v)
            P_new = P + dX
            c_new = cost(R_new, t_new, P_new)
            if c_new < c:
                R, t, P, c = R_new, t_new, P_new, c_new
                lam = max(lam / 3, 1e-7)
                improved = True
                break
            lam *= 10
        if not improved or np.linalg.norm(dp) < 1e-9:
            break
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    return T, P


def initialize_two_view(K: Intrinsics, ref: FrameFeatures, cur: FrameFeatures, level_sigma2: np.ndarray,
                        seed: int = 0, min_matches: int = 100, min_points: int = 50,
                        min_parallax_deg: float = 1.0, refine: bool = True):
    """Try to build the first map from a reference and a current monocular view.

    Scores a homography and an essential matrix (RANSAC inlier counts) and picks the homography
    when ``n_H / (n_H + n_E) > 0.45`` (planar or low-parallax scenes), as ORB-SLAM. The chosen
    decomposition is then refined by two-view bundle adjustment (``refine``,
    :func:`refine_two_view`): the RANSAC essential matrix alone is off by several degrees in
    translation direction at the 1-3 degree parallax of an early initialisation.

    Returns
    -------
    (TwoViewResult or None, reason str)
    """
    import cv2

    ia, ib = match_two_views(ref, cur)
    if len(ia) < min_matches:
        return None, f"too few initialisation matches ({len(ia)} < {min_matches})"
    pa, pb = ref.uv[ia], cur.uv[ib]
    if np.median(np.linalg.norm(pa - pb, axis=1)) < 0.5:
        return None, "no image motion between the views (static camera)"
    cv2.setRNGSeed(int(seed))
    try:
        H, mask_h = cv2.findHomography(pa, pb, cv2.RANSAC, 2.5, maxIters=500, confidence=0.999)
    except cv2.error:
        H, mask_h = None, None
    try:   # degenerate input (e.g. identical views) can make the 5-point solver's polynomial fail
        E, mask_e = cv2.findEssentialMat(pa, pb, K.K, cv2.RANSAC, 0.999, 1.0)
    except cv2.error:
        E, mask_e = None, None
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
    if refine:
        for _ in range(2):  # refine, re-triangulate every match with the refined pose, refine again
            gi = np.flatnonzero(good)
            T_cw, X_ref = refine_two_view(K, T_cw, X[gi], pa[gi], pb[gi], s2a[gi], s2b[gi])
            X = X.copy()
            X[gi] = X_ref
            X_new, good_new = triangulate(K, np.eye(4), T_cw, pa, pb, s2a, s2b, min_parallax_deg=0.0)
            good_new &= ~good
            X[good_new] = X_new[good_new]
            X, good = _recheck(K, T_cw, X, pa, pb, s2a, s2b, good | good_new)
        if good.sum() < min_points:
            return None, f"too few points after two-view refinement ({int(good.sum())} < {min_points})"
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


def _recheck(K, T_cw, X, pa, pb, s2a, s2b, good, chi2: float = 5.991):
    """Keep the points of ``good`` in front of both cameras with reprojection chi-square below ``chi2``."""
    good = good.copy()
    for T, uv, s2 in ((np.eye(4), pa, s2a), (T_cw, pb, s2b)):
        Xc = X @ T[:3, :3].T + T[:3, 3]
        z = Xc[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            du = K.fx * Xc[:, 0] / z + K.cx - uv[:, 0]
            dv = K.fy * Xc[:, 1] / z + K.cy - uv[:, 1]
        good &= (z > 0) & ((du * du + dv * dv) < chi2 * s2)
    return X, good
