"""Raycast placement (as ARKit's raycast-then-anchor): pin content to the plane hit from a pixel.

A binding ``AnchorBinding(raycast_uv=(0.5, 0.5), alignment="horizontal")`` (scene file:
``anchor: {raycast: center, alignment: horizontal}``) resolves to nothing until, on a tracked
frame, the ray through that pixel hits a plane. :class:`Placement` then replaces it by a binding
that follows the hit plane with a fixed offset ``T_plane_anchor``, so the content moves with the
plane when the plane estimate is refined. :meth:`arkit.scene.graph.Scene.resolve` stays pure: the
session calls :meth:`Placement.update` before it. ``Placement.update`` also runs the pinch grab
gesture (:class:`arkit.scene.grab.GrabInteraction`, ``Placement.grab``) for content with
``grab_radius_px``.

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

    One instance per session. It remembers the world pose of the content it placed, so when the
    plane it follows is merged into another plane or dropped by the plane manager, the content is
    re-homed (keeping its world pose) on a coplanar live plane, or else left world-fixed.

    Parameters
    ----------
    rehome_distance_m : float
        A live plane is coplanar with the lost one when the content's point lies within this
        distance of it and the normals agree within ~10 degrees.
    """

    def __init__(self, rehome_distance_m: float = 0.05):
        from arkit.scene.grab import GrabInteraction

        self.rehome_distance_m = float(rehome_distance_m)
        self._placed = {}  # node name -> (plane id, last T_world_anchor)
        self.grab = GrabInteraction()  # pinch to grab / drag / drop content with grab_radius_px

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
        trackables = tuple(trackables)
        planes = {t.id: t for t in trackables if t.kind == "plane"}
        self._rehome(bound, planes)
        live_planes = {k: p for k, p in planes.items() if getattr(p, "subsumed_by", None) is None
                       and getattr(p.state, "value", p.state) != "STOPPED"}
        grabbing = self.grab.update(bound, trackables, intrinsics, camera, live_planes)
        for ev in self.grab.events:  # grabbed content leaves plane re-homing; dropped-on-plane joins it
            if ev.kind == "grabbed":
                self._placed.pop(ev.node_name, None)
            elif ev.kind == "dropped" and ev.on is not None:
                self._placed[ev.node_name] = (ev.on, ev.T_world_anchor)
        pending = [i for i, (b, _) in enumerate(bound) if b.raycast_uv is not None]
        if not pending or not camera.is_tracking or not planes:
            return []
        from arkit.planes.raycast import raycast_pixel

        live = [p for p in planes.values() if getattr(p, "subsumed_by", None) is None]
        T_wc = camera.T_world_camera
        placed = []
        pinches = [t.pinch_point_px for t in trackables
                   if t.kind == "hand" and getattr(t, "pinch_state", None) == "started"
                   and getattr(t, "pinch_point_px", None) is not None and t.id not in grabbing]
        for i in pending:
            binding, node = bound[i]
            if isinstance(binding.raycast_uv, str):  # "pinch": place where a hand starts pinching
                if not pinches:
                    continue
                u, v = (float(x) for x in np.asarray(pinches[0]).reshape(2))
            else:
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
                                      show_when_paused=binding.show_when_paused,
                                      grab_radius_px=binding.grab_radius_px), node)
            log.info("placed '%s' on %s at %s", node.name, hit.trackable_id, np.round(hit.point_world, 3).tolist())
            self._placed[node.name] = (hit.trackable_id, T_world_anchor)
            placed.append(node.name)
        return placed

    def _rehome(self, bound: list, planes: dict) -> None:
        """Keep placed content alive when its plane is merged into another or disappears."""
        for i, (b, node) in enumerate(bound):
            rec = self._placed.get(node.name)
            if rec is None or b.trackable_id != rec[0]:
                continue
            t = planes.get(b.trackable_id)
            if t is not None and getattr(t, "subsumed_by", None) is None and getattr(t.state, "value", t.state) != "STOPPED":
                self._placed[node.name] = (t.id, t.T_world_local @ b.T_trackable_anchor)
                continue
            T_world_anchor = t.T_world_local @ b.T_trackable_anchor if t is not None else rec[1]
            new = planes.get(getattr(t, "subsumed_by", None) or "") if t is not None else None
            if new is None:
                new = self._coplanar(T_world_anchor, planes.values())
            if new is None:
                bound[i] = (AnchorBinding(T_world_anchor=T_world_anchor, show_when_paused=b.show_when_paused,
                                          grab_radius_px=b.grab_radius_px), node)
                self._placed.pop(node.name)
                log.info("'%s': plane %s lost, content stays world-fixed", node.name, b.trackable_id)
                continue
            bound[i] = (replace(b, trackable_id=new.id, T_trackable_anchor=invert(new.T_world_local) @ T_world_anchor), node)
            self._placed[node.name] = (new.id, T_world_anchor)
            log.info("'%s': moved from %s to %s", node.name, b.trackable_id, new.id)

    def _coplanar(self, T_world_anchor: np.ndarray, planes):
        p, n = T_world_anchor[:3, 3], T_world_anchor[:3, 1]
        best, best_d = None, self.rehome_distance_m
        for pl in planes:
            if getattr(pl, "subsumed_by", None) is not None or getattr(pl.state, "value", pl.state) == "STOPPED":
                continue
            T = pl.T_world_local
            if float(T[:3, 1] @ n) < 0.985:
                continue
            d = abs(float(T[:3, 1] @ (p - T[:3, 3])))
            if d <= best_d:
                best, best_d = pl, d
        return best
