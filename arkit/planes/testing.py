"""Analytic depth images with exact plane ground truth, and plane-detection metrics.

Used by the plane tests and ``benchmarks/planes.py``: a pinhole camera is ray-cast against a
few planar rectangles (floor, walls, a table top, a box) in a gravity-aligned world (+Y up);
Kinect-like noise (axial sigma growing with z**2), grazing-angle dropouts and holes are added.
Every pixel knows which plane it sees, and every plane's exact parameters are known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arkit.core.camera import Intrinsics


@dataclass(frozen=True)
class AnalyticPlane:
    """A planar rectangle in world coordinates (``half_u``/``half_v`` may be ``inf``).

    The rectangle is ``center + a * axis_u + b * axis_v`` with ``|a| <= half_u``,
    ``|b| <= half_v``; its normal is ``normalize(axis_u x axis_v)``."""

    name: str
    center: tuple
    axis_u: tuple
    axis_v: tuple
    half_u: float = float("inf")
    half_v: float = float("inf")

    @property
    def normal(self) -> np.ndarray:
        n = np.cross(np.asarray(self.axis_u, float), np.asarray(self.axis_v, float))
        return n / np.linalg.norm(n)


def room_scene(table: bool = True, box: bool = True) -> list:
    """A 4 m x 5 m room corner: floor (y=0), back wall (z=3), left wall (x=-2), a 0.75 m high
    table top and a 0.4 m box standing on the floor. Returns a list of :class:`AnalyticPlane`."""
    X, Y, Z = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)
    nZ = (0.0, 0.0, -1.0)
    scene = [
        AnalyticPlane("floor", (0.0, 0.0, 0.5), Z, X, 2.0, 2.5),             # normal +Y
        AnalyticPlane("back_wall", (0.0, 1.4, 3.0), X, Y, 2.0, 1.4),        # normal -Z
        AnalyticPlane("left_wall", (-2.0, 1.4, 0.5), Y, Z, 1.4, 2.5),       # normal +X
    ]
    if table:
        scene.append(AnalyticPlane("table", (0.6, 0.75, 1.6), Z, X, 0.45, 0.7))
    if box:
        c, h = np.array([-1.0, 0.2, 1.6]), 0.2
        scene += [
            AnalyticPlane("box_top", tuple(c + [0, h, 0]), Z, X, h, h),
            AnalyticPlane("box_front", tuple(c - [0, 0, h]), Y, X, h, h),     # normal -Z
            AnalyticPlane("box_right", tuple(c + [h, 0, 0]), Y, nZ, h, h),    # normal +X
            AnalyticPlane("box_left", tuple(c - [h, 0, 0]), nZ, Y, h, h),
            AnalyticPlane("box_back", tuple(c + [0, 0, h]), X, Y, h, h),
        ]
    return scene


def look_at(eye, target, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """``T_world_camera`` (4, 4) of an OpenCV camera at ``eye`` looking at ``target``."""
    eye, target, up = (np.asarray(a, float) for a in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, :3] = np.stack([x, y, z], 1)
    T[:3, 3] = eye
    return T


def kinect_sigma_m(z):
    """Axial Kinect v1 noise (Nguyen et al. 2012) in metres at depth ``z`` metres."""
    return 0.0012 + 0.0019 * (np.maximum(z, 0.4) - 0.4) ** 2


@dataclass(frozen=True)
class SyntheticDepth:
    """A rendered depth frame and its ground truth.

    Parameters
    ----------
    depth_m : (H, W) float32
        Noisy depth with holes (0 = invalid).
    plane_id : (H, W) int32
        Index into ``scene`` of the surface each pixel sees (-1 = nothing), before holes.
    normals_camera : (P, 3) float64
        Exact normal of every scene plane in the camera frame, pointing towards the camera.
    offsets_camera : (P,) float64
        Exact ``d`` of ``n . p + d = 0`` in the camera frame.
    T_world_camera : (4, 4) float64
    """

    depth_m: np.ndarray
    plane_id: np.ndarray
    normals_camera: np.ndarray
    offsets_camera: np.ndarray
    T_world_camera: np.ndarray


def render_depth(scene, intrinsics: Intrinsics, T_world_camera, *, noise: bool = True,
                 holes: bool = True, seed: int = 0, max_range_m: float = 8.0) -> SyntheticDepth:
    """Ray-cast ``scene`` (list of :class:`AnalyticPlane`) into a depth image.

    Parameters
    ----------
    noise : bool
        Add Gaussian axial noise with :func:`kinect_sigma_m`.
    holes : bool
        Drop 2 % of pixels at random, a few blobs, and grazing-angle (< 10 deg) returns.
    seed : int
        Seed of the noise and holes.
    """
    rng = np.random.default_rng(seed)
    W, H = intrinsics.width, intrinsics.height
    T = np.asarray(T_world_camera, float)
    R, o = T[:3, :3], T[:3, 3]
    u, v = np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float))
    rays_c = intrinsics.unproject(np.stack([u.ravel(), v.ravel()], 1))      # z = 1
    rays_w = rays_c @ R.T
    best = np.full(len(rays_c), np.inf)
    pid = np.full(len(rays_c), -1, np.int32)
    cosang = np.zeros(len(rays_c))
    normals_c, offsets_c = [], []
    for k, pl in enumerate(scene):
        n = pl.normal
        c = np.asarray(pl.center, float)
        den = rays_w @ n
        with np.errstate(divide="ignore", invalid="ignore"):
            tau = ((c - o) @ n) / den
            P = o + tau[:, None] * rays_w
        a = (P - c) @ np.asarray(pl.axis_u, float)
        b = (P - c) @ np.asarray(pl.axis_v, float)
        hit = (tau > 1e-6) & (np.abs(a) <= pl.half_u) & (np.abs(b) <= pl.half_v) & (tau < best)
        best[hit] = tau[hit]
        pid[hit] = k
        cosang[hit] = np.abs(den[hit]) / np.linalg.norm(rays_w[hit], axis=1)
        nc = R.T @ n
        dc = float(n @ (o - c))                     # signed distance of the camera to the plane
        if dc < 0:
            nc, dc = -nc, -dc
        normals_c.append(nc)
        offsets_c.append(dc)
    z = np.where(np.isfinite(best), best, 0.0)
    z[z > max_range_m] = 0.0
    pid[z == 0] = -1
    if noise:
        z = z + rng.normal(size=z.shape) * kinect_sigma_m(z) * (z > 0)
    if holes:
        drop = rng.random(z.shape) < 0.02
        drop |= cosang < np.sin(np.radians(10.0))
        img = drop.reshape(H, W)
        for _ in range(4):
            cx, cy = rng.uniform(0, W), rng.uniform(0, H)
            r = rng.uniform(0.02, 0.05) * W
            img |= (u - cx) ** 2 + (v - cy) ** 2 < r * r
        z[img.ravel()] = 0.0
    return SyntheticDepth(z.reshape(H, W).astype(np.float32), pid.reshape(H, W),
                          np.array(normals_c), np.array(offsets_c), T)


@dataclass(frozen=True)
class PlaneMatchReport:
    """Per-frame detection quality for planes covering more than ``min_fraction`` of the image.

    ``matches`` lists ``(pred_index, gt_index, normal_error_deg, offset_error_m)``."""

    precision: float
    recall: float
    matches: tuple
    num_pred: int
    num_gt: int

    @property
    def max_normal_error_deg(self) -> float:
        return max((m[2] for m in self.matches), default=0.0)

    @property
    def max_offset_error_m(self) -> float:
        return max((m[3] for m in self.matches), default=0.0)


def evaluate_planes(labels, normals, offsets, gt: SyntheticDepth, min_fraction: float = 0.05) -> PlaneMatchReport:
    """Match predicted planes to ground truth by pixel overlap.

    A predicted plane and a true plane match when each has more than half of its pixels
    (valid-depth pixels for the truth) in their overlap. Precision counts predicted planes
    covering > ``min_fraction`` of the image; recall counts true planes whose visible valid
    pixels cover > ``min_fraction``.

    Parameters
    ----------
    labels : (H, W) int
        Predicted plane index per pixel, -1 for none.
    normals : (P, 3) float64, offsets : (P,) float64
        Predicted planes in the camera frame (normal towards the camera).
    gt : SyntheticDepth
    """
    labels = np.asarray(labels)
    valid = gt.depth_m > 0
    gid = np.where(valid, gt.plane_id, -1)
    npred = int(labels.max()) + 1 if labels.size else 0
    ngt = len(gt.offsets_camera)
    total = labels.size
    ov = np.bincount(((labels + 1) * (ngt + 1) + (gid + 1)).ravel(), minlength=(npred + 1) * (ngt + 1))
    ov = ov.reshape(npred + 1, ngt + 1)[1:, 1:]
    pred_px = np.bincount((labels + 1).ravel(), minlength=npred + 1)[1:]
    gt_px = np.bincount((gid + 1).ravel(), minlength=ngt + 1)[1:]
    big_pred = np.flatnonzero(pred_px > min_fraction * total)
    big_gt = np.flatnonzero(gt_px > min_fraction * total)
    matches = []
    for i in range(npred):
        for g in range(ngt):
            if ov[i, g] > 0.5 * pred_px[i] and ov[i, g] > 0.5 * gt_px[g]:
                n_err = float(np.degrees(np.arccos(np.clip(np.dot(normals[i], gt.normals_camera[g]), -1, 1))))
                matches.append((i, g, n_err, float(abs(offsets[i] - gt.offsets_camera[g]))))
    mp = {m[0] for m in matches}
    mg = {m[1] for m in matches}
    precision = float(np.mean([i in mp for i in big_pred])) if len(big_pred) else 1.0
    recall = float(np.mean([g in mg for g in big_gt])) if len(big_gt) else 1.0
    big_matches = tuple(m for m in matches if m[1] in set(big_gt.tolist()))
    return PlaneMatchReport(precision, recall, big_matches, len(big_pred), len(big_gt))

