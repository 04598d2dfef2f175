"""The interface every camera tracker implements (markers, visual odometry/SLAM, recorded poses)."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

from arkit.core.frame import Frame
from arkit.core.trackables import CameraState, TrackableChanges


@dataclass(frozen=True)
class TrackerOutput:
    """What a tracker returns for one frame.

    Parameters
    ----------
    camera : CameraState
        Camera pose in the tracker's world frame and the tracking state with its reason.
    trackables : tuple of Trackable
        Trackables this tracker maintains (e.g. markers), with stable ids.
    changes : TrackableChanges
        Ids added / updated / removed this frame.
    """

    camera: CameraState
    trackables: tuple = ()
    changes: TrackableChanges = field(default_factory=TrackableChanges)


class Tracker(abc.ABC):
    """Turns frames into camera poses. One instance per stream; frames arrive in order."""

    @abc.abstractmethod
    def track(self, frame: Frame) -> TrackerOutput:
        """Process one frame. Must not raise on a frame it cannot use: return LOST or
        LIMITED with a reason instead. Raises only for programming or configuration errors."""

    def reset(self) -> None:
        """Forget all state (next frame starts from NOT_INITIALIZED)."""
