"""Planar textured rectangles: the one primitive every synthetic scene is made of.

A :class:`Surface` has a pose ``T_world_local`` whose origin is the rectangle's centre, +Y its
outward normal and X, Z in the surface (arkit's surface-anchor convention). The texture's row 0
lies along the local -Z edge and column 0 along the local -X edge.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from arkit.core.pose import as_transform, from_rt, rotvec_to_matrix, transform_points

#: Surface kinds that are support planes worth reporting as plane ground truth.
PLANE_KINDS = ("floor", "wall", "ceiling", "box", "table")

#: Lift of decals (markers, boards, posters) off the surface they lie on, metres (avoids z-fighting).
DECAL_LIFT_M = 0.001


def surface_rotation(normal=(0.0, 1.0, 0.0), yaw_deg: float = 0.0) -> np.ndarray:
    """Rotation (3, 3) of a surface frame with local +Y = ``normal``.

    For a vertical surface local +Z points down the wall (so the texture's top row is up);
    for a horizontal one local +Z is world +Z. ``yaw_deg`` then spins the frame about the
    normal (right-hand rule)."""
    y = np.asarray(normal, dtype=np.float64).reshape(3)
    y = y / np.linalg.norm(y)
    ref = np.array([0.0, -1.0, 0.0]) if abs(y[1]) < 0.9 else np.array([0.0, 0.0, 1.0])
    z = ref - y * (ref @ y)
    z /= np.linalg.norm(z)
    x = np.cross(y, z)
    R = np.stack([x, y, z], axis=1)
    if yaw_deg:
        R = rotvec_to_matrix(y * np.radians(yaw_deg)) @ R
    return R


def surface_pose(position, normal=(0.0, 1.0, 0.0), yaw_deg: float = 0.0, lift_m: float = 0.0) -> np.ndarray:
    """``T_world_local`` (4, 4) for a surface centred at ``position`` (moved ``lift_m`` along the normal)."""
    R = surface_rotation(normal, yaw_deg)
    return from_rt(R, np.asarray(position, dtype=np.float64).reshape(3) + lift_m * R[:, 1])


def derived_seed(seed: int, name: str) -> int:
    """A stable per-entry seed from the scene seed and an entry name."""
    return (int(seed) * 1_000_003 + zlib.crc32(name.encode("utf-8"))) % (2**31)


@dataclass
class Surface:
    """One planar textured rectangle.

    Parameters
    ----------
    name : str
        Unique in the scene, e.g. ``"wall_north"``, ``"table/top"``, ``"marker:3"``.
    kind : str
        ``floor, wall, ceiling, box, table, marker, marker_board, image_target, poster, ...``.
    T_world_local : (4, 4) float64
        Centre of the rectangle, +Y = outward normal.
    size_xz : (float, float)
        Extent along local X and Z, metres.
    material : dict
        Texture description for :func:`arkit.synthetic.textures.make_texture`.
    unlit : bool
        Render without shading (markers stay crisp).
    texture : (H, W, 3) uint8, optional
        A ready texture (markers, boards); overrides ``material``.
    group : str, optional
        Surfaces of one group (the faces of a box) are drawn as one mesh sharing one texture.
    """

    name: str
    kind: str
    T_world_local: np.ndarray
    size_xz: tuple
    material: dict = field(default_factory=dict)
    unlit: bool = False
    texture: Optional[np.ndarray] = None
    group: Optional[str] = None

    def __post_init__(self):
        self.T_world_local = as_transform(self.T_world_local, f"surface {self.name} pose")
        self.size_xz = (float(self.size_xz[0]), float(self.size_xz[1]))

    @property
    def normal(self) -> np.ndarray:
        """(3,) unit normal in world coordinates."""
        return self.T_world_local[:3, 1].copy()

    @property
    def plane(self) -> tuple:
        """``(n, d)``: unit normal (3,) and offset with ``n . x + d = 0`` for points on the surface."""
        n = self.normal
        return n, float(-n @ self.T_world_local[:3, 3])

    def corners_world(self) -> np.ndarray:
        """(4, 3) corners in texture order: top-left, top-right, bottom-right, bottom-left."""
        a, b = self.size_xz[0] / 2, self.size_xz[1] / 2
        local = np.array([[-a, 0, -b], [a, 0, -b], [a, 0, b], [-a, 0, b]], dtype=np.float64)
        return transform_points(self.T_world_local, local)

    @property
    def is_plane(self) -> bool:
        return self.kind in PLANE_KINDS

    def to_dict(self) -> dict:
        n, d = self.plane
        return {
            "name": self.name, "kind": self.kind, "T_world_local": self.T_world_local.tolist(),
            "extent_xz": list(self.size_xz), "plane": {"normal": n.tolist(), "d": d},
            "corners_world": self.corners_world().tolist(),
            "material": {k: v for k, v in self.material.items()} if self.texture is None else {"type": "generated"},
            "unlit": self.unlit,
        }
