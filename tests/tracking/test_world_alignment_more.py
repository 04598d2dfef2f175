"""WorldAlignedTracker, more sources: metric scale and gravity from an image target of known
width (rendered by the sequence generator), and gravity from the floor in a monocular
VisualTracker's sparse map (no depth, no IMU). Limits (issue 3): scale error < 2 %, gravity
error < 2 deg, both at the frame where the alignment is fixed."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_world_alignment import TRUE_SCALE, UP, ReplayTracker, angle_deg, run, to_inner, up_in_inner  # noqa: E402

from arkit.core.errors import ArkitError, InputFileError  # noqa: E402
from arkit.core.frame import Frame  # noqa: E402
from arkit.core.pose import rotvec_to_matrix  # noqa: E402
from arkit.tracking.map_floor import floor_up_from_map, map_points_and_cameras  # noqa: E402
from arkit.tracking.world_alignment import WorldAlignedTracker  # noqa: E402

POSTER_RECIPE = {
    "name": "poster_floor",
    "seed": 3,
    "room": {"size": [4.0, 2.6, 4.0], "floor": {"type": "planks"}, "walls": {"type": "bricks"},
             "ceiling": {"type": "noise"}},
    "image_targets": [{"name": "floor_poster", "position": [0.0, 0.0, 0.0], "normal": [0, 1, 0], "yaw_deg": 20,
                       "width": 0.5, "height": 0.35, "texture": {"type": "poster"}}],
    "camera": {"type": "orbit", "target": [0.0, 0.0, 0.0], "distance_m": [0.7, 0.9],
               "elevation_deg": [50.0, 65.0], "speed_mps": 0.3},
}


def _generate(recipe, folder, **kw):
    from arkit.core.errors import RendererError
    from arkit.synthetic.generator import generate_sequence

    try:
        return generate_sequence(recipe, folder, seed=0, **kw)
    except RendererError as e:
        pytest.skip(f"no renderer for the synthetic generator: {e}")


def _frames(folder, keep_depth=False):
    from arkit.io.tum_rgbd import TumRgbdSource

    return [f if keep_depth else Frame(f.index, f.timestamp_s, f.image_rgb, f.intrinsics,
                                       T_world_camera_recorded=f.T_world_camera_recorded)
            for f in TumRgbdSource(folder)]


@pytest.fixture(scope="module")
def poster(tmp_path_factory):
    """A floor poster rendered at 640x480 (24 frames, no depth given to the trackers), its
    database (``.npz``, built from the generator's texture and true width) and the true poses."""
    import cv2

    from arkit.recognition.image_targets import ImageTargetDatabase

    root = tmp_path_factory.mktemp("wa_target")
    out = _generate(POSTER_RECIPE, root / "seq", num_frames=24, width=640, height=480)
    (t,) = json.loads((out / "scene.json").read_text())["image_targets"]
    texture = cv2.cvtColor(cv2.imread(str(out / "targets" / f"{t['name']}.png")), cv2.COLOR_BGR2RGB)
    db = ImageTargetDatabase.build([(t["name"], texture, t["width_m"])])
    db_path = db.save(root / "targets.npz")
    frames = _frames(out)
    return {"frames": frames, "db": db, "db_path": db_path, "texture": texture, "target": t,
            "T_gt": np.array([f.T_world_camera_recorded for f in frames])}


# -- image target ------------------------------------------------------------------------------------
def test_scale_and_gravity_from_a_generated_image_target(poster):
    T_gt = poster["T_gt"]
    tracker = WorldAlignedTracker(ReplayTracker(to_inner(T_gt)), scale="image_target", gravity="image_target",
                                  image_targets=poster["db_path"])
    outs = run(tracker, poster["frames"])
    a = tracker.alignment
    assert a is not None, tracker.progress()
    assert a.scale_source == "image_target" and a.gravity_source == "image_target" and a.num_samples >= 12
    anchor = tracker.anchors["image_target"]
    assert anchor.target_name == "floor_poster" and anchor.width_m == pytest.approx(0.5)
    assert abs(a.scale / TRUE_SCALE - 1) < 0.02
    assert angle_deg(a.up_inner, up_in_inner(T_gt)) < 2.0
    # after the fix: metric heights above the first camera, +Y up
    for o, T in zip(outs[a.frame_index:], T_gt[a.frame_index:]):
        assert o.camera.T_world_camera[1, 3] == pytest.approx(T[1, 3] - T_gt[0, 1, 3], abs=0.01)


def test_wrong_target_width_scales_the_world_proportionally(poster):
    from arkit.recognition.image_targets import ImageTargetDatabase

    db = ImageTargetDatabase.build([("floor_poster", poster["texture"], 2 * poster["target"]["width_m"])])
    tracker = WorldAlignedTracker(ReplayTracker(to_inner(poster["T_gt"])), scale="image_target", image_targets=db)
    run(tracker, poster["frames"])
    assert tracker.alignment.scale / TRUE_SCALE == pytest.approx(2.0, rel=0.02)
    assert tracker.alignment.gravity_source is None


def test_image_target_configuration_errors(poster, tmp_path):
    from arkit.tracking.image_target_anchor import ImageTargetAnchor

    inner = ReplayTracker(poster["T_gt"])
    with pytest.raises(ArkitError, match="image_targets"):
        WorldAlignedTracker(inner, scale="image_target")
    with pytest.raises(ArkitError, match="no image target named 'door'"):
        WorldAlignedTracker(inner, scale="image_target", image_targets=poster["db"], image_target_name="door")
    with pytest.raises(InputFileError, match="does not exist"):
        ImageTargetAnchor(tmp_path / "missing.npz")
    blank = Frame(0, 0.0, np.full((480, 640, 3), 90, np.uint8), poster["frames"][0].intrinsics)
    assert ImageTargetAnchor(poster["db"]).T_anchor_camera(blank) is None


# -- floor in a sparse map ------------------------------------------------------------------------------
def _room_cloud(rng, n=400):
    """Points of a 5 x 2.6 x 5 m room (floor y=0, ceiling y=2.6 with more points, 4 walls, a
    table top at 0.75 m) with 3 mm noise, in a world tilted by a random rotation R (returned)."""
    def slab(axis, value, lo, hi, k):
        p = rng.uniform(lo, hi, (k, 3))
        p[:, axis] = value
        return p

    P = np.vstack([slab(1, 0.0, -2.5, 2.5, n), slab(1, 2.6, -2.5, 2.5, 2 * n),
                   slab(0, -2.5, -2.5, 2.6, n), slab(0, 2.5, -2.5, 2.6, n), slab(2, -2.5, -2.5, 2.6, n),
                   slab(1, 0.75, -0.5, 0.5, n // 4), rng.uniform(-2.5, 2.5, (n // 2, 3))])
    P = P + rng.normal(0, 0.003, P.shape)
    R = rotvec_to_matrix(rng.normal(0, 1.0, 3))
    return P, R


def _cameras(rng, k=8, max_tilt_deg=40.0):
    from test_world_alignment import look_at

    out = []
    for _ in range(k):
        eye = np.array([rng.uniform(-1, 1), rng.uniform(1.2, 1.7), rng.uniform(-1, 1)])
        pitch = np.radians(rng.uniform(5, max_tilt_deg - 5))
        yaw = rng.uniform(0, 2 * np.pi)
        T = look_at(eye, eye + [np.sin(yaw), -np.tan(pitch), np.cos(yaw)])
        T[:3, :3] = T[:3, :3] @ rotvec_to_matrix([0, 0, np.radians(rng.uniform(-5, 5))])
        out.append(T)
    return np.array(out)


def test_floor_up_from_a_point_cloud_picks_the_floor_not_the_ceiling_or_walls():
    rng = np.random.default_rng(4)
    P, R = _room_cloud(rng)
    T = _cameras(rng)
    s = 0.37                                            # a monocular map's arbitrary units
    Tm = T.copy()
    Tm[:, :3, :3] = R @ T[:, :3, :3]
    Tm[:, :3, 3] = s * T[:, :3, 3] @ R.T
    est = floor_up_from_map(s * P @ R.T, Tm, seed=0)
    assert est is not None and angle_deg(est.up_world, R @ UP) < 0.5
    assert est.num_inliers >= 380                    # the floor (400 points, with the ceiling twice as big)
    assert abs(est.offset / s) < 0.02                # floor at y = 0
    # without the floor and the table top: the ceiling and the walls are not taken for a floor
    above = (P[:, 1] > 0.05) & ~((np.abs(P[:, 1] - 0.75) < 0.05) & (np.abs(P[:, 0]) <= 0.5))
    assert floor_up_from_map(s * P[above] @ R.T, Tm, seed=0) is None
    assert floor_up_from_map(np.zeros((5, 3)), Tm) is None


def test_map_floor_needs_a_tracker_with_a_map():
    with pytest.raises(ArkitError, match="point map"):
        WorldAlignedTracker(ReplayTracker(np.tile(np.eye(4), (2, 1, 1))), gravity="map_floor")
    with pytest.raises(ArkitError, match="point map"):
        map_points_and_cameras(object())


def test_gravity_from_the_floor_in_a_monocular_map(tmp_path):
    """A real monocular VisualTracker (no depth) on a generated textured_room sequence."""
    from arkit.tracking.scale_sources import mean_rotation
    from arkit.tracking.vslam.tracker import VisualTracker, VisualTrackerConfig

    frames = _frames(_generate("textured_room", tmp_path / "room", num_frames=75, width=320, height=240))
    tracker = WorldAlignedTracker(VisualTracker(VisualTrackerConfig(mode="mono", n_features=600)),
                                  gravity="map_floor")
    assert tracker.inner.config.mode == "mono"
    pairs = []
    try:
        for f in frames:
            out = tracker.track(f)
            if tracker.alignment is None and out.camera.is_tracking:
                pairs.append((out.camera.T_world_camera.copy(), f.T_world_camera_recorded))
            if tracker.alignment is not None:
                break
    finally:
        tracker.close()
    a = tracker.alignment
    assert a is not None and a.gravity_source == "map_floor", tracker.progress()
    assert len(pairs) >= 5
    # the true up in the tracker's world: mean rotation from the tracker's world to the true one
    R_true_inner = mean_rotation([G[:3, :3] @ I[:3, :3].T for I, G in pairs])
    assert angle_deg(a.up_inner, R_true_inner.T @ UP) < 2.0
    assert tracker.map_floors[-1].num_inliers >= 80 and len(tracker.map_floors) >= 3


# -- scene files -------------------------------------------------------------------------------------
def test_scene_file_image_target_and_map_floor(tmp_path, poster):
    from arkit.core.errors import SceneFileError
    from arkit.scene.scene_file import load_scene
    from arkit.tracking.factory import build_tracker

    db = Path(poster["db_path"]).name
    (tmp_path / db).write_bytes(Path(poster["db_path"]).read_bytes())

    def scene(tracking: str, extra: str = ""):
        p = tmp_path / "scene.yaml"
        p.write_text(f"name: t\ntracking:\n{tracking}\n{extra}content: []\n")
        return load_scene(p)

    sf = scene(f"  type: vslam\n  mode: mono\n  scale: image_target\n  gravity: map_floor\n"
               f"  image_targets: {db}\n  image_target: floor_poster")
    assert sf.tracking["image_targets"] == str(tmp_path / db)
    tr = build_tracker(sf.tracking)
    assert isinstance(tr, WorldAlignedTracker) and tr.scale_source == "image_target"
    assert tr.gravity_source == "map_floor" and tr.anchors["image_target"].target_name == "floor_poster"
    # the database can come from the recognition section
    sf = scene("  type: vslam\n  scale: image_target\n  gravity: image_target",
               f"recognition:\n  image_targets: {db}\n")
    assert sf.tracking["image_targets"] == sf.recognition["image_targets"]
    assert build_tracker(sf.tracking).gravity_source == "image_target"
    for bad, msg in [("  type: vslam\n  scale: image_target", "needs 'image_targets'"),
                     ("  type: vslam\n  scale: image_target\n  image_targets: nope.npz", "nope.npz"),
                     ("  type: markers\n  image_targets: x.npz", "belongs to tracking type 'vslam'"),
                     ("  type: vslam\n  gravity: floors", "unknown gravity")]:
        with pytest.raises(SceneFileError, match=msg):
            scene(bad)
