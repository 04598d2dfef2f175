"""Marker detection and single-marker pose: names, conventions, synthetic ground truth, real photos."""

import cv2
import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import ArkitError, FrameError
from arkit.core.pose import from_rt, invert, rotation_angle_deg, rotvec_to_matrix, transform_points
from arkit.tracking.marker_map import MarkerMap
from arkit.tracking.markers import (
    DETECTOR_PRESETS, T_CVMARKER_MARKER, MarkerDetector, canonical_dictionary_name, estimate_marker_pose,
    estimate_marker_pose_candidates, marker_corners_local, project_px, refine_corners_lines, refine_quads_lines,
)

INTR = Intrinsics(640, 480, 600.0, 600.0, 319.5, 239.5)


def look_at(distance_m, tilt_deg, azimuth_deg, roll_deg=0.0, target=(0.0, 0.0, 0.0)):
    """T_world_camera of a camera at ``distance_m`` from ``target``, ``tilt_deg`` away from the
    world +Y axis (the marker normal), looking at ``target`` with image-up ~ world -Z."""
    th, ph = np.radians(tilt_deg), np.radians(azimuth_deg)
    target = np.asarray(target, float)
    c = target + distance_m * np.array([np.sin(th) * np.cos(ph), np.cos(th), np.sin(th) * np.sin(ph)])
    z = (target - c) / np.linalg.norm(target - c)
    x = np.cross([0.0, 0.0, 1.0], z)
    x /= np.linalg.norm(x)
    R = np.stack([x, np.cross(z, x), z], axis=1) @ rotvec_to_matrix([0, 0, np.radians(roll_deg)])
    return from_rt(R, c)


def read_opencv_calibration(path, width=640, height=480):
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    K = fs.getNode("camera_matrix").mat()
    dist = fs.getNode("distortion_coefficients").mat()
    fs.release()
    return Intrinsics.from_matrix(K, width, height, dist)


# -- names and inputs ---------------------------------------------------------------------------
@pytest.mark.parametrize("name,expected", [
    ("DICT_6X6_250", "DICT_6X6_250"), ("aruco_6x6_250", "DICT_6X6_250"), ("tag36h11", "DICT_APRILTAG_36h11"),
    ("apriltag_36h11", "DICT_APRILTAG_36h11"), ("DICT_APRILTAG_36H11", "DICT_APRILTAG_36h11"),
    ("dict_4x4_50", "DICT_4X4_50"), ("DICT_ARUCO_ORIGINAL", "DICT_ARUCO_ORIGINAL"),
])
def test_dictionary_names(name, expected):
    assert canonical_dictionary_name(name) == expected
    assert MarkerDetector(name).dictionary_name == expected


def test_unknown_dictionary_lists_valid_names():
    with pytest.raises(ArkitError, match="DICT_6X6_250.*tag36h11"):
        MarkerDetector("DICT_9X9_1")


def test_bad_refine_and_params():
    with pytest.raises(ArkitError, match="refinement"):
        MarkerDetector(refine="magic")
    with pytest.raises(ArkitError, match="notAParameter"):
        MarkerDetector(params={"notAParameter": 1})


def test_presets_and_param_overrides():
    fast = MarkerDetector(preset="fast")
    for key, value in DETECTOR_PRESETS["fast"].items():
        assert getattr(fast.parameters, key) == value
    assert "fast" in repr(fast)
    # explicit params win over the preset; the preset fills the rest
    mixed = MarkerDetector(preset="fast", params={"adaptiveThreshWinSizeMax": 17})
    assert mixed.parameters.adaptiveThreshWinSizeMax == 17
    assert mixed.parameters.adaptiveThreshWinSizeMin == DETECTOR_PRESETS["fast"]["adaptiveThreshWinSizeMin"]
    default = MarkerDetector()
    assert default.parameters.adaptiveThreshWinSizeMin == cv2.aruco.DetectorParameters().adaptiveThreshWinSizeMin
    with pytest.raises(ArkitError, match="preset"):
        MarkerDetector(preset="turbo")
    with pytest.raises(ArkitError, match="adaptiveThreshWinSizeMin"):
        MarkerDetector(params={"adaptiveThreshWinSizeMin": "seven"})
    with pytest.raises(ArkitError, match="dict"):
        MarkerDetector(params=[("adaptiveThreshWinSizeMin", 7)])


def test_fast_preset_finds_the_same_corners_on_a_board():
    board = MarkerMap.grid_board(4, 3, 0.05, 0.01, "DICT_6X6_250")
    centre = board.object_points(list(board.ids)).mean(axis=0)
    img = board.render(look_at(0.6, 30.0, 250.0, 10.0, target=centre), INTR, noise_std=1.0, seed=3)
    default, fast = MarkerDetector().detect(img, INTR), MarkerDetector(preset="fast").detect(img, INTR)
    assert [d.marker_id for d in fast] == [d.marker_id for d in default] == list(range(12))
    shift = max(np.abs(a.corners_px - b.corners_px).max() for a, b in zip(default, fast))
    assert shift < 0.05


def test_project_px_matches_intrinsics_project():
    rng = np.random.default_rng(4)
    P = rng.uniform([-1, -1, -0.5], [1, 1, 3], (50, 3))
    distorted = Intrinsics(640, 480, 600.0, 610.0, 320.0, 240.0, (0.1, -0.05, 0.001, 0.002))
    for intr in (INTR, distorted):
        np.testing.assert_allclose(project_px(P, intr), intr.project(P), atol=1e-9, equal_nan=True)
    assert np.isnan(project_px(P, INTR)[P[:, 2] <= 0]).all()


def test_quad_refinement_is_per_marker():
    """Refining several quads at once gives each marker's own result (vectorised pass)."""
    board = MarkerMap.grid_board(3, 2, 0.05, 0.01, "DICT_6X6_250")
    centre = board.object_points(list(board.ids)).mean(axis=0)
    img = board.render(look_at(0.5, 20.0, 60.0, 5.0, target=centre), INTR, noise_std=1.0, seed=5)
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    dets = MarkerDetector(refine="subpix").detect(img)
    quads = np.stack([d.corners_px for d in dets])
    together = refine_quads_lines(gray, quads)
    for q, r in zip(quads, together):
        np.testing.assert_allclose(refine_corners_lines(gray, q), r, atol=1e-9)
    truth = board.object_points([d.marker_id for d in dets])
    truth_px = INTR.project(transform_points(invert(look_at(0.5, 20.0, 60.0, 5.0, target=centre)), truth))
    assert np.abs(together.reshape(-1, 2) - truth_px).max() < 0.1


def test_detect_blank_gray_and_bad_shapes():
    det = MarkerDetector()
    assert det.detect(np.zeros((480, 640, 3), np.uint8)) == []
    assert det.detect(np.full((480, 640), 255, np.uint8)) == []
    with pytest.raises(FrameError):
        det.detect(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(FrameError):
        det.detect(np.zeros((48, 64), np.float32))


def test_degenerate_corners_do_not_raise():
    T, rms = estimate_marker_pose(np.zeros((4, 2)), 0.05, INTR)
    assert not np.isfinite(rms) or rms >= 0
    with pytest.raises(ArkitError):
        estimate_marker_pose(np.zeros((3, 2)), 0.05, INTR)
    with pytest.raises(ArkitError):
        estimate_marker_pose(np.zeros((4, 2)) + 10, -1.0, INTR)


# -- conventions --------------------------------------------------------------------------------
def test_cv_marker_frame_conversion_matches_ippe_object_points():
    s = 0.08
    ippe = np.array([[-s / 2, s / 2, 0], [s / 2, s / 2, 0], [s / 2, -s / 2, 0], [-s / 2, -s / 2, 0]])
    np.testing.assert_allclose(transform_points(T_CVMARKER_MARKER, marker_corners_local(s)), ippe, atol=1e-15)
    assert np.isclose(np.linalg.det(T_CVMARKER_MARKER[:3, :3]), 1.0)


def test_marker_frame_axes_on_a_top_down_view():
    """Camera 0.5 m above the marker, looking down its normal, image-up = top edge: the marker's
    corner 0 is top-left in the image, +X points right, +Y towards the camera, +Z down the image."""
    m = MarkerMap.single(3, 0.1, "DICT_6X6_250")
    T_world_camera = look_at(0.5, 0.0, 0.0)
    dets = MarkerDetector().detect(m.render(T_world_camera, INTR))
    assert [d.marker_id for d in dets] == [3]
    c = dets[0].corners_px
    assert np.argmin(c.sum(axis=1)) == 0 and np.argmax(c.sum(axis=1)) == 2
    T_cm, rms = estimate_marker_pose(c, 0.1, INTR)
    assert rms < 0.2
    R = T_cm[:3, :3]  # marker axes in camera coordinates
    assert R[:, 0] @ [1, 0, 0] > 0.999   # +X right in the image
    assert R[:, 1] @ [0, 0, -1] > 0.999  # +Y towards the camera
    assert R[:, 2] @ [0, 1, 0] > 0.999   # +Z down the image
    np.testing.assert_allclose(invert(T_cm), T_world_camera, atol=2e-3)


def test_both_ippe_candidates_sorted():
    m = MarkerMap.single(5, 0.1, "DICT_6X6_250")
    img = m.render(look_at(0.6, 35.0, 20.0), INTR)
    (d,) = MarkerDetector().detect(img)
    cands = estimate_marker_pose_candidates(d.corners_px, 0.1, INTR)
    assert len(cands) == 2 and cands[0][1] <= cands[1][1]


# -- synthetic ground truth (acceptance: median < 2 mm and < 0.5 deg) ---------------------------
def _synthetic_errors(size_m, n, seed, refine="lines"):
    rng = np.random.default_rng(seed)
    m = MarkerMap.single(7, size_m, "DICT_6X6_250")
    det = MarkerDetector(refine=refine)
    out = []
    for k in range(n):
        d = rng.uniform(0.3, 1.5)
        T = look_at(d, rng.uniform(0, 55), rng.uniform(0, 360), rng.uniform(-30, 30),
                    rng.uniform(-0.3, 0.3, 3) * size_m * np.array([1, 0, 1]))
        dets = det.detect(m.render(T, INTR, noise_std=1.0, seed=k))
        assert [x.marker_id for x in dets] == [7], f"view {k} at {d:.2f} m: marker not found"
        T_cm, rms = estimate_marker_pose(dets[0].corners_px, size_m, INTR)
        T_true_cm = invert(T)
        out.append((np.linalg.norm(T_cm[:3, 3] - T_true_cm[:3, 3]) * 1e3,
                    np.linalg.norm(invert(T_cm)[:3, 3] - T[:3, 3]) * 1e3,
                    rotation_angle_deg(T_cm, T_true_cm), rms))
    return np.array(out)


def test_synthetic_single_marker_accuracy():
    err = _synthetic_errors(0.10, 24, seed=1)
    med = np.median(err, axis=0)
    assert med[0] < 2.0, f"marker-in-camera translation median {med[0]:.2f} mm"
    assert med[1] < 2.0, f"camera-in-world translation median {med[1]:.2f} mm"
    assert med[2] < 0.5, f"rotation median {med[2]:.3f} deg"
    assert med[3] < 0.3


def test_renderer_corners_are_where_projection_puts_them():
    """The synthetic renderer is the ground truth for the accuracy test: its corners must be
    sub-pixel exact (checked with the straight-edge fit on a large, frontal marker)."""
    m = MarkerMap.single(1, 0.1, "DICT_6X6_250")
    T = look_at(0.4, 10.0, 30.0, 12.0)
    img = m.render(T, INTR)
    (d,) = MarkerDetector(refine="subpix").detect(img)
    truth = INTR.project(transform_points(invert(T), marker_corners_local(0.1)))
    refined = refine_corners_lines(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), d.corners_px)
    assert np.max(np.linalg.norm(refined - truth, axis=1)) < 0.05


# -- real photos -------------------------------------------------------------------------------
def test_real_single_markers_photo(shared_data):
    folder = shared_data("aruco_opencv_contrib_photos")
    intr = read_opencv_calibration(folder / "calib" / "tutorial_camera_params.yml")
    img = cv2.cvtColor(cv2.imread(str(folder / "images" / "singlemarkersoriginal.jpg")), cv2.COLOR_BGR2RGB)
    for preset in ("fast", "default"):
        dets = MarkerDetector("DICT_6X6_250", preset=preset).detect(img, intr)
        assert [d.marker_id for d in dets] == [23, 40, 62, 98, 124, 203], preset
        poses = [estimate_marker_pose(d.corners_px, 0.05, intr) for d in dets]
        assert np.mean([rms for _, rms in poses]) < 1.0, preset
    # the markers lie on one table: normals agree, and all are 0.5 - 1 m in front of the camera
    normals = np.array([T[:3, 1] for T, _ in poses])
    assert np.min(normals @ normals.mean(axis=0) / np.linalg.norm(normals.mean(axis=0))) > np.cos(np.radians(10))
    assert all(0.5 < T[2, 3] < 1.0 for T, _ in poses)


@pytest.mark.parametrize("preset", ["default", "fast"])
def test_real_apriltag_photos(shared_data, preset):
    import yaml

    folder = shared_data("apriltag_dt_testimages")
    info = yaml.safe_load((folder / "test_info.yaml").read_text())
    det = MarkerDetector("tag36h11", preset=preset)
    errors, n_images = [], 0
    for key in ("sample_test", "multiple_tags_test"):
        item = info[key]
        intr = Intrinsics.from_matrix(np.reshape(item["K"], (3, 3)), item["width"], item["height"])
        for name in item.get("files", [item.get("file")]):
            img = cv2.cvtColor(cv2.imread(str(folder / name)), cv2.COLOR_BGR2RGB)
            dets = det.detect(img, intr)
            assert len(dets) >= 2, f"{name}: only {len(dets)} tags found"
            n_images += 1
            for d in dets:
                T, rms = estimate_marker_pose(d.corners_px, item["tag_size"], intr)
                assert 0.1 < T[2, 3] < 3.0
                errors.append(rms)
    assert n_images == 11
    assert np.median(errors) < 0.5 and np.mean(errors) < 1.0
