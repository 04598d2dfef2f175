"""Body pose with MediaPipe's PoseLandmarker: 33 landmarks and a coarse torso pose.

>>> with BodyPoseTracker() as bodies:                              # doctest: +SKIP
...     out = bodies.process(frame_rgb, intrinsics)
...     [(t.id, t.image_points_px.shape) for t in out.trackables]

Model: the ``pose_landmarker`` registry entry (``pose_landmarker_lite.task``; the name
``"pose_landmarker_lite"`` is accepted too), or when only it is cached ``pose_landmarker_full``
(which ``arkit models import-wheel`` packs offline from the legacy wheel);
:class:`~arkit.recognition.models.MissingModelError` when neither is cached.

Coarse pose (no depth): the torso length (shoulder midpoint to hip midpoint) in MediaPipe's
world landmarks (metres) over the same length in pixels gives the distance, or an assumed
``torso_length_m`` (0.5 m) without world landmarks. Position: hip midpoint. Local frame: +Y up
the spine (hips to shoulders), +Z out of the chest, +X = Y x Z; orientation from the world
landmarks (axes roughly the camera's), else facing the camera.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.pose import from_rt
from arkit.core.trackables import Trackable, TrackableChanges, TrackableState
from arkit.recognition.landmarker_base import LandmarkerTracker

log = logging.getLogger(__name__)

NUM_POSE_LANDMARKS = 33
LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP = 11, 12, 23, 24
_ALIASES = {"pose_landmarker_lite": "pose_landmarker"}


@dataclass(frozen=True)
class BodyObservation:
    """One body in one image: ``landmarks_px`` (33, 2), ``visibility`` (33,), ``world_landmarks_m`` (33, 3) or None."""

    landmarks_px: np.ndarray
    visibility: np.ndarray
    world_landmarks_m: Optional[np.ndarray] = None


@dataclass(frozen=True)
class BodyTrackable(Trackable):
    """A body; ``image_points_px`` are its 33 landmarks (MediaPipe Pose order)."""

    visibility: tuple = ()

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.update(visibility=list(self.visibility))
        return d


@dataclass(frozen=True)
class BodyTrackingResult:
    trackables: tuple = ()
    changes: TrackableChanges = field(default_factory=TrackableChanges)


def observations_from_result(result, width: int, height: int) -> list:
    """Convert a ``PoseLandmarkerResult`` to :class:`BodyObservation` s (normalised -> pixels)."""
    out = []
    worlds = list(getattr(result, "pose_world_landmarks", None) or [])
    for i, lms in enumerate(result.pose_landmarks or []):
        if len(lms) != NUM_POSE_LANDMARKS:
            log.warning("ignoring a pose with %d landmarks (expected %d)", len(lms), NUM_POSE_LANDMARKS)
            continue
        px = np.array([(p.x * width, p.y * height) for p in lms], np.float64)
        vis = np.array([1.0 if getattr(p, "visibility", None) is None else p.visibility for p in lms], np.float64)
        world = None
        if i < len(worlds) and len(worlds[i]) == NUM_POSE_LANDMARKS:
            world = np.array([(p.x, p.y, p.z) for p in worlds[i]], np.float64)
        out.append(BodyObservation(px, vis, world))
    return out


def coarse_body_pose(obs: BodyObservation, intrinsics: Intrinsics, torso_length_m: float = 0.5) -> np.ndarray:
    """``T_camera_body`` (4, 4) float64 (see the module doc)."""
    px = obs.landmarks_px
    hip_px = 0.5 * (px[LEFT_HIP] + px[RIGHT_HIP])
    torso_px = max(float(np.linalg.norm(0.5 * (px[LEFT_SHOULDER] + px[RIGHT_SHOULDER]) - hip_px)), 1.0)
    w = obs.world_landmarks_m
    has_world = w is not None and np.all(np.isfinite(w[[LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP]]))
    length_m = torso_length_m
    if has_world:
        lw = float(np.linalg.norm(0.5 * (w[LEFT_SHOULDER] + w[RIGHT_SHOULDER]) - 0.5 * (w[LEFT_HIP] + w[RIGHT_HIP])))
        length_m = lw if lw > 1e-3 else torso_length_m
    z = intrinsics.fx * length_m / torso_px
    pos = intrinsics.unproject(hip_px[None])[0] * z
    R = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])  # upright, chest towards the camera
    if has_world:
        up = 0.5 * (w[LEFT_SHOULDER] + w[RIGHT_SHOULDER]) - 0.5 * (w[LEFT_HIP] + w[RIGHT_HIP])
        across = w[LEFT_SHOULDER] - w[RIGHT_SHOULDER]  # subject's right to left
        y = up / max(np.linalg.norm(up), 1e-12)
        zf = np.cross(across, y)  # right-to-left x up = forward (out of the chest)
        zf = zf - y * float(zf @ y)
        if np.linalg.norm(zf) > 1e-9 and np.linalg.norm(up) > 1e-9:
            zax = zf / np.linalg.norm(zf)
            R = np.column_stack([np.cross(y, zax), y, zax])
    return from_rt(R, pos)


class BodyPoseTracker(LandmarkerTracker):
    """MediaPipe PoseLandmarker -> :class:`BodyTrackable` s ``"body:<n>"`` (n = index in the frame).

    Parameters
    ----------
    model : str
        Registry name (``"pose_landmarker"``, alias ``"pose_landmarker_lite"``).
    max_bodies : int
    running_mode : {"image", "video"}
    model_path : path, optional
    torso_length_m : float
    landmarker : object, optional
        A ready landmarker (tests).

    Raises
    ------
    MissingModelError
        When the model is not cached.
    """

    def __init__(self, model: str = "pose_landmarker_lite", max_bodies: int = 1, running_mode: str = "image",
                 model_path: Optional[str] = None, torso_length_m: float = 0.5, min_confidence: float = 0.5,
                 landmarker=None):
        self._init_running_mode(running_mode)
        self.torso_length_m = float(torso_length_m)
        self._prev_ids: tuple = ()
        self.model_file = None
        if landmarker is not None:
            self._lm = landmarker
            return
        from arkit.recognition.models import is_available
        from arkit.recognition.models import model_path as cached

        name = _ALIASES.get(model, model)
        if not model_path and name == "pose_landmarker" and not is_available(name) and is_available("pose_landmarker_full"):
            log.info("pose_landmarker (lite) is not cached: using pose_landmarker_full")
            name = "pose_landmarker_full"
        self.model_file = Path(model_path) if model_path else cached(name)
        from mediapipe.tasks.python import BaseOptions, vision

        mode = self._vision_running_mode()
        opts = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_file)), running_mode=mode,
            num_poses=int(max_bodies), min_pose_detection_confidence=float(min_confidence),
            min_pose_presence_confidence=float(min_confidence), min_tracking_confidence=float(min_confidence))
        self._lm = vision.PoseLandmarker.create_from_options(opts)

    def observations(self, result, w: int, h: int) -> list:
        return observations_from_result(result, w, h)

    def from_observations(self, observations, intrinsics: Intrinsics, T_world_camera=None) -> BodyTrackingResult:
        T_wc = np.eye(4) if T_world_camera is None else np.asarray(T_world_camera, np.float64)
        trackables = []
        for i, obs in enumerate(observations):
            T = T_wc @ coarse_body_pose(obs, intrinsics, self.torso_length_m)
            trackables.append(BodyTrackable(f"body:{i}", "body", T, TrackableState.TRACKING, obs.landmarks_px,
                                            visibility=tuple(float(v) for v in obs.visibility)))
        ids = tuple(t.id for t in trackables)
        changes = TrackableChanges(tuple(t for t in ids if t not in self._prev_ids),
                                   tuple(t for t in ids if t in self._prev_ids),
                                   tuple(t for t in self._prev_ids if t not in ids))
        self._prev_ids = ids
        return BodyTrackingResult(tuple(trackables), changes)

    def reset(self) -> None:
        self._prev_ids = ()
