"""Association, Umeyama alignment, ATE and RPE on synthetic trajectories with known answers."""

import numpy as np
import pytest

from arkit.core.errors import TrajectoryError
from arkit.core.pose import from_rt, invert, rotvec_to_matrix
from arkit.eval import align_trajectory, associate, ate, rotation_angles_rad, rpe, rpe_pairs, umeyama_alignment
from arkit.io.trajectory_formats import Trajectory


def smooth_trajectory(n=200, seed=0, dt=0.05, t0=100.0):
    """A wavy 3D path with slowly turning orientation (non-degenerate for Umeyama)."""
    rng = np.random.default_rng(seed)
    s = np.linspace(0, 2 * np.pi, n)
    a = rng.uniform(0.5, 2.0, 3)
    pos = np.stack([a[0] * np.cos(s), a[1] * np.sin(2 * s), a[2] * np.sin(s) * 0.5 + 0.1 * s], axis=1)
    T = np.tile(np.eye(4), (n, 1, 1))
    for i in range(n):
        T[i, :3, :3] = rotvec_to_matrix([0.3 * np.sin(s[i]), s[i] * 0.5, 0.1 * np.cos(3 * s[i])])
    T[:, :3, 3] = pos
    return Trajectory(t0 + dt * np.arange(n), T, "synthetic")


def random_sim3(seed):
    rng = np.random.default_rng(seed)
    R = rotvec_to_matrix(rng.normal(size=3))
    t = rng.normal(size=3) * 5
    s = float(rng.uniform(0.3, 3.0))
    return R, t, s


def apply_sim3(traj, R, t, s):
    """Poses [R R_i, s R t_i + t]: the estimate a monocular SLAM system would report."""
    T = np.array(traj.T_world_camera)
    T[:, :3, 3] *= s
    return Trajectory(traj.timestamps_s, from_rt(R, t) @ T, traj.name)


# -- association ----------------------------------------------------------------------------------
def test_associate_with_offset_and_missing_stamps():
    rng = np.random.default_rng(1)
    t_gt = np.arange(0, 10, 0.01)                               # 100 Hz ground truth
    t_est = np.arange(0, 10, 1 / 30) + rng.uniform(-4e-3, 4e-3, 300)  # 30 Hz with jitter
    drop = rng.choice(t_gt.size, 200, replace=False)
    t_gt_missing = np.delete(t_gt, drop)
    ie, ig = associate(t_est, t_gt_missing, max_diff_s=0.006)
    assert np.all(np.abs(t_est[ie] - t_gt_missing[ig]) <= 0.006)
    assert len(set(ig.tolist())) == ig.size and np.all(np.diff(ie) > 0)  # one-to-one, ordered
    # every estimate whose true nearest stamp survived and is close enough is matched
    for k in range(t_est.size):
        d = np.abs(t_gt_missing - t_est[k])
        if d.min() <= 0.004:
            assert k in ie
    # a clock offset: shift the estimate by 1.5 s and tell associate about it
    ie2, ig2 = associate(t_est - 1.5, t_gt_missing, max_diff_s=0.006, offset_s=1.5)
    np.testing.assert_array_equal(ie2, ie)
    np.testing.assert_array_equal(ig2, ig)
    # without the offset, only the overlapping part can match, and with other partners
    ie3, _ = associate(t_est - 1.5, t_gt_missing, max_diff_s=0.006)
    assert ie3.size < ie.size


def test_associate_is_one_to_one_and_closest_first():
    t_est = np.array([1.0, 1.0, 1.004])
    t_gt = np.array([0.999, 1.003, 2.0])
    ie, ig = associate(t_est, t_gt, max_diff_s=0.01)
    # closest pairs first: (2, 1) and (0, 0) at ~1 ms; the duplicate stamp 1 finds gt 0 and 1 taken
    assert set(zip(ie.tolist(), ig.tolist())) == {(0, 0), (2, 1)}
    # evo-style nearest association reuses the ground-truth stamp for the duplicate
    ie_n, ig_n = associate(t_est, t_gt, max_diff_s=0.01, one_to_one=False)
    np.testing.assert_array_equal(ie_n, [0, 1, 2])
    np.testing.assert_array_equal(ig_n, [0, 0, 1])


def test_associate_unsorted_and_empty():
    t_gt = np.array([3.0, 1.0, 2.0])
    ie, ig = associate([2.001, 1.0, 9.0], t_gt, 0.01)
    np.testing.assert_array_equal(ie, [0, 1])
    np.testing.assert_array_equal(ig, [2, 1])
    assert associate([], t_gt)[0].size == 0
    with pytest.raises(TrajectoryError):
        associate([1.0], [1.0], max_diff_s=-1)


# -- Umeyama ------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_umeyama_recovers_known_sim3(seed):
    rng = np.random.default_rng(seed)
    src = rng.normal(size=(50, 3))
    R, t, s = random_sim3(seed + 10)
    dst = s * src @ R.T + t
    R_e, t_e, s_e = umeyama_alignment(src, dst, with_scale=True)
    np.testing.assert_allclose(R_e, R, atol=1e-10)
    np.testing.assert_allclose(t_e, t, atol=1e-9)
    assert abs(s_e - s) < 1e-10
    R_e, t_e, s_e = umeyama_alignment(src, src @ R.T + t, with_scale=False)
    np.testing.assert_allclose(R_e, R, atol=1e-10)
    assert s_e == 1.0
    assert np.linalg.det(R_e) > 0


def test_umeyama_reflection_is_not_returned():
    rng = np.random.default_rng(5)
    src = rng.normal(size=(30, 3))
    dst = src * np.array([1.0, 1.0, -1.0])  # a mirror image: best proper rotation, det +1
    R, _, _ = umeyama_alignment(src, dst)
    assert np.linalg.det(R) == pytest.approx(1.0)


def test_umeyama_degenerate_inputs_raise():
    with pytest.raises(TrajectoryError, match="at least 3"):
        umeyama_alignment(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(TrajectoryError, match="degenerate"):
        umeyama_alignment(np.ones((10, 3)), np.ones((10, 3)))
    with pytest.raises(TrajectoryError, match="points"):
        umeyama_alignment(np.zeros((4, 3)), np.zeros((5, 3)))


# -- ATE ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
def test_ate_of_sim3_transformed_copy_is_zero(seed):
    gt = smooth_trajectory(seed=seed)
    R, t, s = random_sim3(seed)
    est = apply_sim3(gt, R, t, s)
    res = ate(est, gt, align="sim3")
    assert res.rmse_m < 1e-9 and res.max_m < 1e-9
    assert res.num_pairs == len(gt)
    assert res.scale == pytest.approx(1 / s, rel=1e-9)
    # T_gt_est maps estimated positions onto ground truth
    p = est.positions @ res.T_gt_est[:3, :3].T + res.T_gt_est[:3, 3]
    np.testing.assert_allclose(p, gt.positions, atol=1e-9)
    # SE(3) alignment cannot undo the scale
    assert abs(s - 1) > 0.05 and ate(est, gt, align="se3").rmse_m > 1e-3
    # and no alignment leaves the full error
    assert ate(est, gt, align="none").rmse_m > ate(est, gt, align="se3").rmse_m - 1e-12


def test_ate_statistics_with_known_errors():
    gt = smooth_trajectory(n=100)
    rng = np.random.default_rng(3)
    offsets = rng.normal(size=(100, 3)) * 0.01
    T = np.array(gt.T_world_camera)
    T[:, :3, 3] += offsets
    res = ate(Trajectory(gt.timestamps_s, T), gt, align="none")
    e = np.linalg.norm(offsets, axis=1)
    assert res.rmse_m == pytest.approx(np.sqrt(np.mean(e**2)))
    assert res.mean_m == pytest.approx(e.mean()) and res.median_m == pytest.approx(np.median(e))
    assert res.std_m == pytest.approx(e.std()) and res.max_m == pytest.approx(e.max())
    # se3 alignment can only reduce the error
    assert ate(Trajectory(gt.timestamps_s, T), gt, align="se3").rmse_m <= res.rmse_m + 1e-12
    d = res.to_dict()
    assert d["num_pairs"] == 100 and "errors_m" not in d and len(d["T_gt_est"]) == 4


def test_align_origin_maps_first_pose():
    gt = smooth_trajectory(n=50)
    R, t, _ = random_sim3(4)
    est = gt.transformed(from_rt(R, t))
    aligned, T, s = align_trajectory(est, gt, "origin")
    np.testing.assert_allclose(aligned.T_world_camera[0], gt.T_world_camera[0], atol=1e-12)
    np.testing.assert_allclose(aligned.T_world_camera, gt.T_world_camera, atol=1e-9)
    assert s == 1.0


def test_ate_errors_are_clear():
    gt = smooth_trajectory(n=20)
    shifted = Trajectory(gt.timestamps_s + 1000.0, gt.T_world_camera)
    with pytest.raises(TrajectoryError, match="no matching timestamps"):
        ate(shifted, gt)
    with pytest.raises(TrajectoryError, match="unknown alignment"):
        ate(gt, gt, align="affine")
    with pytest.raises(TrajectoryError, match="associate"):
        align_trajectory(gt[:5], gt, "se3")


# -- RPE ----------------------------------------------------------------------------------------
def test_rpe_zero_for_rigidly_moved_copy_and_known_drift():
    gt = smooth_trajectory(n=120)
    R, t, _ = random_sim3(7)
    res = rpe(gt.transformed(from_rt(R, t)), gt)
    assert res.trans_rmse_m < 1e-12 and res.rot_rmse_deg < 1e-6
    assert res.num_pairs == len(gt) - 1
    # a constant extra motion per frame in the camera frame gives a constant relative error
    bias = from_rt(rotvec_to_matrix([0, np.radians(0.5), 0]), [0.01, 0, 0])
    P = [gt.T_world_camera[0]]
    for i in range(1, len(gt)):
        rel = invert(gt.T_world_camera[i - 1]) @ gt.T_world_camera[i]
        P.append(P[-1] @ rel @ bias)
    res = rpe(Trajectory(gt.timestamps_s, np.stack(P)), gt)
    np.testing.assert_allclose(res.trans_errors_m, 0.01, rtol=1e-9)
    np.testing.assert_allclose(res.rot_errors_deg, 0.5, rtol=1e-9)


def test_rpe_pair_selection_like_evo():
    gt = smooth_trajectory(n=11)
    np.testing.assert_array_equal(rpe_pairs(gt, 3), [[0, 3], [3, 6], [6, 9]])
    assert rpe_pairs(gt, 3, all_pairs=True).shape == (8, 2)
    pm = rpe_pairs(gt, 1.0, "m")
    steps = np.linalg.norm(np.diff(gt.positions, axis=0), axis=1)
    for i, j in pm:
        assert steps[i:j].sum() >= 1.0 and steps[i:j - 1].sum() < 1.0
    ps = rpe_pairs(gt, 0.2, "s")  # dt = 0.05 s
    assert np.all(np.diff(ps, axis=1) == 4)
    with pytest.raises(TrajectoryError, match="integer"):
        rpe_pairs(gt, 1.5, "frames")
    with pytest.raises(TrajectoryError, match="no pose pairs"):
        rpe(gt, gt, delta=50)


def test_rpe_sim3_corrects_scale():
    gt = smooth_trajectory(n=80)
    R, t, s = random_sim3(2)
    est = apply_sim3(gt, R, t, s)
    assert rpe(est, gt, align="sim3").trans_rmse_m < 1e-9
    assert rpe(est, gt, align="none").trans_rmse_m > 1e-4


def test_rotation_angles_small_and_large():
    angles = np.array([1e-9, 1e-5, 0.3, 2.0, np.pi - 1e-3])
    R = np.stack([rotvec_to_matrix(a * np.array([0.6, 0.0, 0.8])) for a in angles])
    np.testing.assert_allclose(rotation_angles_rad(R), angles, rtol=1e-6)


def test_associate_refuses_absurd_tolerance():
    t = np.arange(4000) * 0.001
    with pytest.raises(TrajectoryError, match="candidate pairs"):
        associate(t, t, max_diff_s=10.0)
    ie, ig = associate(t, t, max_diff_s=10.0, one_to_one=False)  # nearest needs no candidate list
    np.testing.assert_array_equal(ie, ig)
