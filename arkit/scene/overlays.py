"""Overlay content for scenes: primitives, text labels and mesh files, as render-ready meshes.

Thin adapters over :mod:`arkit.render.meshes`, adding file handling and clear errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from arkit.core.errors import InputFileError
from arkit.render.types import MeshData

DEFAULT_COLOR = np.array([0.85, 0.85, 0.85, 1.0], np.float32)
MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".ply", ".stl", ".off")


def _color(color) -> np.ndarray:
    return DEFAULT_COLOR if color is None else np.asarray(color, np.float32)


def box(extents, color=None, *, unlit: bool = False) -> MeshData:
    """A box centred on its origin, ``extents`` (3,) metres, RGBA colour in [0, 1]."""
    from arkit.render.meshes import box_mesh

    return box_mesh(np.asarray(extents, np.float64), _color(color), unlit=unlit)


def sphere(radius: float, color=None) -> MeshData:
    from arkit.render.meshes import sphere_mesh

    return sphere_mesh(float(radius), _color(color))


def axes(length: float) -> list:
    """X (red), Y (green), Z (blue) arrows of ``length`` metres."""
    from arkit.render.meshes import axes_mesh

    m = axes_mesh(float(length), float(length) * 0.04)
    return list(m) if isinstance(m, (list, tuple)) else [m]


def label(text: str, height_m: float, color=None) -> MeshData:
    from arkit.render.meshes import text_label_mesh

    if color is None:
        return text_label_mesh(str(text), float(height_m))
    return text_label_mesh(str(text), float(height_m), np.asarray(color, np.float32))


def model(path, color: Optional[np.ndarray] = None) -> list:
    """Load any mesh trimesh reads (glTF/GLB, OBJ, PLY, STL, ...) with its materials."""
    import trimesh

    from arkit.render.meshes import mesh_from_trimesh

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"mesh file not found: {path}")
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise InputFileError(f"{path}: unsupported mesh format '{path.suffix}' (use {', '.join(MESH_SUFFIXES)})")
    try:
        loaded = trimesh.load(str(path))
    except Exception as e:  # noqa: BLE001 - trimesh raises many types for corrupt files
        raise InputFileError(f"cannot load mesh {path}: {e}") from None
    meshes = mesh_from_trimesh(loaded)
    meshes = list(meshes) if isinstance(meshes, (list, tuple)) else [meshes]
    if not meshes or all(len(m.faces) == 0 for m in meshes):
        raise InputFileError(f"{path} contains no triangles")
    if color is not None:
        meshes = [_with(m, colors=np.broadcast_to(np.asarray(color, np.float32), m.colors.shape)) for m in meshes]
    return meshes


def scaled(mesh: MeshData, scale) -> MeshData:
    """A copy of ``mesh`` scaled by a scalar or (3,) factors (normals fixed for non-uniform)."""
    s = np.broadcast_to(np.asarray(scale, np.float64), (3,))
    n = mesh.normals / s
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    faces = mesh.faces if np.prod(s) > 0 else mesh.faces[:, ::-1]
    return _with(mesh, vertices=mesh.vertices * s, normals=n, faces=faces)


def _with(mesh: MeshData, **changes) -> MeshData:
    fields = dict(vertices=mesh.vertices, faces=mesh.faces, normals=mesh.normals, colors=mesh.colors,
                  uv=mesh.uv, texture=mesh.texture, unlit=mesh.unlit, double_sided=mesh.double_sided)
    fields.update(changes)
    return MeshData(**fields)
