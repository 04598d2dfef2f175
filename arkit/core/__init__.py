"""Pure-numpy core types shared by every stage (no cv2 / open3d / moderngl imports)."""

from arkit.core.camera import Intrinsics
from arkit.core.errors import (
    ArkitError, FrameError, InputFileError, IntrinsicsError, MissingDependencyError,
    RendererError, SceneFileError, SourceError,
)
from arkit.core.frame import Frame
from arkit.core.pose import Pose
from arkit.core.results import FrameResult
from arkit.core.trackables import (
    Anchor, CameraState, MarkerTrackable, PlaneAlignment, PlaneTrackable, Trackable,
    TrackableChanges, TrackableState, TrackingState,
)

__all__ = [
    "Anchor", "ArkitError", "CameraState", "Frame", "FrameError", "FrameResult", "InputFileError",
    "Intrinsics", "IntrinsicsError", "MarkerTrackable", "MissingDependencyError", "PlaneAlignment",
    "PlaneTrackable", "Pose", "RendererError", "SceneFileError", "SourceError", "Trackable",
    "TrackableChanges", "TrackableState", "TrackingState",
]
