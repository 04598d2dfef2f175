"""The interface of stages that turn observations into trackables (planes, image targets,
objects, faces, hands...), as AR Foundation's trackable managers.

A manager sees every frame after the camera tracker and returns the trackables it keeps
(stable ids, world poses) and what changed. The session merges all managers' trackables
into ``FrameResult.trackables``; anchors can follow any of them.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from arkit.core.frame import Frame
from arkit.core.trackables import CameraState, TrackableChanges


@dataclass(frozen=True)
class ManagerOutput:
    """Trackables a manager currently knows (including PAUSED ones) and this frame's changes.

    ``occluder_mask`` (H, W) float32 in [0, 1], optional: where real things (people) stand in
    front of virtual content; the compositor hides overlays there."""

    trackables: tuple = ()
    changes: TrackableChanges = field(default_factory=TrackableChanges)
    occluder_mask: Optional[np.ndarray] = None


class TrackableManager(abc.ABC):
    """One stage of the per-frame loop after camera tracking.

    ``name`` is used for timings (``FrameResult.timings_ms[name]``).
    """

    name: str = "manager"

    #: True when an update with a frame without depth changes nothing unless the camera's
    #: ``is_tracking`` differs from the previous update's (trackables pause or resume); then
    #: :class:`arkit.core.depth_cadence.DepthCadence` need not send such frames to a worker
    #: process, and repeats the last trackables instead.
    idle_without_depth: bool = False

    #: ``"module:function"`` names a worker process hosting this manager calls before its first
    #: update (e.g. loading compiled kernels). Workers forked from :mod:`arkit.core.zygote` get
    #: the result from the zygote, which calls each (arkit's own) once.
    worker_warm_up: tuple = ()

    @abc.abstractmethod
    def update(self, frame: Frame, camera: CameraState) -> ManagerOutput:
        """Process one frame given the camera state; must not raise on unusable frames."""

    def reset(self) -> None:
        """Forget all trackables."""

    def close(self) -> None:
        """Release models and other resources."""


def merge_changes(changes) -> TrackableChanges:
    """Concatenate several :class:`TrackableChanges`."""
    added, updated, removed = [], [], []
    for c in changes:
        added.extend(c.added)
        updated.extend(c.updated)
        removed.extend(c.removed)
    return TrackableChanges(tuple(added), tuple(updated), tuple(removed))
