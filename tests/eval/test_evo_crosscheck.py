"""arkit's ATE / RPE agree with evo (evo_ape translation_part, evo_rpe) on real trajectories.

evo is a GPL test-only dependency (the ``dev`` extra); arkit itself never imports it.
"""

import copy

import numpy as np
import pytest

from arkit.eval import associate, ate, rpe
from arkit.io.trajectory_formats import read_trajectory

evo = pytest.importorskip("evo")
from evo.core import metrics, sync  # noqa: E402
from evo.tools import file_interface  # noqa: E402

REL = 1e-6

# (estimate, ground truth, ground-truth format, alignments, one_to_one)
# V1_02's estimate repeats 4 timestamps: evo matches both copies to the same ground-truth
# pose, so that case uses evo's nearest-stamp rule (one_to_one=False).
CASES = [
    ("freiburg1_xyz-rgbdslam.txt", "freiburg1_xyz-groundtruth.txt", "tum", ("se3", "sim3"), True),
    ("fr2_desk_ORB_kf_mono.txt", "fr2_desk_groundtruth.txt", "tum", ("sim3",), True),
    ("fr2_desk_ORB.txt", "fr2_desk_groundtruth.txt", "tum", ("se3",), True),
    ("V102.txt", "V102_groundtruth.csv", "euroc", ("se3", "sim3"), False),
    ("KITTI_00_ORB.txt", "KITTI_00_gt.txt", "kitti", ("sim3",), True),
]
MAX_DIFF_S = 0.01  # evo's default


def evo_read(path, fmt):
    if fmt == "tum":
        return file_interface.read_tum_trajectory_file(str(path))
    if fmt == "kitti":
        return file_interface.read_kitti_poses_file(str(path))
    return file_interface.read_euroc_csv_trajectory(str(path))


def evo_pair(d, est_name, gt_name, gt_fmt):
    ref = evo_read(d / gt_name, gt_fmt)
    est = evo_read(d / est_name, "kitti" if gt_fmt == "kitti" else "tum")
    if gt_fmt != "kitti":  # KITTI poses have no stamps: evo compares them line by line
        ref, est = sync.associate_trajectories(ref, est, max_diff=MAX_DIFF_S)
    return ref, est


def evo_rmse(metric, ref, est):
    metric.process_data((ref, est))
    return metric.get_statistic(metrics.StatisticsType.rmse)


@pytest.mark.parametrize("est_name,gt_name,gt_fmt,aligns,one_to_one", CASES, ids=[c[0] for c in CASES])
def test_ate_rpe_match_evo(shared_data, est_name, gt_name, gt_fmt, aligns, one_to_one):
    d = shared_data("evo_trajectories")
    est = read_trajectory(d / est_name)
    gt = read_trajectory(d / gt_name)
    ref_evo, est_evo = evo_pair(d, est_name, gt_name, gt_fmt)
    assert ref_evo.num_poses == est_evo.num_poses

    # the readers agree with evo's pose by pose
    if gt_fmt == "kitti":
        np.testing.assert_allclose(gt.T_world_camera, np.stack(ref_evo.poses_se3), atol=1e-12)
    else:
        ie, ig = associate(est.timestamps_s, gt.timestamps_s, MAX_DIFF_S, one_to_one=one_to_one)
        assert ie.size == est_evo.num_poses
        np.testing.assert_allclose(est.T_world_camera[ie], np.stack(est_evo.poses_se3), atol=1e-12)
        np.testing.assert_allclose(gt.T_world_camera[ig], np.stack(ref_evo.poses_se3), atol=1e-12)

    for align in aligns:
        aligned = copy.deepcopy(est_evo)
        aligned.align(ref_evo, correct_scale=(align == "sim3"))
        ape_evo = evo_rmse(metrics.APE(metrics.PoseRelation.translation_part), ref_evo, aligned)
        rpe_t_evo = evo_rmse(metrics.RPE(metrics.PoseRelation.translation_part, 1, metrics.Unit.frames), ref_evo, aligned)
        rpe_r_evo = evo_rmse(metrics.RPE(metrics.PoseRelation.rotation_angle_deg, 1, metrics.Unit.frames), ref_evo, aligned)

        a = ate(est, gt, align=align, max_diff_s=MAX_DIFF_S, one_to_one=one_to_one)
        r = rpe(est, gt, align=align, max_diff_s=MAX_DIFF_S, one_to_one=one_to_one)
        assert a.num_pairs == ref_evo.num_poses
        assert a.rmse_m == pytest.approx(ape_evo, rel=REL), align
        assert r.trans_rmse_m == pytest.approx(rpe_t_evo, rel=REL), align
        assert r.rot_rmse_deg == pytest.approx(rpe_r_evo, rel=REL), align


def test_rpe_in_metres_and_all_pairs_match_evo(shared_data):
    d = shared_data("evo_trajectories")
    est = read_trajectory(d / "KITTI_00_ORB.txt")
    gt = read_trajectory(d / "KITTI_00_gt.txt")
    ref_evo, est_evo = evo_pair(d, "KITTI_00_ORB.txt", "KITTI_00_gt.txt", "kitti")
    for delta, all_pairs in ((100.0, False), (400.0, False)):
        m = metrics.RPE(metrics.PoseRelation.translation_part, delta, metrics.Unit.meters, all_pairs=all_pairs)
        ours = rpe(est, gt, delta=delta, delta_unit="m", all_pairs=all_pairs)
        assert ours.trans_rmse_m == pytest.approx(evo_rmse(m, ref_evo, est_evo), rel=REL)
        assert ours.num_pairs == len(m.delta_ids)
    # all pairs in frames on the short TUM case
    d_est, d_gt = "freiburg1_xyz-rgbdslam.txt", "freiburg1_xyz-groundtruth.txt"
    ref_evo, est_evo = evo_pair(d, d_est, d_gt, "tum")
    m = metrics.RPE(metrics.PoseRelation.rotation_angle_deg, 10, metrics.Unit.frames, all_pairs=True)
    ours = rpe(read_trajectory(d / d_est), read_trajectory(d / d_gt), delta=10, all_pairs=True, max_diff_s=MAX_DIFF_S)
    assert ours.rot_rmse_deg == pytest.approx(evo_rmse(m, ref_evo, est_evo), rel=REL)
