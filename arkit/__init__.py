"""arkit: AR scene understanding on the desktop.

``import arkit`` stays light: heavy modules (cv2, open3d, mediapipe, moderngl) are imported by
the modules that use them, and the public names below are resolved on first access.
"""

from __future__ import annotations

import importlib
import logging

__version__ = "0.1.0"

logging.getLogger("arkit").addHandler(logging.NullHandler())

_PUBLIC = {
    # core types
    "Pose": "arkit.core.pose",
    "Intrinsics": "arkit.core.camera",
    "Frame": "arkit.core.frame",
    "CameraState": "arkit.core.trackables",
    "TrackingState": "arkit.core.trackables",
    "TrackableState": "arkit.core.trackables",
    "Trackable": "arkit.core.trackables",
    "Anchor": "arkit.core.trackables",
    "FrameResult": "arkit.core.results",
    "ArkitError": "arkit.core.errors",
    # pipeline
    "Session": "arkit.session",
    "open_source": "arkit.io.sources",
    "load_intrinsics": "arkit.io.intrinsics_files",
    "Scene": "arkit.scene.graph",
    "load_scene": "arkit.scene.scene_file",
    "create_renderer": "arkit.render",
    # trajectories and evaluation
    "Trajectory": "arkit.io.trajectory_formats",
    "read_trajectory": "arkit.io.trajectory_formats",
    "write_trajectory": "arkit.io.trajectory_formats",
}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'arkit' has no attribute {name!r}")
