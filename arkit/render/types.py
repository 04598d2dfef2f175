"""Renderer-independent data: meshes ready to draw, draw items, and the render output.

Every renderer backend (moderngl/EGL and the numpy/OpenCV software fallback) consumes these
types, so the scene graph, the synthetic generator and user code never touch GL objects.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from arkit.core.pose import as_transform, readonly

_mesh_keys = itertools.count(1)


@dataclass(frozen=True, eq=False)
class MeshData:
    """A triangle mesh with per-vertex attributes, immutable so backends may cache GPU copies.

    Parameters
    ----------
    vertices : (N, 3) float32
        Positions in the object's local frame, metres.
    faces : (M, 3) uint32
        Counter-clockwise triangles (outward normals by the right-hand rule).
    normals : (N, 3) float32
        Unit vertex normals.
    colors : (N, 4) float32
        Linear RGBA in [0, 1]; multiplied with the texture when there is one.
    uv : (N, 2) float32, optional
        Texture coordinates, (0, 0) = bottom-left of the texture image (glTF/OpenGL style
        after trimesh's conversion: v grows upwards).
    texture : (H, W, 4) uint8, optional
        RGBA texture image, row 0 = top of the image.
    unlit : bool
        Draw colours as they are, with no shading (labels, markers, axes, textures on walls).
    double_sided : bool
        Draw back faces too (default True: overlays are often open surfaces).
    key : int
        Unique id for backend caches; assigned automatically.
    """

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    colors: np.ndarray
    uv: Optional[np.ndarray] = None
    texture: Optional[np.ndarray] = None
    unlit: bool = False
    double_sided: bool = True
    key: int = field(default_factory=lambda: next(_mesh_keys))

    def __post_init__(self):
        v = np.ascontiguousarray(self.vertices, dtype=np.float32).reshape(-1, 3)
        f = np.ascontiguousarray(self.faces, dtype=np.uint32).reshape(-1, 3)
        n = np.ascontiguousarray(self.normals, dtype=np.float32).reshape(-1, 3)
        c = np.asarray(self.colors, dtype=np.float32)
        if c.ndim == 1:
            c = np.broadcast_to(c, (len(v), c.shape[0]))
        if c.shape[1] == 3:
            c = np.concatenate([c, np.ones((len(c), 1), np.float32)], axis=1)
        c = np.ascontiguousarray(c, dtype=np.float32).reshape(-1, 4)
        if not (len(n) == len(v) == len(c)):
            raise ValueError(f"vertices ({len(v)}), normals ({len(n)}) and colors ({len(c)}) differ in length")
        if len(f) and f.max() >= len(v):
            raise ValueError("faces index past the end of the vertex array")
        object.__setattr__(self, "vertices", readonly(v))
        object.__setattr__(self, "faces", readonly(f))
        object.__setattr__(self, "normals", readonly(n))
        object.__setattr__(self, "colors", readonly(c))
        if self.uv is not None:
            uv = np.ascontiguousarray(self.uv, dtype=np.float32).reshape(-1, 2)
            if len(uv) != len(v):
                raise ValueError("uv must have one row per vertex")
            object.__setattr__(self, "uv", readonly(uv))
        if self.texture is not None:
            t = np.asarray(self.texture)
            if t.ndim == 2:
                t = np.repeat(t[:, :, None], 3, axis=2)
            if t.shape[2] == 3:
                t = np.concatenate([t, np.full(t.shape[:2] + (1,), 255, np.uint8)], axis=2)
            object.__setattr__(self, "texture", readonly(np.ascontiguousarray(t, dtype=np.uint8)))

    @property
    def bounds(self) -> np.ndarray:
        """(2, 3) min and max corner."""
        return np.stack([self.vertices.min(axis=0), self.vertices.max(axis=0)]).astype(np.float64)


@dataclass(frozen=True)
class DrawItem:
    """One mesh placed in the world for one frame."""

    mesh: MeshData
    T_world_object: np.ndarray
    opacity: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "T_world_object", as_transform(self.T_world_object, "T_world_object"))


@dataclass(frozen=True)
class RenderOutput:
    """What a renderer produced for one frame.

    Parameters
    ----------
    rgba : (H, W, 4) uint8
        Straight (not premultiplied) colour and coverage alpha; alpha 0 where nothing was drawn.
    depth_m : (H, W) float32
        Camera-frame z (OpenCV, metres) of the nearest drawn surface, 0 where nothing was drawn.
    box : (slice, slice), optional
        Rows and columns outside which nothing was drawn (alpha 0), when the renderer knows;
        :func:`arkit.render.composite` then looks for the drawn pixels only inside it.
    """

    rgba: np.ndarray
    depth_m: np.ndarray
    box: Optional[tuple] = None
