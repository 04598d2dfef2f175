"""A recording's scene as a binary glTF (``.glb``): planes, trackables, anchors, overlays, camera path.

Nodes (names are the arkit ids so viewers show them):

* ``plane:<n>``: each plane's boundary polygon, triangulated, in its local X-Z plane
  (a rectangle of ``extent_xz`` when it has no polygon), semi-transparent;
* ``<kind>:<id>`` for other trackables (markers, images, ...): a flat quad of their size when
  known, plus small axes;
* ``anchor:<name>``: small axes at every anchor;
* ``overlay:<node>/<k>``: the scene file's content placed on the final trackables, as drawn;
* ``camera_path``: a thin ribbon along the tracked camera positions (optional).

Coordinates are the recording's world frame, metres. arkit's world is right-handed and +Y up
once gravity (or a marker/board frame with +Y up) defines it, as glTF expects.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import numpy as np

from arkit.render.types import MeshData

log = logging.getLogger(__name__)

PLANE_RGBA = (0.2, 0.6, 1.0, 0.5)
TRACKABLE_RGBA = (1.0, 0.85, 0.2, 0.8)


def triangulate_polygon(poly: np.ndarray) -> np.ndarray:
    """Ear-clipping triangulation of a simple polygon.

    Parameters
    ----------
    poly : (K, 2) float64
        Vertices in order (either winding), no repeated closing vertex.

    Returns
    -------
    (K - 2, 3) int64
        Triangles as indices into ``poly``, counter-clockwise in the (x, y) plane of ``poly``.
    """
    pts = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
    n = len(pts)
    if n < 3:
        return np.zeros((0, 3), np.int64)
    x, y = pts[:, 0], pts[:, 1]
    ccw = (np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)) > 0
    idx = list(range(n)) if ccw else list(range(n))[::-1]

    def cross(a, b, c):
        return (pts[b, 0] - pts[a, 0]) * (pts[c, 1] - pts[a, 1]) - (pts[b, 1] - pts[a, 1]) * (pts[c, 0] - pts[a, 0])

    def inside(p, a, b, c):
        return cross(a, b, p) >= 0 and cross(b, c, p) >= 0 and cross(c, a, p) >= 0

    tris = []
    guard = 0
    while len(idx) > 3 and guard < 10 * n * n:
        guard += 1
        m = len(idx)
        for k in range(m):
            a, b, c = idx[k - 1], idx[k], idx[(k + 1) % m]
            if cross(a, b, c) <= 1e-15:
                continue
            if any(inside(q, a, b, c) for q in idx if q not in (a, b, c)):
                continue
            tris.append((a, b, c))
            del idx[k]
            break
        else:   # degenerate (collinear or self-intersecting) rest: fan it
            tris.extend((idx[0], idx[j], idx[j + 1]) for j in range(1, len(idx) - 1))
            idx = []
    if len(idx) == 3:
        tris.append(tuple(idx))
    return np.asarray(tris, dtype=np.int64).reshape(-1, 3)


def _flat_mesh(xz: np.ndarray, rgba) -> MeshData:
    """A polygon in the local X-Z plane (y = 0), normal +Y, double-sided."""
    tris = triangulate_polygon(np.stack([xz[:, 0], -xz[:, 1]], axis=1))  # (x, -z) keeps +Y up as CCW
    v = np.stack([xz[:, 0], np.zeros(len(xz)), xz[:, 1]], axis=1)
    n = np.tile([0.0, 1.0, 0.0], (len(v), 1))
    return MeshData(v, tris, n, np.tile(np.asarray(rgba, np.float32), (len(v), 1)), unlit=True)


def _rect(w: float, d: float) -> np.ndarray:
    return np.array([[-w / 2, -d / 2], [w / 2, -d / 2], [w / 2, d / 2], [-w / 2, d / 2]], dtype=np.float64)


def plane_mesh(plane) -> Optional[MeshData]:
    """The plane's boundary (or extent rectangle) as a mesh in its local frame, or None."""
    poly = getattr(plane, "polygon_xz", None)
    if poly is None or len(poly) < 3:
        w, d = (tuple(getattr(plane, "extent_xz", (0.0, 0.0))) + (0.0, 0.0))[:2]
        if not (w > 0 and d > 0):
            return None
        poly = _rect(w, d)
    return _flat_mesh(np.asarray(poly, dtype=np.float64), PLANE_RGBA)


def trackable_quad(t) -> Optional[MeshData]:
    """A quad of the trackable's printed/physical size (markers, image targets), or None."""
    size = getattr(t, "size_m", 0.0) or 0.0
    w, h = (size, size) if size > 0 else (getattr(t, "width_m", 0.0) or 0.0, getattr(t, "height_m", 0.0) or 0.0)
    if not (w > 0 and h > 0):
        return None
    return _flat_mesh(_rect(w, h), TRACKABLE_RGBA)


def path_ribbon(positions: np.ndarray, width_m: float = 0.005) -> Optional[MeshData]:
    """A flat ribbon (two triangles per segment) through (N, 3) positions, or None (< 2 points)."""
    p = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    if len(p) < 2:
        return None
    seg = np.gradient(p, axis=0)
    side = np.cross(seg, [0.0, 1.0, 0.0])
    bad = np.linalg.norm(side, axis=1) < 1e-9
    side[bad] = np.cross(seg[bad], [1.0, 0.0, 0.0])
    side /= np.maximum(np.linalg.norm(side, axis=1, keepdims=True), 1e-12)
    v = np.concatenate([p - side * width_m / 2, p + side * width_m / 2])
    n = len(p)
    i = np.arange(n - 1)
    f = np.concatenate([np.stack([i, i + 1, n + i], 1), np.stack([i + 1, n + i + 1, n + i], 1)])
    normals = np.tile([0.0, 1.0, 0.0], (len(v), 1))
    return MeshData(v, f, normals, np.tile([1.0, 0.2, 0.8, 1.0], (len(v), 1)), unlit=True)


def _to_trimesh(mesh: MeshData):
    import trimesh

    tm = trimesh.Trimesh(vertices=np.asarray(mesh.vertices, np.float64), faces=np.asarray(mesh.faces, np.int64),
                         vertex_normals=np.asarray(mesh.normals, np.float64), process=False)
    if mesh.texture is not None and mesh.uv is not None:
        from PIL import Image

        tm.visual = trimesh.visual.TextureVisuals(uv=np.asarray(mesh.uv, np.float64),
                                                  image=Image.fromarray(np.asarray(mesh.texture)))
    else:
        tm.visual = trimesh.visual.ColorVisuals(tm, vertex_colors=np.clip(np.rint(mesh.colors * 255), 0, 255)
                                                .astype(np.uint8))
    return tm


def build_scene(state, scene=None, *, camera_path: bool = True, axes_m: float = 0.05):
    """A ``trimesh.Scene`` of a :class:`~arkit.export.snapshot.RecordingState`.

    Parameters
    ----------
    state : RecordingState
    scene : arkit.Scene, optional
        Overlay content, resolved against the state's trackables.
    camera_path : bool
        Add the tracked camera path as a ribbon.
    axes_m : float
        Length of the axes drawn at trackables and anchors (0: none).
    """
    import trimesh

    from arkit.render.meshes import axes_mesh

    out = trimesh.Scene()
    axes = axes_mesh(axes_m) if axes_m > 0 else None

    def add(mesh, name, T):
        if mesh is None or len(mesh.faces) == 0:
            return
        out.add_geometry(_to_trimesh(mesh), node_name=name, geom_name=name, transform=np.asarray(T, np.float64))

    for t in state.trackables:
        if t.kind == "plane":
            add(plane_mesh(t), t.id, t.T_world_local)
        else:
            add(trackable_quad(t), t.id, t.T_world_local)
            if axes is not None:
                add(axes, f"{t.id}/axes", t.T_world_local)
    if axes is not None:
        for a in state.anchors:
            add(axes, a.id if a.id.startswith("anchor:") else f"anchor:{a.id}", a.T_world_anchor)
    if scene is not None:
        _, items = scene.resolve(state.trackables)
        for k, item in enumerate(items):
            add(item.mesh, f"overlay:{k}", item.T_world_object)
    if camera_path and len(state.T_world_camera):
        add(path_ribbon(state.T_world_camera[:, :3, 3]), "camera_path", np.eye(4))
    return out


def export_gltf(state, path, scene=None, *, camera_path: bool = True) -> Path:
    """Write the scene of a recording as a binary glTF (atomically).

    Parameters
    ----------
    state : RecordingState or str or Path
        From :func:`arkit.export.snapshot.recording_state`, or a recording folder.
    path : str or Path
        Destination ``.glb``.
    scene : arkit.Scene or str or Path, optional
        Overlay content (a Scene or a scene file); default: the scene file stored in the
        recording header when it still exists, else none.

    Returns
    -------
    Path
    """
    from arkit.io.atomic import atomic_write_bytes

    if not hasattr(state, "trackables"):
        from arkit.export.snapshot import recording_state

        state = recording_state(state)
    if scene is None and state.scene and Path(state.scene).is_file():
        scene = state.scene
    if isinstance(scene, (str, Path)):
        from arkit.scene.scene_file import load_scene

        scene = load_scene(scene).scene
    tscene = build_scene(state, scene, camera_path=camera_path)
    if not tscene.geometry:
        log.warning("%s: nothing to export (no trackables, anchors or overlays)", path)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(path, tscene.export(file_type="glb"))
