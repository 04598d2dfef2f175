"""Analytic ray casting against a scene's rectangles: exact depth and surface ids per pixel.

Independent of the rasteriser, so tests can check rendered depth against it, and the generator
can write per-pixel surface-id images (``planes/<t>.png``).
"""

from __future__ import annotations

import numpy as np

from arkit.core.camera import Intrinsics


def cast_rays(surfaces, origin_world, dirs_world, near: float = 1e-4) -> tuple:
    """Nearest hit of each ray with any rectangle.

    Parameters
    ----------
    surfaces : sequence of Surface
    origin_world : (3,) float64
        Common ray origin (the camera centre).
    dirs_world : (N, 3) float64
        Ray directions (not necessarily unit); the returned ``t`` is in units of these vectors.
    near : float
        Hits closer than this (in ``t``) are ignored.

    Returns
    -------
    t : (N,) float64
        Ray parameter of the nearest hit (``inf`` for none).
    index : (N,) int64
        Index into ``surfaces`` of the hit (-1 for none).
    """
    o = np.asarray(origin_world, dtype=np.float64).reshape(3)
    D = np.asarray(dirs_world, dtype=np.float64).reshape(-1, 3)
    best_t = np.full(len(D), np.inf)
    best_i = np.full(len(D), -1, dtype=np.int64)
    for i, s in enumerate(surfaces):
        T = s.T_world_local
        R, c = T[:3, :3], T[:3, 3]
        n = R[:, 1]
        denom = D @ n
        with np.errstate(divide="ignore", invalid="ignore"):
            t = ((c - o) @ n) / denom
        ok = np.isfinite(t) & (t > near) & (t < best_t)
        if not np.any(ok):
            continue
        idx = np.nonzero(ok)[0]
        hit_local = (o + t[idx, None] * D[idx] - c) @ R  # world -> local (R orthonormal)
        a, b = s.size_xz[0] / 2, s.size_xz[1] / 2
        inside = (np.abs(hit_local[:, 0]) <= a) & (np.abs(hit_local[:, 2]) <= b)
        idx = idx[inside]
        best_t[idx] = t[idx]
        best_i[idx] = i
    return best_t, best_i


def raycast_depth(surfaces, intrinsics: Intrinsics, T_world_camera, uv=None) -> tuple:
    """Camera-z depth and surface index at pixel centres.

    Parameters
    ----------
    surfaces : sequence of Surface
    intrinsics : Intrinsics
    T_world_camera : (4, 4) float64
        OpenCV camera axes.
    uv : (N, 2) float64, optional
        Pixel coordinates; default every pixel centre (row-major, reshaped to (H, W)).

    Returns
    -------
    depth_m : (N,) or (H, W) float32
        Camera z of the nearest surface (0 where no surface).
    index : (N,) or (H, W) int64
        Surface index (-1 where none).
    """
    full = uv is None
    if full:
        vv, uu = np.mgrid[0:intrinsics.height, 0:intrinsics.width]
        uv = np.stack([uu.ravel(), vv.ravel()], axis=1).astype(np.float64)
    rays_cam = intrinsics.unproject(uv)  # z = 1, so t is camera z
    T = np.asarray(T_world_camera, dtype=np.float64)
    t, idx = cast_rays(surfaces, T[:3, 3], rays_cam @ T[:3, :3].T)
    depth = np.where(np.isfinite(t), t, 0.0).astype(np.float32)
    if full:
        return depth.reshape(intrinsics.height, intrinsics.width), idx.reshape(intrinsics.height, intrinsics.width)
    return depth, idx
