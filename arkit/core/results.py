"""The immutable per-frame result of :meth:`arkit.Session.step`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.trackables import CameraState, Trackable, TrackableChanges


@dataclass(frozen=True)
class FrameResult:
    """Everything arkit saw and drew for one frame. Arrays are read-only.

    Parameters
    ----------
    index, timestamp_s : int, float
        Copied from the input frame.
    intrinsics : Intrinsics
    camera : CameraState
    trackables : tuple of Trackable
        Every trackable currently known (markers, planes, images, ...), including PAUSED ones.
    changes : TrackableChanges
        What was added, updated and removed this frame (ids).
    anchors : tuple of Anchor
    image : (H, W, 3) uint8, optional
        The composited RGB frame (None when rendering is off).
    timings_ms : dict
        Stage name -> milliseconds spent on this frame.
    """

    index: int
    timestamp_s: float
    intrinsics: Intrinsics
    camera: CameraState
    trackables: tuple = ()
    changes: TrackableChanges = field(default_factory=TrackableChanges)
    anchors: tuple = ()
    image: Optional[np.ndarray] = None
    timings_ms: dict = field(default_factory=dict)

    def trackable(self, trackable_id: str) -> Optional[Trackable]:
        """The trackable with this id, or None."""
        for t in self.trackables:
            if t.id == trackable_id:
                return t
        return None

    def of_kind(self, kind: str) -> tuple:
        return tuple(t for t in self.trackables if t.kind == kind)

    def to_dict(self) -> dict:
        """JSON-ready summary (no images): the format of ``arkit run --results``."""
        return {
            "index": self.index,
            "timestamp_s": self.timestamp_s,
            "camera": {
                "T_world_camera": self.camera.T_world_camera.tolist(),
                "tracking_state": self.camera.tracking_state.value,
                "reason": self.camera.reason,
            },
            "trackables": [t.to_dict() for t in self.trackables],
            "anchors": [a.to_dict() for a in self.anchors],
        }
