"""Frame-to-frame tracking of image targets: detect once, then follow with optical flow.

After a target is detected, corner features inside its projected quad are followed with
pyramidal Lucas-Kanade optical flow (forward-backward checked) and the target homography is
re-fitted (seeded USAC) from the fixed target coordinates of those points. A full detection
runs only when nothing is tracked and, while more targets could be tracked, every
``redetect_interval`` frames; a lost track (too few inliers, insane quad) is dropped and
re-detected. Every ``align_interval`` frames each track is re-aligned directly to its target
image, which cancels optical-flow drift. The steady-state cost is a small fraction of the
detection cost.

>>> tracker = ImageTargetTracker(db)                                          # doctest: +SKIP
>>> out = tracker.process(frame_rgb, intrinsics)                              # doctest: +SKIP
>>> out.trackables[0].id, out.trackables[0].state, out.changes.added         # doctest: +SKIP
('image:poster', <TrackableState.TRACKING: 'TRACKING'>, ('image:poster',))
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.pose import transform_points
from arkit.core.trackables import Trackable, TrackableChanges, TrackableState
from arkit.recognition.image_targets import ImageTargetDatabase, to_gray
from arkit.recognition.target_pose import (
    apply_homography, corners_target_px, pose_from_correspondences, quad_is_sane, robust_homography,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageTargetTrackable(Trackable):
    """A detected image target. Local frame as markers: centre of the image, +Y out of its face,
    +X along its top edge, +Z towards its bottom edge. ``image_points_px`` are the 4 corners
    (TL, TR, BR, BL) projected into the current frame (None while PAUSED)."""

    target_name: str = ""
    width_m: float = 0.0
    height_m: float = 0.0
    n_inliers: int = 0
    reprojection_error_px: float = float("nan")

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.update(target_name=self.target_name, width_m=self.width_m, height_m=self.height_m,
                 n_inliers=self.n_inliers, reprojection_error_px=self.reprojection_error_px)
        return d


@dataclass(frozen=True)
class ImageTrackingResult:
    """Output of :meth:`ImageTargetTracker.process`: every known image trackable and the changes."""

    trackables: tuple = ()
    changes: TrackableChanges = field(default_factory=TrackableChanges)
    detected: bool = False


@dataclass
class _Track:
    name: str
    pts_frame: np.ndarray   # (N, 2) float32, current frame
    pts_target: np.ndarray  # (N, 2) float32, fixed target coordinates
    H: np.ndarray
    n_seeded: int
    T_camera_target: Optional[np.ndarray] = None
    rms_px: float = float("nan")


class ImageTargetTracker:
    """Detect and track image targets; reports trackables of kind ``"image"``, id ``"image:<name>"``.

    Parameters
    ----------
    database : ImageTargetDatabase
    max_tracked : int
        Most targets followed at once.
    redetect_interval : int
        While fewer than ``max_tracked`` targets are tracked, run a full detection every this
        many frames to find more (0 = only when nothing is tracked).
    track_points : int
        Corner features seeded per target.
    min_inliers : int
        A track with fewer homography inliers is dropped (the target is re-detected).
    align_interval : int
        Every this many frames each track is re-aligned to the target image itself
        (:func:`~arkit.recognition.target_refine.refine_homography`), which cancels optical-flow
        drift at a fraction of a detection's cost (0 = never).
    forward_backward : bool
        Also track each point back and drop those that do not return within 1 px (more robust
        on real video with occlusions, about 1.6x the optical-flow cost). Without it, outliers
        are left to the homography fit.
    """

    def __init__(self, database: ImageTargetDatabase, max_tracked: int = 4, redetect_interval: int = 15,
                 track_points: int = 120, min_inliers: int = 15, align_interval: int = 5,
                 forward_backward: bool = False):
        import cv2

        self.db = database
        self.max_tracked = int(max_tracked)
        self.redetect_interval = int(redetect_interval)
        self.track_points = int(track_points)
        self.min_inliers = int(min_inliers)
        self.align_interval = int(align_interval)
        self.forward_backward = bool(forward_backward)
        self._lk = dict(winSize=(15, 15), maxLevel=3,
                        criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))
        self.reset()

    def reset(self) -> None:
        """Forget all tracks and trackables."""
        self._tracks: dict = {}
        self._prev_gray = None
        self._since_detect = 0
        self._frame_count = 0
        self._last: dict = {}  # id -> last ImageTargetTrackable

    # -- per frame ----------------------------------------------------------------------------
    def process_frame(self, frame, T_world_camera=None) -> ImageTrackingResult:
        """Same as :meth:`process` for an :class:`arkit.core.frame.Frame`."""
        return self.process(frame.image_rgb, frame.intrinsics, T_world_camera)

    def process(self, image, intrinsics: Intrinsics, T_world_camera=None) -> ImageTrackingResult:
        """Track known targets into this frame and detect new ones when due.

        Parameters
        ----------
        image : (H, W, 3) uint8 RGB or (H, W) uint8 gray
        intrinsics : Intrinsics
        T_world_camera : (4, 4) float64, optional
            Camera pose; trackable poses are ``T_world_camera @ T_camera_target`` (camera frame
            when omitted).
        """
        gray = to_gray(image, "frame")
        intrinsics.check_image(gray)
        T_wc = np.eye(4) if T_world_camera is None else np.asarray(T_world_camera, dtype=np.float64)
        if self._prev_gray is not None and self._tracks:
            for name in list(self._tracks):
                if not self._follow(self._tracks[name], self._prev_gray, gray, intrinsics):
                    log.debug("lost track of image target %s", name)
                    del self._tracks[name]
        self._since_detect += 1
        self._frame_count += 1
        if self.align_interval > 0 and self._frame_count % self.align_interval == 0:
            for tr in self._tracks.values():
                self._align(tr, gray, intrinsics)
        room = len(self._tracks) < min(self.max_tracked, len(self.db))
        due = not self._tracks or (room and self.redetect_interval > 0 and self._since_detect >= self.redetect_interval)
        if due:
            self._detect(gray, intrinsics)
        self._prev_gray = gray
        return self._report(intrinsics, T_wc, due)

    def _detect(self, gray, intrinsics) -> None:
        self._since_detect = 0
        for det in self.db.detect(gray, intrinsics, max_results=self.max_tracked):
            if det.name not in self._tracks and len(self._tracks) >= self.max_tracked:
                continue
            track = self._seed(det.name, det.H_frame_target, gray)
            if track is None:
                continue
            track.T_camera_target, track.rms_px = det.T_camera_target, det.reprojection_error_px
            self._tracks[det.name] = track

    def _seed(self, name: str, H: np.ndarray, gray: np.ndarray) -> Optional[_Track]:
        import cv2

        target = self.db.target(name)
        corners = apply_homography(H, corners_target_px(*target.size_px))
        mask = np.zeros_like(gray)
        cv2.fillConvexPoly(mask, np.round(corners).astype(np.int32), 255)
        mask = cv2.erode(mask, np.ones((7, 7), np.uint8))
        pts = cv2.goodFeaturesToTrack(gray, self.track_points, 0.01, 8, mask=mask, blockSize=7)
        if pts is None or len(pts) < self.min_inliers:
            return None
        pts = pts.reshape(-1, 2).astype(np.float32)
        pts_t = apply_homography(np.linalg.inv(H), pts).astype(np.float32)
        return _Track(name, pts, pts_t, H, len(pts))

    def _follow(self, tr: _Track, prev, gray, intrinsics) -> bool:
        import cv2

        p0 = tr.pts_frame.reshape(-1, 1, 2)
        p1, st, _ = cv2.calcOpticalFlowPyrLK(prev, gray, p0, None, **self._lk)
        if p1 is None:
            return False
        ok = st.ravel() == 1
        if self.forward_backward:
            pb, stb, _ = cv2.calcOpticalFlowPyrLK(gray, prev, p1, None, **self._lk)
            ok &= (stb.ravel() == 1) & (np.linalg.norm((pb - p0).reshape(-1, 2), axis=1) < 1.0)
        if ok.sum() < self.min_inliers:
            return False
        src, dst = tr.pts_target[ok], p1.reshape(-1, 2)[ok]
        H, inl = robust_homography(src, dst, threshold_px=2.0, seed=0)
        if H is None or inl.sum() < max(self.min_inliers, 0.3 * tr.n_seeded):
            return False
        target = self.db.target(tr.name)
        corners = apply_homography(H, corners_target_px(*target.size_px))
        if not quad_is_sane(corners, frame_size=(gray.shape[1], gray.shape[0]))[0]:
            return False
        tr.pts_frame, tr.pts_target, tr.H = dst[inl].astype(np.float32), src[inl].astype(np.float32), H
        T, rms = pose_from_correspondences(target.local_points(tr.pts_target), tr.pts_frame, intrinsics,
                                           T_guess=tr.T_camera_target)
        if T is None:
            return False
        tr.T_camera_target, tr.rms_px = T, rms
        if len(tr.pts_frame) < 0.6 * tr.n_seeded:  # reseed from the current homography
            fresh = self._seed(tr.name, H, gray)
            if fresh is not None:
                tr.pts_frame, tr.pts_target, tr.n_seeded = fresh.pts_frame, fresh.pts_target, fresh.n_seeded
        return True

    def _align(self, tr: _Track, gray, intrinsics) -> None:
        from arkit.recognition.target_refine import refine_homography

        target = self.db.target(tr.name)
        H, pts_t, pts_f = refine_homography(target.gray, gray, tr.H, rounds=1, n_points=self.track_points)
        if len(pts_t) < self.min_inliers:
            return
        T, rms = pose_from_correspondences(target.local_points(pts_t), pts_f, intrinsics, T_guess=tr.T_camera_target)
        if T is None:
            return
        tr.H, tr.pts_target, tr.pts_frame, tr.n_seeded = H, pts_t, pts_f, len(pts_t)
        tr.T_camera_target, tr.rms_px = T, rms

    def _report(self, intrinsics: Intrinsics, T_wc: np.ndarray, detected: bool) -> ImageTrackingResult:
        added, updated = [], []
        current = {}
        for name, tr in self._tracks.items():
            if tr.T_camera_target is None:
                continue
            target = self.db.target(name)
            tid = f"image:{name}"
            corners = intrinsics.project(transform_points(tr.T_camera_target, target.corners_local))
            current[tid] = ImageTargetTrackable(
                tid, "image", T_wc @ tr.T_camera_target, TrackableState.TRACKING, corners,
                target_name=name, width_m=target.width_m, height_m=target.height_m,
                n_inliers=len(tr.pts_frame), reprojection_error_px=tr.rms_px,
            )
            (updated if tid in self._last else added).append(tid)
        for tid, old in self._last.items():
            if tid in current:
                continue
            if old.state == TrackableState.TRACKING:
                updated.append(tid)
            current[tid] = ImageTargetTrackable(
                tid, "image", old.T_world_local, TrackableState.PAUSED, None,
                target_name=old.target_name, width_m=old.width_m, height_m=old.height_m,
                n_inliers=0, reprojection_error_px=float("nan"),
            )
        self._last = current
        trackables = tuple(current[k] for k in sorted(current))
        return ImageTrackingResult(trackables, TrackableChanges(tuple(added), tuple(updated), ()), detected)
