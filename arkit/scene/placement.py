"""Raycast placement (as ARKit's raycast-then-anchor): pin content to the plane hit from a pixel.

A binding ``AnchorBinding(raycast_uv=(0.5, 0.5), alignment="horizontal")`` (scene file:
``anchor: {raycast: center, alignment: horizontal}``) resolves to nothing until, on a tracked
frame, the ray through that pixel hits a plane. :class:`Placement` then replaces it by a binding
that follows the hit plane with a fixed offset ``T_plane_anchor``, so the content moves with the
plane when the plane estimate is refined. :meth:`arkit.scene.graph.Scene.resolve` stays pure: the
session calls :meth:`Placement.update` before it.

>>> import numpy as np
>>> from arkit.core.camera import Intrinsics
>>> from arkit.core.trackables import CameraState, PlaneTrackable, TrackingState, PlaneAlignment
>>> from arkit.scene.graph import Scene
>>> from arkit.scene.anchors import AnchorBinding
>>> scene = Scene()
>>> _ = scene.add([], on=AnchorBinding(raycast_uv=(0.5, 0.5)), name="box")
>>> floor = PlaneTrackable("plane:0", "plane", np.eye(4), alignment=PlaneAlignment.HORIZONTAL_UP,
...                        polygon_xz=[[-2, -2], [2, -2], [2, 2], [-2, 2]])
>>> T_wc = np.array([[1, 0, 0, 0], [0, 0, -1, 1.5], [0, 1, 0, 0], [0, 0, 0, 1.0]])  # looking down
>>> cam = CameraState(T_wc, TrackingState.TRACKING)
>>> K = Intrinsics(100, 100, 100, 100, 50, 50)
>>> Placement().update(scene, [floor], K, cam)
['box']
>>> scene.bindings()[0][0].trackable_id
'plane:0'
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Iterable

import numpy as np

from arkit.core.pose import invert
from arkit.core.trackables import PlaneAlignment
from arkit.scene.anchors import AnchorBinding

log = logging.getLogger(__name__)

_ALIGNMENTS = {
    "any": None,
    "horizontal": (PlaneAlignment.HORIZONTAL_UP, PlaneAlignment.HORIZONTAL_DOWN),
    "vertical": (PlaneAlignment.VERTICAL,),
}


def plane_matches(plane, alignment: str) -> bool:
    """Whether ``plane`` (a PlaneTrackable) has the requested ``alignment``
    (``"any"``, ``"horizontal"`` or ``"vertical"``)."""
    allowed = _ALIGNMENTS[alignment]
    return allowed is None or PlaneAlignment(plane.alignment) in allowed


def facing_pose(T_world_hit: np.ndarray, camera_position_world: np.ndarray) -> np.ndarray:
    """The pose at a hit with +Y = the plane normal and +Z turned towards the camera.

    Parameters
    ----------
    T_world_hit : (4, 4) float64
        Hit pose (+Y = plane normal, origin = hit point).
    camera_position_world : (3,) float64

    Returns
    -------
    (4, 4) float64
        When the camera looks along the normal (no yaw defined), the plane's own X-Z axes.
    """
    T = np.array(T_world_hit, dtype=np.float64)
    n = T[:3, 1] / np.linalg.norm(T[:3, 1])
    to_cam = np.asarray(camera_position_world, np.float64).reshape(3) - T[:3, 3]
    z = to_cam - (to_cam @ n) * n
    if np.linalg.norm(z) < 1e-6 * max(1.0, np.linalg.norm(to_cam)):
        return T
    z /= np.linalg.norm(z)
    x = np.cross(n, z)
    T[:3, 0], T[:3, 1], T[:3, 2] = x, n, z
    return T


class Placement:
    """Turns pending raycast bindings of a scene into plane-following bindings.

    Stateless apart from the scene it edits; one instance per session.
    """

    def update(self, scene, trackables: Iterable, intrinsics, camera) -> list:
        """Resolve the pending raycasts of ``scene`` on this frame and re-home content whose plane
        was merged into another one.

        Parameters
        ----------
        scene : arkit.scene.graph.Scene
            Edited in place (its bindings are replaced).
        trackables : iterable of Trackable
            This frame's trackables; only planes are used.
        intrinsics : Intrinsics
            Of the current frame (the raycast pixel is ``raycast_uv * (width, height)``).
        camera : CameraState
            Nothing is placed while the camera is not tracking.

        Returns
        -------
        list of str
            Names of the content placed on this frame.
        """
        bound = scene._bound  # (AnchorBinding, SceneNode) pairs, replaced in place
        planes = {t.id: t for t in trackables if t.kind == "plane"}
        self._follow_merges(bound, planes)
        pending = [i for i, (b, _) in enumerate(bound) if b.raycast_uv is not None]
        if not pending or not camera.is_tracking or not planes:
            return []
        from arkit.planes.raycast import raycast_pixel

        live = [p for p in planes.values() if getattr(p, "subsumed_by", None) is None]
        T_wc = camera.T_world_camera
        placed = []
        for i in pending:
            binding, node = bound[i]
            u = binding.raycast_uv[0] * intrinsics.width
            v = binding.raycast_uv[1] * intrinsics.height
            candidates = [p for p in live if plane_matches(p, binding.alignment)]
            hits = raycast_pixel(u, v, intrinsics, T_wc, candidates) if candidates else []
            if not hits:
                continue
            hit = hits[0]
            T_world_anchor = facing_pose(hit.T_world_hit, T_wc[:3, 3])
            T_plane_anchor = invert(planes[hit.trackable_id].T_world_local) @ T_world_anchor
            bound[i] = (AnchorBinding(trackable_id=hit.trackable_id, T_trackable_anchor=T_plane_anchor,
                                      show_when_paused=binding.show_when_paused), node)
            log.info("placed '%s' on %s at %s", node.name, hit.trackable_id, np.round(hit.point_world, 3).tolist())
            placed.append(node.name)
        return placed

    @staticmethod
    def _follow_merges(bound: list, planes: dict) -> None:
        """Content pinned to a plane that another plane absorbed moves to the absorbing plane,
        keeping its world pose."""
        for i, (b, node) in enumerate(bound):
            t = planes.get(b.trackable_id) if b.trackable_id else None
            new = planes.get(getattr(t, "subsumed_by", None) or "") if t is not None else None
            if new is None:
                continue
            T_world_anchor = t.T_world_local @ b.T_trackable_anchor
            bound[i] = (replace(b, trackable_id=new.id,
                                T_trackable_anchor=invert(new.T_world_local) @ T_world_anchor), node)
