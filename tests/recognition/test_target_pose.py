"""Planar target geometry: local frame, homography from pose, quad checks, PnP with distortion."""

import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.pose import rotation_angle_deg, transform_points
from arkit.recognition.synthetic_targets import look_at_target
from arkit.recognition.target_pose import (
    apply_homography, corners_target_px, homography_from_pose, pose_from_correspondences, quad_is_sane,
    target_px_to_local,
)


def test_local_frame_of_target_pixels():
    corners = target_px_to_local(corners_target_px(400, 200), 400, 200, 0.4)
    np.testing.assert_allclose(corners, [[-0.2, 0, -0.1], [0.2, 0, -0.1], [0.2, 0, 0.1], [-0.2, 0, 0.1]])
    np.testing.assert_allclose(target_px_to_local([[199.5, 99.5]], 400, 200, 0.4), [[0, 0, 0]])


def test_homography_matches_projection():
    K = Intrinsics(640, 480, 500, 500, 320, 240)
    T = look_at_target(0.6, tilt_deg=30, tilt_axis_deg=20, roll_deg=10, offset_m=(0.02, -0.01))
    px = np.random.default_rng(0).uniform(0, 300, (20, 2))
    H = homography_from_pose(T, K.K, 300, 200, 0.3)
    expected = K.project(transform_points(T, target_px_to_local(px, 300, 200, 0.3)))
    np.testing.assert_allclose(apply_homography(H, px), expected, atol=1e-9)


def test_quad_checks():
    ok, _ = quad_is_sane([[0, 0], [100, 0], [100, 80], [0, 80]], frame_size=(640, 480))
    assert ok
    assert not quad_is_sane([[100, 0], [0, 0], [0, 80], [100, 80]])[0]          # mirrored
    assert not quad_is_sane([[0, 0], [100, 0], [20, 20], [0, 80]])[0]           # concave
    assert not quad_is_sane([[0, 0], [10, 0], [10, 10], [0, 10]])[0]            # too small
    assert not quad_is_sane([[900, 900], [1000, 900], [1000, 980], [900, 980]], frame_size=(640, 480))[0]


@pytest.mark.parametrize("model,dist", [("pinhole", (-0.25, 0.08, 0.001, -0.001, 0.0)),
                                        ("fisheye", (0.05, -0.01, 0.002, 0.0))])
def test_pose_with_distortion(model, dist):
    K = Intrinsics(640, 480, 450, 450, 322, 238, dist, model)
    T = look_at_target(0.5, tilt_deg=35, tilt_axis_deg=70, roll_deg=-15, offset_m=(0.05, 0.03))
    local = target_px_to_local(np.random.default_rng(1).uniform(0, 400, (40, 2)), 400, 300, 0.25)
    px = K.project(transform_points(T, local))
    T_est, rms = pose_from_correspondences(local, px, K)
    assert rms < 1e-3 if model == "pinhole" else rms < 0.05
    assert rotation_angle_deg(T_est, T) < 0.05
    np.testing.assert_allclose(T_est[:3, 3], T[:3, 3], atol=1e-4)
