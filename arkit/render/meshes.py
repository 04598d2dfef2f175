"""Building :class:`MeshData`: primitives (box, sphere, axes, quad, text label) and trimesh import.

Colours are RGB or RGBA floats in [0, 1]. Faces are counter-clockwise seen from outside (outward
normals). Flat things (quads, labels) lie in the local X-Z plane with +Y as their front normal,
matching arkit's surface-anchor frame (+Y = surface normal), so a quad or label anchored to a
plane or marker lies on it; the top edge of their image points to -Z, which is also where the top
edge of a marker image points in its surface frame.
"""

from __future__ import annotations

import numpy as np

from arkit.render.types import MeshData


def _rgba(color, what: str = "color") -> np.ndarray:
    c = np.asarray(color, dtype=np.float32).ravel()
    if c.shape not in ((3,), (4,)):
        raise ValueError(f"{what} must be RGB or RGBA floats in [0, 1], got {color!r}")
    if c.max(initial=0.0) > 1.0 + 1e-6:
        raise ValueError(f"{what} must be floats in [0, 1] (divide 0-255 values by 255), got {color!r}")
    return np.append(c, 1.0).astype(np.float32) if len(c) == 3 else c


# -- primitives ---------------------------------------------------------------------------------

#: Face order of :func:`box_mesh` per-face colours.
BOX_FACES = ("+X", "-X", "+Y", "-Y", "+Z", "-Z")


def box_mesh(extents=(0.1, 0.1, 0.1), color=(0.8, 0.8, 0.8, 1.0), *, unlit: bool = False) -> MeshData:
    """Axis-aligned box centred on the origin with flat normals (24 vertices, 12 triangles).

    Parameters
    ----------
    extents : (3,) float
        Full size along X, Y, Z in metres.
    color : (3,) or (4,) float, or (6, 3|4) float
        One colour, or one per face in the order of :data:`BOX_FACES` (+X, -X, +Y, -Y, +Z, -Z).
    """
    e = np.asarray(extents, dtype=np.float64).reshape(3) / 2.0
    cols = np.asarray(color, dtype=np.float32)
    per_face = [_rgba(c) for c in cols] if cols.ndim == 2 else [_rgba(cols)] * 6
    if len(per_face) != 6:
        raise ValueError(f"box_mesh needs one colour or six (one per face), got {len(per_face)}")
    verts, norms, colors, faces = [], [], [], []
    for i, (axis, sign) in enumerate([(0, 1), (0, -1), (1, 1), (1, -1), (2, 1), (2, -1)]):
        n = np.zeros(3)
        n[axis] = sign
        u = np.zeros(3)
        u[(axis + 1) % 3] = 1.0
        v = np.cross(n, u)  # (u, v, n) right-handed, so u x v = n: CCW seen from outside
        c = n * e
        corners = [c + s * u * e + t * v * e for s, t in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
        base = len(verts)
        verts += corners
        norms += [n] * 4
        colors += [per_face[i]] * 4
        faces += [(base, base + 1, base + 2), (base, base + 2, base + 3)]
    return MeshData(np.array(verts), np.array(faces), np.array(norms), np.array(colors), unlit=unlit)


def sphere_mesh(radius: float = 0.05, color=(0.8, 0.8, 0.8, 1.0), subdivisions: int = 3, *,
                unlit: bool = False) -> MeshData:
    """Icosphere of ``radius`` metres centred on the origin, smooth normals.

    ``subdivisions`` 3 gives 1280 triangles; each step multiplies the count by 4.
    """
    import trimesh

    if not 0 <= int(subdivisions) <= 7:
        raise ValueError(f"sphere subdivisions must be in 0..7, got {subdivisions}")
    m = trimesh.creation.icosphere(subdivisions=int(subdivisions), radius=float(radius))
    v = np.asarray(m.vertices)
    return MeshData(v, np.asarray(m.faces), v / np.linalg.norm(v, axis=1, keepdims=True), _rgba(color),
                    unlit=unlit)


def _cylinder_z(radius: float, z0: float, z1: float, sections: int, r_top: float | None = None):
    """Open-ended tube/cone from z0 to z1 along +Z plus end caps, CCW outward."""
    r_top = radius if r_top is None else r_top
    a = np.linspace(0.0, 2 * np.pi, sections, endpoint=False)
    ca, sa = np.cos(a), np.sin(a)
    bottom = np.stack([radius * ca, radius * sa, np.full(sections, z0)], axis=1)
    top = np.stack([r_top * ca, r_top * sa, np.full(sections, z1)], axis=1)
    slope = (radius - r_top) / max(z1 - z0, 1e-12)
    side_n = np.stack([ca, sa, np.full(sections, slope)], axis=1)
    side_n /= np.linalg.norm(side_n, axis=1, keepdims=True)
    verts = [bottom, top, bottom, top, [[0, 0, z0]], [[0, 0, z1]]]
    norms = [side_n, side_n, np.tile([0, 0, -1.0], (sections, 1)), np.tile([0, 0, 1.0], (sections, 1)),
             [[0, 0, -1.0]], [[0, 0, 1.0]]]
    i = np.arange(sections)
    j = (i + 1) % sections
    s = sections
    faces = np.concatenate([
        np.stack([i, j, s + j], axis=1), np.stack([i, s + j, s + i], axis=1),       # side
        np.stack([np.full(s, 4 * s), 2 * s + j, 2 * s + i], axis=1),                 # bottom cap
        np.stack([np.full(s, 4 * s + 1), 3 * s + i, 3 * s + j], axis=1),             # top cap
    ])
    return np.concatenate(verts), np.concatenate(norms), faces


def axes_mesh(length: float = 0.1, radius: float | None = None, *, sections: int = 12) -> MeshData:
    """Coordinate axes as three arrows from the origin: X red, Y green, Z blue (unlit).

    Parameters
    ----------
    length : float
        Arrow length in metres.
    radius : float, optional
        Shaft radius (default ``length / 40``); the tips are cones of 2.5x that radius.
    """
    r = length / 40.0 if radius is None else float(radius)
    tip = min(6.0 * r, 0.3 * length)
    sv, sn, sf = _cylinder_z(r, 0.0, length - tip, sections)
    cv, cn, cf = _cylinder_z(2.5 * r, length - tip, length, sections, r_top=0.0)
    v_z = np.concatenate([sv, cv])
    n_z = np.concatenate([sn, cn])
    f_z = np.concatenate([sf, cf + len(sv)])
    # rotations taking +Z to +X, +Y, +Z (proper rotations keep the winding outward)
    rots = [np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0.0]]), np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0.0]]), np.eye(3)]
    colors = [(1.0, 0.1, 0.1, 1.0), (0.1, 0.85, 0.1, 1.0), (0.15, 0.3, 1.0, 1.0)]
    V, N, C, F = [], [], [], []
    for R, c in zip(rots, colors):
        F.append(f_z + sum(len(x) for x in V))
        V.append(v_z @ R.T)
        N.append(n_z @ R.T)
        C.append(np.tile(c, (len(v_z), 1)))
    return MeshData(np.concatenate(V), np.concatenate(F), np.concatenate(N), np.concatenate(C), unlit=True)


def quad_mesh(width: float = 0.1, height: float = 0.1, texture=None, color=(1.0, 1.0, 1.0, 1.0), *,
              unlit: bool = True, double_sided: bool = True) -> MeshData:
    """Rectangle centred on the origin in the local X-Z plane, front normal +Y.

    Seen from +Y with -Z up on screen and +X to the right, the texture reads correctly (its top
    edge, row 0, is at ``z = -height / 2``).

    Parameters
    ----------
    width, height : float
        Size along X and along Z in metres.
    texture : (H, W, 3|4) uint8 or (H, W) uint8, optional
        RGB(A) image, row 0 = top.
    color : (3,) or (4,) float
        Multiplied with the texture.
    """
    w, h = float(width) / 2.0, float(height) / 2.0
    verts = np.array([[-w, 0, h], [w, 0, h], [w, 0, -h], [-w, 0, -h]])  # BL, BR, TR, TL (seen from +Y)
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1.0]]) if texture is not None else None
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    normals = np.tile([0.0, 1.0, 0.0], (4, 1))
    return MeshData(verts, faces, normals, _rgba(color), uv=uv, texture=texture, unlit=unlit,
                    double_sided=double_sided)


def text_label_mesh(text: str, height_m: float = 0.03, color=(1.0, 1.0, 1.0, 1.0),
                    background=(0.0, 0.0, 0.0, 0.6), *, upright: bool = False,
                    font_px: int = 48) -> MeshData:
    """Text rasterised with ``cv2.putText`` into an RGBA texture on a quad (unlit, double-sided).

    By default the label lies flat in the local X-Z plane like :func:`quad_mesh`: readable from
    +Y with -Z up on screen, i.e. a label anchored to a marker or a table-top plane reads
    correctly in the usual view from above and in front. With ``upright=True`` it stands in
    the X-Y plane facing +Z (text up = +Y), like a sign, readable from +Z.

    Parameters
    ----------
    text : str
        ASCII text (cv2's Hershey font); several lines split on ``\\n``.
    height_m : float
        Height of the whole label (text lines plus margin) in metres; the width follows.
    color, background : (3,) or (4,) float
        Text and background RGBA in [0, 1]; ``background=None`` is fully transparent.
    font_px : int
        Rasterisation size of one line (texture resolution).
    """
    import cv2

    lines = str(text).split("\n") or [""]
    font, thick = cv2.FONT_HERSHEY_SIMPLEX, max(1, font_px // 16)
    scale = cv2.getFontScaleFromHeight(font, font_px, thick)
    sizes = [cv2.getTextSize(ln or " ", font, scale, thick) for ln in lines]
    pad = max(2, font_px // 4)
    line_h = font_px + max(s[1] for s in sizes) + pad // 2
    tw = max(s[0][0] for s in sizes) + 2 * pad
    th = line_h * len(lines) + 2 * pad - pad // 2
    mask = np.zeros((th, tw), np.uint8)
    for i, ln in enumerate(lines):
        cv2.putText(mask, ln, (pad, pad + font_px + i * line_h), font, scale, 255, thick, cv2.LINE_AA)
    fg = _rgba(color, "text color")
    bg = np.zeros(4, np.float32) if background is None else _rgba(background, "background")
    m = mask.astype(np.float32)[:, :, None] / 255.0
    a = fg[3] * m + bg[3] * (1.0 - m)
    rgb = (fg[:3] * fg[3] * m + bg[:3] * bg[3] * (1.0 - m)) / np.maximum(a, 1e-6)
    tex = np.concatenate([rgb, a], axis=2)
    tex = np.clip(tex * 255.0 + 0.5, 0, 255).astype(np.uint8)
    q = quad_mesh(height_m * tw / th, height_m, texture=tex, unlit=True, double_sided=True)
    if not upright:
        return q
    R = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # X-Z plane (+Y normal) -> X-Y plane (+Z normal)
    return MeshData(q.vertices @ R.T, q.faces, q.normals @ R.T, q.colors, uv=q.uv, texture=q.texture,
                    unlit=True, double_sided=True)


# -- trimesh import -----------------------------------------------------------------------------

def mesh_from_trimesh(obj) -> MeshData:
    """Convert a ``trimesh.Trimesh`` or ``trimesh.Scene`` into one :class:`MeshData`.

    Scene-graph transforms are applied. Colours come from vertex or face colours or from the
    material's base colour (PBR ``baseColorFactor`` or simple ``diffuse``), multiplied with the
    texture where there is one. Several textured parts are packed into one texture atlas (their
    uv are wrapped into [0, 1) per vertex, so tiled textures on a part that crosses a tile
    boundary may show a seam); a single texture is used as is.

    Parameters
    ----------
    obj : trimesh.Trimesh or trimesh.Scene
        E.g. from ``trimesh.load(path)``; glTF/GLB, OBJ (+MTL), PLY, STL all work.

    Returns
    -------
    MeshData
        Smooth vertex normals (trimesh's), ``double_sided=True`` unless the mesh is watertight.
    """
    import trimesh

    if isinstance(obj, trimesh.Scene):
        parts = [g for g in obj.dump(concatenate=False) if isinstance(g, trimesh.Trimesh) and len(g.faces)]
    elif isinstance(obj, trimesh.Trimesh):
        parts = [obj] if len(obj.faces) else []
    else:
        raise TypeError(f"mesh_from_trimesh expects a trimesh.Trimesh or trimesh.Scene, got {type(obj).__name__}")
    if not parts:
        raise ValueError("the trimesh object has no triangles to draw")
    conv = [_part(p) for p in parts]
    textures = [c["texture"] for c in conv if c["texture"] is not None]
    V = np.concatenate([c["v"] for c in conv])
    N = np.concatenate([c["n"] for c in conv])
    C = np.concatenate([c["c"] for c in conv])
    offsets = np.cumsum([0] + [len(c["v"]) for c in conv])[:-1]
    F = np.concatenate([c["f"] + o for c, o in zip(conv, offsets)])
    watertight = all(p.is_watertight for p in parts)
    if not textures:
        return MeshData(V, F, N, C, double_sided=not watertight)
    if len(textures) == 1 and all(c["texture"] is not None for c in conv):
        return MeshData(V, F, N, C, uv=conv[0]["uv"], texture=textures[0], double_sided=not watertight)
    atlas, uv = _atlas(conv)
    return MeshData(V, F, N, C, uv=uv, texture=atlas, double_sided=not watertight)


def _part(m) -> dict:
    """One trimesh part -> arrays, texture (H, W, 4) uint8 or None, uv."""
    import trimesh

    vis = m.visual
    v = np.asarray(m.vertices, np.float64)
    f = np.asarray(m.faces, np.int64)
    n = np.asarray(m.vertex_normals, np.float64)
    uv, tex = None, None
    base = np.ones(4, np.float32)
    if isinstance(vis, trimesh.visual.texture.TextureVisuals):
        mat = vis.material
        factor = getattr(mat, "baseColorFactor", None)
        if factor is None:
            factor = getattr(mat, "diffuse", None)
        if factor is not None:
            fac = np.asarray(factor, np.float32).ravel()
            base = (fac / 255.0 if fac.max(initial=0) > 1.0 or fac.dtype == np.uint8 else fac)
            base = np.append(base, 1.0)[:4] if len(base) == 3 else base[:4]
        img = getattr(mat, "baseColorTexture", None)
        if img is None:
            img = getattr(mat, "image", None)
        if img is not None and vis.uv is not None and len(vis.uv) == len(v):
            tex = np.asarray(img.convert("RGBA"), dtype=np.uint8)
            uv = np.asarray(vis.uv, np.float32)
        c = np.tile(base, (len(v), 1))
    elif vis.kind == "face":
        fc = np.asarray(vis.face_colors, np.float32) / 255.0
        v = v[f].reshape(-1, 3)
        n = np.repeat(np.asarray(m.face_normals, np.float64), 3, axis=0)
        c = np.repeat(fc, 3, axis=0)
        f = np.arange(len(v)).reshape(-1, 3)
    elif vis.kind == "vertex":
        c = np.asarray(vis.vertex_colors, np.float32) / 255.0
    else:
        c = np.tile(np.asarray(vis.main_color, np.float32) / 255.0, (len(v), 1))
    return {"v": v, "f": f, "n": n, "c": c, "uv": uv, "texture": tex}


def _atlas(conv: list):
    """Stack the parts' textures vertically (plus a white block for untextured parts)."""
    imgs = [c["texture"] for c in conv if c["texture"] is not None]
    white = np.full((4, 4, 4), 255, np.uint8)
    imgs.append(white)
    W = max(i.shape[1] for i in imgs)
    H = sum(i.shape[0] for i in imgs)
    atlas = np.zeros((H, W, 4), np.uint8)
    uvs, row, k = [], 0, 0
    placed = []
    for img in imgs:
        atlas[row:row + img.shape[0], :img.shape[1]] = img
        placed.append((row, img.shape[0], img.shape[1]))
        row += img.shape[0]
    for c in conv:
        if c["texture"] is None:
            r0, h, w = placed[-1]
            uv = np.tile([(w / 2) / W, 1.0 - (r0 + h / 2) / H], (len(c["v"]), 1))
        else:
            r0, h, w = placed[k]
            k += 1
            t = np.asarray(c["uv"], np.float64)
            t = np.where((t >= 0.0) & (t <= 1.0), t, np.mod(t, 1.0))  # keep 1.0 as the right edge
            # u in [0, w/W]; v (up) covers rows r0..r0+h counted from the top
            uv = np.stack([t[:, 0] * w / W, 1.0 - (r0 + (1.0 - t[:, 1]) * h) / H], axis=1)
        uvs.append(uv)
    return atlas, np.concatenate(uvs).astype(np.float32)
