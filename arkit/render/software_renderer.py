"""Software renderer: a vectorised numpy z-buffer rasteriser with the GL renderer's contract.

Used when no OpenGL context can be created. Per item: transform to the OpenCV camera, cull back
faces (unless double-sided), clip against the near plane, project, then test every pixel centre
in each triangle's bounding box at once (in chunks), interpolate perspective-correctly, keep the
nearest fragment per pixel and blend the item over what is already drawn (premultiplied "over",
translucent items after opaque ones, farthest first - the same order as the GL renderer).
Shading is per-pixel (interpolated vertex normals, ambient + one directional light), textures
are sampled nearest-texel with wrap-around; no antialiasing.
"""

from __future__ import annotations

import logging

import numpy as np

from arkit.render.base import Renderer, screen_rect
from arkit.render.projection import model_view_cv

log = logging.getLogger(__name__)

#: Candidate pixels tested per chunk (bounds memory to a few hundred MB at most).
_CHUNK = 1_500_000

# per-corner attribute layout: xyz(3) normal(3) rgba(4) uv(2)
_A = 12


class SoftwareRenderer(Renderer):
    """Numpy/OpenCV fallback renderer (same output as :class:`GLRenderer`, minus MSAA).

    Parameters
    ----------
    width, height : int
        Output size in pixels.
    """

    backend = "software"

    def __init__(self, width: int, height: int, **_ignored):
        super().__init__(width, height)

    def _render_pinhole(self, items, K, T_world_camera, near, far, ambient, light):
        W, H = K.width, K.height
        if screen_rect(items, K, T_world_camera, near) is None:  # also rejects non-finite vertices
            return np.zeros((H, W, 4), np.uint8), np.zeros((H, W), np.float32)
        acc = np.zeros((H * W, 4), np.float32)  # premultiplied rgb, alpha
        zbuf = np.full(H * W, np.inf, np.float32)
        for it in items:
            self._draw_item(it, K, T_world_camera, near, far, ambient, light, acc, zbuf)
        a = acc[:, 3:4]
        rgb = np.where(a > 0, acc[:, :3] / np.maximum(a, 1e-12), 0.0)
        rgba = np.concatenate([rgb, a], axis=1)
        rgba = np.clip(rgba * 255.0 + 0.5, 0, 255).astype(np.uint8).reshape(H, W, 4)
        depth = np.where(np.isfinite(zbuf), zbuf, 0.0).astype(np.float32).reshape(H, W)
        return rgba, depth

    # -- one item -----------------------------------------------------------------------------
    def _draw_item(self, it, K, T_wc, near, far, ambient, light, acc, zbuf):
        mesh = it.mesh
        T_co = model_view_cv(T_wc, it.T_world_object)
        R, t = T_co[:3, :3], T_co[:3, 3]
        V = mesh.vertices.astype(np.float64) @ R.T + t
        Nm = mesh.normals.astype(np.float64) @ np.linalg.inv(R)  # (R^-T n) as rows
        attrs = np.empty((len(V), _A))
        attrs[:, 0:3] = V
        attrs[:, 3:6] = Nm
        attrs[:, 6:10] = mesh.colors
        attrs[:, 10:12] = mesh.uv if mesh.uv is not None else 0.0
        tri = attrs[mesh.faces.astype(np.int64)]  # (T, 3, A)
        p0, p1, p2 = tri[:, 0, :3], tri[:, 1, :3], tri[:, 2, :3]
        facing = np.einsum("ij,ij->i", np.cross(p1 - p0, p2 - p0), p0) < 0  # front faces the camera
        if not mesh.double_sided:
            tri, facing = tri[facing], facing[facing]
        tri, facing = _clip_near(tri, facing, near)
        z = tri[:, :, 2]
        keep = z.min(axis=1) <= far
        tri, facing = tri[keep], facing[keep]
        if len(tri) == 0:
            return
        u = K.fx * tri[:, :, 0] / tri[:, :, 2] + K.cx
        v = K.fy * tri[:, :, 1] / tri[:, :, 2] + K.cy
        W, H = K.width, K.height
        x0 = np.clip(np.ceil(u.min(axis=1)), 0, W).astype(np.int64)
        x1 = np.clip(np.floor(u.max(axis=1)), -1, W - 1).astype(np.int64)
        y0 = np.clip(np.ceil(v.min(axis=1)), 0, H).astype(np.int64)
        y1 = np.clip(np.floor(v.max(axis=1)), -1, H - 1).astype(np.int64)
        bw, bh = x1 - x0 + 1, y1 - y0 + 1
        denom = (u[:, 1] - u[:, 0]) * (v[:, 2] - v[:, 0]) - (u[:, 2] - u[:, 0]) * (v[:, 1] - v[:, 0])
        ok = (bw > 0) & (bh > 0) & (np.abs(denom) > 1e-12)
        idx = np.nonzero(ok)[0]
        if len(idx) == 0:
            return
        area = (bw * bh)[idx]
        tex = mesh.texture if (mesh.texture is not None and mesh.uv is not None) else None
        opacity = min(max(float(it.opacity), 0.0), 1.0)
        can_discard = (float(mesh.colors[:, 3].min()) * opacity < 0.5 / 255.0
                       or (tex is not None and int(tex[:, :, 3].min()) * opacity < 0.5))
        layer_z = np.full(H * W, np.inf, np.float32)
        layer_c = np.zeros((H * W, 4), np.float32)
        ends = np.cumsum(area)
        start = 0
        while start < len(idx):
            stop = int(np.searchsorted(ends, (ends[start - 1] if start else 0) + _CHUNK, side="right"))
            stop = max(stop, start + 1)
            sel = idx[start:stop]
            start = stop
            frag = _fragments(sel, x0, y0, bw, bh, u, v, denom, tri, near, far, W)
            if frag is None:
                continue
            f_tri, pix, b, zf = frag
            front = zf < np.minimum(zbuf[pix], layer_z[pix])
            f_tri, pix, b, zf = f_tri[front], pix[front], b[front], zf[front]
            if len(pix) == 0:
                continue
            if can_discard:  # shade everything first: discarded fragments must not hide others
                col = _shade(tri[f_tri], b, facing[f_tri], tex, mesh.unlit, ambient, light, it.opacity)
                vis = col[:, 3] >= 0.5 / 255.0
                f_tri, pix, b, zf, col = f_tri[vis], pix[vis], b[vis], zf[vis], col[vis]
            np.minimum.at(layer_z, pix, zf)  # nearest per pixel; winners match it exactly
            win = np.nonzero(zf == layer_z[pix])[0]
            if not can_discard:  # shade only the fragments that won the depth test
                col = _shade(tri[f_tri[win]], b[win], facing[f_tri[win]], tex, mesh.unlit, ambient, light,
                             it.opacity)
            else:
                col = col[win]
            layer_c[pix[win]] = col
        drawn = np.nonzero(np.isfinite(layer_z))[0]
        if len(drawn) == 0:
            return
        c = layer_c[drawn]
        a = c[:, 3:4]
        acc[drawn, :3] = c[:, :3] * a + acc[drawn, :3] * (1.0 - a)
        acc[drawn, 3:4] = a + acc[drawn, 3:4] * (1.0 - a)
        zbuf[drawn] = layer_z[drawn]


def _fragments(sel, x0, y0, bw, bh, u, v, denom, tri, near, far, W):
    """Pixel centres inside the triangles ``sel``: (triangle, pixel, perspective bary, z)."""
    counts = (bw * bh)[sel]
    total = int(counts.sum())
    if total == 0:
        return None
    f_tri = np.repeat(sel.astype(np.int32), counts)
    offs = np.arange(total, dtype=np.int32) - np.repeat((np.cumsum(counts) - counts).astype(np.int32), counts)
    bwf = bw[f_tri].astype(np.int32)
    row = offs // bwf
    px = x0[f_tri].astype(np.int32) + (offs - row * bwf)
    py = y0[f_tri].astype(np.int32) + row
    # per-triangle edge terms in float32 relative to vertex 0 (plenty for pixel coordinates)
    uv0 = np.stack([u[sel, 0], v[sel, 0]], axis=1)
    e = np.stack([u[sel, 1] - u[sel, 0], v[sel, 1] - v[sel, 0], u[sel, 2] - u[sel, 0], v[sel, 2] - v[sel, 0]],
                 axis=1) / denom[sel, None]
    local = np.repeat(np.arange(len(sel), dtype=np.int32), counts)
    uv0 = uv0.astype(np.float32)[local]
    e = e.astype(np.float32)[local]
    dx = px.astype(np.float32) - uv0[:, 0]
    dy = py.astype(np.float32) - uv0[:, 1]
    l1 = dx * e[:, 3] - e[:, 2] * dy
    l2 = e[:, 0] * dy - dx * e[:, 1]
    l0 = 1.0 - l1 - l2
    eps = -1e-6
    inside = (l0 >= eps) & (l1 >= eps) & (l2 >= eps)
    f_tri, px, py, l0, l1, l2 = f_tri[inside], px[inside], py[inside], l0[inside], l1[inside], l2[inside]
    zt = (1.0 / tri[:, :, 2]).astype(np.float32)[f_tri]
    w = np.stack([l0, l1, l2], axis=1) * zt
    iz = w.sum(axis=1)
    zf = 1.0 / iz
    okz = (zf >= near) & (zf <= far)
    b = w[okz] / iz[okz, None]
    return f_tri[okz].astype(np.int64), (py * W + px)[okz], b, zf[okz]


def _shade(corners, b, facing, tex, unlit, ambient, light, opacity):
    """Straight RGBA (N, 4) float32 for fragments with perspective barycentrics ``b`` (N, 3)."""
    att = np.einsum("nk,nka->na", b, corners[:, :, 3:])  # normal(3) rgba(4) uv(2)
    col = att[:, 3:7]
    if tex is not None:
        th, tw = tex.shape[:2]
        tu = np.floor(att[:, 7] * tw).astype(np.int64) % tw
        tv = np.floor(att[:, 8] * th).astype(np.int64) % th
        col = col * (tex[th - 1 - tv, tu].astype(np.float64) / 255.0)
    col[:, 3] *= min(max(float(opacity), 0.0), 1.0)
    if not unlit:
        n = att[:, 0:3]
        n = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        n[~facing] *= -1.0
        diff = np.maximum(n @ -np.asarray(light), 0.0)
        col[:, :3] *= (ambient + (1.0 - ambient) * diff)[:, None]
    return np.clip(col, 0.0, 1.0).astype(np.float32)


def _clip_near(tri: np.ndarray, facing: np.ndarray, near: float):
    """Clip triangles (T, 3, A) against the plane z = near (camera frame); keeps the winding."""
    inside = tri[:, :, 2] >= near
    n_in = inside.sum(axis=1)
    out = [tri[n_in == 3]]
    flags = [facing[n_in == 3]]
    for count in (1, 2):
        m = n_in == count
        if not m.any():
            continue
        t, ins = tri[m], inside[m]
        # rotate corners cyclically so the lone inside (count 1) / outside (count 2) vertex is first
        lone = np.argmax(ins if count == 1 else ~ins, axis=1)
        r = (lone[:, None] + np.arange(3)[None, :]) % 3
        t = np.take_along_axis(t, r[:, :, None], axis=1)
        a, b_, c = t[:, 0], t[:, 1], t[:, 2]

        def cut(p, q):
            s = (near - p[:, 2]) / (q[:, 2] - p[:, 2])
            return p + s[:, None] * (q - p)

        if count == 1:  # a inside: (a, ab, ac)
            out.append(np.stack([a, cut(a, b_), cut(a, c)], axis=1))
            flags.append(facing[m])
        else:  # a outside, b and c inside: quad (ab, b, c, ca)
            ab, ca = cut(b_, a), cut(c, a)
            out.append(np.stack([ab, b_, c], axis=1))
            out.append(np.stack([ab, c, ca], axis=1))
            flags += [facing[m], facing[m]]
    return np.concatenate(out), np.concatenate(flags)
