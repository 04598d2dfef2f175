"""SparsePlaneDetector on synthetic sparse points and the PlaneManager adapter."""

import numpy as np
import pytest

from arkit.core.errors import ArkitError
from arkit.planes.manager import PlaneManager
from arkit.planes.sparse_planes import (
    SparsePlaneDetector, sparse_manager_params, update_manager_with_sparse_planes,
)


def _angle_deg(a, b):
    c = abs(float(np.dot(a, b)) / (np.linalg.norm(a) * np.linalg.norm(b)))
    return float(np.degrees(np.arccos(min(1.0, c))))


def _scene(seed=0, noise_m=0.005):
    rng = np.random.default_rng(seed)
    floor = np.c_[rng.uniform(-2, 2, 400), np.zeros(400), rng.uniform(-1, 3, 400)]
    wall = np.c_[rng.uniform(-2, 2, 250), rng.uniform(0.1, 2.5, 250), np.full(250, 3.0)]   # z = 3
    table = np.c_[rng.uniform(0, 0.8, 120), np.full(120, 0.75), rng.uniform(0.5, 1.1, 120)]
    pts = np.vstack([floor, wall, table]) + rng.normal(0, noise_m, (770, 3))
    outliers = rng.uniform([-2, 0.2, -1], [2, 2.5, 2.8], (150, 3))
    labels = np.r_[np.zeros(400), np.ones(250), np.full(120, 2), np.full(150, -1)].astype(int)
    return np.vstack([pts, outliers]), labels


def test_floor_wall_table_found_outliers_rejected():
    P, lab = _scene()
    planes = SparsePlaneDetector((0, 1, 0), distance_threshold_m=0.02).detect(P, seed=0)
    horiz = [p for p in planes if p.kind == "horizontal"]
    vert = [p for p in planes if p.kind == "vertical"]
    floor = min(horiz, key=lambda p: p.centroid[1])
    assert _angle_deg(floor.normal, [0, 1, 0]) < 3.0
    assert floor.normal[1] > 0 and abs(floor.offset) < 0.02
    assert np.mean(lab[floor.inlier_idx] == 0) > 0.95 and np.sum(lab[floor.inlier_idx] == 0) > 380
    table = [p for p in horiz if abs(p.centroid[1] - 0.75) < 0.05]
    assert table and _angle_deg(table[0].normal, [0, 1, 0]) < 3.0
    wall = max(vert, key=lambda p: len(p.inlier_idx))
    assert _angle_deg(wall.normal, [0, 0, 1]) < 3.0
    assert abs(abs(wall.offset) - 3.0) < 0.02
    assert np.mean(lab[wall.inlier_idx] == 1) > 0.95
    # outliers: almost none end up in any plane, and no extra large planes
    used = np.concatenate([p.inlier_idx for p in planes])
    assert np.sum(lab[used] == -1) < 0.1 * 150
    assert len(planes) <= 4


def test_seeded_and_deterministic():
    P, _ = _scene(seed=3)
    det = SparsePlaneDetector((0, 1, 0))
    a, b = det.detect(P, seed=5), det.detect(P, seed=5)
    assert len(a) == len(b) and all(np.array_equal(x.inlier_idx, y.inlier_idx) for x, y in zip(a, b))


def test_no_gravity_prior_finds_tilted_plane():
    rng = np.random.default_rng(1)
    n = np.array([0.3, 0.8, 0.5]); n /= np.linalg.norm(n)
    u = np.cross(n, [1, 0, 0]); u /= np.linalg.norm(u); v = np.cross(n, u)
    P = rng.uniform(-1, 1, (300, 1)) * u + rng.uniform(-1, 1, (300, 1)) * v + 0.4 * n
    P = np.vstack([P + rng.normal(0, 0.003, P.shape), rng.uniform(-1, 1, (100, 3))])
    # 36 deg from up: neither horizontal nor vertical, so the gravity prior must not report it
    assert all(_angle_deg(p.normal, n) > 3 for p in SparsePlaneDetector((0, 1, 0)).detect(P, seed=0))
    planes = SparsePlaneDetector(None).detect(P, seed=0)
    assert planes and _angle_deg(planes[0].normal, n) < 2.0 and len(planes[0].inlier_idx) >= 290


def test_bad_input_and_too_few_points():
    det = SparsePlaneDetector()
    with pytest.raises(ArkitError):
        det.detect(np.zeros((5, 2)))
    with pytest.raises(ArkitError):
        SparsePlaneDetector(gravity_up_world=(0, 0, 0))
    assert det.detect(np.zeros((0, 3))) == []
    P, _ = _scene()
    P[::7] = np.nan
    assert det.detect(P)  # NaN rows are ignored


def test_manager_adapter_stable_ids_and_floor_label():
    P, _ = _scene()
    det = SparsePlaneDetector((0, 1, 0))
    mgr = PlaneManager(sparse_manager_params())
    ch1 = update_manager_with_sparse_planes(mgr, det.detect(P, seed=0), P)
    assert len(ch1.added) >= 2
    labels = {p.id: p.label for p in mgr.planes()}
    assert "floor" in labels.values()
    floor = next(p for p in mgr.planes() if p.label == "floor")
    assert abs(floor.T_world_local[1, 3]) < 0.02 and floor.T_world_local[:3, 1] @ [0, 1, 0] > 0.999
    # the same map seen again (plus a few more points): no new planes, same ids updated
    P2, _ = _scene(seed=1)
    ch2 = update_manager_with_sparse_planes(mgr, det.detect(P2, seed=0), P2)
    assert ch2.added == () and set(ch2.updated) <= set(labels)
    assert {p.id for p in mgr.planes()} == set(labels)


def _sim3_from_poses(T_est, T_gt):
    """Similarity ``gt ~ s R est + t`` with R from the camera orientations (chordal mean) and
    s, t from the positions. Position-only Umeyama is ill-conditioned on a short, nearly
    straight camera path (it tilts the map by ~13 deg on this sequence)."""
    M = sum(g[:3, :3] @ e[:3, :3].T for e, g in zip(T_est, T_gt))
    U, _, Vt = np.linalg.svd(M)
    R = U @ np.diag([1.0, 1.0, np.linalg.det(U @ Vt)]) @ Vt
    e = np.array([T[:3, 3] for T in T_est])
    g = np.array([T[:3, 3] for T in T_gt])
    ec, gc = e - e.mean(0), g - g.mean(0)
    s = float(np.sum(gc * (ec @ R.T)) / np.sum(ec * ec))
    return R, g.mean(0) - s * R @ e.mean(0), s


def test_floor_from_monocular_map_points(tmp_path):
    """Monocular tracker (no depth) on a synthetic room seen from above: the floor is among
    the planes of its map points 30 frames (1 s) after initialisation."""
    import dataclasses
    from pathlib import Path

    import yaml

    import arkit.synthetic.recipes as recipes
    from arkit.io.tum_rgbd import TumRgbdSource
    from arkit.synthetic import generate_sequence
    from arkit.tracking.vslam.tracker import VisualTracker, VisualTrackerConfig

    rec = yaml.safe_load((Path(recipes.__file__).parent / "recipes" / "textured_room.yaml").read_text())
    # the stock orbit looks at the table from low elevations and sees almost no floor
    rec["camera"].update(target=[0.0, 0.0, 0.0], elevation_deg=[40.0, 55.0], distance_m=[2.0, 2.4])
    out = generate_sequence(rec, tmp_path / "seq", num_frames=45, width=320, height=240, seed=0)
    tracker = VisualTracker(VisualTrackerConfig(mode="mono", n_features=800))
    T_est, T_gt, init = [], [], None
    try:
        for f in TumRgbdSource(out):
            o = tracker.track(dataclasses.replace(f, depth_m=None))
            if o.camera.is_tracking:
                init = f.index if init is None else init
                T_est.append(o.camera.T_world_camera)
                T_gt.append(f.T_world_camera_recorded)
            if init is not None and f.index >= init + 30:
                break
        assert init is not None and len(T_est) >= 25
        tracker.wait_for_mapping()
        P = tracker.map.positions[tracker.map.alive_ids]
    finally:
        tracker.close()
    R, t, s = _sim3_from_poses(T_est, T_gt)
    planes = SparsePlaneDetector((0, 1, 0), distance_threshold_m=0.03).detect(s * P @ R.T + t, seed=0)
    horiz = [p for p in planes if p.kind == "horizontal"]
    assert horiz, planes
    floor = min(horiz, key=lambda p: -p.offset)            # lowest horizontal plane
    assert _angle_deg(floor.normal, [0, 1, 0]) < 3.0
    assert abs(floor.offset) < 0.15                        # monocular map: a few cm of bias
    assert len(floor.inlier_idx) > 100


def test_plane_stage_uses_point_source_without_depth():
    from arkit.core.camera import Intrinsics
    from arkit.core.frame import Frame
    from arkit.core.trackables import CameraState, TrackingState
    from arkit.planes.stage import PlaneStage

    P, _ = _scene()
    stage = PlaneStage(point_source=lambda: P, sparse_every_n_frames=2, params=sparse_manager_params())
    K = Intrinsics(fx=100.0, fy=100.0, cx=32.0, cy=24.0, width=64, height=48)
    img = np.zeros((48, 64, 3), np.uint8)
    cam = CameraState(np.eye(4), TrackingState.TRACKING)
    out0 = stage.update(Frame(0, 0.0, img, K), cam)
    assert len(out0.changes.added) >= 2 and any(p.label == "floor" for p in out0.trackables)
    out1 = stage.update(Frame(1, 0.1, img, K), cam)                  # skipped frame: no change
    assert out1.changes.added == () and out1.changes.updated == ()
    lost = stage.update(Frame(2, 0.2, img, K), CameraState(np.eye(4), TrackingState.LOST))
    assert all(p.state.value == "PAUSED" for p in lost.trackables)
    # a stage without point source ignores frames without depth
    assert PlaneStage().update(Frame(0, 0.0, img, K), cam).trackables == ()
