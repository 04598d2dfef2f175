"""WorldAlignedTracker: metric scale and gravity from markers, depth, recorded poses, IMU and
the floor, on synthetic data with exact ground truth.

The inner tracker is replaced by a replay of the true camera path expressed in a monocular
tracker's world (the first camera frame, divided by a known scale, with small pose noise), so
the scale and the up direction the wrapper must find are known exactly. Limits (issue 3): scale
error < 2 %, gravity error < 2 deg.
"""

import numpy as np
import pytest

from arkit.core import TrackingState
from arkit.core.camera import Intrinsics
from arkit.core.errors import ArkitError
from arkit.core.frame import Frame
from arkit.core.pose import invert, rotvec_to_matrix
from arkit.core.trackables import CameraState
from arkit.tracking.base import Tracker, TrackerOutput
from arkit.tracking.scale_sources import fit_similarity, imu_up_camera
from arkit.tracking.world_alignment import WorldAlignedTracker, up_alignment_rotation

TRUE_SCALE = 2.7          # metres per inner unit
UP = np.array([0.0, 1.0, 0.0])


def look_at(eye, target):
    z = np.asarray(target, float) - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, UP)
    x /= np.linalg.norm(x)
    T = np.eye(4)
    T[:3, :3] = np.column_stack([x, np.cross(z, x), z])
    T[:3, 3] = eye
    return T


def orbit_path(n, radius=(0.5, 0.7), height=(0.45, 0.6), target=(0, 0, 0), sweep_deg=70, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        a = np.radians(-sweep_deg / 2 + sweep_deg * i / max(n - 1, 1))
        r = radius[0] + (radius[1] - radius[0]) * (0.5 + 0.5 * np.sin(3 * a))
        h = height[0] + (height[1] - height[0]) * (0.5 + 0.5 * np.cos(2 * a))
        T = look_at(np.array([r * np.sin(a), h, r * np.cos(a)]), target)
        T[:3, :3] = T[:3, :3] @ rotvec_to_matrix(rng.normal(0, np.radians(2), 3))   # hand jitter
        out.append(T)
    return np.array(out)


def to_inner(T_world_cams, scale=TRUE_SCALE, noise_m=0.001, noise_deg=0.05, seed=1):
    """The path as a monocular tracker reports it: first camera = origin, units = metres / scale."""
    rng = np.random.default_rng(seed)
    T_c0_w = invert(T_world_cams[0])
    out = []
    for T in T_world_cams:
        Ti = T_c0_w @ T
        Ti[:3, 3] = Ti[:3, 3] / scale + rng.normal(0, noise_m / scale, 3)
        Ti[:3, :3] = rotvec_to_matrix(rng.normal(0, np.radians(noise_deg), 3)) @ Ti[:3, :3]
        out.append(Ti)
    return np.array(out)


def up_in_inner(T_world_cams):
    return T_world_cams[0][:3, :3].T @ UP


def angle_deg(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


class ReplayTracker(Tracker):
    """Replays given inner poses (by ``frame.index``); ``states`` (optional) per frame."""

    def __init__(self, T_inner_cams, states=None):
        self.T, self.states = T_inner_cams, states

    def track(self, frame):
        i = min(frame.index, len(self.T) - 1)
        state = self.states[i] if self.states is not None else TrackingState.TRACKING
        return TrackerOutput(CameraState(self.T[i], state, "" if state == TrackingState.TRACKING else "replayed"))


K_SMALL = Intrinsics(64, 48, 60.0, 60.0, 31.5, 23.5)


def blank_frames(T_world_cams, meta_fn=None, recorded=None):
    img = np.full((48, 64, 3), 128, np.uint8)
    return [Frame(i, i / 30, img, K_SMALL, T_world_camera_recorded=None if recorded is None else recorded[i],
                  meta=meta_fn(i) if meta_fn else {}) for i in range(len(T_world_cams))]


def run(tracker, frames):
    return [tracker.track(f) for f in frames]


# -- math -------------------------------------------------------------------------------------------
def test_up_alignment_rotation_maps_up_to_y_and_forward_to_minus_z():
    rng = np.random.default_rng(0)
    for _ in range(20):
        up = rng.normal(size=3)
        R = up_alignment_rotation(up)
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-12) and np.isclose(np.linalg.det(R), 1.0)
        assert np.allclose(R @ (up / np.linalg.norm(up)), UP, atol=1e-12)
        fwd = R @ [0, 0, 1.0]
        assert abs(fwd[1]) == pytest.approx(abs(up[2]) / np.linalg.norm(up), abs=1e-9)   # only its vertical part stays
        assert fwd[2] < 0 or abs(up[2]) / np.linalg.norm(up) > 0.97
    R = up_alignment_rotation([0, 0, 1.0])          # forward is vertical: falls back to -Y
    assert np.allclose(R @ [0, 0, 1.0], UP)
    with pytest.raises(ArkitError):
        up_alignment_rotation([0, 0, 0])


def test_fit_similarity_recovers_scale_rotation_and_rejects_outliers():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 3))
    R = rotvec_to_matrix([0.3, -0.5, 0.2])
    y = 0.37 * x @ R.T + [1.0, 2.0, 3.0]
    y[::10] += 5.0                               # four gross outliers
    fit = fit_similarity(x, y)
    assert fit.scale == pytest.approx(0.37, rel=1e-9)
    assert np.allclose(fit.R_anchor_inner, R, atol=1e-9)
    assert fit.inliers.sum() == 36 and not fit.inliers[::10].any()
    line = np.outer(np.linspace(0, 1, 10), [1.0, 2.0, 0.5])       # straight-line motion
    fit = fit_similarity(line, 2.0 * line @ R.T, R_anchor_inner=R)
    assert fit.scale == pytest.approx(2.0, rel=1e-12)
    with pytest.raises(ArkitError):
        fit_similarity(line, 2.0 * line @ R.T)   # collinear without a known rotation


# -- recorded poses ----------------------------------------------------------------------------------
def test_scale_and_gravity_from_recorded_poses():
    T_gt = orbit_path(40)
    rng = np.random.default_rng(5)
    rec = T_gt.copy()
    rec[:, :3, 3] += rng.normal(0, 0.002, (40, 3))           # 2 mm noise on the recording
    tracker = WorldAlignedTracker(ReplayTracker(to_inner(T_gt)), scale="recorded", gravity="recorded")
    outs = run(tracker, blank_frames(T_gt, recorded=rec))
    a = tracker.alignment
    assert a is not None and a.scale_source == "recorded" and a.gravity_source == "recorded"
    assert abs(a.scale / TRUE_SCALE - 1) < 0.02
    assert angle_deg(a.up_inner, up_in_inner(T_gt)) < 2.0
    locked = a.frame_index
    states = [o.camera.tracking_state for o in outs]
    assert all(s == TrackingState.LIMITED for s in states[:locked])
    assert "aligning the world" in outs[0].camera.reason
    assert all(s == TrackingState.TRACKING for s in states[locked:])
    # after locking: metric, +Y up -> heights above the first camera are the true ones
    for o, T in zip(outs[locked:], T_gt[locked:]):
        assert o.camera.T_world_camera[1, 3] == pytest.approx(T[1, 3] - T_gt[0, 1, 3], abs=0.01)
        assert angle_deg(o.camera.T_world_camera[:3, :3].T @ UP, T[:3, :3].T @ UP) < 2.0


def test_recorded_up_axis_other_than_y():
    T_gt = orbit_path(30)
    z_up = np.eye(4)
    z_up[:3, :3] = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]        # world with +Z up (as TUM)
    rec = np.array([z_up @ T for T in T_gt])
    tracker = WorldAlignedTracker(ReplayTracker(to_inner(T_gt)), gravity="recorded", recorded_up_world=(0, 0, 1))
    run(tracker, blank_frames(T_gt, recorded=rec))
    assert angle_deg(tracker.alignment.up_inner, up_in_inner(T_gt)) < 2.0
    assert tracker.alignment.scale == 1.0 and tracker.alignment.scale_source is None


# -- IMU ----------------------------------------------------------------------------------------------
def test_gravity_from_imu_meta():
    T_gt = orbit_path(30)
    rng = np.random.default_rng(7)

    def meta(i):   # accelerometer-like gravity in camera axes, 1.5 deg noise per sample
        g = T_gt[i][:3, :3].T @ (-9.81 * UP)
        return {"gravity_camera": rotvec_to_matrix(rng.normal(0, np.radians(1.5), 3)) @ g}

    tracker = WorldAlignedTracker(ReplayTracker(to_inner(T_gt)), gravity="imu", min_gravity_samples=20)
    outs = run(tracker, blank_frames(T_gt, meta_fn=meta))
    assert tracker.alignment.frame_index == 19
    assert angle_deg(tracker.alignment.up_inner, up_in_inner(T_gt)) < 2.0
    assert outs[-1].camera.tracking_state == TrackingState.TRACKING


def test_bad_imu_meta_is_a_clear_error():
    f = Frame(0, 0.0, np.zeros((48, 64, 3), np.uint8), K_SMALL, meta={"gravity_camera": [0, 0, 0]})
    with pytest.raises(ArkitError, match="gravity_camera"):
        imu_up_camera(f)
    assert imu_up_camera(Frame(0, 0.0, np.zeros((48, 64, 3), np.uint8), K_SMALL)) is None


# -- marker ---------------------------------------------------------------------------------------------
K_VGA = Intrinsics(640, 480, 554.0, 554.0, 319.5, 239.5)


def render_marker_views(T_world_cams, size_m=0.15, marker_id=7, seed=0):
    """Exact homography renders of a DICT_6X6_250 marker lying on the floor at the origin (its
    arkit frame = the world frame: +Y up, top edge towards -Z)."""
    import cv2

    from arkit.tracking.markers import get_dictionary

    px, pad = 480, 120
    canvas = np.full((px + 2 * pad, px + 2 * pad), 255, np.uint8)
    canvas[pad:pad + px, pad:pad + px] = cv2.aruco.generateImageMarker(get_dictionary("DICT_6X6_250"), marker_id, px)
    n = canvas.shape[0]
    m_per_px = size_m / px
    src = np.float32([[-0.5, -0.5], [n - 0.5, -0.5], [n - 0.5, n - 0.5], [-0.5, n - 0.5]])
    xz = (src + 0.5 - pad) * m_per_px - size_m / 2
    world = np.column_stack([xz[:, 0], np.zeros(4), xz[:, 1]])
    rng = np.random.default_rng(seed)
    frames = []
    for i, T in enumerate(T_world_cams):
        Pc = (world - T[:3, 3]) @ T[:3, :3]
        H = cv2.getPerspectiveTransform(src, np.float32(K_VGA.project(Pc)))
        img = cv2.warpPerspective(canvas, H, (640, 480), flags=cv2.INTER_AREA, borderValue=150)
        img = np.clip(img + rng.normal(0, 1.0, img.shape), 0, 255).astype(np.uint8)
        frames.append(Frame(i, i / 30, np.repeat(img[:, :, None], 3, axis=2), K_VGA))
    return frames


def test_scale_and_gravity_from_a_marker():
    T_gt = orbit_path(24)
    frames = render_marker_views(T_gt)
    tracker = WorldAlignedTracker(ReplayTracker(to_inner(T_gt)), scale="marker", gravity="marker",
                                  marker_size_m=0.15)
    run(tracker, frames)
    a = tracker.alignment
    assert a is not None and a.scale_source == "marker" and a.num_samples >= 12
    assert tracker.anchors["marker"].marker_id == 7
    assert abs(a.scale / TRUE_SCALE - 1) < 0.02
    assert angle_deg(a.up_inner, up_in_inner(T_gt)) < 2.0


def test_wrong_marker_size_scales_the_world_proportionally():
    T_gt = orbit_path(24)
    tracker = WorldAlignedTracker(ReplayTracker(to_inner(T_gt)), scale="marker", marker_size_m=0.30)
    run(tracker, render_marker_views(T_gt))
    assert tracker.alignment.scale / TRUE_SCALE == pytest.approx(2.0, rel=0.02)


# -- depth: scale and floor ---------------------------------------------------------------------------
ROOM = [(np.array([0, 1.0, 0]), 0.0), (np.array([0, -1.0, 0]), 2.6),     # n . p + d = 0, normals inward
        (np.array([1.0, 0, 0]), 2.5), (np.array([-1.0, 0, 0]), 2.5),
        (np.array([0, 0, 1.0]), 2.5), (np.array([0, 0, -1.0]), 2.5)]


def room_depth(T_world_camera, K):
    """Exact depth (metres) of an empty 5 x 2.6 x 5 m room (floor at y = 0) seen from a camera."""
    u, v = np.meshgrid(np.arange(K.width), np.arange(K.height))
    rays = np.stack([(u - K.cx) / K.fx, (v - K.cy) / K.fy, np.ones_like(u, float)], axis=-1)
    d_world = rays @ T_world_camera[:3, :3].T
    c = T_world_camera[:3, 3]
    depth = np.full(u.shape, np.inf)
    for n, off in ROOM:
        den = d_world @ n
        with np.errstate(divide="ignore", invalid="ignore"):
            t = -(n @ c + off) / den
        depth = np.where((t > 0) & (t < depth), t, depth)
    return depth.astype(np.float32)


def test_gravity_from_the_floor_in_depth():
    K = Intrinsics(320, 240, 277.0, 277.0, 159.5, 119.5)
    rng = np.random.default_rng(11)
    T_gt = []
    for i in range(8):                                       # hand-held: 1.3-1.6 m high, looking 15-35 deg down
        eye = np.array([0.3 * np.sin(i / 3), 1.3 + 0.3 * rng.random(), 0.5 + 0.05 * i])
        pitch = np.radians(15 + 20 * rng.random())
        target = eye + np.array([np.sin(i / 5), -np.tan(pitch), -np.cos(i / 5)])
        T = look_at(eye, target)
        T[:3, :3] = T[:3, :3] @ rotvec_to_matrix([0, 0, np.radians(rng.uniform(-8, 8))])   # roll
        T_gt.append(T)
    T_gt = np.array(T_gt)
    frames = []
    for i, T in enumerate(T_gt):
        d = room_depth(T, K)
        d = d * (1 + rng.normal(0, 0.003, d.shape)).astype(np.float32)
        frames.append(Frame(i, i / 30, np.full((240, 320, 3), 100, np.uint8), K, depth_m=d))
    tracker = WorldAlignedTracker(ReplayTracker(to_inner(T_gt)), gravity="floor", min_gravity_samples=6)
    run(tracker, frames)
    assert tracker.alignment is not None and tracker.alignment.gravity_source == "floor"
    assert angle_deg(tracker.alignment.up_inner, up_in_inner(T_gt)) < 2.0


@pytest.fixture(scope="module")
def textured_room_frames(tmp_path_factory):
    from arkit.io.tum_rgbd import TumRgbdSource
    from arkit.synthetic import generate_sequence

    out = tmp_path_factory.mktemp("wa") / "room"
    generate_sequence("textured_room", out, num_frames=30, width=320, height=240, seed=0, texture_px_per_m=128)
    return list(TumRgbdSource(out))


def test_scale_from_depth_on_rendered_frames(textured_room_frames):
    frames = textured_room_frames
    T_gt = np.array([f.T_world_camera_recorded for f in frames])
    tracker = WorldAlignedTracker(ReplayTracker(to_inner(T_gt)), scale="depth")
    run(tracker, frames)
    a = tracker.alignment
    assert a is not None and a.scale_source == "depth", tracker.progress()
    assert abs(a.scale / TRUE_SCALE - 1) < 0.02


# -- behaviour -------------------------------------------------------------------------------------------
def test_alignment_stays_fixed_and_restarts_with_a_new_inner_map():
    T_gt = orbit_path(40)
    inner_T = to_inner(T_gt)
    states = [TrackingState.NOT_INITIALIZED] * 2 + [TrackingState.TRACKING] * 20 + [TrackingState.LOST] * 3 \
        + [TrackingState.TRACKING] * 5 + [TrackingState.NOT_INITIALIZED] + [TrackingState.TRACKING] * 9
    tracker = WorldAlignedTracker(ReplayTracker(inner_T, states), scale="recorded", min_samples=10,
                                  min_baseline_m=0.01)
    frames = blank_frames(T_gt, recorded=T_gt)
    outs = run(tracker, frames[:28])
    a = tracker.alignment
    assert a is not None and a.frame_index == 11                 # 10 tracked frames: 2..11
    assert outs[0].camera.tracking_state == TrackingState.NOT_INITIALIZED
    assert [o.camera.tracking_state for o in outs[22:25]] == [TrackingState.LOST] * 3
    assert tracker.alignment is a                                # LOST does not touch it
    out = tracker.track(frames[30])                              # inner map restarted
    assert out.camera.tracking_state == TrackingState.NOT_INITIALIZED and tracker.alignment is None
    out = tracker.track(frames[31])
    assert out.camera.tracking_state == TrackingState.LIMITED


def test_max_wait_frames_fixes_a_partial_alignment():
    T_gt = orbit_path(20)
    tracker = WorldAlignedTracker(ReplayTracker(to_inner(T_gt)), scale="recorded", max_wait_frames=5)
    outs = run(tracker, blank_frames(T_gt))                      # no recorded poses at all
    assert tracker.alignment.frame_index == 4 and tracker.alignment.scale == 1.0
    assert outs[-1].camera.tracking_state == TrackingState.TRACKING


def test_configuration_errors():
    inner = ReplayTracker(np.tile(np.eye(4), (2, 1, 1)))
    with pytest.raises(ArkitError, match="scale source"):
        WorldAlignedTracker(inner, scale="lidar")
    with pytest.raises(ArkitError, match="gravity source"):
        WorldAlignedTracker(inner, gravity="compass")
    with pytest.raises(ArkitError, match="marker_size_m"):
        WorldAlignedTracker(inner, scale="marker")
    with pytest.raises(ArkitError, match="Tracker"):
        WorldAlignedTracker(object(), scale="recorded")


# -- scene files and the factory ------------------------------------------------------------------------
def test_scene_file_vslam_section_builds_an_aligned_tracker(tmp_path):
    from arkit.core.errors import SceneFileError
    from arkit.scene.scene_file import load_scene
    from arkit.tracking.factory import build_tracker
    from arkit.tracking.vslam.tracker import VisualTracker

    def scene(tracking: str):
        p = tmp_path / "scene.yaml"
        p.write_text(f"name: t\ntracking:\n{tracking}\ncontent: []\n")
        return load_scene(p)

    sf = scene("  type: vslam\n  mode: mono\n  scale: marker\n  marker_size_m: 0.15\n  gravity: recorded\n"
               "  recorded_up: [0, 0, 1]\n  vslam: {n_features: 800}")
    tr = build_tracker(sf.tracking)
    assert isinstance(tr, WorldAlignedTracker) and isinstance(tr.inner, VisualTracker)
    assert tr.scale_source == "marker" and tr.gravity_source == "recorded"
    assert tr.inner.config.mode == "mono" and tr.inner.config.n_features == 800
    assert np.allclose(tr.recorded_up_world, [0, 0, 1])
    assert isinstance(build_tracker(scene("  type: vslam").tracking), VisualTracker)
    for bad, msg in [("  type: vslam\n  scale: lidar", "unknown scale"),
                     ("  type: vslam\n  gravity: compass", "unknown gravity"),
                     ("  type: vslam\n  scale: marker", "marker_size_m"),
                     ("  type: markers\n  scale: depth", "belongs to tracking type 'vslam'")]:
        with pytest.raises(SceneFileError, match=msg):
            scene(bad)
    with pytest.raises(ArkitError, match="unknown VisualTrackerConfig"):
        build_tracker({"type": "vslam", "vslam": {"bogus": 1}})
