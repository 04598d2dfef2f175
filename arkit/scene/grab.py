"""Grab gesture: a pinching hand picks up content, drags it, and drops it where it lets go.

Content is grabbable when its binding has ``grab_radius_px`` (scene file: ``grab: pinch`` or
``grab: {gesture: pinch, radius_px: 80}`` on a content entry). Each frame, with a tracked camera:

* **grab**: a hand whose pinch *starts* (``HandTrackable.pinch_state == "started"``) within
  ``grab_radius_px`` of where the content is drawn (its root node's origin projected into the
  image) picks up the nearest such content. The content leaves its anchor (a marker, a plane, a
  raycast placement) and becomes world-fixed at its current pose.
* **drag**: while the pinch is held, the anchor follows the pinch point, keeping the pixel offset
  it had at the grab. When the ray through that pixel hits a plane, the content slides on it
  (+Y = the plane normal, its heading kept); else it moves at the camera-frame depth it had at
  the grab, keeping its orientation.
* **drop**: when the pinch ends (or the hand is lost) the content stays: on the last plane it
  was dragged on (it then follows that plane), else world-fixed where it is.

:class:`arkit.scene.placement.Placement` runs this before resolving pending raycasts; a pinch
that grabbed content does not also place ``raycast: pinch`` content.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np

from arkit.core.pose import invert

log = logging.getLogger(__name__)


@dataclass
class _Held:
    node_name: str
    depth_m: float              # anchor depth along the camera z at the grab
    offset_px: np.ndarray       # anchor pixel - pinch pixel at the grab
    T_world_anchor: np.ndarray  # current pose
    plane_id: Optional[str] = None


@dataclass(frozen=True)
class GrabEvent:
    """``kind`` is ``"grabbed"``, ``"moved"`` or ``"dropped"``; ``on`` the plane id it lies on, if any."""

    kind: str
    node_name: str
    hand_id: str
    T_world_anchor: np.ndarray
    on: Optional[str] = None


def _on_plane(T_hit: np.ndarray, R_prev: np.ndarray, camera_position: np.ndarray) -> np.ndarray:
    """Pose at a plane hit with +Y = the plane normal and +Z = the previous +Z projected onto the
    plane (towards the camera when that is degenerate)."""
    T = np.array(T_hit, dtype=np.float64)
    n = T[:3, 1] / np.linalg.norm(T[:3, 1])
    for z in (R_prev[:, 2], camera_position - T[:3, 3]):
        zf = z - (z @ n) * n
        if np.linalg.norm(zf) > 1e-6:
            zf = zf / np.linalg.norm(zf)
            T[:3, 0], T[:3, 1], T[:3, 2] = np.cross(n, zf), n, zf
            break
    return T


class GrabInteraction:
    """Grab / drag / drop of grabbable content by pinching hands (see the module doc)."""

    def __init__(self):
        self._held: dict = {}  # hand id -> _Held
        self.events: list = []  # GrabEvents of the last update

    @property
    def held(self) -> dict:
        """Hand id -> name of the content it holds."""
        return {h: s.node_name for h, s in self._held.items()}

    def update(self, bound: list, trackables, intrinsics, camera, planes: dict) -> set:
        """Advance one frame; edits ``bound`` ((AnchorBinding, SceneNode) pairs) in place.

        Parameters
        ----------
        planes : dict
            Live planes of this frame, id -> PlaneTrackable.

        Returns
        -------
        set of str
            Ids of the hands that grabbed something this frame.
        """
        from arkit.scene.anchors import AnchorBinding

        self.events = []
        hands = {t.id: t for t in trackables if t.kind == "hand"}
        if not camera.is_tracking:
            return set()
        T_wc = np.asarray(camera.T_world_camera, np.float64)
        T_cw = invert(T_wc)
        index = {node.name: i for i, (_, node) in enumerate(bound)}
        for hand_id in list(self._held):
            st = self._held[hand_id]
            i = index.get(st.node_name)
            hand = hands.get(hand_id)
            if i is None:
                del self._held[hand_id]
                continue
            b = bound[i][0]
            if hand is None or not getattr(hand, "pinching", False) or getattr(hand, "pinch_point_px", None) is None:
                if st.plane_id is not None and st.plane_id in planes:
                    T_pa = invert(planes[st.plane_id].T_world_local) @ st.T_world_anchor
                    bound[i] = (AnchorBinding(trackable_id=st.plane_id, T_trackable_anchor=T_pa,
                                              show_when_paused=b.show_when_paused, grab_radius_px=b.grab_radius_px),
                                bound[i][1])
                self.events.append(GrabEvent("dropped", st.node_name, hand_id, st.T_world_anchor.copy(), st.plane_id))
                log.info("'%s' dropped by %s%s", st.node_name, hand_id, f" on {st.plane_id}" if st.plane_id else "")
                del self._held[hand_id]
                continue
            self._drag(st, hand, intrinsics, T_wc, planes)
            bound[i] = (replace(b, T_world_anchor=st.T_world_anchor), bound[i][1])
            self.events.append(GrabEvent("moved", st.node_name, hand_id, st.T_world_anchor.copy(), st.plane_id))
        grabbed = set()
        held_names = {s.node_name for s in self._held.values()}
        for hand_id, hand in hands.items():
            if hand_id in self._held or getattr(hand, "pinch_state", None) != "started":
                continue
            if getattr(hand, "pinch_point_px", None) is None:
                continue
            pinch = np.asarray(hand.pinch_point_px, np.float64).reshape(2)
            best = None
            for i, (b, node) in enumerate(bound):
                if b.grab_radius_px is None or node.name in held_names:
                    continue
                anchors = b.resolve(trackables, node.name)
                if len(anchors) != 1:
                    continue
                T_wa = anchors[0].T_world_anchor
                p_node = (T_cw @ T_wa @ node.T_parent_node)[:3, 3]
                p_anchor = (T_cw @ T_wa)[:3, 3]
                if p_node[2] <= 1e-6 or p_anchor[2] <= 1e-6:
                    continue
                d = float(np.linalg.norm(intrinsics.project(p_node[None])[0] - pinch))
                if d <= b.grab_radius_px and (best is None or d < best[0]):
                    best = (d, i, T_wa, p_anchor)
            if best is None:
                continue
            _, i, T_wa, p_anchor = best
            b, node = bound[i]
            offset = intrinsics.project(p_anchor[None])[0] - pinch
            self._held[hand_id] = _Held(node.name, float(p_anchor[2]), offset, np.array(T_wa, np.float64))
            bound[i] = (AnchorBinding(T_world_anchor=T_wa, show_when_paused=b.show_when_paused,
                                      grab_radius_px=b.grab_radius_px), node)
            held_names.add(node.name)
            grabbed.add(hand_id)
            self.events.append(GrabEvent("grabbed", node.name, hand_id, np.array(T_wa, np.float64)))
            log.info("'%s' grabbed by %s", node.name, hand_id)
        return grabbed

    def _drag(self, st: _Held, hand, intrinsics, T_wc: np.ndarray, planes: dict) -> None:
        target = np.asarray(hand.pinch_point_px, np.float64).reshape(2) + st.offset_px
        hits = []
        if planes:
            from arkit.planes.raycast import raycast_pixel

            hits = raycast_pixel(target[0], target[1], intrinsics, T_wc, list(planes.values()))
        R_prev = st.T_world_anchor[:3, :3]
        if hits:
            st.T_world_anchor = _on_plane(hits[0].T_world_hit, R_prev, T_wc[:3, 3])
            st.plane_id = hits[0].trackable_id
            return
        p_cam = intrinsics.unproject(target[None])[0] * st.depth_m
        T = st.T_world_anchor.copy()
        T[:3, 3] = T_wc[:3, :3] @ p_cam + T_wc[:3, 3]
        st.T_world_anchor = T
        st.plane_id = None

    def reset(self) -> None:
        self._held.clear()
        self.events = []
