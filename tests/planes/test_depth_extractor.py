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


def test_inlier_pixels_on_a_grid_match_the_mask(extractor):
    from arkit.planes.depth_extractor import DepthPlane

    gt = render_depth(room_scene(), K, look_at(*VIEWS[2]), seed=4)
    planes = extractor(gt.depth_m).planes
    assert len(planes) >= 3
    for p in planes:
        for step in (1, 3, 4):
            got = p.inlier_pixels(step)       # from the label image, before the mask exists
            ref = np.nonzero(p.inlier_mask[::step, ::step])
            assert all(np.array_equal(a, b) for a, b in zip(got, ref)) and len(got[0]) > 0
    m = planes[0].inlier_mask
    q = DepthPlane.from_mask(planes[0].normal, planes[0].offset, m, planes[0].centroid)
    assert all(np.array_equal(a, b) for a, b in zip(q.inlier_pixels(4), np.nonzero(m[::4, ::4])))


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


def _numpy_extractor(monkeypatch, intrinsics, params=None):
    monkeypatch.setenv("ARKIT_NO_NUMBA", "1")
    ex = DepthPlaneExtractor(intrinsics, params)
    monkeypatch.delenv("ARKIT_NO_NUMBA")
    assert ex.kernels is None
    return ex


def _assert_same_planes(a, b, max_label_px=50):
    assert len(a.planes) == len(b.planes)
    assert np.count_nonzero(a.labels != b.labels) <= max_label_px      # float32 vs float64 borderline pixels
    for p, q in zip(a.planes, b.planes):
        assert np.degrees(np.arccos(min(1.0, abs(p.normal @ q.normal)))) < 0.05
        assert abs(p.offset - q.offset) < 2e-4
        assert abs(p.num_inliers - q.num_inliers) <= max_label_px


def test_numpy_path_matches_compiled_kernels(extractor, monkeypatch):
    if extractor.kernels is None:
        pytest.skip("numba kernels unavailable: only the numpy path exists here")
    ex_np = _numpy_extractor(monkeypatch, K)
    for seed, view in enumerate(VIEWS[:2]):
        d = render_depth(room_scene(), K, look_at(*view), seed=20 + seed).depth_m
        d[:30] = np.nan
        d[30:40, :100] = -1.0
        a, b = extractor(d), ex_np(d)
        _assert_same_planes(a, b)
        assert set(a.timings_ms) == set(b.timings_ms)
    Kq = K.scaled(325, 245)                                 # 10 px cells leave a 5 px remainder
    pq = DepthPlaneParams(cell_size_px=10, min_inliers_px=400)
    d = render_depth(room_scene(), Kq, look_at(*VIEWS[1]), seed=7).depth_m
    a, b = DepthPlaneExtractor(Kq, pq)(d), _numpy_extractor(monkeypatch, Kq, pq)(d)
    _assert_same_planes(a, b)
    assert np.all(a.labels[240:] == -1) and np.all(a.labels[:, 320:] == -1)


def test_numpy_fallback_on_real_frame(shared_data, monkeypatch):
    import cv2

    path = shared_data("sevenscenes_redkitchen_a", "frame-000500.depth.png")
    d = cv2.imread(str(path), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000.0
    d[d > 10] = 0
    K7 = Intrinsics(640, 480, 585.0, 585.0, 320.0, 240.0)
    b = _numpy_extractor(monkeypatch, K7)(d)
    assert len(b.planes) >= 2 and b.planes[0].num_inliers > 0.15 * d.size
    ex = DepthPlaneExtractor(K7)
    if ex.kernels is not None:
        _assert_same_planes(ex(d), b)


def test_many_regions_label_path(extractor, monkeypatch):
    """The int16 label image used when there are too many regions for uint8 labels."""
    import arkit.planes.depth_extractor as de

    d = render_depth(room_scene(), K, look_at(*VIEWS[2]), seed=11).depth_m
    a = extractor(d)
    monkeypatch.setattr(de, "_MAX_U8_REGIONS", 0)
    b = extractor(d)
    assert np.array_equal(a.labels, b.labels) and b.labels.dtype == np.int16
    assert [p.num_inliers for p in a.planes] == [p.num_inliers for p in b.planes]


def test_grow_regions_list_matches_labels():
    from arkit.planes.cell_regions import grow_region_labels, grow_regions
    from arkit.planes.plane_fit import moments_of_points

    rng = np.random.default_rng(3)
    grid = (6, 8)
    N = grid[0] * grid[1]
    planar = rng.random(N) < 0.9
    normal = np.tile([0.0, 0.0, -1.0], (N, 1))
    normal[N // 2:] = [0.0, -1.0, 0.0]                     # two planes: a wall above, a floor below
    mean = np.zeros((N, 3))
    S = np.zeros((N, 10))
    for c in range(N):
        i, j = divmod(c, grid[1])
        u, v = np.meshgrid(np.linspace(-0.05, 0.05, 5), np.linspace(-0.05, 0.05, 5))
        if c < N // 2:
            P = np.stack([u.ravel() + 0.1 * j, v.ravel() + 0.1 * i, np.full(25, 2.0)], 1)
        else:
            P = np.stack([u.ravel() + 0.1 * j, np.full(25, 1.0), v.ravel() + 0.1 * i + 1.0], 1)
        S[c] = moments_of_points(P)
        mean[c] = P.mean(0)
    p = DepthPlaneParams()
    own, nR, oR = grow_region_labels(planar, normal, mean, S, grid, p)
    regions = grow_regions(planar, normal, mean, S, grid, p)
    assert len(regions) == len(nR) == 2
    for r, (cells, n, o) in enumerate(regions):
        assert np.array_equal(cells, np.flatnonzero(own == r))
        assert np.allclose(n, nR[r]) and o == pytest.approx(oR[r])
    assert set(np.flatnonzero(own < 0)) == set(np.flatnonzero(~planar))


def test_region_growing_compiled_matches_numpy():
    from arkit.planes import depth_kernels, depth_numpy
    from arkit.planes.cell_regions import grow_region_labels
    from arkit.planes.plane_fit import fit_planes_from_moments

    kern = depth_kernels.load()
    if kern is None:
        pytest.skip("numba kernels unavailable")
    p = DepthPlaneParams()
    grid = (24, 32)
    for seed, view in enumerate(VIEWS):
        d = render_depth(room_scene(), K, look_at(*view), seed=40 + seed).depth_m
        u, v = np.meshgrid(np.arange(640.0), np.arange(480.0))
        rays = K.unproject(np.stack([u.ravel(), v.ravel()], 1))
        rx = depth_numpy.to_cells(rays[:, 0].reshape(480, 640).astype(np.float32), 20, grid)
        ry = depth_numpy.to_cells(rays[:, 1].reshape(480, 640).astype(np.float32), 20, grid)
        S, _ = depth_numpy.cell_moments(d, rx, ry, 20, grid)
        fit = np.flatnonzero(S[:, 0] >= 200)
        nrm, _, mu, lam = fit_planes_from_moments(S[fit])
        normal, mean, planar = np.zeros((768, 3)), np.zeros((768, 3)), np.zeros(768, bool)
        normal[fit], mean[fit] = nrm, mu
        planar[fit] = (np.sqrt(np.maximum(lam[:, 0], 0)) < 2.5 * p.sigma_m(mu[:, 2])) & (lam[:, 1] > 2 * lam[:, 0])
        a = grow_region_labels(planar, normal, mean, S, grid, p)
        b = grow_region_labels(planar, normal, mean, S, grid, p, kern)
        assert len(a[1]) >= 3
        assert np.array_equal(a[0], b[0])
        np.testing.assert_allclose(b[1], a[1], atol=1e-9)
        np.testing.assert_allclose(b[2], a[2], atol=1e-9)
