"""PlaneManager over a synthetic moving camera: stable ids, labels, merging, polygon extent."""

import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.frame import Frame
from arkit.core.trackables import CameraState, PlaneAlignment, TrackableState, TrackingState
from arkit.planes.depth_extractor import DepthPlaneParams
from arkit.planes.manager import PlaneManager, PlaneManagerParams
from arkit.planes.polygon import polygon_iou, rasterize_polygon, to_plane_xz
from arkit.planes.testing import AnalyticPlane, look_at, render_depth, room_scene

K = Intrinsics(320, 240, 262.5, 262.5, 159.5, 119.5)
XP = DepthPlaneParams(cell_size_px=10, min_inliers_px=400)


def new_manager(**kw):
    return PlaneManager(PlaneManagerParams(**kw), extractor_params=XP)


def by_label(mgr, label):
    return [p for p in mgr.planes() if p.label == label]


@pytest.fixture(scope="module")
def sweep():
    """A camera sliding along a room: manager, change log, rendered frames."""
    mgr = new_manager()
    log, frames = [], []
    for i, x in enumerate(np.linspace(-0.8, 0.8, 6)):
        T = look_at((x, 1.5, -0.8), (0.5 * x, 0.5, 2.0))
        gt = render_depth(room_scene(), K, T, seed=i)
        log.append(mgr.update(gt.depth_m, K, T))
        frames.append(gt)
    return mgr, log, frames


def test_stable_ids_and_changes(sweep):
    mgr, log, _ = sweep
    assert len(log[0].added) >= 4 and not log[0].updated and not log[0].removed
    first = set(log[0].added)
    for ch in log[1:]:
        assert first <= {p.id for p in mgr.planes()}                  # ids survive
        assert set(ch.updated) <= {p.id for p in mgr.planes()}
        assert not set(ch.added) & first
    assert all(p.id.startswith("plane:") for p in mgr.planes())
    ids = [p.id for p in mgr.planes()]
    assert len(ids) == len(set(ids))


def test_world_planes_alignment_and_labels(sweep):
    mgr, _, _ = sweep
    floor, = by_label(mgr, "floor")
    assert floor.alignment == PlaneAlignment.HORIZONTAL_UP
    assert np.degrees(np.arccos(floor.normal_world @ [0, 1, 0])) < 1.0
    assert abs(floor.T_world_local[1, 3]) < 0.01
    table, = by_label(mgr, "table")
    assert abs(table.T_world_local[1, 3] - 0.75) < 0.01
    assert table.extent_xz == pytest.approx((1.4, 0.9), abs=0.12) or table.extent_xz == pytest.approx((0.9, 1.4), abs=0.12)
    walls = by_label(mgr, "wall")
    assert len(walls) == 2 and all(w.alignment == PlaneAlignment.VERTICAL for w in walls)
    back = max(walls, key=lambda w: w.T_world_local[2, 3])
    assert abs(back.T_world_local[2, 3] - 3.0) < 0.02 and back.normal_world[2] < -0.99
    for p in mgr.planes():
        R = p.T_world_local[:3, :3]
        assert np.allclose(R.T @ R, np.eye(3), atol=1e-9) and np.linalg.det(R) > 0
        assert p.state == TrackableState.TRACKING and p.subsumed_by is None


def test_floor_polygon_matches_visible_extent(sweep):
    mgr, _, frames = sweep
    floor, = by_label(mgr, "floor")
    T = floor.T_world_local
    pts = []
    for gt in frames:                                  # exact visible floor points of every frame
        v, u = np.nonzero(gt.plane_id[::2, ::2] == 0)
        Pc = K.unproject(np.stack([u * 2, v * 2], 1))
        Rc, tc = gt.T_world_camera[:3, :3], gt.T_world_camera[:3, 3]
        d = Pc @ Rc.T
        lam = -tc[1] / d[:, 1]                         # floor is y = 0
        pts.append(tc + lam[:, None] * d)
    xz = to_plane_xz(np.vstack(pts), T[:3, :3], T[:3, 3])
    cell = 0.05
    lo = xz.min(0) - 1.0
    shape = tuple((np.ceil((xz.max(0) + 1.0 - lo) / cell)[::-1]).astype(int) + 1)
    ij = np.floor((xz - lo) / cell).astype(int)
    truth = np.zeros(shape, bool)
    truth[ij[:, 1], ij[:, 0]] = True
    est = rasterize_polygon(floor.polygon_xz, lo, cell, shape)
    iou = np.count_nonzero(truth & est) / np.count_nonzero(truth | est)
    print(f"floor polygon IoU {iou:.3f}")
    assert iou > 0.85, iou


def floor_only():
    return [AnalyticPlane("floor", (0.0, 0.0, 0.5), (0.0, 0.0, 1.0), (1.0, 0.0, 0.0), 4.0, 4.0)]


def test_two_halves_of_a_floor_merge():
    mgr = new_manager()
    views = [(-1.4, 0.9), (-1.3, 0.9), (1.3, 0.9), (1.4, 0.9)]     # left half, then right half
    ids_left = None
    for i, (x, h) in enumerate(views):
        T = look_at((x, h, 0.0), (x, 0.0, 0.6))
        mgr.update(render_depth(floor_only(), K, T, seed=i).depth_m, K, T)
        if i == 1:
            ids_left = [p.id for p in mgr.planes()]
    assert len(ids_left) == 1
    assert len(mgr.planes()) == 2                                   # the halves do not touch
    T = look_at((0.0, 2.6, -0.6), (0.0, 0.0, 0.7))                  # step back: one view of both
    ch = mgr.update(render_depth(floor_only(), K, T, seed=9).depth_m, K, T)
    live = mgr.planes()
    assert len(live) == 1 and live[0].id == ids_left[0]             # the older plane survives
    assert len(ch.removed) == 1
    gone = mgr.get(ch.removed[0])
    assert gone.subsumed_by == live[0].id and gone.state == TrackableState.STOPPED
    assert live[0].extent_xz[0] > 3.0 or live[0].extent_xz[1] > 3.0


def test_coplanar_but_distinct_heights_do_not_merge():
    scene = [AnalyticPlane("floor", (0.0, 0.0, 1.5), (0.0, 0.0, 1.0), (1.0, 0.0, 0.0), 3.0, 3.0),
             AnalyticPlane("step", (0.0, 0.08, 1.5), (0.0, 0.0, 1.0), (1.0, 0.0, 0.0), 0.5, 0.5)]
    mgr = new_manager()
    T = look_at((0.0, 1.2, -0.5), (0.0, 0.0, 1.5))
    mgr.update(render_depth(scene, K, T, seed=1).depth_m, K, T)
    hs = sorted(round(p.T_world_local[1, 3], 2) for p in mgr.planes())
    assert hs == pytest.approx([0.0, 0.08], abs=0.01)


def test_update_frame_pauses_when_not_tracking():
    mgr = new_manager()
    T = look_at((0.0, 1.5, -0.8), (0.0, 0.5, 2.0))
    gt = render_depth(room_scene(), K, T, seed=0)
    rgb = np.zeros((240, 320, 3), np.uint8)
    f = Frame(0, 0.0, rgb, K, depth_m=gt.depth_m)
    ch = mgr.update_frame(f, CameraState(T, TrackingState.TRACKING))
    assert ch.added
    ch = mgr.update_frame(f, CameraState(np.eye(4), TrackingState.LOST, "lost"))
    assert set(ch.updated) == set(ch_id for ch_id in (p.id for p in mgr.planes()))
    assert all(p.state == TrackableState.PAUSED for p in mgr.planes())
    ch = mgr.update_frame(Frame(1, 0.1, rgb, K), CameraState(T, TrackingState.TRACKING))
    assert all(p.state == TrackableState.TRACKING for p in mgr.planes()) and not ch.added


def test_polygon_iou_helper():
    sq = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    assert polygon_iou(sq, sq) == pytest.approx(1.0, abs=1e-6)
    assert polygon_iou(sq, sq + [0.5, 0]) == pytest.approx(1 / 3, abs=0.02)


def test_real_sevenscenes_sequence(shared_data):
    import cv2

    folder = shared_data("sevenscenes_redkitchen_a")
    K7 = Intrinsics(640, 480, 585.0, 585.0, 320.0, 240.0)
    mgr = PlaneManager()
    removed = []
    for f in sorted(folder.glob("frame-*.depth.png"))[:60:12]:
        raw = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
        depth = np.where(raw >= 65535, 0, raw).astype(np.float32) / 1000.0
        T = np.loadtxt(str(f).replace(".depth.png", ".pose.txt"))
        removed += mgr.update(depth, K7, T).removed
    live = {p.id for p in mgr.planes()}
    assert len(live) >= 3
    for pid in removed:
        assert mgr.get(pid).subsumed_by is not None and pid not in live
    big = max(mgr.planes(), key=lambda p: p.extent_xz[0] * p.extent_xz[1])
    assert big.extent_xz[0] * big.extent_xz[1] > 1.0        # the table top / cupboard front


def test_update_with_given_depth_planes():
    from arkit.planes.depth_extractor import DepthPlane

    T = look_at((0.0, 1.5, -0.8), (0.0, 0.0, 1.5))
    gt = render_depth(floor_only(), K, T, seed=4, noise=False, holes=False)
    mask = gt.plane_id == 0
    uv = np.argwhere(mask)[:, ::-1]
    c = K.unproject(uv, gt.depth_m[mask]).mean(0)
    dp = DepthPlane.from_mask(gt.normals_camera[0], gt.offsets_camera[0], mask, c)
    assert dp.num_inliers == mask.sum() and np.array_equal(dp.inlier_mask, mask)
    mgr = new_manager()
    ch = mgr.update(gt.depth_m, K, T, depth_planes=[dp])
    p, = mgr.planes()
    assert ch.added == (p.id,) and p.label == "floor"
    assert np.allclose(p.normal_world, [0, 1, 0], atol=1e-5) and abs(p.T_world_local[1, 3]) < 1e-4


def test_add_points_matches_a_full_deduplication_over_many_frames():
    """The cached-key voxel de-duplication keeps exactly the points a full re-deduplication of
    (stored + new) would keep, in the same order, including the max_points thinning."""
    import numpy as np

    from arkit.planes.manager import PlaneManagerParams, _Tracked

    def reference(stored, P, p):
        pts = np.vstack([stored, P]) if len(stored) else P
        v = np.floor(pts / p.voxel_m).astype(np.int64)
        key = (v[:, 0] * 73856093) ^ (v[:, 1] * 19349663) ^ (v[:, 2] * 83492791)
        _, first = np.unique(key, return_index=True)
        pts = pts[np.sort(first)]
        if len(pts) > p.max_points:
            pts = pts[:: int(np.ceil(len(pts) / p.max_points))]
        return pts

    rng = np.random.default_rng(3)
    p = PlaneManagerParams(voxel_m=0.05, max_points=1500)
    start = rng.uniform(0, 1, (300, 3)) * [2, 0.01, 2]
    start = np.vstack([start, start[:40]])                     # duplicates in the initial points
    t = _Tracked("plane:0", 0, [0, 1, 0], np.zeros((4, 4)), start.copy())
    expected = start.copy()
    for i in range(12):
        P = rng.uniform(0, 1, (400, 3)) * [2 + 0.3 * i, 0.01, 2]
        t.add_points(P, p)
        expected = reference(expected, P, p)
        np.testing.assert_array_equal(t.points, expected)
    assert len(t.points) <= p.max_points
    t.points = t.points[::2].copy()                          # replaced from outside (e.g. a merge)
    expected = expected[::2].copy()
    P = rng.uniform(0, 1, (400, 3)) * [3, 0.01, 3]
    t.add_points(P, p)
    np.testing.assert_array_equal(t.points, reference(expected, P, p))
