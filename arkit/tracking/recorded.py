"""A tracker that replays recorded poses (ground truth, phone tracking or another SLAM run).

Useful to drive planes, recognition and rendering with known camera poses, and as the
reference tracker in tests and benchmarks of the other stages.
"""

from __future__ import annotations

import logging
from typing import Optional

import numpy as np

from arkit.core.errors import TrajectoryError
from arkit.core.frame import Frame
from arkit.core.trackables import CameraState, TrackingState
from arkit.io.trajectory_formats import Trajectory
from arkit.tracking.base import Tracker, TrackerOutput

log = logging.getLogger(__name__)

NO_POSE_REASON = "no recorded pose for this frame"


class RecordedPoseTracker(Tracker):
    """Return the recorded pose of each frame.

    Without a trajectory the pose comes from ``Frame.T_world_camera_recorded``. With one, it is
    looked up by nearest timestamp (``match="timestamp"``, within ``max_diff_s`` after adding
    ``offset_s`` to the frame's time) or by ``Frame.index`` (``match="index"``).

    States: ``NOT_INITIALIZED`` (identity pose) until the first frame with a pose, then
    ``TRACKING`` for frames with a pose and ``LOST`` (keeping the last known pose) for frames
    without; the reason is ``"no recorded pose for this frame"``.

    Parameters
    ----------
    trajectory : Trajectory, optional
        Poses ``T_world_camera`` to replay; None to use the frames' own recorded poses.
    match : {"timestamp", "index"}
    max_diff_s : float
        Largest accepted ``|frame.timestamp_s + offset_s - t_traj|`` for ``"timestamp"``.
    offset_s : float
        Clock offset from the frame source to the trajectory.

    >>> import numpy as np
    >>> from arkit.io.trajectory_formats import Trajectory
    >>> tracker = RecordedPoseTracker(Trajectory([0.0, 0.1], np.stack([np.eye(4)] * 2)))
    """

    def __init__(self, trajectory: Optional[Trajectory] = None, match: str = "timestamp",
                 max_diff_s: float = 0.02, offset_s: float = 0.0):
        if match not in ("timestamp", "index"):
            raise TrajectoryError(f"RecordedPoseTracker: match must be 'timestamp' or 'index', got {match!r}")
        if max_diff_s < 0:
            raise TrajectoryError(f"RecordedPoseTracker: max_diff_s must be >= 0, got {max_diff_s}")
        if trajectory is not None and not isinstance(trajectory, Trajectory):
            raise TrajectoryError("RecordedPoseTracker: trajectory must be an arkit Trajectory (see read_trajectory)")
        self.trajectory = trajectory
        self.match = match
        self.max_diff_s = float(max_diff_s)
        self.offset_s = float(offset_s)
        if trajectory is not None and len(trajectory):
            order = np.argsort(trajectory.timestamps_s, kind="stable")
            self._times = trajectory.timestamps_s[order]
            self._poses = trajectory.T_world_camera[order]
        else:
            self._times = np.zeros(0)
            self._poses = np.zeros((0, 4, 4))
        self._last: Optional[np.ndarray] = None

    def reset(self) -> None:
        self._last = None

    def lookup(self, frame: Frame) -> Optional[np.ndarray]:
        """The recorded (4, 4) float64 pose for ``frame``, or None when there is none."""
        if self.trajectory is None:
            return frame.T_world_camera_recorded
        if self.match == "index":
            if 0 <= frame.index < len(self.trajectory):
                return self.trajectory.T_world_camera[frame.index]
            return None
        if self._times.size == 0:
            return None
        t = frame.timestamp_s + self.offset_s
        k = int(np.searchsorted(self._times, t))
        best, best_d = None, np.inf
        for c in (k - 1, k):
            if 0 <= c < self._times.size and abs(self._times[c] - t) < best_d:
                best, best_d = c, abs(self._times[c] - t)
        return self._poses[best] if best_d <= self.max_diff_s else None

    def track(self, frame: Frame) -> TrackerOutput:
        T = self.lookup(frame)
        if T is not None:
            self._last = np.asarray(T, dtype=np.float64)
            return TrackerOutput(camera=CameraState(self._last, TrackingState.TRACKING))
        if self._last is None:
            return TrackerOutput(camera=CameraState(np.eye(4), TrackingState.NOT_INITIALIZED, NO_POSE_REASON))
        log.debug("frame %d (t=%.6f s): %s", frame.index, frame.timestamp_s, NO_POSE_REASON)
        return TrackerOutput(camera=CameraState(self._last, TrackingState.LOST, NO_POSE_REASON))
