"""Faces with MediaPipe's FaceDetector (BlazeFace): boxes, 6 keypoints and a coarse 6-DoF pose.

>>> with FaceTracker() as faces:                                   # doctest: +SKIP
...     out = faces.process(frame_rgb, intrinsics)
...     [(t.id, t.score, t.T_world_local[:3, 3]) for t in out.trackables]

Coarse pose (no landmarks, no depth): the distance comes from the detected face width and an
assumed physical face width (``face_width_m``, 0.15 m by default: ear to ear, adult average),
the position from the box centre, and the orientation faces the camera, turned by the roll of
the eye line and a yaw estimated from where the nose sits between the ears. Expect decimetre
and ~15 degree accuracy. Local frame (as every arkit surface): +Y out of the face towards the
viewer, +X towards the image right of a frontal face, +Z down (towards the chin).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.pose import from_rt, rotvec_to_matrix
from arkit.core.trackables import Trackable, TrackableChanges, TrackableState
from arkit.recognition.segmentation import to_mp_image

log = logging.getLogger(__name__)

#: BlazeFace keypoint order.
KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion", "left_ear_tragion")


@dataclass(frozen=True)
class FaceDetection:
    """One face in one image.

    Parameters
    ----------
    box_xywh_px : (4,) float64
        Left, top, width, height in pixels.
    score : float
    keypoints_px : (6, 2) float64
        In :data:`KEYPOINT_NAMES` order (NaN when the model gave none).
    """

    box_xywh_px: np.ndarray
    score: float
    keypoints_px: np.ndarray


@dataclass(frozen=True)
class FaceTrackable(Trackable):
    """A detected face; ``image_points_px`` are its 6 keypoints."""

    score: float = 0.0
    box_xywh_px: tuple = ()

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.update(score=self.score, box_xywh_px=list(self.box_xywh_px))
        return d


@dataclass(frozen=True)
class FaceTrackingResult:
    trackables: tuple = ()
    changes: TrackableChanges = field(default_factory=TrackableChanges)


#: Depth of the nose tip in front of the ear line over half the ear-to-ear width (adult head,
#: ~10 cm / ~7.3 cm); turns the nose's sideways offset into a yaw angle.
NOSE_DEPTH_OVER_HALF_EAR_WIDTH = 1.4


def coarse_face_pose(det: FaceDetection, intrinsics: Intrinsics, face_width_m: float = 0.15) -> np.ndarray:
    """``T_camera_face`` (4, 4) from a detection (see the module doc for the model and accuracy).

    Head model: the ears on a line, the nose tip ``NOSE_DEPTH_OVER_HALF_EAR_WIDTH`` half-widths
    in front of it. A yaw turns the nose sideways by ``depth * sin(yaw)`` while the ears close up
    to ``width * cos(yaw)``, so ``tan(yaw) = offset / (half_width_px * ratio)``.
    """
    x, y, w, h = det.box_xywh_px
    kp = det.keypoints_px
    ears_ok = bool(np.all(np.isfinite(kp[4:6])))
    roll = yaw = 0.0
    if np.all(np.isfinite(kp[0:2])):
        d = kp[1] - kp[0]
        roll = float(np.arctan2(d[1], d[0]))
    width_px = w
    if ears_ok:
        c, s_ = np.cos(roll), np.sin(roll)
        ear_r, ear_l = kp[4], kp[5]
        along = lambda p: c * p[0] + s_ * p[1]  # noqa: E731 - coordinate along the eye line
        half = 0.5 * (along(ear_l) - along(ear_r))
        if half > 1e-6:
            if np.all(np.isfinite(kp[2])):
                offset = along(kp[2]) - 0.5 * (along(ear_l) + along(ear_r))
                yaw = float(np.arctan2(offset, half * NOSE_DEPTH_OVER_HALF_EAR_WIDTH))
            width_px = 2.0 * half / max(np.cos(yaw), 0.3)
    width_px = max(width_px, 0.6 * w, 1.0)
    z = intrinsics.fx * face_width_m / width_px
    centre = np.array([x + w / 2.0, y + h / 2.0])
    p = intrinsics.unproject(centre[None])[0] * z
    # frontal: local +X -> camera +x, +Z -> camera +y, +Y -> camera -z; then look at the camera centre
    R0 = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
    to_cam = -p / np.linalg.norm(p)
    axis = np.cross(np.array([0.0, 0.0, -1.0]), to_cam)
    ang = np.arcsin(np.clip(np.linalg.norm(axis), 0.0, 1.0))
    R_look = rotvec_to_matrix(axis / max(np.linalg.norm(axis), 1e-12) * ang) if ang > 1e-9 else np.eye(3)
    R_roll = rotvec_to_matrix(np.array([0.0, 0.0, 1.0]) * roll)   # about the camera's optical axis
    R_yaw = rotvec_to_matrix(np.array([0.0, 0.0, -1.0]) * yaw)    # about the face's vertical (-Z = up)
    return from_rt(R_look @ R_roll @ R0 @ R_yaw, p)


class FaceDetector:
    """MediaPipe Tasks FaceDetector on RGB frames.

    Parameters
    ----------
    model : str
        Registry name (``"face_detector"``).
    min_confidence : float
    model_path : path, optional
        Use this file instead of the cached registry model.
    """

    def __init__(self, model: str = "face_detector", min_confidence: float = 0.5, model_path: Optional[str] = None):
        from mediapipe.tasks.python import BaseOptions, vision

        from arkit.recognition.models import model_path as cached

        self.model_file = Path(model_path) if model_path else cached(model)
        opts = vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_file)),
            running_mode=vision.RunningMode.IMAGE,
            min_detection_confidence=float(min_confidence),
        )
        self._det = vision.FaceDetector.create_from_options(opts)

    def detect(self, image_rgb: np.ndarray) -> list:
        """Faces in an (H, W, 3) uint8 RGB image, highest score first (list of FaceDetection)."""
        h, w = np.shape(image_rgb)[:2]
        res = self._det.detect(to_mp_image(image_rgb))
        out = []
        for d in res.detections:
            bb = d.bounding_box
            kp = np.full((len(KEYPOINT_NAMES), 2), np.nan)
            for i, k in enumerate((d.keypoints or [])[: len(KEYPOINT_NAMES)]):
                kp[i] = (k.x * w, k.y * h)
            score = float(d.categories[0].score) if d.categories else 0.0
            out.append(FaceDetection(np.array([bb.origin_x, bb.origin_y, bb.width, bb.height], np.float64), score, kp))
        out.sort(key=lambda f: -f.score)
        return out

    def close(self) -> None:
        det, self._det = getattr(self, "_det", None), None
        if det is not None:
            det.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _iou(a, b) -> float:
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def match_box(boxes: dict, box, min_iou: float):
    """Key of the box in ``boxes`` (key -> (x, y, w, h)) overlapping ``box`` most, if its IoU is
    at least ``min_iou``; else None. Frame-to-frame id association of detections."""
    best = max(boxes, key=lambda k: _iou(boxes[k], box), default=None)
    return best if best is not None and _iou(boxes[best], box) >= min_iou else None


class FaceTracker:
    """Faces as trackables ``"face:<n>"`` with ids kept across frames by box overlap (IoU).

    A face not seen in a frame is removed (reported in ``changes.removed``), as ARKit does
    for faces that leave the view.
    """

    def __init__(self, detector: Optional[FaceDetector] = None, face_width_m: float = 0.15, min_iou: float = 0.3):
        self.detector = detector or FaceDetector()
        self.face_width_m = float(face_width_m)
        self.min_iou = float(min_iou)
        self._prev: dict = {}  # id -> box
        self._next_id = 0

    def process(self, image_rgb, intrinsics: Intrinsics, T_world_camera=None) -> FaceTrackingResult:
        intrinsics.check_image(image_rgb)
        T_wc = np.eye(4) if T_world_camera is None else np.asarray(T_world_camera, np.float64)
        dets = self.detector.detect(image_rgb)
        free = dict(self._prev)
        current, trackables, added, updated = {}, [], [], []
        for det in dets:
            best = match_box(free, det.box_xywh_px, self.min_iou)
            if best is not None:
                tid = best
                del free[best]
                updated.append(tid)
            else:
                tid = f"face:{self._next_id}"
                self._next_id += 1
                added.append(tid)
            current[tid] = det.box_xywh_px
            T = T_wc @ coarse_face_pose(det, intrinsics, self.face_width_m)
            trackables.append(FaceTrackable(tid, "face", T, TrackableState.TRACKING, det.keypoints_px,
                                            score=det.score, box_xywh_px=tuple(float(v) for v in det.box_xywh_px)))
        self._prev = current
        return FaceTrackingResult(tuple(trackables), TrackableChanges(tuple(added), tuple(updated), tuple(sorted(free))))

    def reset(self) -> None:
        """Forget the faces of earlier frames (ids are not reused)."""
        self._prev = {}

    def close(self) -> None:
        self.detector.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
