"""Plane debug view: detected planes drawn over the camera image (as ARKit's plane visualisation).

Each plane's boundary polygon is projected (clipped at the near plane), filled with a translucent
colour chosen from its id, outlined, and labelled with ``label id alignment`` at its centre.

>>> import numpy as np
>>> from arkit.core.camera import Intrinsics
>>> from arkit.core.trackables import PlaneTrackable
>>> floor = PlaneTrackable("plane:0", "plane", np.eye(4), polygon_xz=[[-1, -1], [1, -1], [1, 1], [-1, 1]])
>>> T_wc = np.array([[1, 0, 0, 0], [0, 0, -1, 2.0], [0, 1, 0, 0], [0, 0, 0, 1.0]])  # 2 m above, looking down
>>> img = np.zeros((100, 100, 3), np.uint8)
>>> out = draw_planes(img, [floor], Intrinsics(100, 100, 50, 50, 50, 50), T_wc)
>>> bool(out[30, 30].any()), bool(out[2, 2].any())
(True, False)
"""

from __future__ import annotations

import colorsys
import zlib
from typing import Iterable, Optional

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.pose import as_transform, invert

#: Polygons are clipped at this camera depth (metres) before projection.
NEAR_M = 0.05


def plane_color(plane_id: str) -> tuple:
    """A stable, saturated RGB colour (0-255 ints) for a trackable id."""
    h = (zlib.crc32(plane_id.encode()) % 360) / 360.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.75, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def clip_near(points_camera: np.ndarray, near_m: float = NEAR_M) -> np.ndarray:
    """Clip a closed polygon (K, 3) in camera coordinates to ``z >= near_m``
    (Sutherland-Hodgman against one plane). Returns (M, 3), possibly empty."""
    pts = np.asarray(points_camera, np.float64).reshape(-1, 3)
    out = []
    n = len(pts)
    for i in range(n):
        a, b = pts[i], pts[(i + 1) % n]
        a_in, b_in = a[2] >= near_m, b[2] >= near_m
        if a_in:
            out.append(a)
        if a_in != b_in:
            t = (near_m - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    return np.array(out, np.float64).reshape(-1, 3)


def _plane_text(plane) -> str:
    align = getattr(plane, "alignment", None)
    align = getattr(align, "value", align)
    short = {"HORIZONTAL_UP": "up", "HORIZONTAL_DOWN": "down", "VERTICAL": "vert", "OTHER": "other"}
    return f"{getattr(plane, 'label', 'plane')} {plane.id} {short.get(align, align or '')}".strip()


def draw_planes(image_rgb: np.ndarray, planes: Iterable, intrinsics: Intrinsics, T_world_camera, *,
                fill_alpha: float = 0.3, labels: bool = True, near_m: float = NEAR_M,
                out: Optional[np.ndarray] = None) -> np.ndarray:
    """Draw plane polygons over an image.

    Parameters
    ----------
    image_rgb : (H, W, 3) uint8
        Not modified (unless passed as ``out``).
    planes : iterable of PlaneTrackable
        Planes without a polygon, subsumed or STOPPED are skipped.
    intrinsics : Intrinsics
        Of ``image_rgb``.
    T_world_camera : (4, 4) float64
    fill_alpha : float
        Opacity of the fill colour in [0, 1].
    labels : bool
        Write ``label id alignment`` at each plane's projected centre; largest planes (on screen)
        first, a label that would overlap one already written is left out.
    near_m : float
        Near clipping depth in metres.

    Returns
    -------
    (H, W, 3) uint8
        A new image (or ``out``).
    """
    import cv2

    intrinsics.check_image(image_rgb, "image")
    img = np.array(image_rgb, dtype=np.uint8, copy=True) if out is None else out
    T_cw = invert(as_transform(T_world_camera, "T_world_camera"))
    h, w = img.shape[:2]
    shift = 4  # sub-pixel precision for cv2 polygon drawing
    texts = []
    for pl in planes:
        poly = getattr(pl, "polygon_xz", None)
        if poly is None or len(poly) < 3 or getattr(pl, "subsumed_by", None) is not None:
            continue
        if getattr(pl.state, "value", pl.state) == "STOPPED":
            continue
        local = np.zeros((len(poly), 3))
        local[:, 0], local[:, 2] = poly[:, 0], poly[:, 1]
        T_cl = T_cw @ pl.T_world_local
        cam = local @ T_cl[:3, :3].T + T_cl[:3, 3]
        cam = clip_near(cam, near_m)
        if len(cam) < 3:
            continue
        uv = intrinsics.project(cam)
        if not np.all(np.isfinite(uv)):
            continue
        # keep coordinates in a range cv2 handles (points far off-screen after near clipping)
        uv = np.clip(uv, -8 * max(w, h), 9 * max(w, h))
        pts = np.round(uv * (1 << shift)).astype(np.int32).reshape(-1, 1, 2)
        color = plane_color(pl.id)
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_8, shift=shift)
        sel = mask > 0
        if sel.any():
            img[sel] = np.round(img[sel] * (1.0 - fill_alpha) + np.asarray(color) * fill_alpha).astype(np.uint8)
        cv2.polylines(img, [pts], True, color, 2, lineType=cv2.LINE_AA, shift=shift)
        if labels:
            centre_c = T_cl[:3, 3]
            if centre_c[2] > near_m:
                c = intrinsics.project(centre_c[None])[0]
            else:
                c = uv.mean(axis=0)
            texts.append((int(sel.sum()), c, _plane_text(pl), color))
    boxes = []
    for _, c, text, color in sorted(texts, key=lambda t: -t[0]):  # labels last: fills never cover them
        _put_label(img, text, c, color, boxes)
    return img


def _put_label(img: np.ndarray, text: str, centre_px, color, taken: list) -> None:
    import cv2

    h, w = img.shape[:2]
    scale = max(0.35, min(w, h) / 900.0)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x = int(round(centre_px[0] - tw / 2))
    y = int(round(centre_px[1] + th / 2))
    if x > w or y < 0 or x + tw < 0 or y - th > h:
        return
    box = (x - 2, y - th - 2, x + tw + 2, y + base)
    if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in taken):
        return
    taken.append(box)
    cv2.rectangle(img, (x - 2, y - th - 2), (x + tw + 2, y + base), (0, 0, 0), -1)
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA)
