"""Category detection with MediaPipe's ObjectDetector (EfficientDet-Lite0, 80 COCO classes): optional.

>>> with ObjectTracker(categories=["cup", "bottle"]) as objects:   # doctest: +SKIP
...     out = objects.process(frame_rgb, intrinsics, depth_m=frame.depth_m)
...     [(t.id, t.score, t.box_xywh_px, t.pose_source) for t in out.trackables]

Model: the ``object_detector`` registry entry (``efficientdet_lite0.tflite``; ``arkit models
fetch object_detector``), not in the offline wheel: without it
:class:`~arkit.recognition.models.MissingModelError` says where to put it.

Trackables: :class:`ObjectTrackable` ``"object:<category>"`` (a second object of the same
category in the frame is ``"object:<category>:2"``), ids kept across frames by box overlap.
Pose (``pose_source``):

* ``"depth"``: the median valid depth in the middle of the box, unprojected at the box centre;
* ``"plane"``: the ray through the bottom centre of the box hits a plane (the object stands on
  it; local +Y = the plane normal);
* ``"ray"``: neither: at ``assumed_distance_m`` along the ray through the box centre (content
  projects onto the object, its depth is a guess).

Local frame without a plane: +Y = image up, +Z towards the camera, +X = Y x Z.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import ArkitError
from arkit.core.pose import from_rt
from arkit.core.trackables import Trackable, TrackableChanges, TrackableState
from arkit.recognition.mediapipe_face import match_box
from arkit.recognition.segmentation import to_mp_image

log = logging.getLogger(__name__)

#: Camera-facing, upright local frame (columns: X = camera +x, Y = camera -y, Z = camera -z).
_R_FACING = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])


@dataclass(frozen=True)
class ObjectDetection:
    """One detected object: ``category`` (lower case), ``score``, ``box_xywh_px`` (4,) float64."""

    category: str
    score: float
    box_xywh_px: np.ndarray


@dataclass(frozen=True)
class ObjectTrackable(Trackable):
    """A detected object; ``image_points_px`` are its box corners (4, 2), clockwise from top left."""

    category: str = ""
    score: float = 0.0
    box_xywh_px: tuple = ()
    pose_source: str = "ray"

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.update(category=self.category, score=self.score, box_xywh_px=list(self.box_xywh_px),
                 pose_source=self.pose_source)
        return d


@dataclass(frozen=True)
class ObjectTrackingResult:
    trackables: tuple = ()
    changes: TrackableChanges = field(default_factory=TrackableChanges)


def detections_from_result(result) -> list:
    """Convert an ``ObjectDetectorResult`` to :class:`ObjectDetection` s (best category of each)."""
    out = []
    for d in result.detections or []:
        if not d.categories:
            continue
        c = max(d.categories, key=lambda c: c.score or 0.0)
        name = (c.category_name or c.display_name or f"class{c.index}").strip().lower()
        bb = d.bounding_box
        out.append(ObjectDetection(name, float(c.score or 0.0),
                                   np.array([bb.origin_x, bb.origin_y, bb.width, bb.height], np.float64)))
    out.sort(key=lambda o: -o.score)
    return out


def box_corners(box) -> np.ndarray:
    """(4, 2) float64 corners of an ``(x, y, w, h)`` box, clockwise from top left."""
    x, y, w, h = (float(v) for v in box)
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])


def depth_in_box(depth_m: np.ndarray, box, inner: float = 0.5) -> Optional[float]:
    """Median of the valid (> 0, finite) depths in the central ``inner`` fraction of the box."""
    h, w = depth_m.shape[:2]
    x, y, bw, bh = (float(v) for v in box)
    cx, cy = x + bw / 2, y + bh / 2
    x0, x1 = int(max(0, np.floor(cx - inner * bw / 2))), int(min(w, np.ceil(cx + inner * bw / 2)))
    y0, y1 = int(max(0, np.floor(cy - inner * bh / 2))), int(min(h, np.ceil(cy + inner * bh / 2)))
    if x1 <= x0 or y1 <= y0:
        return None
    d = depth_m[y0:y1, x0:x1]
    d = d[np.isfinite(d) & (d > 0)]
    return float(np.median(d)) if d.size else None


def object_pose(box, intrinsics: Intrinsics, T_world_camera, depth_m=None, planes: Iterable = (),
                assumed_distance_m: float = 1.0) -> tuple:
    """``(T_world_object (4, 4), pose_source)`` for a box (see the module doc for the rules)."""
    T_wc = np.asarray(T_world_camera, np.float64)
    x, y, w, h = (float(v) for v in box)
    centre = np.array([[x + w / 2, y + h / 2]])
    if depth_m is not None:
        z = depth_in_box(np.asarray(depth_m), box)
        if z is not None:
            return T_wc @ from_rt(_R_FACING, intrinsics.unproject(centre)[0] * z), "depth"
    planes = [p for p in planes if getattr(p, "subsumed_by", None) is None]
    if planes:
        from arkit.planes.raycast import raycast_pixel

        hits = raycast_pixel(x + w / 2, y + h, intrinsics, T_wc, planes)
        if hits:
            T = np.array(hits[0].T_world_hit)
            n = T[:3, 1]
            to_cam = T_wc[:3, 3] - T[:3, 3]
            zf = to_cam - (to_cam @ n) * n
            if np.linalg.norm(zf) > 1e-9:
                zf /= np.linalg.norm(zf)
                T[:3, 0], T[:3, 2] = np.cross(n, zf), zf
            return T, "plane"
    return T_wc @ from_rt(_R_FACING, intrinsics.unproject(centre)[0] * assumed_distance_m), "ray"


class ObjectDetector:
    """MediaPipe Tasks ObjectDetector on RGB frames.

    Parameters
    ----------
    model : str
        Registry name (``"object_detector"``).
    min_score : float
    max_results : int
    categories : list of str, optional
        Keep only these category names (COCO names such as ``"cup"``).
    model_path : path, optional
    detector : object, optional
        A ready detector with ``detect(mp_image)`` (tests).

    Raises
    ------
    MissingModelError
        When the model is not cached (nothing is downloaded).
    """

    def __init__(self, model: str = "object_detector", min_score: float = 0.5, max_results: int = 10,
                 categories: Optional[list] = None, model_path: Optional[str] = None, detector=None):
        if not 0.0 <= float(min_score) <= 1.0:
            raise ArkitError(f"min_score must be between 0 and 1, got {min_score!r}")
        self.categories = None if not categories else {str(c).strip().lower() for c in categories}
        self.min_score = float(min_score)
        self.model_file = None
        if detector is not None:
            self._det = detector
            return
        from arkit.recognition.models import model_path as cached

        self.model_file = Path(model_path) if model_path else cached(model)
        from mediapipe.tasks.python import BaseOptions, vision

        opts = vision.ObjectDetectorOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_file)), running_mode=vision.RunningMode.IMAGE,
            max_results=int(max_results), score_threshold=self.min_score,
            category_allowlist=sorted(self.categories) if self.categories else None)
        self._det = vision.ObjectDetector.create_from_options(opts)

    def detect(self, image_rgb: np.ndarray) -> list:
        """Objects in an (H, W, 3) uint8 RGB image, highest score first (list of ObjectDetection)."""
        dets = detections_from_result(self._det.detect(to_mp_image(image_rgb)))
        return [d for d in dets if d.score >= self.min_score and (self.categories is None or d.category in self.categories)]

    def close(self) -> None:
        det, self._det = getattr(self, "_det", None), None
        if det is not None and hasattr(det, "close"):
            det.close()


class ObjectTracker:
    """Detected objects as :class:`ObjectTrackable` s with ids kept by box overlap per category.

    Parameters
    ----------
    detector : ObjectDetector, optional
        Default: ``ObjectDetector(**detector_options)``.
    min_iou : float
    assumed_distance_m : float
        Depth of the ``"ray"`` pose (no depth, no plane hit).
    """

    def __init__(self, detector: Optional[ObjectDetector] = None, min_iou: float = 0.3,
                 assumed_distance_m: float = 1.0, **detector_options):
        self.detector = detector or ObjectDetector(**detector_options)
        self.min_iou = float(min_iou)
        self.assumed_distance_m = float(assumed_distance_m)
        self._prev: dict = {}  # id -> (category, box)

    def process(self, image_rgb, intrinsics: Intrinsics, T_world_camera=None, depth_m=None,
                planes: Iterable = ()) -> ObjectTrackingResult:
        """One frame's trackables (world poses when ``T_world_camera`` is given; see the module doc)."""
        intrinsics.check_image(image_rgb)
        return self.from_detections(self.detector.detect(image_rgb), intrinsics, T_world_camera, depth_m, planes)

    def from_detections(self, detections, intrinsics: Intrinsics, T_world_camera=None, depth_m=None,
                        planes: Iterable = ()) -> ObjectTrackingResult:
        T_wc = np.eye(4) if T_world_camera is None else np.asarray(T_world_camera, np.float64)
        planes = list(planes)
        free = dict(self._prev)
        current, trackables, added, updated = {}, [], [], []
        for det in detections:
            same = {k: b for k, (cat, b) in free.items() if cat == det.category}
            best = match_box(same, det.box_xywh_px, self.min_iou)
            if best is not None:
                tid = best
                del free[best]
                updated.append(tid)
            else:
                base, k = f"object:{det.category}", 2
                tid = base
                while tid in current or tid in free or tid in self._prev:
                    tid, k = f"{base}:{k}", k + 1
                added.append(tid)
            current[tid] = (det.category, det.box_xywh_px)
            T, source = object_pose(det.box_xywh_px, intrinsics, T_wc, depth_m, planes, self.assumed_distance_m)
            trackables.append(ObjectTrackable(tid, "object", T, TrackableState.TRACKING, box_corners(det.box_xywh_px),
                                              category=det.category, score=det.score,
                                              box_xywh_px=tuple(float(v) for v in det.box_xywh_px), pose_source=source))
        self._prev = current
        return ObjectTrackingResult(tuple(trackables), TrackableChanges(tuple(added), tuple(updated), tuple(sorted(free))))

    def reset(self) -> None:
        self._prev = {}

    def close(self) -> None:
        self.detector.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
