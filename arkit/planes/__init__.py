"""arkit.planes: planes from depth images, their tracking in the world, and ray casts.

- :mod:`~arkit.planes.depth_extractor`: fast cell-based plane extraction from one depth image
  (:class:`DepthPlaneExtractor`, :func:`extract_planes`, :class:`DepthPlane`).
- :mod:`~arkit.planes.manager`: :class:`PlaneManager` turns per-frame planes into world
  :class:`~arkit.core.trackables.PlaneTrackable` s with stable ids, polygons, alignment and labels.
- :mod:`~arkit.planes.raycast`: :func:`raycast`, :func:`raycast_pixel` (hit tests).
- :mod:`~arkit.planes.plane_fit`, :mod:`~arkit.planes.polygon`, :mod:`~arkit.planes.labels`: building blocks.
- :mod:`~arkit.planes.testing`: analytic depth images with exact ground truth and metrics.

Importing this package loads numpy only (OpenCV is imported by the functions that need it).
"""

from arkit.planes.depth_extractor import (
    DepthPlane, DepthPlaneExtractor, DepthPlaneParams, DepthPlaneResult, extract_planes,
)
from arkit.planes.manager import PlaneManager, PlaneManagerParams
from arkit.planes.raycast import RaycastHit, raycast, raycast_pixel

__all__ = [
    "DepthPlane", "DepthPlaneExtractor", "DepthPlaneParams", "DepthPlaneResult", "PlaneManager",
    "PlaneManagerParams", "RaycastHit", "extract_planes", "raycast", "raycast_pixel",
]
