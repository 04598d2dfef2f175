"""Anchor bindings: how scene content finds its pose in the world each frame.

A binding resolves, from the trackables of the current frame, to zero or more
``(anchor_id, T_world_anchor, state)`` tuples. World-fixed anchors always resolve to one;
trackable anchors follow one trackable by id (``"marker:3"``, ``"plane:2"``, ``"image:poster"``);
kind anchors follow every trackable of a kind (``"face"``: one copy of the content per face).
New trackable types plug in without changes here: they only need an id, a kind and a pose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional

import numpy as np

from arkit.core.pose import as_transform
from arkit.core.trackables import Anchor, TrackableState


@dataclass(frozen=True)
class AnchorBinding:
    """Where content is anchored.

    Parameters
    ----------
    trackable_id : str, optional
        Follow this trackable (exact id).
    kind : str, optional
        Follow every trackable of this kind (one instance each).
    T_world_anchor : (4, 4), optional
        A world-fixed anchor (used when neither ``trackable_id`` nor ``kind`` is set).
    T_trackable_anchor : (4, 4)
        Offset of the anchor in the trackable's local frame (+Y = surface normal).
    label : str, optional
        With ``kind``: follow only the largest trackable of that kind with this label
        (planes: ``floor``, ``wall``, ``table``, ``ceiling``, ``seat``), one instance.
    show_when_paused : bool
        Keep drawing content at the trackable's last known pose while it is not seen
        (ARKit/ARCore behaviour for static trackables). STOPPED trackables are never drawn.
    raycast_uv : (2,) float or "pinch", optional
        A pending raycast placement: the pixel as fractions of the image width and height
        (``(0.5, 0.5)`` = centre). Resolves to nothing until
        :class:`arkit.scene.placement.Placement` pins it to the plane it hits.
    alignment : {"any", "horizontal", "vertical"}
        With ``raycast_uv``: which planes the ray may hit.
    grab_radius_px : float, optional
        The content can be grabbed by a pinching hand whose pinch starts within this many
        pixels of it (:mod:`arkit.scene.grab`); None = not grabbable.
    """

    trackable_id: Optional[str] = None
    kind: Optional[str] = None
    T_world_anchor: Optional[np.ndarray] = None
    T_trackable_anchor: np.ndarray = field(default_factory=lambda: np.eye(4))
    show_when_paused: bool = True
    label: Optional[str] = None
    raycast_uv: Optional[tuple] = None
    alignment: str = "any"
    grab_radius_px: Optional[float] = None

    def __post_init__(self):
        if sum(x is not None for x in (self.trackable_id, self.kind, self.T_world_anchor, self.raycast_uv)) > 1:
            raise ValueError("an anchor binding follows a trackable id, a kind, a world pose or a raycast - not several")
        if self.alignment not in ("any", "horizontal", "vertical"):
            raise ValueError(f"raycast alignment must be 'any', 'horizontal' or 'vertical', got {self.alignment!r}")
        if self.raycast_uv is not None and self.raycast_uv != "pinch":
            object.__setattr__(self, "raycast_uv", tuple(float(x) for x in self.raycast_uv))
        if self.grab_radius_px is not None:
            if self.kind is not None:
                raise ValueError("grabbable content needs a single anchor (not every trackable of a kind)")
            if not float(self.grab_radius_px) > 0:
                raise ValueError(f"grab radius must be positive (pixels), got {self.grab_radius_px!r}")
            object.__setattr__(self, "grab_radius_px", float(self.grab_radius_px))
        object.__setattr__(self, "T_trackable_anchor", as_transform(self.T_trackable_anchor, "anchor offset"))
        if self.T_world_anchor is not None:
            object.__setattr__(self, "T_world_anchor", as_transform(self.T_world_anchor, "world anchor"))

    @classmethod
    def world(cls, T_world_anchor=None) -> "AnchorBinding":
        return cls(T_world_anchor=np.eye(4) if T_world_anchor is None else T_world_anchor)

    @property
    def describe(self) -> str:
        if self.raycast_uv is not None:
            return f"a raycast from {self.raycast_uv} ({self.alignment} planes)"
        if self.trackable_id:
            return self.trackable_id
        if self.kind and self.label:
            return f"the {self.label} {self.kind}"
        if self.kind:
            return f"every {self.kind}"
        return "world"

    def resolve(self, trackables: Iterable, name: str) -> list:
        """Anchors for this frame: list of :class:`arkit.core.Anchor` (possibly empty)."""
        if self.raycast_uv is not None:  # pending placement: nothing to draw yet
            return []
        if self.trackable_id is None and self.kind is None:
            T = self.T_world_anchor if self.T_world_anchor is not None else np.eye(4)
            return [Anchor(f"anchor:{name}", T, None, TrackableState.TRACKING)]
        out = []
        if self.label is not None:
            matches = [t for t in trackables if t.kind == self.kind and getattr(t, "label", None) == self.label
                       and getattr(t, "subsumed_by", None) is None and t.state != TrackableState.STOPPED]
            if not matches:
                return []
            t = max(matches, key=lambda m: float(np.prod(getattr(m, "extent_xz", (0.0, 0.0)))))
            if t.state == TrackableState.PAUSED and not self.show_when_paused:
                return []
            return [Anchor(f"anchor:{name}", t.T_world_local @ self.T_trackable_anchor, t.id, t.state)]
        for t in trackables:
            if self.trackable_id is not None and t.id != self.trackable_id:
                continue
            if self.kind is not None and t.kind != self.kind:
                continue
            if t.state == TrackableState.STOPPED:
                continue
            if t.state == TrackableState.PAUSED and not self.show_when_paused:
                continue
            suffix = "" if self.trackable_id is not None else f"@{t.id}"
            out.append(Anchor(f"anchor:{name}{suffix}", t.T_world_local @ self.T_trackable_anchor, t.id, t.state))
        return out
