"""Rendered sequences: TUM layout, determinism, depth and marker corners against ground truth."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError
from arkit.core.pose import invert, transform_points
from arkit.synthetic.camera_paths import make_camera_path
from arkit.synthetic.generator import generate_sequence
from arkit.synthetic.raycast import raycast_depth
from arkit.synthetic.recipes import load_recipe
from arkit.synthetic.tum_layout import read_groundtruth

cv2 = pytest.importorskip("cv2")

SMALL = dict(width=160, height=120, texture_px_per_m=96.0)


@pytest.fixture(scope="module")
def room_seq(tmp_path_factory):
    """marker_room, 30 frames at 320x240 (the generator's speed target for tests)."""
    out = tmp_path_factory.mktemp("synth") / "marker_room"
    return generate_sequence("marker_room", out, num_frames=30, width=320, height=240, seed=3,
                             texture_px_per_m=SMALL["texture_px_per_m"])


def _read_list(path):
    lines = Path(path).read_text().splitlines()
    assert lines[0].startswith("#") and lines[2] == "# timestamp filename"
    return [ln.split() for ln in lines[3:]]


def test_tum_layout_is_complete_and_consistent(room_seq):
    d = Path(room_seq)
    assert (d / "DONE").is_file()
    assert not list(d.parent.glob(".marker_room.partial-*"))
    rgb, depth = _read_list(d / "rgb.txt"), _read_list(d / "depth.txt")
    assert len(rgb) == len(depth) == 30
    t, T = read_groundtruth(d / "groundtruth.txt")
    assert len(t) == 30
    np.testing.assert_allclose(t, [float(r[0]) for r in rgb])
    np.testing.assert_allclose(np.diff(t), 1 / 30, atol=2e-6)
    for (ts, f), (ts2, f2) in zip(rgb, depth):
        assert ts == ts2 and f == f"rgb/{ts}.png" and f2 == f"depth/{ts}.png"
    im = cv2.imread(str(d / rgb[0][1]), cv2.IMREAD_UNCHANGED)
    dp = cv2.imread(str(d / depth[0][1]), cv2.IMREAD_UNCHANGED)
    assert im.shape == (240, 320, 3) and im.dtype == np.uint8
    assert dp.shape == (240, 320) and dp.dtype == np.uint16
    K = Intrinsics.from_dict(yaml.safe_load((d / "intrinsics.yaml").read_text()))
    assert (d / "intrinsics.yaml").read_text() == yaml.safe_dump(K.to_dict())
    assert (K.width, K.height) == (320, 240)
    scene = json.loads((d / "scene.json").read_text())
    assert scene["sequence"]["num_frames"] == 30 and scene["sequence"]["depth_scale"] == 5000.0
    m = scene["markers"][0]
    assert {"id", "dictionary", "size_m", "T_world_marker", "corners_world"} <= set(m)
    floor = next(p for p in scene["planes"] if p["kind"] == "floor")
    np.testing.assert_allclose(floor["plane"]["normal"], [0, 1, 0])
    assert floor["plane"]["d"] == pytest.approx(0.0)
    assert (d / "targets" / "poster_north.png").is_file()


def test_read_sequence_truth(room_seq, tmp_path):
    from arkit.synthetic import read_sequence_truth

    gt = read_sequence_truth(room_seq)
    assert gt.T_world_camera.shape == (30, 4, 4) and len(gt.rgb_paths) == len(gt.depth_paths) == 30
    assert all(p.is_file() for p in gt.rgb_paths[:3])
    m = gt.marker(0, "DICT_6X6_250")
    assert m["T_world_marker"].shape == (4, 4) and m["size_m"] == pytest.approx(0.15)
    with pytest.raises(InputFileError, match="not a finished"):
        read_sequence_truth(tmp_path)


def test_arkit_tum_reader_reads_the_sequence(room_seq):
    tum = pytest.importorskip("arkit.io.tum_rgbd")
    _, T = read_groundtruth(Path(room_seq) / "groundtruth.txt")
    src = tum.TumRgbdSource(room_seq)
    assert src.num_frames == 30 and src.intrinsics.size == (320, 240)
    for f in src:
        np.testing.assert_allclose(f.T_world_camera_recorded, T[f.index], atol=1e-6)
        assert f.depth_m is not None and f.depth_m.dtype == np.float32
        if f.index == 5:
            break


def test_depth_agrees_with_ground_truth_geometry(room_seq):
    d = Path(room_seq)
    K = Intrinsics.from_dict(yaml.safe_load((d / "intrinsics.yaml").read_text()))
    scene_spec = load_recipe("marker_room")
    surfaces = scene_spec.surfaces()
    floor_index = [s.name for s in surfaces].index("floor")
    t, T = read_groundtruth(d / "groundtruth.txt")
    rows = _read_list(d / "depth.txt")
    floor_y = []
    for i in (0, 14, 29):
        depth = cv2.imread(str(d / rows[i][1]), cv2.IMREAD_UNCHANGED).astype(np.float64) / 5000.0
        assert (depth > 0).mean() > 0.99  # closed room: depth everywhere
        ref, idx = raycast_depth(surfaces, K, T[i])
        # away from surface boundaries (MSAA edges), rendered and analytic depth agree to ~1 mm
        same = np.ones_like(idx, bool)
        for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)):
            same &= idx == np.roll(np.roll(idx, dy, 0), dx, 1)
        err = np.abs(depth - ref)[same]
        assert np.median(err) < 3e-4 and np.percentile(err, 99) < 2e-3  # PNG step is 0.2 mm
        # unprojected floor pixels land on y = 0
        vv, uu = np.nonzero(same & (idx == floor_index))
        sel = np.arange(0, len(vv), 37)
        pts = transform_points(T[i], K.unproject(np.stack([uu[sel], vv[sel]], 1).astype(float), depth[vv[sel], uu[sel]]))
        floor_y.append(pts[:, 1])
    floor_y = np.concatenate(floor_y)
    assert len(floor_y) > 100
    assert np.median(np.abs(floor_y)) < 5e-4 and np.percentile(np.abs(floor_y), 99) < 2e-3


def _detector():
    d = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_6X6_250)
    p = cv2.aruco.DetectorParameters()
    p.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    return cv2.aruco.ArucoDetector(d, p)


def test_marker_corners_project_onto_the_rendered_markers(room_seq):
    d = Path(room_seq)
    K = Intrinsics.from_dict(yaml.safe_load((d / "intrinsics.yaml").read_text()))
    scene = json.loads((d / "scene.json").read_text())
    corners_world = {m["id"]: np.array(m["corners_world"]) for m in scene["markers"]}
    _, T = read_groundtruth(d / "groundtruth.txt")
    rows = _read_list(d / "rgb.txt")
    det = _detector()
    errs = []
    for i in range(0, 30, 5):
        gray = cv2.imread(str(d / rows[i][1]), cv2.IMREAD_GRAYSCALE)
        corners, ids, _ = det.detectMarkers(gray)
        assert ids is not None and len(ids) >= 2
        for c, mid in zip(corners, ids.ravel()):
            assert int(mid) in corners_world  # no false ids
            proj = K.project(transform_points(invert(T[i]), corners_world[int(mid)]))
            errs.append(np.linalg.norm(c.reshape(4, 2) - proj, axis=1))
    errs = np.concatenate(errs)
    assert np.median(errs) < 0.6 and np.percentile(errs, 90) < 1.2


def test_marker_board_pose_matches_scene_json(tmp_path):
    """End to end at 640x480: solvePnP on the detected GridBoard gives the board pose in scene.json."""
    out = generate_sequence("marker_board", tmp_path / "board", num_frames=2, width=640, height=480, seed=0,
                            texture_px_per_m=96.0)
    scene = json.loads((out / "scene.json").read_text())
    b = scene["boards"][0]
    T_world_board = np.array(b["T_world_board"])
    d = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_6X6_250)
    board = cv2.aruco.GridBoard(tuple(b["size"]), b["marker_length_m"], b["separation_m"], d)
    K = Intrinsics.from_dict(yaml.safe_load((out / "intrinsics.yaml").read_text()))
    _, T = read_groundtruth(out / "groundtruth.txt")
    gray = cv2.imread(str(out / "rgb" / "0.000000.png"), cv2.IMREAD_GRAYSCALE)
    corners, ids, _ = _detector().detectMarkers(gray)
    assert ids is not None and len(ids) >= 30
    obj, img = board.matchImagePoints(corners, ids)
    ok, rvec, tvec = cv2.solvePnP(obj, img, K.K, K.dist_coeffs)
    assert ok
    T_cam_board = invert(T[0]) @ T_world_board
    assert np.linalg.norm(tvec.ravel() - T_cam_board[:3, 3]) < 0.004
    R, _ = cv2.Rodrigues(rvec)
    ang = np.degrees(np.arccos(np.clip((np.trace(R.T @ T_cam_board[:3, :3]) - 1) / 2, -1, 1)))
    assert ang < 1.0


def test_same_seed_gives_identical_files_and_effects_change_colour_not_geometry(tmp_path):
    a = generate_sequence("marker_room", tmp_path / "a", num_frames=3, seed=1, **SMALL)
    b = generate_sequence("marker_room", tmp_path / "b", num_frames=3, seed=1, **SMALL)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for f in files_a:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f"{f} differs between identical runs"
    # the seed drives the camera path written to groundtruth.txt
    spec = load_recipe("marker_room")
    _, T1 = make_camera_path(spec.camera, 3 / 30, seed=1).frames(3)
    _, T2 = make_camera_path(spec.camera, 3 / 30, seed=2).frames(3)
    _, T_file = read_groundtruth(a / "groundtruth.txt")
    np.testing.assert_allclose(T_file, T1, atol=1e-8)
    assert np.abs(T1 - T2).max() > 1e-3
    # motion blur, exposure changes and antialiasing alter colour only: same poses, same depth
    fx = generate_sequence("marker_room", tmp_path / "fx", num_frames=3, seed=1, motion_blur=3,
                           exposure_jitter=0.3, antialias=True, noise_std=2.0, **SMALL)
    assert (a / "groundtruth.txt").read_text() == (fx / "groundtruth.txt").read_text()
    for name in ("0.033333.png", "0.066667.png"):
        assert (a / "depth" / name).read_bytes() == (fx / "depth" / name).read_bytes()
        ca = cv2.imread(str(a / "rgb" / name)).astype(float)
        cb = cv2.imread(str(fx / "rgb" / name)).astype(float)
        assert np.abs(ca - cb).mean() > 1.0


def test_existing_output_is_not_overwritten_by_default(tmp_path):
    out = tmp_path / "seq"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(InputFileError, match="overwrite"):
        generate_sequence("marker_board", out, num_frames=1, **SMALL)
    assert (out / "keep.txt").is_file()
    generate_sequence("marker_board", out, num_frames=1, overwrite=True, plane_ids=True, **SMALL)
    assert not (out / "keep.txt").exists() and (out / "DONE").is_file()
    ids = cv2.imread(str(out / "planes" / "0.000000.png"), cv2.IMREAD_UNCHANGED)
    assert ids.dtype == np.uint16 and ids.min() >= 1  # every pixel sees a surface
