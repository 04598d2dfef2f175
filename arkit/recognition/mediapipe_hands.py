"""Hands with MediaPipe's HandLandmarker: 21 landmarks, handedness, pinch and a coarse 6-DoF pose.

>>> with HandTracker() as hands:                                   # doctest: +SKIP
...     out = hands.process(frame_rgb, intrinsics)
...     [(t.id, t.pinching, t.pinch_point_px) for t in out.trackables]

Model: the ``hand_landmarker`` registry entry, a ``.task`` bundle (``arkit models fetch
hand_landmarker``); :class:`~arkit.recognition.models.MissingModelError` when it is not cached.

Ids are ``"hand:left"`` / ``"hand:right"`` from MediaPipe's handedness label as given (it refers
to the subject's hands in an unmirrored image; a mirrored selfie view swaps them). A second hand
with the same label gets ``"hand:left:2"``.

Coarse pose (no depth): the distance comes from the wrist to middle-finger MCP length in pixels
and an assumed physical length ``palm_size_m`` (0.08 m), the position is the palm centre (mean
of the wrist and the four MCP joints). Orientation from MediaPipe's world landmarks (metres,
axes roughly the camera's) when given, else from the flat image landmarks. Local frame: +Y out
of the palm, +Z from the wrist towards the fingers, +X = Y x Z. Expect centimetre-to-decimetre
accuracy.
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
from arkit.recognition.gestures import (INDEX_MCP, MIDDLE_MCP, NUM_HAND_LANDMARKS, PALM_LANDMARKS, PINKY_MCP,
                                        WRIST, PinchDetector, pinch_distance)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HandObservation:
    """One hand in one image (the landmarker output, in pixels).

    Parameters
    ----------
    landmarks_px : (21, 2) float64
    handedness : str
        ``"left"``, ``"right"`` or ``"unknown"``.
    score : float
        Handedness confidence.
    world_landmarks_m : (21, 3) float64 or None
        MediaPipe's metric landmarks around the hand centre.
    """

    landmarks_px: np.ndarray
    handedness: str
    score: float
    world_landmarks_m: Optional[np.ndarray] = None


@dataclass(frozen=True)
class HandTrackable(Trackable):
    """A hand; ``image_points_px`` are its 21 landmarks (MediaPipe order)."""

    handedness: str = "unknown"
    score: float = 0.0
    pinching: bool = False
    pinch_state: str = "none"
    pinch_point_px: Optional[tuple] = None

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.update(handedness=self.handedness, score=self.score, pinching=self.pinching, pinch_state=self.pinch_state,
                 pinch_point_px=None if self.pinch_point_px is None else list(self.pinch_point_px))
        return d


@dataclass(frozen=True)
class HandTrackingResult:
    """Hands of one frame; ``pinch_events`` maps hand id -> :class:`~arkit.recognition.gestures.PinchEvent`
    (including ``"ended"`` events of hands lost this frame)."""

    trackables: tuple = ()
    changes: TrackableChanges = field(default_factory=TrackableChanges)
    pinch_events: dict = field(default_factory=dict)


def _label(categories) -> tuple:
    if not categories:
        return "unknown", 0.0
    c = max(categories, key=lambda c: c.score or 0.0)
    name = (c.category_name or c.display_name or "").strip().lower()
    return (name if name in ("left", "right") else "unknown"), float(c.score or 0.0)


def observations_from_result(result, width: int, height: int) -> list:
    """Convert a ``HandLandmarkerResult`` to :class:`HandObservation` s (normalised -> pixels)."""
    out = []
    worlds = list(getattr(result, "hand_world_landmarks", None) or [])
    for i, lms in enumerate(result.hand_landmarks or []):
        if len(lms) != NUM_HAND_LANDMARKS:
            log.warning("ignoring a hand with %d landmarks (expected %d)", len(lms), NUM_HAND_LANDMARKS)
            continue
        px = np.array([(p.x * width, p.y * height) for p in lms], np.float64)
        world = None
        if i < len(worlds) and len(worlds[i]) == NUM_HAND_LANDMARKS:
            world = np.array([(p.x, p.y, p.z) for p in worlds[i]], np.float64)
        cats = result.handedness[i] if i < len(result.handedness or []) else []
        hand, score = _label(cats)
        out.append(HandObservation(px, hand, score, world))
    return out


def _unit(v) -> Optional[np.ndarray]:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-12 and np.isfinite(n) else None


def coarse_hand_pose(obs: HandObservation, intrinsics: Intrinsics, palm_size_m: float = 0.08) -> np.ndarray:
    """``T_camera_hand`` (4, 4) float64 (see the module doc for the model and its accuracy)."""
    px = obs.landmarks_px
    palm_px = max(float(np.linalg.norm(px[MIDDLE_MCP] - px[WRIST])), 1.0)
    z = intrinsics.fx * palm_size_m / palm_px
    centre = intrinsics.unproject(px[list(PALM_LANDMARKS)].mean(axis=0)[None])[0] * z
    pts = obs.world_landmarks_m
    if pts is None or not np.all(np.isfinite(pts)):
        pts = intrinsics.unproject(px) * z  # flat hand at the palm's depth
    # For a right hand, (index MCP - wrist) x (pinky MCP - wrist) points out of the palm.
    n = np.cross(pts[INDEX_MCP] - pts[WRIST], pts[PINKY_MCP] - pts[WRIST])
    if obs.handedness == "left":
        n = -n
    y = _unit(n)
    if y is None:
        y = np.array([0.0, 0.0, -1.0])
    zf = pts[MIDDLE_MCP] - pts[WRIST]
    zax = _unit(zf - y * float(zf @ y))
    if zax is None:
        zax = _unit(np.cross(np.array([1.0, 0.0, 0.0]), y))
        zax = np.array([0.0, 1.0, 0.0]) if zax is None else zax
    xax = np.cross(y, zax)
    return from_rt(np.column_stack([xax, y, zax]), centre)


class HandTracker(LandmarkerTracker):
    """MediaPipe HandLandmarker on RGB frames -> :class:`HandTrackable` s with pinch state.

    Parameters
    ----------
    model : str
        Registry name (``"hand_landmarker"``).
    max_hands : int
    running_mode : {"image", "video"}
        ``"video"`` tracks landmarks between frames (needs increasing timestamps).
    model_path : path, optional
        Use this ``.task`` bundle instead of the cached registry model.
    palm_size_m : float
        Assumed wrist to middle-finger MCP length for the coarse pose.
    pinch_start, pinch_end : float
        :class:`~arkit.recognition.gestures.PinchDetector` thresholds.
    min_confidence : float
    landmarker : object, optional
        A ready landmarker with ``detect(mp_image)`` / ``detect_for_video(mp_image, ms)`` (tests).

    Raises
    ------
    MissingModelError
        When the model is not cached (nothing is downloaded).
    """

    def __init__(self, model: str = "hand_landmarker", max_hands: int = 2, running_mode: str = "image",
                 model_path: Optional[str] = None, palm_size_m: float = 0.08, pinch_start: float = 0.25,
                 pinch_end: float = 0.4, min_confidence: float = 0.5, landmarker=None):
        self._init_running_mode(running_mode)
        self.palm_size_m = float(palm_size_m)
        self._pinch_args = (float(pinch_start), float(pinch_end))
        PinchDetector(*self._pinch_args)  # validate thresholds now
        self._pinch: dict = {}
        self._prev_ids: tuple = ()
        self.model_file = None
        if landmarker is not None:
            self._lm = landmarker
            return
        from arkit.recognition.models import model_path as cached

        self.model_file = Path(model_path) if model_path else cached(model)
        from mediapipe.tasks.python import BaseOptions, vision

        mode = self._vision_running_mode()
        opts = vision.HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_file)), running_mode=mode,
            num_hands=int(max_hands), min_hand_detection_confidence=float(min_confidence),
            min_hand_presence_confidence=float(min_confidence), min_tracking_confidence=float(min_confidence))
        self._lm = vision.HandLandmarker.create_from_options(opts)

    def observations(self, result, w: int, h: int) -> list:
        return observations_from_result(result, w, h)

    def from_observations(self, observations, intrinsics: Intrinsics, T_world_camera=None) -> HandTrackingResult:
        """Trackables, id changes and pinch events from this frame's observations."""
        T_wc = np.eye(4) if T_world_camera is None else np.asarray(T_world_camera, np.float64)
        trackables, events, seen = [], {}, []
        for obs in observations:
            base = f"hand:{obs.handedness}"
            tid, k = base, 2
            while tid in seen:
                tid, k = f"{base}:{k}", k + 1
            seen.append(tid)
            det = self._pinch.setdefault(tid, PinchDetector(*self._pinch_args))
            d = pinch_distance(obs.world_landmarks_m) if obs.world_landmarks_m is not None else None
            ev = det.update(obs.landmarks_px, distance=d)
            events[tid] = ev
            T = T_wc @ coarse_hand_pose(obs, intrinsics, self.palm_size_m)
            pt = None if ev.point_px is None else tuple(float(v) for v in ev.point_px)
            trackables.append(HandTrackable(tid, "hand", T, TrackableState.TRACKING, obs.landmarks_px,
                                            handedness=obs.handedness, score=obs.score, pinching=ev.pinching,
                                            pinch_state=ev.state, pinch_point_px=pt))
        removed = tuple(sorted(set(self._prev_ids) - set(seen)))
        for tid in removed:
            ev = self._pinch.pop(tid).update(None)
            if ev.state != "none":
                events[tid] = ev
        added = tuple(t for t in seen if t not in self._prev_ids)
        updated = tuple(t for t in seen if t in self._prev_ids)
        self._prev_ids = tuple(seen)
        return HandTrackingResult(tuple(trackables), TrackableChanges(added, updated, removed), events)

    def reset(self) -> None:
        self._pinch.clear()
        self._prev_ids = ()
