"""Plane debug view: fills inside the projected polygon, clips at the near plane, labels."""

import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import IntrinsicsError
from arkit.core.pose import invert
from arkit.core.trackables import PlaneAlignment, PlaneTrackable, TrackableState
from arkit.render.debug_planes import clip_near, draw_planes, plane_color

K = Intrinsics(200, 150, 150.0, 150.0, 100.0, 75.0)


def down_camera(height=2.0):
    """Camera ``height`` m above the origin looking straight down (image up = world -Z)."""
    T = np.eye(4)
    T[:3, :3] = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]
    T[:3, 3] = [0, height, 0]
    return T


def square(half, pid="plane:0", T=None, **kw):
    return PlaneTrackable(pid, "plane", np.eye(4) if T is None else T, alignment=PlaneAlignment.HORIZONTAL_UP,
                          label="floor", polygon_xz=[[-half, -half], [half, -half], [half, half], [-half, half]], **kw)


def projected_mask(pl, T_wc):
    import cv2

    poly = pl.polygon_xz
    pts = np.c_[poly[:, 0], np.zeros(len(poly)), poly[:, 1]] @ pl.T_world_local[:3, :3].T + pl.T_world_local[:3, 3]
    T_cw = invert(T_wc)
    uv = K.project(pts @ T_cw[:3, :3].T + T_cw[:3, 3])
    m = np.zeros((K.height, K.width), np.uint8)
    cv2.fillPoly(m, [np.round(uv).astype(np.int32)], 1)
    return m.astype(bool)


def test_fill_is_inside_the_projected_polygon_only():
    rng = np.random.default_rng(0)
    img = rng.integers(60, 200, (K.height, K.width, 3), dtype=np.uint8)
    T_wc = down_camera()
    pl = square(0.5)
    out = draw_planes(img, [pl], K, T_wc, labels=False)
    assert out is not img and np.array_equal(img, draw_planes(img, [], K, T_wc))  # input untouched
    changed = np.any(out != img, axis=2)
    inside = projected_mask(pl, T_wc)
    import cv2

    inner = cv2.erode(inside.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    outer = ~cv2.dilate(inside.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert changed[inner].mean() > 0.95
    assert not changed[outer].any()
    # the fill is a blend towards the plane's colour
    col = np.asarray(plane_color("plane:0"), float)
    expected = img[inner].astype(float) * 0.7 + col * 0.3
    assert np.abs(out[inner].astype(float) - expected).max() <= 1.0


def test_label_is_drawn_near_the_centre_and_distinct_colours():
    img = np.zeros((K.height, K.width, 3), np.uint8)
    out = draw_planes(img, [square(0.4)], K, down_camera(), fill_alpha=0.0)
    centre = out[60:90, 50:150]
    assert (centre.max(axis=2) > 150).sum() > 30                  # text pixels around the centre
    assert plane_color("plane:0") != plane_color("plane:1")


def test_polygon_crossing_the_camera_is_clipped_at_the_near_plane():
    T_wc = np.eye(4)
    T_wc[:3, 3] = [0, 1.0, 0]     # camera 1 m above a floor, looking along +Z (horizontal)
    T_wc[:3, :3] = [[-1, 0, 0], [0, -1, 0], [0, 0, 1]]
    pl = square(5.0)              # the floor extends behind the camera
    img = np.zeros((K.height, K.width, 3), np.uint8)
    out = draw_planes(img, [pl], K, T_wc, labels=False)
    changed = np.any(out > 0, axis=2)
    assert changed[-5:].mean() > 0.9                              # bottom rows: floor in front
    assert not changed[:60].any()                                 # above the horizon: nothing
    poly = np.array([[0, 0, -1.0], [1, 0, 1.0], [-1, 0, 1.0]])
    c = clip_near(poly, 0.1)
    assert c[:, 2].min() >= 0.1 - 1e-12 and len(c) == 4


def test_skips_stopped_subsumed_and_polygonless_planes():
    img = np.zeros((K.height, K.width, 3), np.uint8)
    planes = [square(0.4, state=TrackableState.STOPPED), square(0.4, "plane:1", subsumed_by="plane:2"),
              PlaneTrackable("plane:3", "plane", np.eye(4))]
    assert not draw_planes(img, planes, K, down_camera()).any()
    with pytest.raises(IntrinsicsError):
        draw_planes(np.zeros((10, 10, 3), np.uint8), [], K, down_camera())
