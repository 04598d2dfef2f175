"""Room and furniture entries of a scene: they expand to planar :class:`~arkit.synthetic.surfaces.Surface` s.

World +Y up, floor at y = 0; every face's local +Y is its outward normal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from arkit.core.pose import as_transform, from_rt
from arkit.synthetic.surfaces import Surface, surface_pose


@dataclass
class BoxSpec:
    """An axis-aligned box (or a table: top slab + four legs) standing on ``T_world_box``.

    ``T_world_box`` is the centre of the box's bottom face; ``size`` = (x, y, z) metres."""

    name: str
    T_world_box: np.ndarray
    size: tuple
    material: dict = field(default_factory=dict)
    kind: str = "box"
    top_thickness_m: float = 0.04
    leg_width_m: float = 0.05

    def __post_init__(self):
        self.T_world_box = as_transform(self.T_world_box, f"box {self.name} pose")
        self.size = tuple(float(s) for s in self.size)

    def surfaces(self) -> list:
        sx, sy, sz = self.size
        if self.kind != "table":
            return _box_faces(self.name, "box", self.T_world_box, (sx, sy, sz), self.material, bottom=False,
                              group=self.name)
        t, lw = self.top_thickness_m, self.leg_width_m
        out = _box_faces(f"{self.name}/top", "table", self.T_world_box @ from_rt(t=[0, sy - t, 0]),
                         (sx, t, sz), self.material, bottom=True, group=f"{self.name}/top")
        leg_mat = dict(self.material)
        for i, (fx, fz) in enumerate([(-1, -1), (1, -1), (1, 1), (-1, 1)]):
            pos = [fx * (sx / 2 - lw), 0.0, fz * (sz / 2 - lw)]
            out += _box_faces(f"{self.name}/leg{i}", "table_leg", self.T_world_box @ from_rt(t=pos),
                              (lw, sy - t, lw), leg_mat, bottom=False, top=False, group=f"{self.name}/legs")
        return out

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "T_world_box": self.T_world_box.tolist(),
                "size": list(self.size)}


def _box_faces(name, kind, T_world_box, size, material, bottom=False, top=True, group=None) -> list:
    sx, sy, sz = size
    faces = []
    if top:
        faces.append(("top", [0, sy, 0], [0, 1, 0], (sx, sz)))
    if bottom:
        faces.append(("bottom", [0, 0, 0], [0, -1, 0], (sx, sz)))
    faces += [("px", [sx / 2, sy / 2, 0], [1, 0, 0], (sz, sy)), ("nx", [-sx / 2, sy / 2, 0], [-1, 0, 0], (sz, sy)),
              ("pz", [0, sy / 2, sz / 2], [0, 0, 1], (sx, sy)), ("nz", [0, sy / 2, -sz / 2], [0, 0, -1], (sx, sy))]
    return [Surface(f"{name}/{tag}", kind, T_world_box @ surface_pose(p, n), s, dict(material), group=group)
            for tag, p, n, s in faces]


@dataclass
class RoomSpec:
    """A closed box-shaped room: floor ``y = 0``, walls facing inwards, ceiling at ``size[1]``."""

    size: tuple = (5.0, 2.6, 5.0)
    center_xz: tuple = (0.0, 0.0)
    floor: dict = field(default_factory=lambda: {"type": "planks"})
    walls: dict = field(default_factory=lambda: {"type": "bricks"})
    ceiling: dict = field(default_factory=lambda: {"type": "noise", "color": [0.85, 0.85, 0.8]})

    def surfaces(self) -> list:
        X, Y, Z = (float(s) for s in self.size)
        cx, cz = (float(c) for c in self.center_xz)
        out = [Surface("floor", "floor", surface_pose([cx, 0, cz], [0, 1, 0]), (X, Z), dict(self.floor)),
               Surface("ceiling", "ceiling", surface_pose([cx, Y, cz], [0, -1, 0]), (X, Z), dict(self.ceiling))]
        for tag, p, n, w in [("west", [cx - X / 2, Y / 2, cz], [1, 0, 0], Z), ("east", [cx + X / 2, Y / 2, cz], [-1, 0, 0], Z),
                             ("north", [cx, Y / 2, cz - Z / 2], [0, 0, 1], X), ("south", [cx, Y / 2, cz + Z / 2], [0, 0, -1], X)]:
            out.append(Surface(f"wall_{tag}", "wall", surface_pose(p, n), (w, Y), dict(self.walls)))
        return out

    def to_dict(self) -> dict:
        return {"size": list(self.size), "center_xz": list(self.center_xz)}
