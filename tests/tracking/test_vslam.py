"""VisualTracker on synthetic scenes rendered inside the test (exact poses), bad frames and the map file."""

import sys
from pathlib import Path

import numpy as np
import pytest

from arkit.core import Frame, FrameError, Intrinsics, TrackingState
from arkit.core.pose import from_rt, invert, rotvec_to_matrix
from arkit.eval.trajectory import ate
from arkit.io.trajectory_formats import Trajectory
from arkit.tracking.vslam.map import Map
from arkit.tracking.vslam.tracker import VisualTracker, VisualTrackerConfig

sys.path.insert(0, str(Path(__file__).parent))
import plane_scene  # noqa: E402

W, H = 320, 240
K = Intrinsics(W, H, 280.0, 280.0, 159.5, 119.5)

_TEX = [plane_scene.texture(s) for s in range(3)]


def render(T_world_camera):
    """Ray-cast the three textured planes: (rgb (H, W, 3) uint8, depth (H, W) float32)."""
    return plane_scene.render(K, T_world_camera, _TEX)


def trajectory(n, step_m=0.015):
    poses = []
    for i in range(n):
        R = rotvec_to_matrix([0.0, 0.004 * i, 0.002 * i])
        poses.append(from_rt(R, [step_m * i, -0.1 + 0.03 * np.sin(i / 4.0), 0.005 * i]))
    return poses


def make_frames(n, depth=True, step_m=0.015):
    frames = []
    for i, T in enumerate(trajectory(n, step_m)):
        rgb, d = render(T)
        frames.append(Frame(i, i / 30.0, rgb, K, d if depth else None, T))
    return frames


@pytest.fixture(scope="module")
def rgbd_frames():
    return make_frames(16)


def _ate(est, frames, align):
    ts = np.array([f.timestamp_s for f in frames])
    gt = np.array([f.T_world_camera_recorded for f in frames])
    return ate(Trajectory(ts, np.array(est)), Trajectory(ts, gt), align=align)


def test_rgbd_tracks_synthetic_scene_with_exact_poses(rgbd_frames):
    tracker = VisualTracker(VisualTrackerConfig(mode="rgbd", n_features=600))
    est, states = [], []
    for f in rgbd_frames:
        out = tracker.track(f)
        est.append(out.camera.T_world_camera)
        states.append(out.camera.tracking_state)
    assert states[0] == TrackingState.TRACKING  # RGB-D initialises from one frame
    assert all(s == TrackingState.TRACKING for s in states), states
    # world = first camera: the estimate must match the relative ground truth without alignment
    T0 = rgbd_frames[0].T_world_camera_recorded
    for f, T in zip(rgbd_frames, est):
        T_gt = invert(T0) @ f.T_world_camera_recorded
        assert np.linalg.norm(T[:3, 3] - T_gt[:3, 3]) < 0.015
    # one pixel at the 1.6 m wall is 5.7 mm: the SE(3)-aligned ATE must stay below about a pixel
    assert _ate(est, rgbd_frames, "se3").rmse_m < 0.006
    # poses and keyframes stay rigid (rotations on SO(3); chained predictions used to drift off)
    for T in est + [kf.T_world_camera for kf in tracker.map.keyframes]:
        np.testing.assert_allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-9)


def test_black_and_textureless_frames_report_a_reason(rgbd_frames):
    tracker = VisualTracker(VisualTrackerConfig(mode="rgbd", n_features=600, local_ba=False))
    black = Frame(0, 0.0, np.zeros((H, W, 3), np.uint8), K, np.zeros((H, W), np.float32))
    out = tracker.track(black)
    assert out.camera.tracking_state == TrackingState.NOT_INITIALIZED
    assert "too few features with depth" in out.camera.reason
    assert tracker.track(rgbd_frames[0]).camera.tracking_state == TrackingState.TRACKING
    flat = np.full((H, W, 3), 127, np.uint8)
    flat[:, :, 0] += (np.arange(W) // 80).astype(np.uint8)[None, :]  # a few soft steps, no corners
    for img in (np.zeros((H, W, 3), np.uint8), flat):
        out = tracker.track(Frame(1, 0.1, img, K, np.ones((H, W), np.float32)))
        assert out.camera.tracking_state == TrackingState.LOST
        assert out.camera.reason.startswith("too few")
        assert np.all(np.isfinite(out.camera.T_world_camera))
    # an RGB-D tracker given a frame without depth: LOST with a reason, no exception
    out = tracker.track(Frame(2, 0.2, rgbd_frames[1].image_rgb, K))
    assert out.camera.tracking_state == TrackingState.LOST and "without depth" in out.camera.reason


def test_relocalises_after_loss(rgbd_frames):
    tracker = VisualTracker(VisualTrackerConfig(mode="rgbd", n_features=600, local_ba=False))
    for f in rgbd_frames[:10]:
        tracker.track(f)
    black = Frame(10, 0.3, np.zeros((H, W, 3), np.uint8), K, np.zeros((H, W), np.float32))
    assert tracker.track(black).camera.tracking_state == TrackingState.LOST
    out = tracker.track(rgbd_frames[12])
    assert out.camera.tracking_state in (TrackingState.TRACKING, TrackingState.LIMITED)
    T_gt = invert(rgbd_frames[0].T_world_camera_recorded) @ rgbd_frames[12].T_world_camera_recorded
    assert np.linalg.norm(out.camera.T_world_camera[:3, 3] - T_gt[:3, 3]) < 0.02


def test_depth_of_wrong_size_is_a_clear_error():
    with pytest.raises(FrameError, match="depth is 100x50"):
        Frame(0, 0.0, np.zeros((H, W, 3), np.uint8), K, np.zeros((50, 100), np.float32))


def test_map_save_load_round_trip_and_relocalisation(rgbd_frames, tmp_path):
    tracker = VisualTracker(VisualTrackerConfig(mode="rgbd", n_features=600, local_ba=False))
    for f in rgbd_frames[:12]:
        tracker.track(f)
    path = tracker.save_map(tmp_path / "room.npz")
    m = Map.load(path)
    assert len(m) == len(tracker.map) and len(m.keyframes) == len(tracker.map.keyframes)
    ids = tracker.map.alive_ids
    np.testing.assert_array_equal(m.alive_ids, ids)
    np.testing.assert_allclose(m.positions[ids], tracker.map.positions[ids])
    np.testing.assert_array_equal(m.descriptors[ids], tracker.map.descriptors[ids])
    for a, b in zip(m.keyframes, tracker.map.keyframes):
        np.testing.assert_allclose(a.T_world_camera, b.T_world_camera)
        np.testing.assert_array_equal(a.point_ids, b.point_ids)
    fresh = VisualTracker(VisualTrackerConfig(mode="rgbd", n_features=600, local_ba=False))
    fresh.load_map(path)
    out = fresh.track(rgbd_frames[14])
    assert out.camera.tracking_state in (TrackingState.TRACKING, TrackingState.LIMITED)
    T_gt = invert(rgbd_frames[0].T_world_camera_recorded) @ rgbd_frames[14].T_world_camera_recorded
    assert np.linalg.norm(out.camera.T_world_camera[:3, 3] - T_gt[:3, 3]) < 0.02


def test_map_load_rejects_other_files(tmp_path):
    from arkit.core.errors import InputFileError

    bad = tmp_path / "x.npz"
    np.savez(bad, a=np.zeros(3))
    with pytest.raises(InputFileError, match="not an arkit map"):
        Map.load(bad)


def test_monocular_two_view_initialisation_and_tracking():
    frames = make_frames(12, depth=False, step_m=0.05)
    tracker = VisualTracker(VisualTrackerConfig(mode="mono", n_features=500))
    est, states = [], []
    for f in frames:
        out = tracker.track(f)
        est.append(out.camera.T_world_camera)
        states.append(out.camera.tracking_state)
    assert states[0] == TrackingState.NOT_INITIALIZED
    tracked = [i for i, s in enumerate(states) if s in (TrackingState.TRACKING, TrackingState.LIMITED)]
    assert len(tracked) >= len(frames) - 3, states
    sel = [frames[i] for i in tracked]
    res = _ate([est[i] for i in tracked], sel, "sim3")
    path_len = np.linalg.norm(sel[-1].T_world_camera_recorded[:3, 3] - sel[0].T_world_camera_recorded[:3, 3])
    assert res.rmse_m < 0.05 * path_len


def test_repeated_and_stale_depth_frames(rgbd_frames):
    """A re-sent image keeps the previous pose and state; a frame whose depth is the previous
    frame's (out of sync) is tracked without it and still lands on the ground truth."""
    fr = list(rgbd_frames[:8])
    dup = Frame(100, fr[4].timestamp_s + 0.01, fr[4].image_rgb, K, fr[4].depth_m, fr[4].T_world_camera_recorded)
    stale = Frame(101, fr[5].timestamp_s, fr[5].image_rgb, K, fr[4].depth_m, fr[5].T_world_camera_recorded)
    seq = fr[:5] + [dup, stale] + fr[6:]
    tracker = VisualTracker(VisualTrackerConfig(mode="rgbd", n_features=600, local_ba=False))
    outs = [tracker.track(f) for f in seq]
    assert outs[5].camera.tracking_state == outs[4].camera.tracking_state == TrackingState.TRACKING
    np.testing.assert_array_equal(outs[5].camera.T_world_camera, outs[4].camera.T_world_camera)
    assert outs[6].camera.tracking_state == TrackingState.TRACKING
    T0 = fr[0].T_world_camera_recorded
    for o, f in zip(outs, seq):
        T_gt = invert(T0) @ f.T_world_camera_recorded
        assert np.linalg.norm(o.camera.T_world_camera[:3, 3] - T_gt[:3, 3]) < 0.015


def test_async_mapping_tracks_synthetic_scene(rgbd_frames):
    tracker = VisualTracker(VisualTrackerConfig(mode="rgbd", n_features=600, async_mapping=True))
    try:
        outs = [tracker.track(f) for f in rgbd_frames]
        tracker.wait_for_mapping()
        assert all(o.camera.tracking_state == TrackingState.TRACKING for o in outs)
        assert _ate([o.camera.T_world_camera for o in outs], rgbd_frames, "se3").rmse_m < 0.006
        assert tracker.mapping_cpu_s >= 0.0 and len(tracker.map.keyframes) >= 1
    finally:
        tracker.close()
