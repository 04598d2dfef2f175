import cv2
import numpy as np
import pytest

from arkit.core import Intrinsics
from arkit.core.pose import invert, rotvec_to_matrix, from_rt
from arkit.render.projection import (
    gl_depth_to_metric, project_points_gl, projection_matrix_gl, view_matrix_gl,
)


@pytest.mark.parametrize("K", [
    Intrinsics(640, 480, 525.0, 523.5, 319.5, 239.5),
    Intrinsics(640, 480, 600.3, 590.1, 331.7, 228.4),
    Intrinsics(1280, 720, 910.0, 905.0, 650.2, 355.9),
    Intrinsics(321, 199, 150.0, 160.0, 155.0, 101.0),
])
def test_gl_matrices_match_cv2_project_points(K):
    rng = np.random.default_rng(3)
    for _ in range(5):
        T_wc = from_rt(rotvec_to_matrix(rng.normal(size=3)), rng.normal(size=3))
        pts_cam = np.column_stack([rng.uniform(-1, 1, 200), rng.uniform(-1, 1, 200), rng.uniform(0.2, 8.0, 200)])
        pts_world = pts_cam @ T_wc[:3, :3].T + T_wc[:3, 3]
        T_cw = invert(T_wc)
        rvec, _ = cv2.Rodrigues(T_cw[:3, :3])
        ref, _ = cv2.projectPoints(pts_world, rvec, T_cw[:3, 3], K.K, None)
        got = project_points_gl(pts_world, K, T_wc)
        assert np.abs(got - ref.reshape(-1, 2)).max() < 0.01


def test_depth_round_trip_and_range():
    K = Intrinsics(64, 48, 50.0, 50.0, 31.5, 23.5)
    near, far = 0.05, 20.0
    P = projection_matrix_gl(K, near, far)
    z = np.array([near, 0.3, 1.0, 5.0, far])
    eye = np.column_stack([np.zeros(5), np.zeros(5), -z, np.ones(5)])  # GL eye: -z forward
    clip = eye @ P.T
    d_win = (clip[:, 2] / clip[:, 3] + 1.0) / 2.0
    assert d_win[0] == pytest.approx(0.0, abs=1e-9) and d_win[-1] == pytest.approx(1.0 - 0.0, abs=1e-9)
    back = gl_depth_to_metric(np.append(d_win[:-1], 1.0).astype(np.float32)[None], near, far)[0]
    np.testing.assert_allclose(back[:-1], z[:-1], rtol=1e-4)
    assert back[-1] == 0.0  # cleared depth means "nothing drawn"


def test_view_matrix_maps_camera_forward_to_gl_minus_z():
    T_wc = from_rt(rotvec_to_matrix([0.3, -0.2, 0.5]), [1.0, 2.0, 3.0])
    p_world = T_wc @ np.array([0.0, 0.0, 2.0, 1.0])  # 2 m in front of the camera (OpenCV +z)
    p_eye = view_matrix_gl(T_wc) @ p_world
    np.testing.assert_allclose(p_eye[:3], [0.0, 0.0, -2.0], atol=1e-12)


def test_bad_near_far_raise():
    from arkit.core.errors import IntrinsicsError

    with pytest.raises(IntrinsicsError):
        projection_matrix_gl(Intrinsics(10, 10, 5, 5, 5, 5), near=1.0, far=0.5)
