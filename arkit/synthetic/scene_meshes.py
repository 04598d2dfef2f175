"""Turn a :class:`~arkit.synthetic.scene_spec.SceneSpec` into renderer draw items.

Each surface becomes one textured quad (:func:`quad_mesh`); markers get their
``cv2.aruco.generateImageMarker`` image with a white quiet zone, marker boards a composed sheet
laid out exactly like ``cv2.aruco.GridBoard``. Textures are cached in-process by
(material, size, seed), so regenerating the same scene is cheap.
"""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np

from arkit.synthetic.scene_spec import BoardSpec, MarkerSpec, SceneSpec, Surface, derived_seed

#: Pixels per marker module (one black/white cell) in marker textures.
MARKER_MODULE_PX = 32
#: Pixels per module in marker-board sheets (boards hold many small markers).
BOARD_MODULE_PX = 20


def quad_mesh(width_m: float, height_m: float, texture=None, *, unlit: bool = False, color=(1.0, 1.0, 1.0, 1.0)):
    """A rectangle in the local X-Z plane, normal +Y, centred at the origin.

    Texture row 0 lies along the local -Z edge, column 0 along -X (uv v points up, OpenGL style).

    Parameters
    ----------
    width_m, height_m : float
        Extent along local X and Z.
    texture : (H, W, 3|4) uint8, optional

    Returns
    -------
    arkit.render.types.MeshData
    """
    from arkit.render.types import MeshData

    a, b = width_m / 2.0, height_m / 2.0
    v = np.array([[-a, 0, -b], [a, 0, -b], [a, 0, b], [-a, 0, b]], np.float32)
    uv = np.array([[0, 1], [1, 1], [1, 0], [0, 0]], np.float32)
    faces = np.array([[0, 3, 2], [0, 2, 1]], np.uint32)
    normals = np.tile(np.array([0, 1, 0], np.float32), (4, 1))
    return MeshData(v, faces, normals, np.asarray(color, np.float32), uv=uv if texture is not None else None,
                    texture=texture, unlit=unlit, double_sided=True)


def _freeze(material: dict) -> str:
    return json.dumps(material, sort_keys=True, default=str)


@lru_cache(maxsize=24)
def _cached_texture(material_json: str, width_m: float, height_m: float, seed: int, px_per_m: float, base_dir):
    from arkit.synthetic.textures import make_texture

    img = make_texture(json.loads(material_json), width_m, height_m, seed, px_per_m=px_per_m, base_dir=base_dir)
    img.setflags(write=False)
    return img


def marker_surface_texture(m: MarkerSpec) -> np.ndarray:
    """RGB texture of a single marker with its quiet zone (covers the marker surface exactly)."""
    from arkit.synthetic.textures import aruco_dictionary, marker_texture

    cells = aruco_dictionary(m.dictionary).markerSize + 2
    module_m = m.size_m / cells
    return marker_texture(m.dictionary, m.marker_id, MARKER_MODULE_PX, quiet_modules=m.quiet_zone_m / module_m)


def board_texture(b: BoardSpec) -> np.ndarray:
    """RGB sheet with every marker of the board at its exact GridBoard position (white margin)."""
    import cv2

    from arkit.synthetic.textures import aruco_dictionary

    d = aruco_dictionary(b.dictionary)
    cells = d.markerSize + 2
    side_px = cells * BOARD_MODULE_PX
    ppm = side_px / b.marker_length_m
    w_m, h_m = b.extent_m
    W = int(round((w_m + 2 * b.margin_m) * ppm))
    H = int(round((h_m + 2 * b.margin_m) * ppm))
    img = np.full((H, W), 255, np.uint8)
    ids, corners = b.object_points()
    for mid, c in zip(ids, corners):
        x0 = int(round((c[0, 0] + b.margin_m) * ppm))
        y0 = int(round((c[0, 1] + b.margin_m) * ppm))
        img[y0:y0 + side_px, x0:x0 + side_px] = cv2.aruco.generateImageMarker(d, int(mid), side_px, borderBits=1)
    # the quad spans exactly W/ppm x H/ppm: report any rounding so the caller can size it
    return np.repeat(img[:, :, None], 3, axis=2)


def surface_texture(spec: SceneSpec, s: Surface) -> np.ndarray:
    """The texture a surface is drawn with (generated or from its material)."""
    if s.texture is not None:
        return s.texture
    return _cached_texture(_freeze(s.material), s.size_xz[0], s.size_xz[1], derived_seed(spec.seed, s.name),
                           float(spec.px_per_m), _base_dir(spec))


def _base_dir(spec: SceneSpec):
    from pathlib import Path

    return str(Path(spec.source).parent) if spec.source and Path(spec.source).exists() else None


def group_mesh(spec: SceneSpec, faces: list):
    """One mesh in world coordinates for surfaces sharing a group (the faces of a box).

    The faces share one texture generated for the largest face; each face maps a top-left
    sub-rectangle of it, so texel density is the same on every face."""
    from arkit.core.pose import transform_points
    from arkit.render.types import MeshData

    W = max(f.size_xz[0] for f in faces)
    H = max(f.size_xz[1] for f in faces)
    tex = _cached_texture(_freeze(faces[0].material), W, H, derived_seed(spec.seed, faces[0].group),
                          float(spec.px_per_m), _base_dir(spec))
    verts, normals, uvs, tris = [], [], [], []
    for k, f in enumerate(faces):
        a, b = f.size_xz[0] / 2, f.size_xz[1] / 2
        local = np.array([[-a, 0, -b], [a, 0, -b], [a, 0, b], [-a, 0, b]])
        verts.append(transform_points(f.T_world_local, local))
        normals.append(np.tile(f.normal, (4, 1)))
        u1, v0 = f.size_xz[0] / W, 1.0 - f.size_xz[1] / H
        uvs.append([[0, 1], [u1, 1], [u1, v0], [0, v0]])
        tris.append(np.array([[0, 3, 2], [0, 2, 1]]) + 4 * k)
    return MeshData(np.concatenate(verts), np.concatenate(tris), np.concatenate(normals),
                    np.ones(4, np.float32), uv=np.concatenate(uvs), texture=tex, unlit=faces[0].unlit)


def build_draw_items(spec: SceneSpec) -> list:
    """Draw items for every scene surface (static for the whole sequence).

    Returns
    -------
    list of DrawItem
        One per ungrouped surface (in :meth:`SceneSpec.surfaces` order) and one per group of
        surfaces (box faces), placed in world coordinates.
    """
    from arkit.render.types import DrawItem

    markers = {f"marker:{m.marker_id}": m for m in spec.markers}
    boards = {f"board:{b.name}": b for b in spec.boards}
    items, groups = [], {}
    for s in spec.surfaces():
        if s.group is not None:
            if s.group not in groups:
                groups[s.group] = []
                items.append(s.group)  # placeholder keeps the order
            groups[s.group].append(s)
            continue
        if s.name in markers:
            tex = marker_surface_texture(markers[s.name])
        elif s.name in boards:
            tex = board_texture(boards[s.name])
        else:
            tex = surface_texture(spec, s)
        items.append(DrawItem(quad_mesh(s.size_xz[0], s.size_xz[1], tex, unlit=s.unlit), s.T_world_local))
    return [DrawItem(group_mesh(spec, groups[it]), np.eye(4)) if isinstance(it, str) else it for it in items]


def image_target_textures(spec: SceneSpec) -> dict:
    """``{name: (H, W, 3) uint8}`` for every image target (what a recogniser would be given)."""
    out = {}
    for s in spec.surfaces():
        if s.kind == "image_target":
            out[s.name.split(":", 1)[1]] = surface_texture(spec, s)
    return out
