"""One Euro pose smoothing: less jitter at rest, little lag on a step, restarts after a gap."""

import numpy as np
import pytest

from arkit.core.errors import ArkitError
from arkit.core.pose import from_rt, rotation_angle_deg, rotvec_to_matrix
from arkit.tracking.smoothing import OneEuroFilter, PoseOneEuroFilter, smoothing_alpha


def noisy_constant_poses(n=150, seed=0, t_std_m=0.002, r_std_deg=0.3):
    rng = np.random.default_rng(seed)
    return [from_rt(rotvec_to_matrix(rng.normal(0, np.radians(r_std_deg), 3)), np.array([0.1, -0.2, 1.0]) + rng.normal(0, t_std_m, 3))
            for _ in range(n)]


def jitter(poses):
    t = np.array([T[:3, 3] for T in poses])
    r = np.array([rotation_angle_deg(T, np.eye(4)) for T in poses])
    return float(np.std(t, axis=0).mean()), float(np.sqrt(np.mean(r ** 2)))


def test_alpha():
    assert 0 < smoothing_alpha(1.0, 1 / 30) < smoothing_alpha(10.0, 1 / 30) < 1


def test_reduces_jitter_on_a_noisy_constant_pose():
    raw = noisy_constant_poses()
    f = PoseOneEuroFilter(min_cutoff=1.0, beta=5.0)
    out = [f(T, i / 30.0) for i, T in enumerate(raw)]
    jt_raw, jr_raw = jitter(raw[20:])
    jt, jr = jitter(out[20:])
    assert jt < 0.5 * jt_raw and jr < 0.6 * jr_raw
    # and the smoothed pose stays centred on the true one
    assert np.linalg.norm(np.mean([T[:3, 3] for T in out[20:]], axis=0) - [0.1, -0.2, 1.0]) < 1e-3
    for T in out:  # still rigid transforms
        np.testing.assert_allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-9)


def test_small_lag_on_a_step():
    f = PoseOneEuroFilter(min_cutoff=1.0, beta=5.0)
    out = []
    for i in range(40):
        moved = i >= 10
        T = from_rt(rotvec_to_matrix([0, 0, np.radians(20.0) if moved else 0.0]), [0.1 if moved else 0.0, 0, 1])
        out.append(f(T, i / 30.0))
    x = np.array([T[0, 3] for T in out])
    ang = np.array([rotation_angle_deg(T, np.eye(4)) for T in out])
    assert x[9] == 0.0 and ang[9] == 0.0
    lag_t = int(np.argmax(x[10:] > 0.09))  # frames to reach 90 % of the step
    lag_r = int(np.argmax(ang[10:] > 18.0))
    assert lag_t <= 4 and lag_r <= 4, (lag_t, lag_r)
    assert abs(x[-1] - 0.1) < 1e-3 and abs(ang[-1] - 20.0) < 0.1


def test_first_pose_and_gap_pass_through():
    f = PoseOneEuroFilter(max_gap_s=0.5)
    A = from_rt(None, [0, 0, 1.0])
    B = from_rt(rotvec_to_matrix([0.3, 0, 0]), [1.0, 0, 1.0])
    np.testing.assert_allclose(f(A, 0.0), A)
    assert not np.allclose(f(B, 1 / 30), B)  # smoothed
    np.testing.assert_allclose(f(A, 5.0), A)  # after a gap: restart
    f.reset()
    np.testing.assert_allclose(f(B, 5.1), B)


def test_deterministic_and_non_increasing_timestamps():
    raw = noisy_constant_poses(30, seed=3)
    runs = []
    for _ in range(2):
        f = PoseOneEuroFilter()
        runs.append([f(T, 0.0) for T in raw])  # timestamps that do not increase use default_dt_s
    np.testing.assert_array_equal(np.array(runs[0]), np.array(runs[1]))


def test_bad_parameters():
    with pytest.raises(ArkitError):
        OneEuroFilter(min_cutoff=0.0)
    with pytest.raises(ArkitError):
        PoseOneEuroFilter(beta=-1.0)
    with pytest.raises(ArkitError):
        PoseOneEuroFilter(beta_rotation=-1.0)
    with pytest.raises(ArkitError):
        PoseOneEuroFilter()(np.eye(3), 0.0)
