"""The state of a recording worth exporting: the latest snapshot of every trackable, the
anchors and the camera trajectory, gathered in one streaming pass over ``frames.jsonl``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.trackables import PlaneTrackable, TrackableState


@dataclass
class RecordingState:
    """What a recording knows at one frame (by default its last).

    Attributes
    ----------
    path : Path
    frames : int
        Frames read.
    intrinsics : Intrinsics
    trackables : tuple of Trackable
        Latest snapshot of every trackable seen and not removed (first-seen order).
    anchors : tuple of Anchor
        Latest pose of every anchor.
    first_seen, last_seen : dict
        Trackable id -> source frame index.
    timestamps_s : (N,) float64
        Times of the tracked frames.
    T_world_camera : (N, 4, 4) float64
        Camera poses of the tracked frames (TRACKING or LIMITED).
    scene : str or None
        Scene file stored in the recording header.
    """

    path: Path
    frames: int
    intrinsics: Intrinsics
    trackables: tuple = ()
    anchors: tuple = ()
    first_seen: dict = field(default_factory=dict)
    last_seen: dict = field(default_factory=dict)
    timestamps_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    T_world_camera: np.ndarray = field(default_factory=lambda: np.zeros((0, 4, 4)))
    scene: Optional[str] = None

    @property
    def planes(self) -> tuple:
        return tuple(t for t in self.trackables if isinstance(t, PlaneTrackable) or t.kind == "plane")

    def trajectory(self):
        """The tracked camera path as an :class:`arkit.io.trajectory_formats.Trajectory`."""
        from arkit.io.trajectory_formats import Trajectory

        return Trajectory(self.timestamps_s, self.T_world_camera, name=str(self.path))


def recording_state(path, *, until_frame: Optional[int] = None, include_stopped: bool = False) -> RecordingState:
    """Read a recording and keep the latest state of everything in it.

    Parameters
    ----------
    path : str or Path
        Recording folder.
    until_frame : int, optional
        Stop after the record with this source frame index (default: read every frame).
    include_stopped : bool
        Keep trackables whose latest state is STOPPED (and those reported removed).
    """
    from arkit.recording.format import FRAMES_FILE, read_info
    from arkit.recording.replay import FrameIndex

    info = read_info(path)
    index = FrameIndex(info.path / FRAMES_FILE, info.frames)
    latest, anchors, first, last = {}, {}, {}, {}
    stamps, poses = [], []
    n = 0
    try:
        for p in range(len(index)):
            r = index.record(p)
            n += 1
            for t in r.trackables:
                latest[t.id] = t
                first.setdefault(t.id, r.index)
                if t.state != TrackableState.PAUSED:
                    last[t.id] = r.index
            if not include_stopped:
                for tid in r.changes.removed:
                    latest.pop(tid, None)
            for a in r.anchors:
                anchors[a.id] = a
            if r.camera.is_tracking:
                stamps.append(r.timestamp_s)
                poses.append(np.array(r.camera.T_world_camera))
            if until_frame is not None and r.index >= until_frame:
                break
    finally:
        index.close()
    keep = [t for t in latest.values() if include_stopped or t.state != TrackableState.STOPPED]
    return RecordingState(path=info.path, frames=n, intrinsics=info.intrinsics, trackables=tuple(keep),
                          anchors=tuple(anchors.values()), first_seen=first, last_seen=last,
                          timestamps_s=np.asarray(stamps, dtype=np.float64),
                          T_world_camera=np.asarray(poses, dtype=np.float64).reshape(-1, 4, 4), scene=info.scene)
