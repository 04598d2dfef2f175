"""Seeded synthetic image-target scenes with exact ground truth (for tests and benchmarks).

>>> rng = np.random.default_rng(0)
>>> target = random_texture(rng, 480, 360)                     # (360, 480, 3) uint8
>>> T = look_at_target(0.5, tilt_deg=30.0, rng=rng)            # doctest: +SKIP
>>> frame, H = render_target(target, 0.2, T, K, background)    # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from arkit.core.pose import from_rt, rotvec_to_matrix
from arkit.recognition.target_pose import homography_from_pose


def random_texture(rng: np.random.Generator, width: int, height: int, n_shapes: int = 120) -> np.ndarray:
    """A cluttered colourful texture (rectangles, circles, lines, noise): (height, width, 3) uint8."""
    import cv2

    img = np.full((height, width, 3), rng.integers(0, 256, 3), np.uint8)
    s = max(width, height)
    for _ in range(n_shapes):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = rng.integers(0, 3)
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(s // 60 + 2, s // 8 + 4))
        if kind == 0:
            cv2.rectangle(img, (x, y), (x + r, y + int(rng.integers(2, r + 3))), color, -1)
        elif kind == 1:
            cv2.circle(img, (x, y), r // 2 + 1, color, -1)
        else:
            x2, y2 = int(rng.integers(0, width)), int(rng.integers(0, height))
            cv2.line(img, (x, y), (x2, y2), color, int(rng.integers(1, 5)))
    noise = rng.normal(0.0, 6.0, img.shape)
    img = np.clip(img.astype(np.float64) + noise, 0, 255).astype(np.uint8)
    return cv2.GaussianBlur(img, (3, 3), 0.7)


def look_at_target(distance_m: float, tilt_deg: float = 0.0, tilt_axis_deg: float = 0.0, roll_deg: float = 0.0,
                   offset_m=(0.0, 0.0)) -> np.ndarray:
    """``T_camera_target`` (4, 4): the camera faces the target's front (+Y) from ``distance_m``.

    ``tilt_deg`` turns the target about an in-plane axis at ``tilt_axis_deg`` from +X,
    ``roll_deg`` about its normal, and ``offset_m`` shifts it in the camera's x/y.
    """
    # frontal view: local +X -> camera +x, local +Z (down the image) -> camera +y,
    # local +Y (out of the face) -> camera -z (towards the camera)
    R0 = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
    a = np.radians(tilt_axis_deg)
    axis_local = np.array([np.cos(a), 0.0, np.sin(a)])
    R_tilt = rotvec_to_matrix(axis_local * np.radians(tilt_deg))
    R_roll = rotvec_to_matrix(np.array([0.0, 1.0, 0.0]) * np.radians(roll_deg))
    R = R0 @ R_tilt @ R_roll
    return from_rt(R, [offset_m[0], offset_m[1], distance_m])


def render_target(target_rgb: np.ndarray, width_m: float, T_camera_target, K, background_rgb: np.ndarray):
    """Warp a target image into a copy of the background at a known pose.

    Parameters
    ----------
    target_rgb : (h, w, 3) uint8
    width_m : float
    T_camera_target : (4, 4) float64
    K : (3, 3) float64
        Ideal pinhole (no distortion).
    background_rgb : (H, W, 3) uint8

    Returns
    -------
    frame : (H, W, 3) uint8
    H_frame_target : (3, 3) float64
        Ground-truth homography from target pixels to frame pixels.
    """
    import cv2

    h, w = target_rgb.shape[:2]
    Hh = homography_from_pose(T_camera_target, K, w, h, width_m)
    size = (background_rgb.shape[1], background_rgb.shape[0])
    warped = cv2.warpPerspective(target_rgb, Hh, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), Hh, size, flags=cv2.INTER_LINEAR)
    alpha = (mask.astype(np.float32) / 255.0)[:, :, None]
    frame = (warped * alpha + background_rgb * (1.0 - alpha)).round().astype(np.uint8)
    return frame, Hh
