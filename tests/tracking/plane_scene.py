"""Three textured planes (a wall, the floor, a side wall) ray-cast through any camera model, for
VisualTracker tests with exact poses. Imported by the tracking tests (not a test module)."""

import numpy as np

from arkit.core.camera import Intrinsics

# (point, normal, u axis, v axis); 2.5 m of texture per texture image
PLANES = [
    (np.array([0.0, 0.0, 1.6]), np.array([0.0, 0.0, -1.0]), np.array([1.0, 0, 0]), np.array([0, 1.0, 0])),
    (np.array([0.0, 0.6, 0.0]), np.array([0.0, -1.0, 0.0]), np.array([1.0, 0, 0]), np.array([0, 0, 1.0])),
    (np.array([-0.8, 0.0, 0.0]), np.array([1.0, 0.0, 0.0]), np.array([0, 0, 1.0]), np.array([0, 1.0, 0])),
]
TEXTURE_M = 2.5
_RAYS = {}


def texture(seed: int, size: int = 512) -> np.ndarray:
    """(size, size) uint8 grey texture of random rectangles and discs, seeded."""
    import cv2

    rng = np.random.default_rng(seed)
    tex = np.full((size, size), 128, np.uint8)
    for _ in range(500):
        x, y = rng.integers(0, size, 2)
        w, h = rng.integers(4, 30, 2)
        cv2.rectangle(tex, (int(x), int(y)), (int(x + w), int(y + h)), int(rng.integers(0, 256)), -1)
    for _ in range(200):
        x, y = rng.integers(0, size, 2)
        cv2.circle(tex, (int(x), int(y)), int(rng.integers(3, 15)), int(rng.integers(0, 256)), -1)
    return tex


def render(K: Intrinsics, T_world_camera, textures) -> tuple:
    """(rgb (H, W, 3) uint8, z-depth (H, W) float32) of :data:`PLANES` with ``textures`` (one per
    plane) seen through ``K``, its distortion included (each pixel's ray comes from
    ``K.unproject``)."""
    import cv2

    H, W = K.height, K.width
    if K not in _RAYS:
        v, u = np.mgrid[0:H, 0:W].astype(np.float64)
        _RAYS[K] = K.unproject(np.stack([u.ravel(), v.ravel()], 1))  # z = 1 rays
    rays_w = _RAYS[K] @ T_world_camera[:3, :3].T
    C = T_world_camera[:3, 3]
    best_t = np.full(len(rays_w), np.inf)
    gray = np.zeros(len(rays_w), np.float32)
    for (p0, n, ua, va), tex in zip(PLANES, textures):
        with np.errstate(divide="ignore", invalid="ignore"):
            t = ((p0 - C) @ n) / (rays_w @ n)
        hit = (t > 0.05) & (t < best_t)
        X = C + rays_w * np.where(np.isfinite(t), t, 0.0)[:, None]
        s = tex.shape[0] / TEXTURE_M
        mx = ((X - p0) @ ua * s + tex.shape[1] / 2).astype(np.float32).reshape(H, W)
        my = ((X - p0) @ va * s + tex.shape[0] / 2).astype(np.float32).reshape(H, W)
        sample = cv2.remap(tex, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT).ravel()
        gray = np.where(hit, sample, gray)
        best_t = np.where(hit, t, best_t)
    depth = np.where(np.isfinite(best_t), best_t, 0.0).reshape(H, W).astype(np.float32)
    img = np.clip(gray, 0, 255).astype(np.uint8).reshape(H, W)
    return np.repeat(img[:, :, None], 3, axis=2), depth
