"""Hand-held camera paths: smooth, seeded, at the right distances; turn_away leaves and returns."""

import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import ArkitError
from arkit.core.pose import invert, rotation_angle_deg, transform_points
from arkit.synthetic.camera_paths import make_camera_path
from arkit.synthetic.recipes import load_recipe

FPS = 30.0


def _kinematics(T):
    pos = T[:, :3, 3]
    v = np.diff(pos, axis=0) * FPS
    a = np.diff(v, axis=0) * FPS
    w = np.array([rotation_angle_deg(T[i], T[i + 1]) for i in range(len(T) - 1)]) * FPS
    return np.linalg.norm(v, axis=1), np.linalg.norm(a, axis=1), w


@pytest.mark.parametrize("kind", ["orbit", "turn_away"])
def test_paths_are_smooth_proper_and_seeded(kind):
    p = make_camera_path({"type": kind}, duration_s=12.0, seed=4)
    t, T = p.frames(360)
    assert t.shape == (360,) and T.shape == (360, 4, 4)
    np.testing.assert_allclose(np.diff(t), 1 / FPS)
    R = T[:, :3, :3]
    np.testing.assert_allclose(np.einsum("nji,njk->nik", R, R), np.broadcast_to(np.eye(3), R.shape), atol=1e-9)
    assert np.allclose(np.linalg.det(R), 1.0)
    speed, acc, ang = _kinematics(T)
    assert speed.max() < (1.2 if kind == "turn_away" else 0.6)     # m/s
    assert acc.max() < 4.0                                          # m/s^2
    assert ang.max() < (200.0 if kind == "turn_away" else 60.0)     # deg/s
    # continuous in time: a half-frame step moves about half as far as a frame step
    half = p.pose_at(t[:-1] + 0.5 / FPS)[:, :3, 3]
    assert np.max(np.linalg.norm(half - T[:-1, :3, 3], axis=1)) < 0.6 * speed.max() / FPS + 1e-6
    # seeded
    np.testing.assert_array_equal(make_camera_path({"type": kind}, 12.0, seed=4).frames(360)[1], T)
    assert not np.allclose(make_camera_path({"type": kind}, 12.0, seed=5).frames(360)[1], T)


def test_orbit_speed_is_constant_without_noise():
    p = make_camera_path({"position_noise_m": 0.0, "rotation_noise_deg": 0.0, "target_noise_m": 0.0,
                          "speed_mps": 0.3}, duration_s=10.0, seed=1)
    speed, _, _ = _kinematics(p.frames(300)[1])
    np.testing.assert_allclose(speed, 0.3, rtol=0.02)


def test_marker_room_camera_stays_at_working_distance_and_sees_markers():
    spec = load_recipe("marker_room")
    floor_markers = [m for m in spec.all_markers() if abs(m.T_world_marker[1, 3]) < 0.01]
    centres = np.array([m.T_world_marker[:3, 3] for m in floor_markers])
    p = make_camera_path(spec.camera, duration_s=10.0, seed=0)
    _, T = p.frames(300)
    d = np.linalg.norm(T[:, None, :3, 3] - centres[None], axis=2)
    assert d.min() > 0.4 and d.max() < 1.5
    K = Intrinsics.from_fov(640, 480, 60.0, warn=False)
    for Ti in T[::10]:
        assert _visible_markers(K, Ti, floor_markers) >= 2


def _visible_markers(K, T_world_camera, markers) -> int:
    n = 0
    for m in markers:
        pc = transform_points(invert(T_world_camera), m.corners_world())
        if np.any(pc[:, 2] <= 0.05):
            continue
        uv = K.project(pc)
        if np.all((uv[:, 0] >= 0) & (uv[:, 0] < K.width) & (uv[:, 1] >= 0) & (uv[:, 1] < K.height)):
            n += 1
    return n


def _any_marker_corner_in_view(K, T_world_camera, markers) -> bool:
    for m in markers:
        pc = transform_points(invert(T_world_camera), m.corners_world())
        ok = pc[:, 2] > 0.05
        uv = K.project(pc[ok])
        if np.any((uv[:, 0] >= 0) & (uv[:, 0] < K.width) & (uv[:, 1] >= 0) & (uv[:, 1] < K.height)):
            return True
    return False


def test_turn_away_path_leaves_the_markers_and_returns():
    spec = load_recipe("turn_away")
    markers = spec.all_markers()
    p = make_camera_path(spec.camera, duration_s=12.0, seed=0)
    t, T = p.frames(360)
    K = Intrinsics.from_fov(640, 480, 60.0, warn=False)
    w = p.turn_weight(t)
    away = np.nonzero(w > 0.999)[0]
    before = np.nonzero((t < t[away[0]]) & (w == 0))[0]
    after = np.nonzero((t > t[away[-1]]) & (w == 0))[0]
    assert len(away) >= 30 and len(before) >= 30 and len(after) >= 30
    assert not any(_any_marker_corner_in_view(K, T[i], markers) for i in away)
    assert all(_visible_markers(K, T[i], markers) >= 2 for i in before[::5])
    assert all(_visible_markers(K, T[i], markers) >= 2 for i in after[::5])
    target = np.asarray(spec.camera["target"], float)
    dist = np.linalg.norm(T[:, :3, 3] - target, axis=1)
    assert dist[away].min() > dist[before].max()


def test_turn_away_transitions_keep_a_minimum_duration_for_short_paths():
    p = make_camera_path({"type": "turn_away"}, duration_s=2 / 30, seed=0)
    w = p.turn_weight(np.arange(2) / 30)
    assert np.all(w < 0.01)  # a 2-frame sequence does not whip round between its two frames
    speed, _, ang = _kinematics(make_camera_path({"type": "turn_away"}, duration_s=3.0, seed=0).frames(90)[1])
    assert ang.max() < 250.0 and speed.max() < 1.5


def test_bad_path_options_raise():
    with pytest.raises(ArkitError, match="unknown camera path type"):
        make_camera_path({"type": "spiral"})
    with pytest.raises(ArkitError, match="unknown camera path option"):
        make_camera_path({"radius": 3})
    with pytest.raises(ArkitError, match="distance_m"):
        make_camera_path({"distance_m": [1.0, 0.5]})


@pytest.mark.parametrize("name", ["marker_room", "marker_board", "textured_room", "turn_away"])
def test_builtin_paths_stay_in_the_room_and_clear_of_furniture(name):
    spec = load_recipe(name)
    for seed in (0, 1, 2):
        for frames in (300, 900):
            p = make_camera_path(spec.camera, duration_s=frames / FPS, seed=seed)
            problems = spec.clearance_violations(p.frames(frames)[1][:, :3, 3], margin_m=0.1)
            assert problems == [], f"{name} seed {seed} {frames} frames: {problems}"


def test_clearance_check_finds_a_camera_inside_a_box():
    spec = load_recipe("textured_room")  # table at the origin, 0.75 m high
    assert spec.clearance_violations([[0.0, 0.5, 0.0]]) != []
    assert spec.clearance_violations([[0.0, 30.0, 0.0]]) != []  # above the ceiling
    assert spec.clearance_violations([[0.0, 1.5, 1.5]]) == []
