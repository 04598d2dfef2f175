"""MarkerTracker: state machine, world frame, stable ids and changes, robustness."""

import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import ArkitError
from arkit.core.frame import Frame
from arkit.core.pose import from_rt, rotation_angle_deg, rotvec_to_matrix
from arkit.core.trackables import MarkerTrackable, TrackableState, TrackingState
from arkit.tracking.base import Tracker
from arkit.tracking.marker_map import MarkerMap, MarkerPlacement
from arkit.tracking.marker_tracker import MarkerTracker

INTR = Intrinsics(640, 480, 600.0, 600.0, 319.5, 239.5)
S = TrackingState


def look_at(distance_m, tilt_deg, azimuth_deg, roll_deg=0.0, target=(0.0, 0.0, 0.0)):
    th, ph = np.radians(tilt_deg), np.radians(azimuth_deg)
    target = np.asarray(target, float)
    c = target + distance_m * np.array([np.sin(th) * np.cos(ph), np.cos(th), np.sin(th) * np.sin(ph)])
    z = (target - c) / np.linalg.norm(target - c)
    x = np.cross([0.0, 0.0, 1.0], z)
    x /= np.linalg.norm(x)
    R = np.stack([x, np.cross(z, x), z], axis=1) @ rotvec_to_matrix([0, 0, np.radians(roll_deg)])
    return from_rt(R, c)


def frame(i, image):
    return Frame(i, i / 30.0, image, INTR)


def blank(value=0):
    return np.full((480, 640, 3), value, np.uint8)


#: two 10 cm markers on a table, 25 cm apart; marker 1's frame is the scene's frame
SCENE = [MarkerPlacement(1, 0.1, np.eye(4)),
         MarkerPlacement(2, 0.1, from_rt(rotvec_to_matrix([0, np.radians(30), 0]), [0.25, 0.0, 0.05]))]


def render(T_world_camera, ids=(1, 2), noise=1.0, seed=0):
    return MarkerMap([p for p in SCENE if p.marker_id in ids], "DICT_6X6_250").render(
        T_world_camera, INTR, noise_std=noise, seed=seed)


def test_is_a_tracker_and_bad_config():
    assert isinstance(MarkerTracker(), Tracker)
    with pytest.raises(ArkitError):
        MarkerTracker(marker_size_m=0)
    with pytest.raises(ArkitError):
        MarkerTracker(dictionary="nope")
    with pytest.raises(ArkitError):
        MarkerTracker(smoothing=3)
    with pytest.raises(ArkitError):
        MarkerTracker(marker_map={"markers": []})


def test_state_machine_and_stable_ids():
    tr = MarkerTracker(marker_size_m=0.1)
    T1 = look_at(0.6, 30.0, 200.0, target=(0.0, 0.0, 0.0))
    out = tr.track(frame(0, blank()))
    assert out.camera.tracking_state == S.NOT_INITIALIZED and out.trackables == ()
    np.testing.assert_allclose(out.camera.T_world_camera, np.eye(4))

    out = tr.track(frame(1, render(T1, ids=(1,))))
    assert out.camera.tracking_state == S.TRACKING, out.camera.reason
    assert out.changes.added == ("marker:1",) and out.changes.updated == ()
    (m,) = out.trackables
    assert isinstance(m, MarkerTrackable) and m.id == "marker:1" and m.state == TrackableState.TRACKING
    assert m.marker_id == 1 and m.size_m == 0.1 and m.reprojection_error_px < 0.5 and m.image_points_px.shape == (4, 2)
    np.testing.assert_allclose(m.T_world_local, np.eye(4))  # first marker = world
    assert np.linalg.norm(out.camera.T_world_camera[:3, 3] - T1[:3, 3]) < 3e-3
    assert rotation_angle_deg(out.camera.T_world_camera, T1) < 0.5

    out = tr.track(frame(2, blank()))
    assert out.camera.tracking_state == S.LOST and out.camera.reason == "no markers visible"
    assert [t.state for t in out.trackables] == [TrackableState.PAUSED]
    assert out.changes.updated == ("marker:1",) and out.changes.added == ()

    out = tr.track(frame(3, blank()))
    assert out.camera.tracking_state == S.LOST and out.changes.empty

    out = tr.track(frame(4, render(T1, ids=(1,), seed=4)))
    assert out.camera.tracking_state == S.TRACKING
    assert out.changes.added == () and out.changes.updated == ("marker:1",)

    tr.reset()
    assert tr.track(frame(5, blank())).camera.tracking_state == S.NOT_INITIALIZED


def test_later_markers_are_chained_into_the_first_markers_world():
    tr = MarkerTracker(marker_size_m=0.1)
    centre = (0.12, 0.0, 0.02)
    poses = [look_at(0.7, 25.0, 250.0, target=(0, 0, 0)),
             look_at(0.8, 30.0, 260.0, target=centre),
             look_at(0.6, 20.0, 280.0, target=SCENE[1].T_world_marker[:3, 3])]
    out0 = tr.track(frame(0, render(poses[0], ids=(1,))))
    out1 = tr.track(frame(1, render(poses[1], seed=1)))
    assert out1.changes.added == ("marker:2",)
    m2 = [t for t in out1.trackables if t.id == "marker:2"][0]
    assert np.linalg.norm(m2.T_world_local[:3, 3] - SCENE[1].T_world_marker[:3, 3]) < 3e-3
    assert rotation_angle_deg(m2.T_world_local, SCENE[1].T_world_marker) < 1.0
    out2 = tr.track(frame(2, render(poses[2], ids=(2,), seed=2)))  # only the second marker
    assert out2.camera.tracking_state == S.TRACKING
    for out, T in zip((out0, out1, out2), poses):
        assert np.linalg.norm(out.camera.T_world_camera[:3, 3] - T[:3, 3]) < 5e-3
    states = {t.id: t.state for t in out2.trackables}
    assert states == {"marker:1": TrackableState.PAUSED, "marker:2": TrackableState.TRACKING}


def test_with_a_board_map():
    board = MarkerMap.grid_board(3, 2, 0.06, 0.015, "DICT_6X6_250", first_id=10)
    tr = MarkerTracker(marker_map=board, min_markers=2)
    centre = board.object_points(list(board.ids)).mean(axis=0)
    T = look_at(0.7, 35.0, 230.0, target=centre)
    out = tr.track(frame(0, board.render(T, INTR, noise_std=1.0)))
    assert out.camera.tracking_state == S.TRACKING
    assert np.linalg.norm(out.camera.T_world_camera[:3, 3] - T[:3, 3]) < 2e-3
    assert sorted(out.changes.added) == [f"marker:{i}" for i in range(10, 16)]
    for t in out.trackables:
        np.testing.assert_allclose(t.T_world_local, board.placement(t.marker_id).T_world_marker)
    # markers that are not in the map are reported but do not move the camera
    out = tr.track(frame(1, render(look_at(0.5, 20, 0), ids=(1,))))
    assert out.camera.tracking_state == S.LOST and out.camera.reason == "no known markers visible"
    assert {t.id for t in out.trackables} >= {"marker:1", "marker:10"}


def test_limited_states():
    T = look_at(0.6, 30.0, 200.0)
    img = render(T, ids=(1,))
    out = MarkerTracker(marker_size_m=0.1, min_markers=2).track(frame(0, img))
    assert out.camera.tracking_state == S.LIMITED and "2 required" in out.camera.reason
    out = MarkerTracker(marker_size_m=0.1, max_rms_px=1e-6).track(frame(0, img))
    assert out.camera.tracking_state == S.LIMITED and "reprojection" in out.camera.reason
    assert out.camera.is_tracking


def test_ambiguous_far_frontal_marker_is_limited():
    """A small marker seen head-on from far away: both IPPE flips explain the corners."""
    tr = MarkerTracker(marker_size_m=0.1)
    outs = [tr.track(frame(i, render(look_at(2.0, 8.0, 40.0 + 50.0 * i), ids=(1,), noise=2.0, seed=i)))
            for i in range(6)]
    assert [o.camera.tracking_state for o in outs].count(S.LIMITED) >= 2
    assert all(o.camera.reason == "ambiguous single-marker pose" for o in outs if o.camera.tracking_state == S.LIMITED)


@pytest.mark.parametrize("image", [blank(0), blank(255), np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)])
def test_never_raises_on_frames_without_markers(image):
    tr = MarkerTracker()
    for i in range(2):
        out = tr.track(frame(i, image))
        assert out.camera.tracking_state == S.NOT_INITIALIZED


def test_tiny_frame():
    intr = Intrinsics(8, 6, 10.0, 10.0, 4.0, 3.0)
    out = MarkerTracker().track(Frame(0, 0.0, np.zeros((6, 8, 3), np.uint8), intr))
    assert out.camera.tracking_state == S.NOT_INITIALIZED


def test_smoothing_option():
    tr = MarkerTracker(marker_size_m=0.1, smoothing={"min_cutoff": 0.5, "beta": 0.1})
    T = look_at(0.6, 30.0, 200.0)
    outs = [tr.track(frame(i, render(T, ids=(1,), noise=2.0, seed=i))) for i in range(5)]
    assert all(o.camera.tracking_state == S.TRACKING for o in outs)
    assert np.linalg.norm(outs[-1].camera.T_world_camera[:3, 3] - T[:3, 3]) < 3e-3


def test_real_charuco_photo_uses_chessboard_corners(shared_data):
    import cv2

    folder = shared_data("aruco_opencv_contrib_photos")
    fs = cv2.FileStorage(str(folder / "calib" / "tutorial_camera_charuco.yml"), cv2.FILE_STORAGE_READ)
    intr = Intrinsics.from_matrix(fs.getNode("camera_matrix").mat(), 640, 480, fs.getNode("distortion_coefficients").mat())
    board = MarkerMap.charuco_board(5, 7, 0.04, 0.02, "DICT_6X6_250")
    img = cv2.cvtColor(cv2.imread(str(folder / "images" / "choriginal.jpg")), cv2.COLOR_BGR2RGB)
    out = MarkerTracker(marker_map=board).track(Frame(0, 0.0, img, intr))
    assert out.camera.tracking_state == S.TRACKING and len(out.trackables) == 17
    markers_only = board.estimate_camera_pose_detailed(
        MarkerTracker(marker_map=board).detector.detect(img, intr), intr)
    from arkit.tracking.marker_tracker import refine_with_charuco
    refined = refine_with_charuco(board, img, MarkerTracker().detector.detect(img, intr), intr, markers_only)
    # the chessboard corners fit better than the marker corners (calibration RMS was 0.18 px)
    assert refined.rms_px < 0.3 and refined.rms_px < markers_only.rms_px
    np.testing.assert_allclose(out.camera.T_world_camera, refined.T_world_camera, atol=1e-6)
    assert np.linalg.norm(refined.T_world_camera[:3, 3] - markers_only.T_world_camera[:3, 3]) < 0.005


def test_on_frames_from_the_synthetic_sequence_generator(tmp_path):
    """Frames rendered by arkit.synthetic (an independent GL renderer) with exact ground truth."""
    import json

    import cv2
    import yaml

    from arkit.core.errors import MissingDependencyError, RendererError

    synthetic = pytest.importorskip("arkit.synthetic")
    from arkit.synthetic.tum_layout import read_groundtruth

    try:
        seq = synthetic.generate_sequence("marker_board", tmp_path / "seq", num_frames=5)
    except (MissingDependencyError, RendererError) as e:
        pytest.skip(f"synthetic renderer unavailable: {e}")
    scene = json.loads((seq / "scene.json").read_text())
    board = MarkerMap.from_dict({"dictionary": "DICT_6X6_250", "markers": scene["markers"]})
    intr = Intrinsics.from_dict(yaml.safe_load((seq / "intrinsics.yaml").read_text()))
    timestamps, T_gt = read_groundtruth(seq / "groundtruth.txt")
    tr = MarkerTracker(marker_map=board)
    t_err, r_err = [], []
    for i, path in enumerate(sorted((seq / "rgb").glob("*.png"))):
        img = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        out = tr.track(Frame(i, float(timestamps[i]), img, intr))
        assert out.camera.tracking_state == S.TRACKING, out.camera.reason
        t_err.append(np.linalg.norm(out.camera.T_world_camera[:3, 3] - T_gt[i][:3, 3]))
        r_err.append(rotation_angle_deg(out.camera.T_world_camera, T_gt[i]))
    assert len(t_err) == 5
    assert np.median(t_err) < 2e-3 and np.median(r_err) < 0.5


def test_preset_and_detector_params_from_a_scene_file(tmp_path):
    from pathlib import Path

    from arkit.scene.scene_file import load_scene
    from arkit.tracking.factory import build_tracker

    assert MarkerTracker(preset="fast").detector.parameters.adaptiveThreshWinSizeMax == 7
    with pytest.raises(ArkitError, match="preset"):
        MarkerTracker(preset="warp")
    tracker = build_tracker({"type": "markers", "detector_params": {"adaptiveThreshWinSizeMin": 5,
                                                                    "adaptiveThreshWinSizeMax": 15}})
    assert (tracker.detector.parameters.adaptiveThreshWinSizeMin, tracker.detector.parameters.adaptiveThreshWinSizeMax) == (5, 15)
    with pytest.raises(ArkitError, match="noSuchParameter"):
        build_tracker({"type": "markers", "detector_params": {"noSuchParameter": 1}})
    sample = Path(__file__).resolve().parents[2] / "samples" / "marker_cube" / "scene.yaml"
    if sample.exists():
        tracker = build_tracker(load_scene(sample).tracking)
        out = tracker.track(frame(0, render(look_at(0.6, 20.0, 40.0))))
        assert out.camera.tracking_state == S.TRACKING


def test_fast_preset_tracks_like_the_default():
    """Same markers, same camera poses (well within the accuracy figures) along a short path."""
    trackers = [MarkerTracker(marker_size_m=0.1), MarkerTracker(marker_size_m=0.1, preset="fast")]
    for i, az in enumerate(np.linspace(10.0, 80.0, 6)):
        img = render(look_at(0.5 + 0.1 * i, 25.0, az, 5.0, target=(0.1, 0.0, 0.0)), seed=i)
        a, b = (t.track(frame(i, img)) for t in trackers)
        assert [t.id for t in a.trackables] == [t.id for t in b.trackables]
        assert a.camera.tracking_state == b.camera.tracking_state == S.TRACKING
        assert np.linalg.norm(a.camera.T_world_camera[:3, 3] - b.camera.T_world_camera[:3, 3]) < 0.002
        assert rotation_angle_deg(a.camera.T_world_camera, b.camera.T_world_camera) < 0.2
