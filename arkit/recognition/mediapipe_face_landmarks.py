"""Faces with MediaPipe's FaceLandmarker: a face mesh (478 landmarks), blendshapes and a 6-DoF pose.

>>> with FaceLandmarkTracker(blendshapes=True) as faces:          # doctest: +SKIP
...     out = faces.process(frame_rgb, intrinsics)
...     [(t.id, t.pose_source, t.blendshapes["jawOpen"]) for t in out.trackables]

Model: the ``face_landmarker`` registry entry (``face_landmarker.task``; ``arkit models fetch
face_landmarker``), or when only it is cached (and no blendshapes are asked for)
``face_landmarker_legacy``, which ``arkit models import-wheel`` packs offline (468-point mesh, no
blendshapes, no matrix, no iris: :mod:`~arkit.recognition.model_bundles`);
:class:`~arkit.recognition.models.MissingModelError` when neither is cached.

Trackables are :class:`FaceLandmarkTrackable` s of kind ``"face"`` (as the face detector's, so
scene content on ``kind:face`` works with either), ids ``"face:<n>"`` kept across frames by the
overlap of the landmark boxes. Pose (see :mod:`~arkit.recognition.face_geometry` for the frame):
from the landmarker's facial transformation matrix when the model bundle provides it
(``pose_source == "matrix"``), else a PnP fit of the landmarks to a sparse canonical face
(``"landmarks"``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.pose import readonly
from arkit.core.trackables import TrackableChanges, TrackableState
from arkit.recognition.face_geometry import MIN_FACE_LANDMARKS, pose_from_landmarks, pose_from_mediapipe_matrix
from arkit.recognition.landmarker_base import LandmarkerTracker
from arkit.recognition.mediapipe_face import FaceTrackable, match_box

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaceMeshObservation:
    """One face in one image (the landmarker output).

    Parameters
    ----------
    landmarks_px : (N, 2) float64
        N = 478 (468 mesh + 10 iris) for the official model.
    depth_px : (N,) float64
        MediaPipe's relative landmark depth, scaled to pixels (smaller = nearer the camera).
    blendshapes : dict or None
        Blendshape name -> score in [0, 1].
    matrix : (4, 4) float64 or None
        The facial transformation matrix (MediaPipe convention), when the model provides it.
    """

    landmarks_px: np.ndarray
    depth_px: np.ndarray
    blendshapes: Optional[dict] = None
    matrix: Optional[np.ndarray] = None


@dataclass(frozen=True)
class FaceLandmarkTrackable(FaceTrackable):
    """A face with its mesh; ``image_points_px`` are all landmarks (N, 2).

    ``score`` is 1.0 (the landmarker reports no per-face score); ``box_xywh_px`` bounds the
    landmarks. ``pose_source`` is ``"matrix"``, ``"landmarks"`` or ``"none"`` (pose unusable:
    the trackable is then PAUSED at its last pose, or at the identity in front of the camera).
    """

    depth_px: Optional[np.ndarray] = None
    blendshapes: Optional[dict] = None
    pose_source: str = "landmarks"

    def __post_init__(self):
        super().__post_init__()
        if self.depth_px is not None:
            object.__setattr__(self, "depth_px", readonly(np.asarray(self.depth_px, np.float64)))

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.update(pose_source=self.pose_source, blendshapes=None if self.blendshapes is None else dict(self.blendshapes))
        return d


@dataclass(frozen=True)
class FaceLandmarkResult:
    trackables: tuple = ()
    changes: TrackableChanges = field(default_factory=TrackableChanges)


def observations_from_result(result, width: int, height: int) -> list:
    """Convert a ``FaceLandmarkerResult`` to :class:`FaceMeshObservation` s (normalised -> pixels)."""
    out = []
    shapes = list(getattr(result, "face_blendshapes", None) or [])
    mats = list(getattr(result, "facial_transformation_matrixes", None) or [])
    for i, lms in enumerate(result.face_landmarks or []):
        if len(lms) < MIN_FACE_LANDMARKS:
            log.warning("ignoring a face with %d landmarks (expected >= %d)", len(lms), MIN_FACE_LANDMARKS)
            continue
        a = np.array([(p.x, p.y, p.z or 0.0) for p in lms], np.float64)
        px = a[:, :2] * (width, height)
        bs = None
        if i < len(shapes) and shapes[i]:
            bs = {str(c.category_name): float(c.score) for c in shapes[i] if c.category_name}
        m = None
        if i < len(mats) and mats[i] is not None:
            m = np.asarray(mats[i], np.float64).reshape(4, 4)
        out.append(FaceMeshObservation(px, a[:, 2] * width, bs, m))
    return out


def _box(px: np.ndarray) -> np.ndarray:
    lo, hi = np.nanmin(px, axis=0), np.nanmax(px, axis=0)
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]], np.float64)


class FaceLandmarkTracker(LandmarkerTracker):
    """MediaPipe FaceLandmarker -> :class:`FaceLandmarkTrackable` s ``"face:<n>"``.

    Parameters
    ----------
    model : str
        Registry name (``"face_landmarker"``).
    max_faces : int
    running_mode : {"image", "video"}
    blendshapes : bool
        Ask for the 52 blendshape scores (the bundle must contain the blendshape model).
    use_matrix : bool
        Ask for the facial transformation matrix and use it for the rotation (when the bundle
        lacks the geometry metadata, as the packed legacy one does, the landmark fit is used).
    model_path : path, optional
    min_confidence : float
    min_iou : float
        Box overlap that keeps a face's id from one frame to the next.
    landmarker : object, optional
        A ready landmarker with ``detect`` / ``detect_for_video`` (tests).

    Raises
    ------
    MissingModelError
        When the model is not cached (nothing is downloaded).
    """

    def __init__(self, model: str = "face_landmarker", max_faces: int = 1, running_mode: str = "image",
                 blendshapes: bool = False, use_matrix: bool = True, model_path: Optional[str] = None,
                 min_confidence: float = 0.5, min_iou: float = 0.3, landmarker=None):
        self._init_running_mode(running_mode)
        self.min_iou = float(min_iou)
        self.use_matrix = bool(use_matrix)
        self._prev: dict = {}   # id -> box
        self._poses: dict = {}  # id -> last usable T_world_face
        self._next_id = 0
        self.model_file = None
        if landmarker is not None:
            self._lm = landmarker
            return
        from arkit.recognition.models import is_available
        from arkit.recognition.models import model_path as cached

        if not model_path and model == "face_landmarker" and not blendshapes and not is_available(model) \
                and is_available("face_landmarker_legacy"):
            log.info("face_landmarker is not cached: using face_landmarker_legacy (packed from the legacy wheel)")
            model = "face_landmarker_legacy"
        self.model_file = Path(model_path) if model_path else cached(model)
        from mediapipe.tasks.python import BaseOptions, vision

        def create(matrix: bool):
            opts = vision.FaceLandmarkerOptions(
                base_options=BaseOptions(model_asset_path=str(self.model_file)), running_mode=self._vision_running_mode(),
                num_faces=int(max_faces), min_face_detection_confidence=float(min_confidence),
                min_face_presence_confidence=float(min_confidence), min_tracking_confidence=float(min_confidence),
                output_face_blendshapes=bool(blendshapes), output_facial_transformation_matrixes=matrix)
            return vision.FaceLandmarker.create_from_options(opts)

        try:
            self._lm = create(self.use_matrix)
        except Exception as e:  # noqa: BLE001 - MediaPipe raises FileNotFoundError / RuntimeError
            if not (self.use_matrix and "geometry_pipeline_metadata" in str(e)):
                raise
            log.info("%s has no face geometry metadata: pose from a landmark fit instead", self.model_file.name)
            self.use_matrix = False
            self._lm = create(False)

    def observations(self, result, w: int, h: int) -> list:
        return observations_from_result(result, w, h)

    def face_pose(self, obs: FaceMeshObservation, intrinsics: Intrinsics) -> tuple:
        """``(T_camera_face or None, source)`` for one observation."""
        if self.use_matrix and obs.matrix is not None:
            T = pose_from_mediapipe_matrix(obs.matrix, obs.landmarks_px, intrinsics)
            if T is not None:
                return T, "matrix"
        T = pose_from_landmarks(obs.landmarks_px, intrinsics)
        return (T, "landmarks") if T is not None else (None, "none")

    def from_observations(self, observations, intrinsics: Intrinsics, T_world_camera=None) -> FaceLandmarkResult:
        """Trackables and id changes from this frame's observations."""
        T_wc = np.eye(4) if T_world_camera is None else np.asarray(T_world_camera, np.float64)
        free = dict(self._prev)
        current, trackables, added, updated = {}, [], [], []
        for obs in observations:
            box = _box(obs.landmarks_px)
            best = match_box(free, box, self.min_iou)
            if best is not None:
                tid = best
                del free[best]
                updated.append(tid)
            else:
                tid = f"face:{self._next_id}"
                self._next_id += 1
                added.append(tid)
            current[tid] = box
            T_cf, source = self.face_pose(obs, intrinsics)
            state = TrackableState.TRACKING
            if T_cf is None:
                state = TrackableState.PAUSED
                T = self._poses.get(tid)
                if T is None:
                    T = T_wc.copy()
            else:
                T = T_wc @ T_cf
                self._poses[tid] = T
            trackables.append(FaceLandmarkTrackable(
                tid, "face", T, state, obs.landmarks_px, score=1.0, box_xywh_px=tuple(float(v) for v in box),
                depth_px=obs.depth_px, blendshapes=obs.blendshapes, pose_source=source))
        removed = tuple(sorted(free))
        for tid in removed:
            self._poses.pop(tid, None)
        self._prev = current
        return FaceLandmarkResult(tuple(trackables), TrackableChanges(tuple(added), tuple(updated), removed))

    def reset(self) -> None:
        self._prev.clear()
        self._poses.clear()
