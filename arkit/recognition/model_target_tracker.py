"""Detection and frame-to-frame tracking of 3D model targets (textured rigid objects).

Detection (no prior pose): ORB features of the frame are matched to the model's descriptors
(Hamming, :class:`~arkit.recognition.features.DescriptorIndex`: FLANN LSH for large models,
ratio test against the nearest descriptor at another 3D spot), then seeded USAC PnP
(``cv2.solvePnPRansac`` with ``UsacParams``: PROSAC sampling of the matches sorted by ratio,
MAGSAC scoring) and Levenberg-Marquardt refinement on the inliers (``cv2.solvePnPRefineLM``),
twice with re-selected inliers. A pose is accepted with at
least ``min_inliers`` inliers and an RMS reprojection error below ``max_rms_px``.

Tracking (a pose from the previous frame): the model's points that face the camera are
projected with a constant-velocity prediction of the pose, each frame feature is matched to the
best model point projected within ``track_radius_px`` (guided matching, as ORB-SLAM's search by
projection), and the pose is re-estimated by PnP RANSAC from the prediction (OpenCV's
classic RANSAC, fixed internal seed, iterative PnP from the guess) plus LM; a second guided
matching with a tight radius around the new pose adds matches for the final LM. When the
inliers drop below ``track_min_inliers`` the target is re-detected in the same frame.

Reports trackables of kind ``"object"``, id ``"object:<name>"`` with ``T_world_local`` the pose
of the model frame (see :mod:`arkit.recognition.model_targets`: top-face centre, +Y up) and
``image_points_px`` the 8 projected bounding-box corners; PAUSED (last pose kept) when lost.

>>> tracker = ModelTargetTracker([box])                                       # doctest: +SKIP
>>> out = tracker.process(frame_rgb, intrinsics)                              # doctest: +SKIP
>>> out.trackables[0].id, out.trackables[0].state, out.changes.added         # doctest: +SKIP
('object:box', <TrackableState.TRACKING: 'TRACKING'>, ('object:box',))
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Optional, Sequence

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.pose import invert, transform_points
from arkit.core.trackables import CameraState, Trackable, TrackableChanges, TrackableState, TrackingState
from arkit.recognition.image_targets import to_gray
from arkit.recognition.model_targets import ModelTarget, select_targets
from arkit.recognition.target_pose import usac_params
from arkit.tracking.base import Tracker

log = logging.getLogger(__name__)

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def hamming_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distance (N,) int between matching rows of two (N, D) uint8 descriptor arrays."""
    return _POPCOUNT[np.bitwise_xor(a, b)].sum(axis=1, dtype=np.int32)


@dataclass(frozen=True)
class ModelTargetTrackable(Trackable):
    """A detected model target; ``image_points_px`` are the 8 projected bounding-box corners
    (order of :attr:`ModelTarget.corners_m`), None while PAUSED."""

    target_name: str = ""
    extent_m: tuple = (0.0, 0.0, 0.0)
    n_inliers: int = 0
    reprojection_error_px: float = float("nan")

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.update(target_name=self.target_name, extent_m=list(self.extent_m), n_inliers=self.n_inliers,
                 reprojection_error_px=self.reprojection_error_px)
        return d


@dataclass(frozen=True)
class ModelPose:
    """One pose estimate of one model in one frame.

    ``T_camera_model`` (4, 4) float64; ``inliers`` (K,) int indices into the model's points;
    ``points_px`` (K, 2) their observed pixels; ``tracked`` is False for a full detection."""

    name: str
    T_camera_model: np.ndarray
    n_matches: int
    n_inliers: int
    reprojection_error_px: float
    tracked: bool
    inliers: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    points_px: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)), repr=False)


@dataclass(frozen=True)
class ModelTrackingResult:
    """Output of :meth:`ModelTargetTracker.process`: every known object trackable, the changes,
    the pose estimates of this frame and whether a full detection ran."""

    trackables: tuple = ()
    changes: TrackableChanges = field(default_factory=TrackableChanges)
    poses: tuple = ()
    detected: bool = False


class ModelTargetTracker:
    """Detect and track model targets; reports trackables of kind ``"object"``, id ``"object:<name>"``.

    Parameters
    ----------
    targets : sequence of ModelTarget
    n_features : int
        ORB features extracted per frame.
    ratio : float
        Lowe ratio for detection matches.
    min_inliers : int
        Detection needs at least this many PnP inliers.
    max_rms_px : float
        ... and an RMS reprojection error below this.
    ransac_threshold_px : float
        Inlier threshold of the detection RANSAC (tracking uses ``track_threshold_px``).
    track_radius_px : float
        Search radius of the guided matching around each projected model point.
    track_min_inliers : int
        A track with fewer inliers is dropped and the target re-detected.
    max_hamming : int
        Guided matches must be closer than this (of 256 bits).
    track_candidates : int
        Guided matching compares each frame feature with this many nearest projected model points.
    seed : int
        Seed of the detection RANSAC (USAC with PROSAC sampling and MAGSAC scoring).
    """

    def __init__(self, targets: Sequence[ModelTarget], n_features: int = 2000, ratio: float = 0.8,
                 min_inliers: int = 20, max_rms_px: float = 3.0, ransac_threshold_px: float = 6.0,
                 track_radius_px: float = 15.0, track_threshold_px: float = 4.0, track_min_inliers: int = 25,
                 max_hamming: int = 64, track_candidates: int = 24, seed: int = 0):
        import cv2

        from arkit.recognition.features import DescriptorIndex

        self.targets = select_targets(targets)
        self.n_features = int(n_features)
        self.ratio = float(ratio)
        self.min_inliers = int(min_inliers)
        self.max_rms_px = float(max_rms_px)
        self.ransac_threshold_px = float(ransac_threshold_px)
        self.track_radius_px = float(track_radius_px)
        self.track_threshold_px = float(track_threshold_px)
        self.track_min_inliers = int(track_min_inliers)
        self.max_hamming = int(max_hamming)
        self.track_candidates = int(track_candidates)
        self.seed = int(seed)
        self._orb = cv2.ORB_create(nfeatures=self.n_features, scaleFactor=1.2, nlevels=8, fastThreshold=12)
        self._index = {t.name: DescriptorIndex([t.descriptors], binary=True) for t in self.targets}
        self.reset()

    def reset(self) -> None:
        """Forget all tracks and trackables."""
        self._pose: dict = {}       # name -> T_camera_model of the previous frame
        self._prev_pose: dict = {}  # name -> T_camera_model of the frame before
        self._last: dict = {}       # id -> last ModelTargetTrackable

    def target(self, name: str) -> ModelTarget:
        for t in self.targets:
            if t.name == name:
                return t
        raise KeyError(f"no model target named {name!r}; known: {', '.join(t.name for t in self.targets)}")

    # -- per frame ----------------------------------------------------------------------------
    def process_frame(self, frame, T_world_camera=None) -> ModelTrackingResult:
        """Same as :meth:`process` for an :class:`arkit.core.frame.Frame`."""
        return self.process(frame.image_rgb, frame.intrinsics, T_world_camera)

    def process(self, image, intrinsics: Intrinsics, T_world_camera=None) -> ModelTrackingResult:
        """Track known models into this frame, detecting those not tracked.

        Parameters
        ----------
        image : (H, W, 3) uint8 RGB or (H, W) uint8 gray
        intrinsics : Intrinsics
        T_world_camera : (4, 4) float64, optional
            Camera pose; trackable poses are ``T_world_camera @ T_camera_model`` (camera frame
            when omitted).
        """
        from arkit.recognition.features import detect_features

        gray = to_gray(image, "frame")
        intrinsics.check_image(gray)
        T_wc = np.eye(4) if T_world_camera is None else np.asarray(T_world_camera, dtype=np.float64)
        pts, desc = detect_features(self._orb, gray)
        pts = _pinhole_px(intrinsics, pts)
        poses, detected = [], False
        for target in self.targets:
            est = None
            if target.name in self._pose:
                est = self.track(target, pts, desc, intrinsics)
            if est is None:
                detected = True
                est = self.detect(target, pts, desc, intrinsics)
            if est is None:
                self._pose.pop(target.name, None)
                self._prev_pose.pop(target.name, None)
                continue
            self._prev_pose[target.name] = self._pose.get(target.name, est.T_camera_model)
            self._pose[target.name] = est.T_camera_model
            poses.append(est)
        return self._report(poses, intrinsics, T_wc, detected)

    def detect(self, target: ModelTarget, pts, desc, intrinsics: Intrinsics) -> Optional[ModelPose]:
        """Full detection of one model from frame features (pinhole pixels (N, 2), descriptors (N, 32))."""
        qi, ti, dist = self._index[target.name].knn(desc, k=3)
        if len(qi) == 0:
            return None
        # ratio test against the nearest neighbour at another 3D spot: a point seen in several
        # training views has several near-identical descriptors, which is no ambiguity
        local = self._index[target.name].local_index[ti]
        p = target.points_m
        spot = 0.01 * float(np.linalg.norm(target.extent_m))
        same1 = np.linalg.norm(p[local[:, 1]] - p[local[:, 0]], axis=1) < spot
        same2 = np.linalg.norm(p[local[:, 2]] - p[local[:, 0]], axis=1) < spot
        d_other = np.where(~same1, dist[:, 1], np.where(~same2, dist[:, 2], np.inf))
        quality = dist[:, 0] / np.maximum(d_other, 1e-6)
        good = np.nonzero(quality < self.ratio)[0]
        good = good[np.argsort(quality[good], kind="stable")]  # best first, for PROSAC sampling
        qi, mi = qi[good], local[good, 0]
        if len(qi) < self.min_inliers:
            log.debug("%s: %d ratio-test matches is too few", target.name, len(qi))
            return None
        est = self._solve(target, mi, pts[qi], intrinsics, None, self.ransac_threshold_px, self.min_inliers, False)
        if est is None:
            return None
        # more correspondences from guided matching around the detected pose
        fine = self._refine_guided(target, est.T_camera_model, pts, desc, intrinsics, tracked=False)
        return fine if fine is not None and fine.n_inliers > est.n_inliers else est

    def track(self, target: ModelTarget, pts, desc, intrinsics: Intrinsics) -> Optional[ModelPose]:
        """Guided matching around the projected model points, from the predicted pose, then a
        second, tighter guided matching from the estimated pose."""
        T_last, T_prev = self._pose[target.name], self._prev_pose.get(target.name, self._pose[target.name])
        T_pred = T_last @ invert(T_prev) @ T_last  # constant velocity
        if len(pts) == 0:
            return None
        for T_guess in (T_pred, T_last):
            est = self._refine_guided(target, T_guess, pts, desc, intrinsics)
            if est is not None:
                return est
        log.debug("%s: lost track", target.name)
        return None

    def _refine_guided(self, target: ModelTarget, T_guess, pts, desc, intrinsics, tracked: bool = True):
        """Guided matching within ``track_radius_px`` of ``T_guess``'s projections + PnP, then a
        tight guided matching around the new pose + PnP (None when too few inliers)."""
        mi, fi = self._guided_matches(target, T_guess, pts, desc, intrinsics, self.track_radius_px)
        if len(mi) < self.track_min_inliers:
            return None
        est = self._solve(target, mi, pts[fi], intrinsics, T_guess, self.track_threshold_px,
                          self.track_min_inliers, tracked)
        if est is None:
            return None
        mi, fi = self._guided_matches(target, est.T_camera_model, pts, desc, intrinsics, 2 * self.track_threshold_px)
        fine = self._solve(target, mi, pts[fi], intrinsics, est.T_camera_model, self.track_threshold_px,
                           self.track_min_inliers, tracked) if len(mi) >= est.n_inliers else None
        return fine if fine is not None and fine.n_inliers >= est.n_inliers else est

    def _guided_matches(self, target: ModelTarget, T_guess, pts, desc, intrinsics, radius_px: float):
        """Model point / frame feature index pairs (one-to-one) matched within ``radius_px`` of
        the model points' projections under ``T_guess``."""
        from scipy.spatial import cKDTree

        empty = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        idx, uv = self._visible(target, T_guess, intrinsics)
        if len(idx) == 0:
            return empty
        # the k model points projected nearest to each frame feature, within the radius
        k = min(self.track_candidates, len(idx))
        dd, nn = cKDTree(uv).query(pts, k=k, distance_upper_bound=radius_px)
        dd, nn = dd.reshape(len(pts), k), nn.reshape(len(pts), k)
        ok = np.isfinite(dd)
        fi = np.broadcast_to(np.arange(len(pts))[:, None], ok.shape)[ok]
        mi = idx[nn[ok]]
        d = hamming_rows(target.descriptors[mi], desc[fi])
        ok = d < self.max_hamming
        mi, fi, d = mi[ok], fi[ok], d[ok]
        if len(mi) == 0:
            return empty
        # best model point per frame feature, then best frame feature per model point
        order = np.lexsort((d, fi))
        sel = order[np.r_[True, fi[order][1:] != fi[order][:-1]]]
        order2 = sel[np.lexsort((d[sel], mi[sel]))]
        sel = order2[np.r_[True, mi[order2][1:] != mi[order2][:-1]]]
        return mi[sel], fi[sel]

    # -- helpers -------------------------------------------------------------------------------
    def _visible(self, target: ModelTarget, T_cm, intrinsics: Intrinsics):
        p = transform_points(T_cm, target.points_m)
        n = target.normals @ T_cm[:3, :3].T
        front = (p[:, 2] > 1e-3) & (np.sum(n * p, axis=1) < 0)
        idx = np.nonzero(front)[0]
        uv = p[idx, :2] / p[idx, 2:3] * [intrinsics.fx, intrinsics.fy] + [intrinsics.cx, intrinsics.cy]
        r = self.track_radius_px
        inside = (uv[:, 0] > -r) & (uv[:, 1] > -r) & (uv[:, 0] < intrinsics.width + r) & (uv[:, 1] < intrinsics.height + r)
        return idx[inside], uv[inside]

    def _solve(self, target: ModelTarget, mi, img, intrinsics, T_guess, threshold_px, min_inliers, tracked):
        import cv2

        obj = np.ascontiguousarray(target.points_m[mi], np.float64)
        img = np.ascontiguousarray(img, np.float64).reshape(-1, 2)
        K = _pinhole_K(intrinsics)
        n = len(obj)
        try:
            if T_guess is not None:
                rvec0 = cv2.Rodrigues(T_guess[:3, :3])[0]
                tvec0 = T_guess[:3, 3].reshape(3, 1).copy()
                ok, rvec, tvec, inl = cv2.solvePnPRansac(obj, img, K, None, rvec0, tvec0, True, 100, threshold_px,
                                                         0.999, flags=cv2.SOLVEPNP_ITERATIVE)
            else:
                ok, _, rvec, tvec, inl = cv2.solvePnPRansac(obj, img, K, None, params=usac_params(threshold_px, self.seed, max_iterations=5000, prosac=True))
        except cv2.error as e:
            log.debug("%s: PnP failed: %s", target.name, e)
            return None
        if not ok or inl is None or len(inl) < min_inliers:
            return None
        inl = inl.ravel()
        for _ in range(2):  # LM on inliers, then re-select inliers with the refined pose
            rvec, tvec = cv2.solvePnPRefineLM(obj[inl], img[inl], K, None, rvec, tvec)
            proj = cv2.projectPoints(obj, rvec, tvec, K, None)[0].reshape(-1, 2)
            err = np.linalg.norm(proj - img, axis=1)
            inl = np.nonzero(err < threshold_px)[0]
            if len(inl) < min_inliers:
                return None
        rms = float(np.sqrt(np.mean(err[inl] ** 2)))
        if rms > self.max_rms_px or tvec[2, 0] <= 0:
            log.debug("%s: rejected pose (rms %.2f px, z %.3f m)", target.name, rms, tvec[2, 0])
            return None
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = cv2.Rodrigues(rvec)[0], tvec.ravel()
        return ModelPose(target.name, T, n, len(inl), rms, tracked, np.asarray(mi)[inl], img[inl])

    def _report(self, poses, intrinsics: Intrinsics, T_wc, detected: bool) -> ModelTrackingResult:
        added, updated, current = [], [], {}
        for est in poses:
            target = self.target(est.name)
            tid = f"object:{est.name}"
            corners = intrinsics.project(transform_points(est.T_camera_model, target.corners_m))
            current[tid] = ModelTargetTrackable(
                tid, "object", T_wc @ est.T_camera_model, TrackableState.TRACKING, corners,
                target_name=est.name, extent_m=tuple(float(x) for x in target.extent_m), n_inliers=est.n_inliers,
                reprojection_error_px=est.reprojection_error_px)
            (updated if tid in self._last else added).append(tid)
        for tid, old in self._last.items():
            if tid in current:
                continue
            if old.state == TrackableState.TRACKING:
                updated.append(tid)
            current[tid] = ModelTargetTrackable(tid, "object", old.T_world_local, TrackableState.PAUSED, None,
                                                target_name=old.target_name, extent_m=old.extent_m)
        self._last = current
        trackables = tuple(current[k] for k in sorted(current))
        return ModelTrackingResult(trackables, TrackableChanges(tuple(added), tuple(updated), ()), tuple(poses), detected)


def _pinhole_K(intrinsics: Intrinsics) -> np.ndarray:
    return np.array([[intrinsics.fx, 0, intrinsics.cx], [0, intrinsics.fy, intrinsics.cy], [0, 0, 1.0]])


def _pinhole_px(intrinsics: Intrinsics, pts: np.ndarray) -> np.ndarray:
    """Observed (distorted) pixels (N, 2) -> ideal pinhole pixels of the same K."""
    pts = np.asarray(pts, np.float64).reshape(-1, 2)
    if not intrinsics.dist or len(pts) == 0:
        return pts
    xy = intrinsics.unproject(pts)[:, :2]
    return xy * [intrinsics.fx, intrinsics.fy] + [intrinsics.cx, intrinsics.cy]


class ModelTargetCameraTracker(Tracker):
    """A camera :class:`~arkit.tracking.base.Tracker` that treats one model target as the world
    (as marker tracking treats a marker): ``T_world_camera = inverse(T_camera_model)``.

    The world frame is the model frame (top-face centre, +Y up), so content anchored to
    ``world`` or to ``object:<name>`` (at identity) stands on the object. LOST (last pose kept)
    while the object is not found.
    """

    def __init__(self, target: ModelTarget, **tracker_options):
        self.tracker = ModelTargetTracker([target], **tracker_options)
        self.name = target.name
        self._T_wc = np.eye(4)
        self._seen = False

    def reset(self) -> None:
        self.tracker.reset()
        self._T_wc, self._seen = np.eye(4), False

    def track(self, frame):
        from arkit.tracking.base import TrackerOutput

        res = self.tracker.process(frame.image_rgb, frame.intrinsics)
        pose = next((p for p in res.poses if p.name == self.name), None)
        if pose is None:
            state = TrackingState.LOST if self._seen else TrackingState.NOT_INITIALIZED
            cam = CameraState(self._T_wc, state, f"model target {self.name!r} not found")
        else:
            self._T_wc, self._seen = invert(pose.T_camera_model), True
            cam = CameraState(self._T_wc, TrackingState.TRACKING)
        # the object is the world: its trackable sits at the world origin
        out = tuple(replace(t, T_world_local=np.eye(4)) for t in res.trackables)
        return TrackerOutput(cam, out, res.changes)
