"""Tracking states and the trackables every manager reports (markers, planes, images, ...).

All trackables share a surface-anchor convention: in the trackable's local frame +Y is the
surface normal and X, Z lie in the surface, so Y-up glTF assets stand upright on it.
A trackable keeps a stable ``id`` across frames and gets a new frozen snapshot each frame.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Optional

import numpy as np

from arkit.core.pose import as_transform, readonly


class TrackingState(str, enum.Enum):
    """Camera tracking state (as ARKit's ``ARCamera.TrackingState``)."""

    NOT_INITIALIZED = "NOT_INITIALIZED"
    TRACKING = "TRACKING"
    LIMITED = "LIMITED"
    LOST = "LOST"


class TrackableState(str, enum.Enum):
    """State of a trackable (as ARCore's ``TrackingState``)."""

    TRACKING = "TRACKING"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"


@dataclass(frozen=True)
class CameraState:
    """Camera pose and state for one frame.

    Parameters
    ----------
    T_world_camera : (4, 4) float64
        Camera-to-world, OpenCV camera axes. Identity while ``NOT_INITIALIZED``.
    tracking_state : TrackingState
    reason : str
        Why the state is not TRACKING (empty when tracking), e.g. ``"no markers visible"``.
    """

    T_world_camera: np.ndarray
    tracking_state: TrackingState
    reason: str = ""

    def __post_init__(self):
        object.__setattr__(self, "T_world_camera", readonly(as_transform(self.T_world_camera, "T_world_camera")))
        object.__setattr__(self, "tracking_state", TrackingState(self.tracking_state))

    @property
    def is_tracking(self) -> bool:
        return self.tracking_state in (TrackingState.TRACKING, TrackingState.LIMITED)


@dataclass(frozen=True)
class Trackable:
    """Base snapshot of anything arkit tracks.

    Parameters
    ----------
    id : str
        Stable across frames, unique in a session, e.g. ``"marker:3"``, ``"plane:7"``.
    kind : str
        ``"marker"``, ``"plane"``, ``"image"``, ``"object"``, ``"face"``, ``"hand"``, ...
    T_world_local : (4, 4) float64
        Pose of the trackable's local frame (+Y = surface normal) in world coordinates.
    state : TrackableState
    image_points_px : (N, 2) float64, optional
        Image-space corners or landmarks in the current frame, when visible.
    """

    id: str
    kind: str
    T_world_local: np.ndarray
    state: TrackableState = TrackableState.TRACKING
    image_points_px: Optional[np.ndarray] = None

    def __post_init__(self):
        object.__setattr__(self, "T_world_local", readonly(as_transform(self.T_world_local, f"{self.id} pose")))
        object.__setattr__(self, "state", TrackableState(self.state))
        if self.image_points_px is not None:
            object.__setattr__(self, "image_points_px", readonly(np.asarray(self.image_points_px, np.float64).reshape(-1, 2)))

    def to_dict(self) -> dict:
        d = {
            "id": self.id,
            "kind": self.kind,
            "state": self.state.value,
            "T_world_local": self.T_world_local.tolist(),
        }
        if self.image_points_px is not None:
            d["image_points_px"] = self.image_points_px.tolist()
        return d


@dataclass(frozen=True)
class MarkerTrackable(Trackable):
    """A fiducial marker (ArUco / AprilTag). Local frame: centre of the marker, +Y out of the
    printed face, +X along the marker's top edge (left to right), +Z towards its bottom edge.

    ``reprojection_error_px`` is the RMS corner error of the pose in this frame."""

    marker_id: int = -1
    dictionary: str = ""
    size_m: float = 0.0
    reprojection_error_px: float = float("nan")

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.update(marker_id=self.marker_id, dictionary=self.dictionary, size_m=self.size_m,
                 reprojection_error_px=self.reprojection_error_px)
        return d


class PlaneAlignment(str, enum.Enum):
    HORIZONTAL_UP = "HORIZONTAL_UP"
    HORIZONTAL_DOWN = "HORIZONTAL_DOWN"
    VERTICAL = "VERTICAL"
    OTHER = "OTHER"


@dataclass(frozen=True)
class PlaneTrackable(Trackable):
    """A planar surface (as ARCore's ``Plane``). Local frame at the plane's centre, +Y normal.

    ``polygon_xz`` is the boundary (K, 2) in the local X-Z plane; ``extent_xz`` its bounding
    size; ``subsumed_by`` the id of the plane that absorbed this one, if any."""

    alignment: PlaneAlignment = PlaneAlignment.OTHER
    label: str = "unknown"
    extent_xz: tuple = (0.0, 0.0)
    polygon_xz: Optional[np.ndarray] = None
    subsumed_by: Optional[str] = None

    def __post_init__(self):
        super().__post_init__()
        if self.polygon_xz is not None:
            object.__setattr__(self, "polygon_xz", readonly(np.asarray(self.polygon_xz, np.float64).reshape(-1, 2)))

    @property
    def normal_world(self) -> np.ndarray:
        return self.T_world_local[:3, 1].copy()

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.update(alignment=PlaneAlignment(self.alignment).value, label=self.label, extent_xz=list(self.extent_xz),
                 polygon_xz=None if self.polygon_xz is None else self.polygon_xz.tolist(),
                 subsumed_by=self.subsumed_by)
        return d


@dataclass(frozen=True)
class Anchor:
    """A pose in the world that content is attached to.

    ``trackable_id`` is ``None`` for a world-fixed anchor; otherwise the anchor follows that
    trackable with the fixed offset ``T_trackable_anchor``."""

    id: str
    T_world_anchor: np.ndarray
    trackable_id: Optional[str] = None
    state: TrackableState = TrackableState.TRACKING

    def __post_init__(self):
        object.__setattr__(self, "T_world_anchor", readonly(as_transform(self.T_world_anchor, f"anchor {self.id}")))
        object.__setattr__(self, "state", TrackableState(self.state))

    def to_dict(self) -> dict:
        return {"id": self.id, "trackable_id": self.trackable_id, "state": self.state.value,
                "T_world_anchor": self.T_world_anchor.tolist()}


@dataclass(frozen=True)
class TrackableChanges:
    """What a manager changed this frame (as AR Foundation's ``*ChangedEventArgs``)."""

    added: tuple = ()
    updated: tuple = ()
    removed: tuple = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.updated or self.removed)
