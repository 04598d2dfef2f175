"""Marker maps and boards: layouts against OpenCV, YAML-style input, joint camera pose."""

import cv2
import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import ArkitError
from arkit.core.pose import from_rt, invert, rotation_angle_deg, rotvec_to_matrix
from arkit.tracking.marker_map import R_WORLD_CVBOARD, MarkerMap
from arkit.tracking.markers import MarkerDetection, MarkerDetector, estimate_marker_pose, get_dictionary

INTR = Intrinsics(640, 480, 600.0, 600.0, 319.5, 239.5)


def look_at(distance_m, tilt_deg, azimuth_deg, roll_deg=0.0, target=(0.0, 0.0, 0.0)):
    th, ph = np.radians(tilt_deg), np.radians(azimuth_deg)
    target = np.asarray(target, float)
    c = target + distance_m * np.array([np.sin(th) * np.cos(ph), np.cos(th), np.sin(th) * np.sin(ph)])
    z = (target - c) / np.linalg.norm(target - c)
    x = np.cross([0.0, 0.0, 1.0], z)
    x /= np.linalg.norm(x)
    R = np.stack([x, np.cross(z, x), z], axis=1) @ rotvec_to_matrix([0, 0, np.radians(roll_deg)])
    return from_rt(R, c)


def test_grid_board_matches_opencv_layout():
    board = cv2.aruco.GridBoard((5, 7), 0.04, 0.01, get_dictionary("DICT_6X6_250"), np.arange(10, 45, dtype=np.int32))
    m = MarkerMap.grid_board(5, 7, 0.04, 0.01, "DICT_6X6_250", first_id=10)
    assert m.ids == tuple(range(10, 45))
    expected = np.concatenate(board.getObjPoints()).reshape(-1, 3) @ R_WORLD_CVBOARD.T
    np.testing.assert_allclose(m.object_points(list(m.ids)), expected, atol=1e-7)
    assert np.allclose(m.object_points(list(m.ids))[:, 1], 0.0)  # the board lies in the X-Z plane
    for i in m.ids:  # every marker's +Y is the world +Y (up out of the board)
        np.testing.assert_allclose(m.placement(i).T_world_marker[:3, :3], np.eye(3), atol=1e-6)
        assert m.placement(i).size_m == pytest.approx(0.04)


def test_charuco_board_matches_opencv_layout():
    board = cv2.aruco.CharucoBoard((5, 7), 0.04, 0.02, get_dictionary("DICT_6X6_250"))
    m = MarkerMap.charuco_board(5, 7, 0.04, 0.02, "DICT_6X6_250")
    assert m.ids == tuple(range(17))
    expected = np.concatenate(board.getObjPoints()).reshape(-1, 3) @ R_WORLD_CVBOARD.T
    np.testing.assert_allclose(m.object_points(list(m.ids)), expected, atol=1e-6)
    corners = m.charuco_corners_world()
    assert corners.shape == (24, 3) and np.allclose(corners[:, 1], 0.0)


def test_board_faces_up():
    """A camera above the board (on +Y, looking down) sees every marker of the board."""
    m = MarkerMap.grid_board(3, 2, 0.05, 0.01, "DICT_4X4_50")
    centre = m.object_points(list(m.ids)).mean(axis=0)
    img = m.render(look_at(0.5, 10.0, 40.0, target=centre), INTR)
    assert [d.marker_id for d in MarkerDetector("DICT_4X4_50").detect(img)] == list(range(6))


def test_from_dict_and_single():
    m = MarkerMap.from_dict({"dictionary": "aruco_4x4_50", "markers": [
        {"id": 1, "size_m": 0.1, "position_m": [1, 2, 3], "rotation_deg": [90, 0, 0]},
        {"id": 2, "size_m": 0.05, "T_world_marker": np.eye(4).tolist()},
    ]})
    assert m.dictionary == "DICT_4X4_50" and m.ids == (1, 2)
    T = m.placement(1).T_world_marker
    np.testing.assert_allclose(T[:3, 3], [1, 2, 3])
    np.testing.assert_allclose(T[:3, 1], [0, 0, 1], atol=1e-12)  # +Y rotated 90 deg about X -> +Z
    assert m.object_points([2]).shape == (4, 3)
    s = MarkerMap.single(4, 0.07)
    np.testing.assert_allclose(s.placement(4).T_world_marker, np.eye(4))
    round_trip = MarkerMap.from_dict(m.to_dict())
    np.testing.assert_allclose(round_trip.object_points([1, 2]), m.object_points([1, 2]))


@pytest.mark.parametrize("bad,match", [
    ([{"id": 1}], "size_m"),
    ([{"id": 1, "size_m": 0.1}, {"id": 1, "size_m": 0.1}], "twice"),
    ([{"id": 1, "size_m": -0.1}], "positive"),
    ([{"id": 1, "size_m": 0.1, "position_m": [1, 2]}], "3 numbers"),
    ("markers.yaml", "list of markers"),
])
def test_from_dict_errors(bad, match):
    with pytest.raises(ArkitError, match=match):
        MarkerMap.from_dict(bad)


def test_unknown_marker_and_empty_detections():
    m = MarkerMap.single(4, 0.07)
    with pytest.raises(ArkitError, match="not in the marker map"):
        m.placement(5)
    assert m.estimate_camera_pose([], INTR) is None
    assert m.estimate_camera_pose([MarkerDetection(9, np.zeros((4, 2)))], INTR) is None


def _board_views(n, seed):
    board = MarkerMap.grid_board(5, 7, 0.04, 0.01, "DICT_6X6_250")
    centre = board.object_points(list(board.ids)).mean(axis=0)
    rng = np.random.default_rng(seed)
    for k in range(n):
        T = look_at(rng.uniform(0.5, 1.0), rng.uniform(5, 45), rng.uniform(0, 360), rng.uniform(-20, 20),
                    centre + rng.uniform(-0.03, 0.03, 3) * [1, 0, 1])
        yield board, T, board.render(T, INTR, noise_std=2.0, seed=k)


def test_joint_pose_beats_single_markers():
    det = MarkerDetector()
    joint_t, joint_r, single_t, single_r = [], [], [], []
    for board, T, img in _board_views(6, seed=3):
        dets = det.detect(img, INTR)
        assert len(dets) >= 30
        T_wc, used, rms = board.estimate_camera_pose(dets, INTR)
        assert len(used) == len(dets) and rms < 0.5
        joint_t.append(np.linalg.norm(T_wc[:3, 3] - T[:3, 3]))
        joint_r.append(rotation_angle_deg(T_wc, T))
        for d in dets:
            T_cm, _ = estimate_marker_pose(d.corners_px, 0.04, INTR)
            T_wc1 = board.placement(d.marker_id).T_world_marker @ invert(T_cm)
            single_t.append(np.linalg.norm(T_wc1[:3, 3] - T[:3, 3]))
            single_r.append(rotation_angle_deg(T_wc1, T))
    assert np.median(joint_t) <= np.median(single_t) and np.median(joint_r) <= np.median(single_r)
    assert np.median(joint_t) < 1e-3 and np.median(joint_r) < 0.1


def test_outlier_marker_is_rejected():
    board, T, img = next(_board_views(1, seed=5))
    dets = MarkerDetector().detect(img, INTR)
    moved = dets[3]
    dets[3] = MarkerDetection(moved.marker_id, moved.corners_px + [25.0, -15.0])  # that marker was moved
    r = board.estimate_camera_pose_detailed(dets, INTR)
    assert moved.marker_id in r.rejected_ids and moved.marker_id not in r.used_ids
    assert np.linalg.norm(r.T_world_camera[:3, 3] - T[:3, 3]) < 2e-3 and r.rms_px < 0.5


def test_moved_seed_marker_is_rejected():
    """The largest marker seeds the pose; when it is the one that moved, another seed wins."""
    board, T, img = next(_board_views(1, seed=7))
    dets = MarkerDetector().detect(img, INTR)
    perimeter = [np.linalg.norm(d.corners_px - np.roll(d.corners_px, -1, axis=0), axis=1).sum() for d in dets]
    k = int(np.argmax(perimeter))
    moved = dets[k]
    centre = moved.corners_px.mean(axis=0)
    c, s = np.cos(np.radians(20)), np.sin(np.radians(20))
    dets[k] = MarkerDetection(moved.marker_id, (moved.corners_px - centre) @ [[c, -s], [s, c]] + centre + [18.0, 9.0])
    r = board.estimate_camera_pose_detailed(dets, INTR)
    assert r.rejected_ids == (moved.marker_id,)
    assert np.linalg.norm(r.T_world_camera[:3, 3] - T[:3, 3]) < 2e-3 and r.rms_px < 0.5
    assert r.per_marker_rms_px[moved.marker_id] > 3.0


def test_duplicate_ids_are_ignored():
    board, T, img = next(_board_views(1, seed=6))
    dets = MarkerDetector().detect(img, INTR)
    dets.append(MarkerDetection(dets[0].marker_id, dets[0].corners_px + 40.0))
    _, used, rms = board.estimate_camera_pose(dets, INTR)
    assert dets[0].marker_id not in used and rms < 0.5


def test_real_charuco_photo_joint_pose(shared_data):
    folder = shared_data("aruco_opencv_contrib_photos")
    fs = cv2.FileStorage(str(folder / "calib" / "tutorial_camera_charuco.yml"), cv2.FILE_STORAGE_READ)
    intr = Intrinsics.from_matrix(fs.getNode("camera_matrix").mat(), 640, 480, fs.getNode("distortion_coefficients").mat())
    board = MarkerMap.charuco_board(5, 7, 0.04, 0.02, "DICT_6X6_250")
    poses = []
    for name in ("choriginal.jpg", "chocclusion_original.jpg"):
        img = cv2.cvtColor(cv2.imread(str(folder / "images" / name)), cv2.COLOR_BGR2RGB)
        dets = MarkerDetector().detect(img, intr)
        T_wc, used, rms = board.estimate_camera_pose(dets, intr)
        assert len(used) >= 12 and rms < 1.0, (name, used, rms)
        assert T_wc[1, 3] > 0.2  # the camera is above the board (+Y up)
        poses.append(T_wc)
    # the two photos are taken from (nearly) the same place; the occluded one agrees
    assert np.linalg.norm(poses[0][:3, 3] - poses[1][:3, 3]) < 0.02


@pytest.mark.parametrize("make", [
    lambda: MarkerMap.grid_board(5, 7, 0.04, 0.0, "DICT_6X6_250"),
    lambda: MarkerMap.grid_board(0, 7, 0.04, 0.01, "DICT_6X6_250"),
    lambda: MarkerMap.grid_board(5, 7, 0.04, 0.01, "DICT_4X4_50", first_id=20),
    lambda: MarkerMap.charuco_board(5, 7, 0.02, 0.04, "DICT_6X6_250"),
    lambda: MarkerMap.charuco_board(1, 1, 0.04, 0.02, "DICT_6X6_250"),
])
def test_bad_board_parameters_raise_arkit_errors(make):
    with pytest.raises(ArkitError):
        make()
