"""Evidence for a tracker's metric scale and gravity direction, collected frame by frame.

Each *anchor source* pairs the tracker's camera pose (arbitrary-scale "inner" world) with a
metric camera pose in some fixed *anchor frame* on the same frame:

- :class:`MarkerAnchor`: the frame of a square marker of known size (``arkit.tracking.markers``);
- :class:`DepthAnchor`: the camera frame of the first frame with depth (later frames are placed
  in it by ORB matching against that frame's depth-backed keypoints and PnP RANSAC);
- :class:`RecordedAnchor`: the world of ``frame.T_world_camera_recorded`` (recorded poses).

A Sim(3) fit of the paired camera centres (:func:`fit_similarity`) then gives the metric scale,
and the per-frame rotations give the anchor frame's orientation in the inner world. *Gravity
sources* give one "up" direction (unit (3,) vector) in camera coordinates per frame:
:func:`imu_up_camera` (``frame.meta["gravity_camera"]``) and :func:`floor_up_camera` (largest
roughly horizontal plane of the depth image).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from arkit.core.errors import ArkitError
from arkit.core.frame import Frame
from arkit.core.pose import invert

log = logging.getLogger(__name__)

#: ``frame.meta`` key of the gravity vector: (3,) in OpenCV camera coordinates, pointing *down*
#: (the direction things fall; e.g. ``(0, 9.81, 0)`` for a level camera), any magnitude.
GRAVITY_META_KEY = "gravity_camera"


@dataclass
class AnchorSamples:
    """Paired poses of the same frames in the inner world and in an anchor frame.

    ``T_inner_camera`` and ``T_anchor_camera`` are lists of (4, 4) float64; the anchor poses are
    metric, the inner ones in the tracker's units.
    """

    frame_index: list = field(default_factory=list)
    T_inner_camera: list = field(default_factory=list)
    T_anchor_camera: list = field(default_factory=list)

    def add(self, index: int, T_inner_camera: np.ndarray, T_anchor_camera: np.ndarray) -> None:
        self.frame_index.append(int(index))
        self.T_inner_camera.append(np.asarray(T_inner_camera, np.float64).copy())
        self.T_anchor_camera.append(np.asarray(T_anchor_camera, np.float64).copy())

    def __len__(self) -> int:
        return len(self.frame_index)

    def baseline_m(self) -> float:
        """Largest distance of an anchor-frame camera centre from their mean (metres)."""
        if len(self) < 2:
            return 0.0
        c = np.array([T[:3, 3] for T in self.T_anchor_camera])
        return float(np.max(np.linalg.norm(c - c.mean(axis=0), axis=1)))


@dataclass(frozen=True)
class SimilarityFit:
    """``c_anchor ~ scale * R_anchor_inner @ c_inner + t`` fitted on camera centres.

    ``inliers`` (N,) bool marks the samples kept by the robust refit; ``rms_m`` is their RMS
    residual in anchor units (metres).
    """

    scale: float
    R_anchor_inner: np.ndarray
    t_anchor_inner: np.ndarray
    inliers: np.ndarray
    rms_m: float


def fit_similarity(c_inner, c_anchor, R_anchor_inner=None, iterations: int = 3,
                   min_residual_m: float = 0.005) -> SimilarityFit:
    """Robust Sim(3) fit of camera centres, refitted without outliers.

    Parameters
    ----------
    c_inner, c_anchor : (N, 3) float64
        The same cameras' centres in the inner world and in the metric anchor frame.
    R_anchor_inner : (3, 3) float64, optional
        Known rotation (e.g. from :func:`anchor_rotation`); then only ``scale`` and ``t`` are
        solved (linear least squares), which also works when the centres lie on a line.
        Without it the rotation comes from Umeyama's method (centres must not be collinear).
    iterations : int
        Refits; each drops samples whose residual exceeds ``max(3 * median, min_residual_m)``.
    min_residual_m : float
        Floor of the outlier threshold (metres), so exact data keeps every sample.

    Returns
    -------
    SimilarityFit

    Raises
    ------
    ArkitError
        Too few samples, no motion, or (without ``R_anchor_inner``) collinear centres.
    """
    from arkit.core.errors import TrajectoryError
    from arkit.eval.trajectory import umeyama_alignment

    x = np.asarray(c_inner, np.float64).reshape(-1, 3)
    y = np.asarray(c_anchor, np.float64).reshape(-1, 3)
    if x.shape != y.shape or len(x) < 3:
        raise ArkitError(f"fit_similarity needs at least 3 paired camera centres, got {len(x)} and {len(y)}")

    def solve(k):
        if R_anchor_inner is None:
            return umeyama_alignment(x[k], y[k], with_scale=True)
        R = np.asarray(R_anchor_inner, np.float64)
        xc, yc = x[k] - x[k].mean(axis=0), y[k] - y[k].mean(axis=0)
        den = float(np.sum(xc * xc))
        if den <= 1e-18:
            raise TrajectoryError("the inner camera centres do not move")
        s = float(np.sum(yc * (xc @ R.T))) / den
        return R, y[k].mean(axis=0) - s * R @ x[k].mean(axis=0), s

    keep = np.ones(len(x), bool)
    try:
        for _ in range(max(1, iterations)):
            R, t, s = solve(keep)
            res = np.linalg.norm(y - (s * x @ R.T + t), axis=1)
            new = res <= max(3.0 * float(np.median(res[keep])), min_residual_m)
            if new.sum() < 3 or np.array_equal(new, keep):
                break
            keep = new
        R, t, s = solve(keep)
    except TrajectoryError as e:
        raise ArkitError(f"cannot fit a similarity to {len(x)} camera centres: {e}") from None
    if not s > 0:
        raise ArkitError(f"camera centres give a non-positive scale ({s:.3g}); the evidence is inconsistent")
    res = np.linalg.norm(y - (s * x @ R.T + t), axis=1)
    return SimilarityFit(float(s), R, t, keep, float(np.sqrt(np.mean(res[keep] ** 2))))


def mean_rotation(Rs) -> np.ndarray:
    """Chordal L2 mean of (N, 3, 3) rotations (projection of their sum onto SO(3))."""
    M = np.sum(np.asarray(Rs, np.float64).reshape(-1, 3, 3), axis=0)
    U, _, Vt = np.linalg.svd(M)
    S = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt)) or 1.0])
    return U @ S @ Vt


def anchor_rotation(samples: AnchorSamples, inliers: Optional[np.ndarray] = None) -> np.ndarray:
    """``R_anchor_inner`` (3, 3) from the paired camera rotations (more precise than the centres)."""
    Rs = [Ta[:3, :3] @ Ti[:3, :3].T for Ti, Ta in zip(samples.T_inner_camera, samples.T_anchor_camera)]
    if inliers is not None:
        Rs = [R for R, k in zip(Rs, inliers) if k]
    return mean_rotation(Rs)


class MarkerAnchor:
    """Metric camera poses from one square marker of known size (anchor frame = the marker's,
    +Y = its normal).

    Parameters
    ----------
    dictionary : str
        ArUco/AprilTag dictionary name (see :class:`arkit.tracking.markers.MarkerDetector`).
    size_m : float
        Side of the printed black square, metres.
    marker_id : int, optional
        Which marker; default: the first one seen.
    max_reprojection_px : float
        Detections whose pose reprojects worse than this are ignored.
    """

    name = "marker"

    def __init__(self, dictionary: str = "DICT_6X6_250", size_m: float = 0.1, marker_id: Optional[int] = None,
                 max_reprojection_px: float = 2.0):
        from arkit.tracking.markers import MarkerDetector

        if not size_m > 0:
            raise ArkitError(f"MarkerAnchor: size_m must be positive (metres), got {size_m!r}")
        self.detector = MarkerDetector(dictionary)
        self.size_m = float(size_m)
        self.marker_id = None if marker_id is None else int(marker_id)
        self.max_reprojection_px = float(max_reprojection_px)

    def T_anchor_camera(self, frame: Frame) -> Optional[np.ndarray]:
        """Camera pose in the marker frame (metres), or None when the marker is not usable."""
        from arkit.tracking.markers import estimate_marker_pose

        for det in self.detector.detect(frame.image_rgb, frame.intrinsics):
            if self.marker_id is None:
                self.marker_id = det.marker_id
                log.info("metric scale from marker %d (%.3f m)", det.marker_id, self.size_m)
            if det.marker_id != self.marker_id:
                continue
            T_cm, rms = estimate_marker_pose(det.corners_px, self.size_m, frame.intrinsics)
            if rms <= self.max_reprojection_px:
                return invert(T_cm)
        return None


class RecordedAnchor:
    """Metric camera poses from ``frame.T_world_camera_recorded`` (anchor frame = the
    recording's world)."""

    name = "recorded"

    def T_anchor_camera(self, frame: Frame) -> Optional[np.ndarray]:
        T = frame.T_world_camera_recorded
        return None if T is None else np.asarray(T, np.float64)


class DepthAnchor:
    """Metric camera poses from depth: the first frame with enough valid depth becomes the
    anchor frame; its corners (with their depth) are followed by pyramidal Lucas-Kanade optical
    flow (forward-backward checked, sub-pixel) and each later frame is located against them by
    PnP RANSAC (seeded) and Levenberg-Marquardt. When too few points remain, new corners of the
    current frame are added with its depth at its estimated pose, so the chain continues.

    Parameters
    ----------
    n_features : int
        Corners tracked.
    min_inliers : int
        PnP inliers needed to accept a pose.
    min_depth_m, max_depth_m : float
        Depth range used for new points.
    max_fb_error_px : float
        Forward-backward flow error above which a point is dropped.
    seed : int
        Seed of the RANSAC.
    """

    name = "depth"

    def __init__(self, n_features: int = 600, min_inliers: int = 30, min_depth_m: float = 0.1,
                 max_depth_m: float = 6.0, max_fb_error_px: float = 0.5, seed: int = 0):
        self.n_features, self.min_inliers = int(n_features), int(min_inliers)
        self.min_depth_m, self.max_depth_m, self.seed = float(min_depth_m), float(max_depth_m), int(seed)
        self.max_fb_error_px = float(max_fb_error_px)
        self._gray = None
        self._uv = np.zeros((0, 2), np.float32)     # tracked points in the last frame, pixels
        self._X = np.zeros((0, 3))                   # their positions in the anchor frame, metres
        self.started = False

    def _new_points(self, frame: Frame, T_anchor_camera: np.ndarray) -> None:
        import cv2

        if frame.depth_m is None:
            return
        gray = frame.gray
        mask = np.full(gray.shape, 255, np.uint8)
        for u, v in self._uv:
            cv2.circle(mask, (int(u), int(v)), 8, 0, -1)
        need = self.n_features - len(self._uv)
        if need <= 0:
            return
        c = cv2.goodFeaturesToTrack(gray, need, 0.01, 8, mask=mask, blockSize=5)
        if c is None:
            return
        uv = c.reshape(-1, 2).astype(np.float64)
        z, smooth = _depth_at(frame.depth_m, uv)
        ok = smooth & (z > self.min_depth_m) & (z < self.max_depth_m)
        P = frame.intrinsics.unproject(uv[ok], z[ok]) @ T_anchor_camera[:3, :3].T + T_anchor_camera[:3, 3]
        self._uv = np.vstack([self._uv, uv[ok].astype(np.float32)])
        self._X = np.vstack([self._X, P])

    def T_anchor_camera(self, frame: Frame) -> Optional[np.ndarray]:
        import cv2

        gray = frame.gray
        if not self.started:
            if frame.depth_m is None:
                return None
            self._new_points(frame, np.eye(4))
            if len(self._uv) < 2 * self.min_inliers:
                self._uv, self._X = np.zeros((0, 2), np.float32), np.zeros((0, 3))
                return None
            self.started, self._gray = True, gray
            return np.eye(4)
        if len(self._uv) < self.min_inliers or self._gray is None:
            return None
        lk = dict(winSize=(21, 21), maxLevel=3, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
        p1, st1, _ = cv2.calcOpticalFlowPyrLK(self._gray, gray, self._uv.reshape(-1, 1, 2), None, **lk)
        p0, st0, _ = cv2.calcOpticalFlowPyrLK(gray, self._gray, p1, None, **lk)
        fb = np.linalg.norm(p0.reshape(-1, 2) - self._uv, axis=1)
        keep = (st1.ravel() == 1) & (st0.ravel() == 1) & (fb < self.max_fb_error_px)
        self._gray = gray
        self._uv, self._X = p1.reshape(-1, 2)[keep], self._X[keep]
        if len(self._uv) < self.min_inliers:
            return None
        xy = frame.intrinsics.unproject(self._uv)[:, :2]          # undistorted normalised coordinates
        cv2.setRNGSeed(self.seed)
        ok, rvec, tvec, inl = cv2.solvePnPRansac(self._X, xy, np.eye(3), None, reprojectionError=1.5 / frame.intrinsics.fx,
                                                 iterationsCount=200, confidence=0.999, flags=cv2.SOLVEPNP_EPNP)
        if not ok or inl is None or len(inl) < self.min_inliers:
            return None
        inl = inl.ravel()
        rvec, tvec = cv2.solvePnPRefineLM(self._X[inl], xy[inl], np.eye(3), None, rvec, tvec)
        T_cam_anchor = np.eye(4)
        T_cam_anchor[:3, :3] = cv2.Rodrigues(rvec)[0]
        T_cam_anchor[:3, 3] = tvec.ravel()
        T = invert(T_cam_anchor)
        self._uv, self._X = self._uv[inl], self._X[inl]
        if len(self._uv) < self.n_features // 2:
            self._new_points(frame, T)
        return T


def _depth_at(depth_m: np.ndarray, uv: np.ndarray, window: int = 1, max_rel_spread: float = 0.05):
    """Depth (N,) at rounded pixels and whether it is smooth in a ``(2 * window + 1)^2`` patch
    (no depth edge, no hole: the spread is below ``max_rel_spread`` of the depth)."""
    H, W = depth_m.shape
    px = np.clip(np.round(uv).astype(int), window, [W - 1 - window, H - 1 - window])
    offs = np.arange(-window, window + 1)
    patch = depth_m[px[:, 1, None, None] + offs[None, :, None], px[:, 0, None, None] + offs[None, None, :]]
    patch = patch.reshape(len(px), -1).astype(np.float64)
    z = depth_m[px[:, 1], px[:, 0]].astype(np.float64)
    smooth = (patch.min(axis=1) > 0) & (patch.max(axis=1) - patch.min(axis=1) <= max_rel_spread * np.maximum(z, 1e-9))
    return z, smooth


ANCHORS = {"marker": MarkerAnchor, "depth": DepthAnchor, "recorded": RecordedAnchor}


def imu_up_camera(frame: Frame) -> Optional[np.ndarray]:
    """Unit "up" (3,) in camera coordinates from ``frame.meta["gravity_camera"]``, or None.

    Raises
    ------
    ArkitError
        The meta value is not a finite, non-zero 3-vector.
    """
    g = frame.meta.get(GRAVITY_META_KEY) if frame.meta else None
    if g is None:
        return None
    g = np.asarray(g, np.float64).reshape(-1)
    n = float(np.linalg.norm(g)) if g.size == 3 and np.all(np.isfinite(g)) else 0.0
    if n < 1e-9:
        raise ArkitError(f"frame {frame.index}: meta['{GRAVITY_META_KEY}'] must be a finite non-zero 3-vector "
                         f"(gravity, pointing down, camera axes), got {frame.meta.get(GRAVITY_META_KEY)!r}")
    return -g / n


def floor_up_camera(frame: Frame, max_tilt_deg: float = 50.0, min_fraction: float = 0.05) -> Optional[np.ndarray]:
    """Unit "up" (3,) in camera coordinates from the floor seen in ``frame.depth_m``, or None.

    Planes come from :func:`arkit.planes.depth_extractor.extract_planes`; their normals point
    towards the camera. The floor is taken to be the largest plane (at least ``min_fraction`` of
    the pixels) whose normal is within ``max_tilt_deg`` of the camera's own up (``-y``), i.e. the
    camera must be held roughly upright (pitch and roll below ``max_tilt_deg``) and above it.
    Tables and other horizontal surfaces give the same "up".
    """
    if frame.depth_m is None:
        return None
    from arkit.planes.depth_extractor import extract_planes

    res = extract_planes(frame.depth_m, frame.intrinsics)
    cos_max = np.cos(np.radians(max_tilt_deg))
    need = min_fraction * frame.width * frame.height
    best = None
    for pl in res.planes:
        n = np.asarray(pl.normal, np.float64)
        if pl.num_inliers >= need and -n[1] >= cos_max and (best is None or pl.num_inliers > best.num_inliers):
            best = pl
    return None if best is None else np.asarray(best.normal, np.float64) / np.linalg.norm(best.normal)
