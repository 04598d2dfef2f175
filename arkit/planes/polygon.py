"""Plane boundary polygons: local frames of planes, outlines of point sets, polygon tests.

A plane's local frame has +Y along the normal and X, Z in the plane (the surface-anchor
convention of :mod:`arkit.core.trackables`); boundaries are (K, 2) arrays of (x, z) in that frame.
"""

from __future__ import annotations

import math

import numpy as np


def plane_rotation(normal_world, up_world=(0.0, 1.0, 0.0)) -> np.ndarray:
    """Rotation (3, 3) whose columns are the plane's X, Y (= normal) and Z axes in world.

    X is the world X axis projected onto the plane (world ``up x normal`` direction for planes
    whose normal is close to world X), so the frame is stable from frame to frame.
    """
    # scalar arithmetic: numpy's per-call overhead on 3-vectors cost 85 us a call, and the
    # plane manager calls this on every refit (about 15 times a frame on real kitchen depth)
    nx, ny, nz = (float(v) for v in np.asarray(normal_world, np.float64).reshape(3))
    s = math.sqrt(nx * nx + ny * ny + nz * nz)
    nx, ny, nz = nx / s, ny / s, nz / s
    rx, ry, rz = 1.0, 0.0, 0.0
    if abs(nx) > 0.9:
        ux, uy, uz = (float(v) for v in np.asarray(up_world, np.float64).reshape(3))
        rx, ry, rz = uy * nz - uz * ny, uz * nx - ux * nz, ux * ny - uy * nx
        if math.sqrt(rx * rx + ry * ry + rz * rz) < 1e-6:
            rx, ry, rz = 0.0, 0.0, 1.0
    d = rx * nx + ry * ny + rz * nz
    xx, xy, xz = rx - d * nx, ry - d * ny, rz - d * nz
    s = math.sqrt(xx * xx + xy * xy + xz * xz)
    xx, xy, xz = xx / s, xy / s, xz / s
    zx, zy, zz = xy * nz - xz * ny, xz * nx - xx * nz, xx * ny - xy * nx
    return np.array([[xx, nx, zx], [xy, ny, zy], [xz, nz, zz]])


def to_plane_xz(points_world, R_world_local, origin_world) -> np.ndarray:
    """World points (N, 3) to (N, 2) (x, z) coordinates in the plane frame."""
    P = np.asarray(points_world, np.float64).reshape(-1, 3) - np.asarray(origin_world, np.float64)
    local = P @ R_world_local
    return local[:, [0, 2]]


def outline_xz(xz, cell_m: float = 0.05, concave: bool = True, simplify_m: float = 0.03,
               close_cells: int = 2) -> np.ndarray:
    """Boundary polygon (K, 2) of 2-D points (N, 2) in a plane frame (x, z).

    Parameters
    ----------
    xz : (N, 2) float64
        Points in the plane frame.
    cell_m : float
        Raster resolution of the outline.
    concave : bool
        Outline of the largest connected occupied area (holes ignored); else the convex hull.
    simplify_m : float
        Douglas-Peucker tolerance.
    close_cells : int
        Morphological closing radius (cells) that bridges gaps between sparse samples.

    Returns
    -------
    (K, 2) float64, K >= 3, or (0, 2) when there are too few points.
    """
    import cv2

    xz = np.asarray(xz, np.float64).reshape(-1, 2)
    if len(xz) < 3:
        return np.zeros((0, 2))
    lo = xz.min(0) - (close_cells + 1) * cell_m
    ij = np.floor((xz - lo) / cell_m).astype(np.int64)
    W, H = int(ij[:, 0].max()) + close_cells + 2, int(ij[:, 1].max()) + close_cells + 2
    if not concave or W * H > 4_000_000:
        hull = cv2.convexHull(xz.astype(np.float32)).reshape(-1, 2).astype(np.float64)
        return hull if len(hull) >= 3 else np.zeros((0, 2))
    occ = np.zeros((H, W), np.uint8)
    occ[ij[:, 1], ij[:, 0]] = 255
    if close_cells > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * close_cells + 1, 2 * close_cells + 1))
        occ = cv2.morphologyEx(occ, cv2.MORPH_CLOSE, k)
    contours, _ = cv2.findContours(occ, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return np.zeros((0, 2))
    c = max(contours, key=cv2.contourArea)
    c = cv2.approxPolyDP(c, simplify_m / cell_m, True).reshape(-1, 2).astype(np.float64)
    if len(c) < 3:
        return np.zeros((0, 2))
    # contour runs through cell centres of the boundary cells; push it out by half a cell
    poly = (c + 0.5) * cell_m + lo
    return poly


def polygon_area(poly) -> float:
    """Area (m^2) of a simple polygon (K, 2)."""
    p = np.asarray(poly, np.float64).reshape(-1, 2)
    if len(p) < 3:
        return 0.0
    x, y = p[:, 0], p[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def points_in_polygon(points, poly) -> np.ndarray:
    """Even-odd test: (N,) bool for 2-D points (N, 2) inside polygon (K, 2)."""
    P = np.asarray(points, np.float64).reshape(-1, 2)
    V = np.asarray(poly, np.float64).reshape(-1, 2)
    if len(V) < 3:
        return np.zeros(len(P), bool)
    x, y = P[:, 0:1], P[:, 1:2]
    x0, y0 = V[:, 0][None], V[:, 1][None]
    x1, y1 = np.roll(V[:, 0], -1)[None], np.roll(V[:, 1], -1)[None]
    cond = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xc = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return np.count_nonzero(cond & (x < xc), axis=1) % 2 == 1


def rasterize_polygon(poly, lo, cell_m: float, shape) -> np.ndarray:
    """(H, W) bool mask of polygon (K, 2) on a grid with corner ``lo`` (2,) and cell size ``cell_m``."""
    import cv2

    mask = np.zeros(shape, np.uint8)
    p = np.asarray(poly, np.float64).reshape(-1, 2)
    if len(p) >= 3:
        pts = np.round((p - np.asarray(lo)) / cell_m * 16).astype(np.int32)
        cv2.fillPoly(mask, [pts], 1, shift=4)
    return mask.astype(bool)


def polygon_iou(poly_a, poly_b, cell_m: float = 0.01) -> float:
    """Intersection over union of two polygons (K, 2), by rasterising at ``cell_m``."""
    a, b = np.asarray(poly_a, float).reshape(-1, 2), np.asarray(poly_b, float).reshape(-1, 2)
    if len(a) < 3 or len(b) < 3:
        return 0.0
    both = np.vstack([a, b])
    lo, hi = both.min(0) - cell_m, both.max(0) + cell_m
    shape = (int(np.ceil((hi[1] - lo[1]) / cell_m)) + 1, int(np.ceil((hi[0] - lo[0]) / cell_m)) + 1)
    ma, mb = rasterize_polygon(a, lo, cell_m, shape), rasterize_polygon(b, lo, cell_m, shape)
    union = np.count_nonzero(ma | mb)
    return float(np.count_nonzero(ma & mb) / union) if union else 0.0
