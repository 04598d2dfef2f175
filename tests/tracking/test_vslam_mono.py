"""Monocular visual SLAM: two-view initialisation (model selection, refinement) on exact
synthetic correspondences, and monocular tracking of a generated textured_room sequence."""

import numpy as np
import pytest

from arkit.core import Intrinsics
from arkit.core.pose import from_rt, rotation_angle_deg, rotvec_to_matrix
from arkit.tracking.vslam.features import FrameFeatures
from arkit.tracking.vslam.initializer import initialize_two_view, refine_two_view

K = Intrinsics(640, 480, 500.0, 500.0, 319.5, 239.5)
SIGMA2 = 1.2 ** (2 * np.arange(8))


def _project(T_cw, X):
    Xc = X @ T_cw[:3, :3].T + T_cw[:3, 3]
    return np.stack([K.fx * Xc[:, 0] / Xc[:, 2] + K.cx, K.fy * Xc[:, 1] / Xc[:, 2] + K.cy], 1), Xc[:, 2]


def _views(X, T_cw_b, noise_px=0.5, seed=0):
    """Features of two views of points X (world = camera a), one unique descriptor per point."""
    rng = np.random.default_rng(seed)
    uva, za = _project(np.eye(4), X)
    uvb, zb = _project(T_cw_b, X)
    ok = (za > 0) & (zb > 0) & np.all((uva >= 0) & (uva < [K.width, K.height]), 1) \
        & np.all((uvb >= 0) & (uvb < [K.width, K.height]), 1)
    uva, uvb = uva[ok], uvb[ok]
    n = len(uva)
    desc = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    oc = np.zeros(n, np.int32)
    a = FrameFeatures(uva + rng.normal(0, noise_px, (n, 2)), oc, desc, np.zeros(n))
    perm = rng.permutation(n)  # the second view lists its keypoints in another order
    b = FrameFeatures((uvb + rng.normal(0, noise_px, (n, 2)))[perm], oc, desc[perm], np.zeros(n))
    return a, b, np.flatnonzero(ok)


def _motion(angle_deg=2.0, t=(0.15, 0.02, 0.03)):
    R = rotvec_to_matrix(np.radians(angle_deg) * np.array([0.2, 1.0, 0.1]) / np.linalg.norm([0.2, 1.0, 0.1]))
    return from_rt(R, np.asarray(t, float))


def _direction_error_deg(t, t_true):
    c = t @ t_true / (np.linalg.norm(t) * np.linalg.norm(t_true))
    return float(np.degrees(np.arccos(np.clip(c, -1, 1))))


def test_essential_model_on_a_3d_scene_recovers_relative_pose():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.uniform(-1.5, 1.5, 600), rng.uniform(-1.0, 1.0, 600), rng.uniform(2.0, 5.0, 600)])
    T = _motion()
    a, b, kept = _views(X, T)
    res, why = initialize_two_view(K, a, b, SIGMA2)
    assert res is not None, why
    assert res.model == "essential"
    # the RANSAC essential matrix alone is 0.2-1.2 deg / 2.5-14 deg off on such scenes
    assert rotation_angle_deg(res.T_cw_cur[:3, :3], T[:3, :3]) < 0.2
    assert _direction_error_deg(res.T_cw_cur[:3, 3], T[:3, 3]) < 1.5
    # scale: median depth of the map is 1; the points are the true points up to that scale
    assert abs(np.median(res.X_world[:, 2]) - 1.0) < 1e-9
    assert len(res.idx_ref) > 300
    # the triangulated points are the true points up to one global scale: the scale implied by
    # the translation length is within 10% (the unrefined RANSAC pose gives about 0.65 here) and
    # the point-to-point scale spread is small (depth noise ~ pixel noise / parallax)
    true_scale = np.linalg.norm(T[:3, 3]) / np.linalg.norm(res.T_cw_cur[:3, 3])
    truth = X[kept[res.idx_ref]]
    ratio = np.linalg.norm(res.X_world * true_scale, axis=1) / np.linalg.norm(truth, axis=1)
    assert abs(np.median(ratio) - 1.0) < 0.1
    p10, p90 = np.percentile(ratio, [10, 90])
    assert p90 / p10 < 1.15


def test_homography_model_on_a_plane():
    rng = np.random.default_rng(2)
    X = np.column_stack([rng.uniform(-2, 2, 500), rng.uniform(-1.5, 1.5, 500), np.full(500, 3.0)])
    T = _motion(angle_deg=3.0, t=(0.3, 0.05, 0.0))
    a, b, kept = _views(X, T, seed=3)
    res, why = initialize_two_view(K, a, b, SIGMA2)
    assert res is not None, why
    assert res.model == "homography"
    assert rotation_angle_deg(res.T_cw_cur[:3, :3], T[:3, :3]) < 0.2
    assert _direction_error_deg(res.T_cw_cur[:3, 3], T[:3, 3]) < 3.0


def test_pure_rotation_is_rejected_for_lack_of_parallax():
    rng = np.random.default_rng(4)
    X = np.column_stack([rng.uniform(-1.5, 1.5, 500), rng.uniform(-1, 1, 500), rng.uniform(2, 5, 500)])
    T = _motion(angle_deg=3.0, t=(1e-4, 0.0, 0.0))
    a, b, kept = _views(X, T, seed=5)
    res, why = initialize_two_view(K, a, b, SIGMA2)
    assert res is None
    assert why  # a reason is always given


def test_two_view_refinement_reduces_pose_error():
    rng = np.random.default_rng(6)
    X = np.column_stack([rng.uniform(-1.5, 1.5, 300), rng.uniform(-1, 1, 300), rng.uniform(2, 5, 300)])
    T = _motion(angle_deg=1.5, t=(0.1, 0.0, 0.02))
    uva, _ = _project(np.eye(4), X)
    uvb, _ = _project(T, X)
    uva += rng.normal(0, 0.5, uva.shape)
    uvb += rng.normal(0, 0.5, uvb.shape)
    # start from a pose 4 degrees off in translation direction and 0.5 degrees in rotation
    T0 = T.copy()
    T0[:3, :3] = rotvec_to_matrix([0.0, 0.0, np.radians(0.5)]) @ T[:3, :3]
    T0[:3, 3] = rotvec_to_matrix([0.0, np.radians(4.0), 0.0]) @ T[:3, 3]
    X0 = X * (1 + rng.normal(0, 0.05, (len(X), 1)))
    s2 = np.ones(len(X))
    T1, X1 = refine_two_view(K, T0, X0, uva, uvb, s2, s2)
    assert abs(np.linalg.norm(T1[:3, 3]) - np.linalg.norm(T0[:3, 3])) < 1e-9  # the scale gauge holds
    assert _direction_error_deg(T1[:3, 3], T[:3, 3]) < 0.5
    assert rotation_angle_deg(T1[:3, :3], T[:3, :3]) < 0.05
    assert np.median(np.linalg.norm(_project(T1, X1)[0] - uvb, axis=1)) < 0.6


def test_identical_views_give_a_reason_not_an_exception():
    rng = np.random.default_rng(7)
    X = np.column_stack([rng.uniform(-1.5, 1.5, 400), rng.uniform(-1, 1, 400), rng.uniform(2, 5, 400)])
    a, _, _ = _views(X, np.eye(4), noise_px=0.0, seed=8)
    res, why = initialize_two_view(K, a, a, SIGMA2)   # a static camera: the same keypoints twice
    assert res is None and "no image motion" in why


def test_monocular_tracking_of_a_generated_textured_room(tmp_path):
    """Monocular (no depth) on 90 generated frames at 320x240: initialised within 30 frames,
    never lost after, Sim(3)-aligned ATE below 2 cm (measured about 0.5 cm)."""
    from arkit.synthetic.generator import generate_sequence
    from arkit.tracking.vslam.synthetic_eval import run_monocular
    from arkit.tracking.vslam.tracker import VisualTrackerConfig

    folder = generate_sequence("textured_room", tmp_path / "room", num_frames=90, width=320, height=240, seed=0)
    res = run_monocular(config=VisualTrackerConfig(mode="mono", n_features=600), folder=folder)
    assert res["init_frame"] is not None and res["init_frame"] <= 30, res["states"]
    assert res["lost_after_init"] == 0, res["states"]
    assert res["ate_rmse_m"] < 0.02, res
    run = res["run"]
    assert "NOT_INITIALIZED" not in run.states[res["init_frame"]:]


def test_run_monocular_rejects_an_rgbd_config(tmp_path):
    from arkit.tracking.vslam.synthetic_eval import run_monocular
    from arkit.tracking.vslam.tracker import VisualTrackerConfig

    with pytest.raises(ValueError, match="mode='mono'"):
        run_monocular(config=VisualTrackerConfig(mode="rgbd"), folder=tmp_path)
