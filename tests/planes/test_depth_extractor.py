"""Plane extraction from depth: synthetic scenes with exact ground truth, bad input, real frames."""

import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import FrameError, IntrinsicsError
from arkit.planes.depth_extractor import DepthPlaneExtractor, DepthPlaneParams, extract_planes
from arkit.planes.testing import evaluate_planes, look_at, render_depth, room_scene

K = Intrinsics(640, 480, 525.0, 525.0, 319.5, 239.5)

VIEWS = [
    ((0.5, 1.5, -0.8), (-0.3, 0.4, 2.0)),
    ((1.2, 1.6, 0.0), (-0.5, 0.6, 2.2)),
    ((-0.2, 1.2, -0.5), (-1.0, 0.3, 1.6)),
    ((1.0, 1.7, -0.5), (0.6, 0.7, 1.6)),
]


@pytest.fixture(scope="module")
def extractor():
    return DepthPlaneExtractor(K)


@pytest.mark.parametrize("view", range(len(VIEWS)))
def test_synthetic_room_precision_recall_and_accuracy(extractor, view):
    eye, target = VIEWS[view]
    gt = render_depth(room_scene(), K, look_at(eye, target), seed=view)
    res = extractor(gt.depth_m)
    normals = np.array([p.normal for p in res.planes])
    offsets = np.array([p.offset for p in res.planes])
    rep = evaluate_planes(res.labels, normals, offsets, gt, min_fraction=0.05)
    assert rep.num_gt >= 3
    assert rep.precision >= 0.95 and rep.recall >= 0.95, rep
    assert rep.max_normal_error_deg < 1.0
    assert rep.max_offset_error_m < 0.01


def test_planes_are_consistent(extractor):
    gt = render_depth(room_scene(), K, look_at(*VIEWS[0]), seed=3)
    res = extractor(gt.depth_m)
    assert res.labels.shape == (480, 640) and res.labels.dtype == np.int16
    assert np.all(res.labels[gt.depth_m == 0] == -1)          # invalid pixels are never inliers
    sizes = [p.num_inliers for p in res.planes]
    assert sizes == sorted(sizes, reverse=True)
    for i, p in enumerate(res.planes):
        assert p.inlier_mask.sum() == p.num_inliers == np.count_nonzero(res.labels == i)
        assert abs(np.linalg.norm(p.normal) - 1) < 1e-9
        assert p.offset > 0 and p.normal @ p.centroid < 0    # normal faces the camera
        assert abs(p.normal @ p.centroid + p.offset) < 1e-9
        uv = np.argwhere(p.inlier_mask)[:, ::-1]
        pts = K.unproject(uv, gt.depth_m[p.inlier_mask])
        assert np.sqrt(np.mean(p.distance(pts) ** 2)) == pytest.approx(p.rms_m, rel=1e-3, abs=1e-6)
        assert not p.inlier_mask.flags.writeable


def test_deterministic(extractor):
    gt = render_depth(room_scene(), K, look_at(*VIEWS[1]), seed=5)
    a, b = extractor(gt.depth_m), extractor(gt.depth_m.copy())
    assert np.array_equal(a.labels, b.labels)
    assert [p.offset for p in a.planes] == [p.offset for p in b.planes]


def test_single_wall_and_tilted_plane():
    d = np.full((480, 640), 2.0, np.float32)
    res = extract_planes(d, K)
    assert len(res.planes) == 1
    assert np.allclose(res.planes[0].normal, [0, 0, -1], atol=1e-6)
    assert res.planes[0].offset == pytest.approx(2.0, abs=1e-5)
    assert res.planes[0].num_inliers == 640 * 480
    # a plane tilted 30 degrees about x, no noise: exact recovery
    n = np.array([0.0, np.sin(np.radians(30)), -np.cos(np.radians(30))])
    rays = K.unproject(np.argwhere(np.ones((480, 640), bool))[:, ::-1])
    z = (2.5 / -(rays @ n)).reshape(480, 640).astype(np.float32)
    p = extract_planes(z, K).planes[0]
    assert np.degrees(np.arccos(np.clip(p.normal @ n, -1, 1))) < 0.01
    assert p.offset == pytest.approx(2.5, abs=1e-4)


def test_empty_nan_and_holes(extractor):
    assert extractor(np.zeros((480, 640), np.float32)).planes == ()
    gt = render_depth(room_scene(), K, look_at(*VIEWS[0]), seed=1)
    d = gt.depth_m.copy()
    d[:50] = np.nan
    d[50:60] = np.inf
    d[60:70] = -1.0
    res = extractor(d)
    assert res.planes and np.all(res.labels[:70] == -1)


def test_bad_input_raises_clear_errors(extractor):
    with pytest.raises(IntrinsicsError, match="320x240"):
        extractor(np.ones((240, 320), np.float32))
    with pytest.raises(FrameError, match="2-D"):
        extractor(np.ones((480, 640, 1), np.float32))
    with pytest.raises(FrameError, match="float metres"):
        extractor(np.ones((480, 640), np.uint16))
    with pytest.raises(FrameError, match="millimetres"):
        extractor(np.full((480, 640), 1500.0, np.float32))
    with pytest.raises(FrameError, match="numpy array"):
        extractor([[1.0]])
    with pytest.raises(IntrinsicsError):
        DepthPlaneExtractor("not intrinsics")


def test_small_cells_on_qvga():
    Kq = K.scaled(320, 240)
    gt = render_depth(room_scene(), Kq, look_at(*VIEWS[1]), seed=2)
    res = DepthPlaneExtractor(Kq, DepthPlaneParams(cell_size_px=10, min_inliers_px=400))(gt.depth_m)
    rep = evaluate_planes(res.labels, np.array([p.normal for p in res.planes]),
                          np.array([p.offset for p in res.planes]), gt)
    assert rep.recall >= 0.95 and rep.precision >= 0.95


def test_real_kinect_frame(shared_data):
    import cv2

    path = shared_data("sevenscenes_redkitchen_a", "frame-000500.depth.png")
    d = cv2.imread(str(path), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000.0
    d[d > 10] = 0
    res = extract_planes(d, Intrinsics(640, 480, 585.0, 585.0, 320.0, 240.0))
    assert len(res.planes) >= 2
    big = res.planes[0]
    assert big.num_inliers > 0.15 * d.size        # the table top covers a large part of the view
    assert big.rms_m < 0.02
