import numpy as np
import pytest

from arkit.core import pose as P
from arkit.core.errors import ArkitError


def random_pose(rng):
    return P.from_rt(P.rotvec_to_matrix(rng.normal(size=3)), rng.normal(size=3))


def test_inverse_compose_identity():
    rng = np.random.default_rng(0)
    for _ in range(20):
        T = random_pose(rng)
        np.testing.assert_allclose(P.invert(T) @ T, np.eye(4), atol=1e-12)
        np.testing.assert_allclose(T @ P.invert(T), np.eye(4), atol=1e-12)


def test_batched_invert():
    rng = np.random.default_rng(1)
    Ts = np.stack([random_pose(rng) for _ in range(5)])
    inv = P.invert(Ts)
    for T, Ti in zip(Ts, inv):
        np.testing.assert_allclose(Ti, np.linalg.inv(T), atol=1e-12)


def test_quaternion_round_trips_and_orders():
    rng = np.random.default_rng(2)
    for _ in range(50):
        R = P.rotvec_to_matrix(rng.normal(size=3) * 2)
        q = P.matrix_to_quat_wxyz(R)
        assert q[0] >= 0 and abs(np.linalg.norm(q) - 1) < 1e-12
        np.testing.assert_allclose(P.quat_wxyz_to_matrix(q), R, atol=1e-12)
        np.testing.assert_allclose(P.quat_xyzw_to_wxyz(P.quat_wxyz_to_xyzw(q)), q)
        np.testing.assert_allclose(P.rotvec_to_matrix(P.matrix_to_rotvec(R)), R, atol=1e-9)
    # 90 degrees about z: w = cos(45), z = sin(45)
    Rz = P.rotvec_to_matrix([0, 0, np.pi / 2])
    np.testing.assert_allclose(P.matrix_to_quat_wxyz(Rz), [np.sqrt(0.5), 0, 0, np.sqrt(0.5)], atol=1e-12)


def test_quaternion_matches_scipy():
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(3)
    for _ in range(20):
        R = Rotation.random(random_state=rng)
        np.testing.assert_allclose(P.quat_wxyz_to_matrix(P.quat_xyzw_to_wxyz(R.as_quat())), R.as_matrix(), atol=1e-12)


def test_opencv_opengl_conversion_projects_like_cv2():
    import cv2

    from arkit.core.camera import Intrinsics

    K = Intrinsics(640, 480, 500.0, 510.0, 320.0, 240.0)
    rng = np.random.default_rng(4)
    T_world_camera = random_pose(rng)
    pts_cam = np.column_stack([rng.uniform(-1, 1, 10), rng.uniform(-1, 1, 10), rng.uniform(1, 4, 10)])
    pts_world = P.transform_points(T_world_camera, pts_cam)
    # OpenGL camera: looks down -z, y up.
    T_gl = P.opencv_to_opengl_camera(T_world_camera)
    p_gl = P.transform_points(P.invert(T_gl), pts_world)
    assert np.all(p_gl[:, 2] < 0)
    u = K.fx * (p_gl[:, 0] / -p_gl[:, 2]) + K.cx
    v = K.cy - K.fy * (p_gl[:, 1] / -p_gl[:, 2])
    T_cw = P.invert(T_world_camera)
    ref, _ = cv2.projectPoints(pts_world, cv2.Rodrigues(T_cw[:3, :3])[0], T_cw[:3, 3], K.K, None)
    np.testing.assert_allclose(np.column_stack([u, v]), ref.reshape(-1, 2), atol=1e-9)
    np.testing.assert_allclose(P.opengl_to_opencv_camera(T_gl), T_world_camera)


def test_pose_class():
    T = P.Pose.from_quat_xyzw([0, 0, 0, 1], [1, 2, 3])
    assert np.allclose((T @ T.inverse()).matrix, np.eye(4))
    assert not T.matrix.flags.writeable
    np.testing.assert_allclose(T.transform_points([[0, 0, 0]]), [[1, 2, 3]])
    with pytest.raises(ArkitError, match="4x4"):
        P.Pose(np.eye(3))
    with pytest.raises(ArkitError, match="NaN"):
        P.as_transform(np.full((4, 4), np.nan))


def test_rotation_angle():
    R = P.rotvec_to_matrix([0, np.radians(30), 0])
    assert abs(P.rotation_angle_deg(np.eye(3), R) - 30) < 1e-9
